//! The remote cache's S3 store against moto's S3 (served on the EC2 port): small objects, a file
//! streamed up and down whole, and one large enough to go up in parts.

use std::io::Write as _;

use imgs_aws::{MULTIPART_THRESHOLD, S3Settings, S3Store};
use imgs_test_peers::TestMoto;

async fn store(moto: &TestMoto) -> S3Store {
    let store = S3Store::connect(&S3Settings {
        bucket: "imgs-s3-test".into(),
        region: Some("us-east-1".into()),
        endpoint: Some(moto.endpoint()),
        static_keys: Some(("testing".into(), "testing".into())),
    })
    .await;
    store.ensure_bucket().await.unwrap();
    store
}

#[tokio::test]
async fn objects_and_files_go_up_and_come_back_whole() {
    let moto = TestMoto::start().unwrap_or_else(|why| panic!("{why}"));
    let store = store(&moto).await;
    assert_eq!(store.get_bytes("p/records/none.json").await.unwrap(), None);
    store
        .put_bytes("p/records/a.json", b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        store
            .get_bytes("p/records/a.json")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"{}"[..])
    );

    let dir = tempfile::tempdir().unwrap();
    // Above the threshold: three parts (32 MiB, 32 MiB and the rest), contents that differ per part.
    let large = dir.path().join("disk.qcow2");
    let mut file = std::fs::File::create(&large).unwrap();
    let mut written = 0u64;
    let mut block = 0u64;
    while written <= MULTIPART_THRESHOLD {
        let chunk: Vec<u8> = (0..1024 * 1024)
            .map(|i| ((i as u64 ^ block) % 251) as u8)
            .collect();
        file.write_all(&chunk).unwrap();
        written += chunk.len() as u64;
        block += 1;
    }
    drop(file);
    let small = dir.path().join("box.txt");
    std::fs::write(&small, "a box\n").unwrap();
    for (key, path) in [
        ("p/artifacts/disk.qcow2", &large),
        ("p/artifacts/box.txt", &small),
    ] {
        store.put_file(key, path).await.unwrap();
        let back = dir.path().join("back");
        let size = store.get_file(key, &back).await.unwrap();
        assert_eq!(size, std::fs::metadata(path).unwrap().len());
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(path).unwrap(),
            "{key} came back changed"
        );
        // A download never replaces a file: the caller names a new one.
        assert!(store.get_file(key, &back).await.is_err());
        std::fs::remove_file(&back).unwrap();
    }
    let mut keys = store.list("p/").await.unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "p/artifacts/box.txt",
            "p/artifacts/disk.qcow2",
            "p/records/a.json"
        ]
    );
    // A missing object is an error naming it; no partial file is left.
    let gone = dir.path().join("gone");
    let err = store.get_file("p/artifacts/none", &gone).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("s3://imgs-s3-test/p/artifacts/none"),
        "{err}"
    );
    assert!(!gone.exists());
}

#[tokio::test]
async fn an_unreachable_store_says_so_in_one_line() {
    let port = imgs_test_peers::process::free_port().unwrap();
    let store = S3Store::connect(&S3Settings {
        bucket: "imgs-s3-test".into(),
        region: Some("us-east-1".into()),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        static_keys: Some(("testing".into(), "testing".into())),
    })
    .await;
    let err = store
        .get_bytes("p/records/a.json")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot read s3://imgs-s3-test/p/records/a.json: ")
            && err.contains("Connection refused"),
        "{err}"
    );
    assert!(!err.contains("DispatchFailure {"), "no debug dump: {err}");
}
