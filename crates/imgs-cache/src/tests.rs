use std::fs;
use std::io;

use imgs_fingerprint::{Fingerprint, InputKey, InputSet};

use crate::{BuildArtifact, Cache, CacheRecord, RECORD_SCHEMA};

fn inputs(version: &str) -> InputSet {
    let mut set = InputSet::new();
    set.insert(InputKey::Scheme, blake3::hash(b"1"));
    set.insert(
        InputKey::Variable("app_version".into()),
        blake3::hash(version.as_bytes()),
    );
    set
}

fn record(image: &str, version: &str, created_at: &str) -> CacheRecord {
    let mut record = CacheRecord::new(
        image,
        inputs(version),
        vec![BuildArtifact {
            name: "qemu".into(),
            builder_type: "qemu".into(),
            artifact_id: format!("cache/artifacts/{image}/disk.qcow2"),
            files: vec![format!("cache/artifacts/{image}/disk.qcow2")],
        }],
        "run-0001",
    );
    record.created_at = created_at.into();
    record
}

/// Error text with the temporary directory replaced, for snapshots.
fn message(cache_dir: &std::path::Path, err: &io::Error) -> String {
    err.to_string()
        .replace(&cache_dir.display().to_string(), "[cache]")
}

#[test]
fn stores_and_looks_up_by_image_and_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path());
    let app = record("app", "1.4.2", "2026-11-25T18:00:00.000Z");

    assert_eq!(cache.lookup("app", &app.fingerprint).unwrap(), None);
    cache.store(&app).unwrap();
    assert_eq!(
        cache.lookup("app", &app.fingerprint).unwrap(),
        Some(app.clone())
    );
    assert_eq!(cache.lookup("base", &app.fingerprint).unwrap(), None);
    assert_eq!(
        cache.lookup("app", &inputs("other").fingerprint()).unwrap(),
        None
    );

    let path = dir
        .path()
        .join(format!("records/app/{}.json", app.fingerprint));
    assert!(path.is_file());
    assert_eq!(cache.record_path("app", &app.fingerprint).unwrap(), path);
}

#[test]
fn a_missing_cache_directory_is_an_empty_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&dir.path().join("does-not-exist"));
    let fingerprint = inputs("x").fingerprint();
    assert_eq!(cache.lookup("app", &fingerprint).unwrap(), None);
    assert_eq!(cache.latest("app").unwrap(), None);
    assert_eq!(cache.list().unwrap(), vec![]);
    assert!(!cache.remove("app", &fingerprint).unwrap());
}

#[test]
fn record_file_layout_is_stable() {
    let app = record("app", "1.4.2", "2026-11-25T18:00:00.000Z");
    insta::assert_snapshot!("record_json", serde_json::to_string_pretty(&app).unwrap());
}

#[test]
fn store_replaces_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path());
    let mut app = record("app", "1.4.2", "2026-11-25T18:00:00.000Z");
    cache.store(&app).unwrap();
    app.run_id = "run-0002".into();
    cache.store(&app).unwrap();

    assert_eq!(
        cache
            .lookup("app", &app.fingerprint)
            .unwrap()
            .unwrap()
            .run_id,
        "run-0002"
    );
    let names: Vec<String> = fs::read_dir(dir.path().join("records/app"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [format!("{}.json", app.fingerprint)]);
}

#[test]
fn latest_is_the_most_recently_created_record() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path());
    // Stored out of order, and with offsets so that text order and time order disagree.
    let middle = record("app", "2", "2026-11-25T18:00:00Z");
    let newest = record("app", "3", "2026-11-25T17:30:00-01:00");
    let oldest = record("app", "1", "2026-11-25T18:59:00+02:00");
    for r in [&middle, &newest, &oldest] {
        cache.store(r).unwrap();
    }
    cache
        .store(&record("base", "9", "2026-11-26T00:00:00Z"))
        .unwrap();

    assert_eq!(cache.latest("app").unwrap(), Some(newest.clone()));
    assert_eq!(cache.latest("web").unwrap(), None);

    let listed: Vec<(String, String)> = cache
        .list()
        .unwrap()
        .into_iter()
        .map(|r| (r.image, r.created_at))
        .collect();
    assert_eq!(
        listed,
        [
            ("app".to_owned(), oldest.created_at),
            ("app".to_owned(), middle.created_at),
            ("app".to_owned(), newest.created_at),
            ("base".to_owned(), "2026-11-26T00:00:00Z".to_owned()),
        ]
    );
}

#[test]
fn listing_skips_temporary_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path());
    let app = record("app", "1", "2026-11-25T18:00:00Z");
    cache.store(&app).unwrap();
    // What a crash during `store` leaves behind, and files people put there.
    fs::write(
        dir.path().join("records/app/.imgs-partial-A1b2C3"),
        "{\"sch",
    )
    .unwrap();
    fs::write(dir.path().join("records/app/notes.txt"), "hello").unwrap();
    fs::write(dir.path().join("records/README"), "hello").unwrap();

    assert_eq!(cache.list().unwrap(), vec![app.clone()]);
    assert_eq!(cache.latest("app").unwrap(), Some(app));
}

#[test]
fn remove_says_whether_there_was_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path());
    let app = record("app", "1", "2026-11-25T18:00:00Z");
    cache.store(&app).unwrap();
    assert!(cache.remove("app", &app.fingerprint).unwrap());
    assert!(!cache.remove("app", &app.fingerprint).unwrap());
    assert_eq!(cache.lookup("app", &app.fingerprint).unwrap(), None);
}

#[test]
fn corrupt_records_are_reported_with_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path());
    let app = record("app", "1", "2026-11-25T18:00:00Z");
    cache.store(&app).unwrap();
    let path = cache.record_path("app", &app.fingerprint).unwrap();
    let good = fs::read_to_string(&path).unwrap();

    let mut report = Vec::new();
    let mut check = |label: &str, contents: String| {
        fs::write(&path, contents).unwrap();
        let err = cache.lookup("app", &app.fingerprint).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        report.push(format!("{label}:\n  {}", message(dir.path(), &err)));
        // Listing and `latest` report the same file rather than skipping it.
        assert_eq!(
            cache.latest("app").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(cache.list().unwrap_err().kind(), io::ErrorKind::InvalidData);
    };

    check("truncated", good[..good.len() / 2].to_owned());
    check("empty", String::new());
    check(
        "newer schema",
        good.replace(&format!("\"schema\": {RECORD_SCHEMA}"), "\"schema\": 7"),
    );
    check(
        "no schema",
        good.replace(&format!("\"schema\": {RECORD_SCHEMA},"), ""),
    );
    check(
        "missing field",
        good.replace("\"run_id\": \"run-0001\"", "\"run\": 1"),
    );
    check(
        "bad input hash",
        good.replacen(
            &app.inputs
                .get(&InputKey::Scheme)
                .unwrap()
                .to_hex()
                .to_string(),
            "beef",
            1,
        ),
    );
    check(
        "other image",
        good.replace("\"image\": \"app\"", "\"image\": \"web\""),
    );
    let other = inputs("2").fingerprint().to_string();
    check(
        "other fingerprint",
        good.replace(&app.fingerprint.to_string(), &other),
    );
    check(
        "bad time",
        good.replace("2026-11-25T18:00:00Z", "yesterday"),
    );

    insta::assert_snapshot!("corrupt_records", report.join("\n"));
}

#[test]
fn image_names_cannot_escape_the_records_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path());
    let fingerprint = Fingerprint::from(blake3::hash(b"x"));
    for bad in ["", ".", "..", "../etc", "a/b", "a\\b", ".hidden"] {
        let err = cache.lookup(bad, &fingerprint).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        let mut r = record("app", "1", "2026-11-25T18:00:00Z");
        r.image = bad.into();
        assert_eq!(
            cache.store(&r).unwrap_err().kind(),
            io::ErrorKind::InvalidInput,
            "{bad}"
        );
    }
    assert!(
        !dir.path().join("records").exists()
            || fs::read_dir(dir.path().join("records"))
                .unwrap()
                .next()
                .is_none()
    );
}

/// A 1 MiB qcow2 disk at `name` (relative to `cwd`), on `backing` (as written into its header) if any.
fn qcow2(cwd: &std::path::Path, name: &str, backing: Option<&str>) {
    let mut command = std::process::Command::new("qemu-img");
    command.args(["create", "-q", "-f", "qcow2"]);
    if let Some(backing) = backing {
        command.args(["-b", backing, "-F", "qcow2"]);
    }
    let status = command
        .args([name, "1M"])
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("qemu-img (Debian qemu-utils)");
    assert!(status.success(), "qemu-img create {name} on {backing:?}");
}

#[test]
fn backing_files_are_read_from_qcow2_headers_absolute_or_relative() {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    qcow2(&root, "base.qcow2", None);
    let base = root.join("base.qcow2");
    qcow2(&root, "abs.qcow2", Some(base.to_str().unwrap()));
    qcow2(&root, "rel.qcow2", Some("base.qcow2"));
    fs::write(root.join("plain.txt"), "not a disk").unwrap();

    use crate::qcow2::backing_file;
    assert_eq!(backing_file(&base).unwrap(), None);
    assert_eq!(
        backing_file(&root.join("abs.qcow2")).unwrap(),
        Some(base.clone())
    );
    assert_eq!(backing_file(&root.join("rel.qcow2")).unwrap(), Some(base));
    assert_eq!(backing_file(&root.join("plain.txt")).unwrap(), None);
    assert_eq!(
        backing_file(&root.join("none")).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

/// A record of `image` naming `files`, distinct per `version`.
fn record_of(image: &str, version: &str, files: &[&str]) -> CacheRecord {
    let mut r = record(image, &format!("{image}-{version}"), "");
    r.created_at = format!("2026-11-25T18:00:0{version}Z");
    r.builds[0].files = files.iter().map(|f| f.to_string()).collect();
    r
}

#[test]
fn gather_then_prune_keeps_the_backing_chain_and_removes_the_rest() {
    use crate::{FileState, Inventory, Status, apply_prune, decide_prune};

    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let artifacts = root.join("cache/artifacts");
    fs::create_dir_all(artifacts.join("base")).unwrap();
    fs::create_dir_all(artifacts.join("app")).unwrap();
    fs::create_dir_all(artifacts.join("old")).unwrap();
    qcow2(&artifacts, "base/base-1.qcow2", None);
    qcow2(&artifacts, "base/base-2.qcow2", None);
    let base1 = artifacts.join("base/base-1.qcow2");
    qcow2(&artifacts, "app/app.qcow2", Some(base1.to_str().unwrap()));
    fs::write(artifacts.join("old/old.txt"), "0123456789").unwrap();

    let cache = Cache::open(&root.join("cache"));
    let base_old = record_of("base", "1", &["cache/artifacts/base/base-1.qcow2"]);
    let base_new = record_of("base", "2", &["cache/artifacts/base/base-2.qcow2"]);
    let app = record_of("app", "1", &["./cache/artifacts/app/app.qcow2"]);
    let old = record_of(
        "old",
        "1",
        &[
            "cache/artifacts/old/old.txt",
            "cache/artifacts/old/gone.txt",
        ],
    );
    for r in [&base_old, &base_new, &app, &old] {
        cache.store(r).unwrap();
    }

    let current = [base_new.fingerprint, app.fingerprint];
    let status = |r: &CacheRecord| match r.image.as_str() {
        "old" => Status::Orphaned,
        _ if current.contains(&r.fingerprint) => Status::Current,
        _ => Status::Older,
    };
    let inventory = Inventory::gather(dir.path(), cache.scan().unwrap(), status).unwrap();
    assert_eq!(inventory.root, root);
    let app_disk = artifacts.join("app/app.qcow2");
    assert!(matches!(
        inventory.files.get(&app_disk),
        Some(FileState::File { backing: Some(b), .. }) if *b == base1
    ));
    assert_eq!(
        inventory.files.get(&artifacts.join("old/gone.txt")),
        Some(&FileState::Missing)
    );
    assert_eq!(inventory.size(&artifacts.join("old/old.txt")), 10);

    let plan = decide_prune(&inventory).unwrap();
    let removed: Vec<&str> = plan.files.iter().map(|f| f.shown.as_str()).collect();
    assert_eq!(removed, ["cache/artifacts/old/old.txt"]);
    assert_eq!(plan.kept.len(), 1, "{plan:?}");
    assert_eq!(plan.kept[0].shown, "cache/artifacts/base/base-1.qcow2");

    apply_prune(&cache, &plan).unwrap();
    assert!(base1.is_file() && app_disk.is_file());
    assert!(
        !artifacts.join("old").exists(),
        "the emptied artifact directory goes"
    );
    assert!(
        !root.join("cache/records/old").exists(),
        "so does the emptied record directory"
    );
    assert_eq!(cache.lookup("base", &base_old.fingerprint).unwrap(), None);
    assert!(
        cache
            .lookup("base", &base_new.fingerprint)
            .unwrap()
            .is_some()
    );
    assert!(cache.lookup("app", &app.fingerprint).unwrap().is_some());
    assert!(artifacts.is_dir(), "directories above an image's stay");
}

#[test]
fn scan_reports_a_corrupt_record_and_still_lists_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path());
    let good = record("app", "1", "2026-11-25T18:00:00Z");
    cache.store(&good).unwrap();
    fs::write(dir.path().join("records/app/0000.json"), "{").unwrap();
    let scanned = cache.scan().unwrap();
    assert_eq!(scanned.len(), 2);
    assert!(scanned.contains(&crate::Scanned::Record(good)));
    assert!(scanned.iter().any(|s| matches!(
        s,
        crate::Scanned::Unreadable(u) if u.image == "app" && u.path.ends_with("0000.json") && u.error.contains("not valid JSON")
    )));
}

#[test]
fn a_record_changed_after_it_was_written_is_corrupt_even_when_it_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path());
    let app = record("app", "1", "2026-11-25T18:00:00Z");
    cache.store(&app).unwrap();
    let path = cache.record_path("app", &app.fingerprint).unwrap();
    let good = fs::read_to_string(&path).unwrap();
    assert!(good.contains("\"checksum\": \""), "{good}");
    assert_eq!(
        cache.lookup("app", &app.fingerprint).unwrap(),
        Some(app.clone())
    );

    // Another artifact: valid JSON, a valid record, but not what imgs wrote.
    let edited = good.replace("\"run_id\": \"run-0001\"", "\"run_id\": \"run-0002\"");
    assert_ne!(edited, good);
    fs::write(&path, &edited).unwrap();
    let err = cache.lookup("app", &app.fingerprint).unwrap_err();
    assert_eq!(
        message(dir.path(), &err),
        format!(
            "cache record [cache]/records/app/{}.json is corrupt: its checksum does not match its \
             contents (it was changed after imgs wrote it)",
            app.fingerprint
        )
    );

    // A record written before records had checksums is read as it is.
    let mut older: serde_json::Value = serde_json::from_str(&good).unwrap();
    older.as_object_mut().unwrap().shift_remove("checksum");
    fs::write(&path, serde_json::to_string_pretty(&older).unwrap()).unwrap();
    assert_eq!(
        cache.lookup("app", &app.fingerprint).unwrap(),
        Some(app.clone())
    );

    // A directory in its place is damage: storing the record replaces it.
    fs::remove_file(&path).unwrap();
    fs::create_dir_all(path.join("inside")).unwrap();
    assert!(cache.lookup("app", &app.fingerprint).is_err());
    cache.store(&app).unwrap();
    assert_eq!(cache.lookup("app", &app.fingerprint).unwrap(), Some(app));
}
