use super::*;

fn never() -> bool {
    false
}

/// The digest coreutils prints for `path` (`md5sum`, `sha256sum`, …), the reference for ours.
fn coreutils(kind: ChecksumType, path: &Path) -> Option<String> {
    let out = std::process::Command::new(format!("{}sum", kind.name()))
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace().next().map(str::to_string)
}

#[test]
fn every_type_agrees_with_coreutils_across_block_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.raw");
    // A little over two blocks, with varied bytes, so block joins are exercised.
    let data: Vec<u8> = (0..(2 * BLOCK + 4097))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    std::fs::write(&path, &data).unwrap();
    for kind in ChecksumType::ALL {
        let ours = hash_file(&path, kind, &never).unwrap();
        match coreutils(kind, &path) {
            Some(theirs) => assert_eq!(ours, theirs, "{}", kind.name()),
            None => eprintln!("{}sum not found; compared nothing", kind.name()),
        }
    }
}

#[test]
fn names_round_trip_and_unknown_names_are_none() {
    for kind in ChecksumType::ALL {
        assert_eq!(ChecksumType::parse(kind.name()), Some(kind));
    }
    assert_eq!(ChecksumType::parse("SHA256"), None);
    assert_eq!(ChecksumType::parse("crc32"), None);
}

#[test]
fn lines_are_hex_tab_base_name_and_types_may_share_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/a.txt"), "a\n").unwrap();
    std::fs::write(dir.path().join("out/b.txt"), "b\n").unwrap();
    let inputs = vec![PathBuf::from("out/a.txt"), PathBuf::from("out/b.txt")];
    let outputs = vec![
        ChecksumOutput {
            kind: ChecksumType::Md5,
            path: "sums/all.checksum".into(),
        },
        ChecksumOutput {
            kind: ChecksumType::Sha256,
            path: "sums/all.checksum".into(),
        },
        ChecksumOutput {
            kind: ChecksumType::Sha1,
            path: "sums/sha1.checksum".into(),
        },
    ];
    let files = write_checksums(&outputs, &inputs, dir.path(), &never).unwrap();
    assert_eq!(
        files,
        [
            "out/a.txt",
            "out/b.txt",
            "sums/all.checksum",
            "sums/sha1.checksum"
        ]
        .map(PathBuf::from)
    );
    insta::assert_snapshot!(
        std::fs::read_to_string(dir.path().join("sums/all.checksum")).unwrap(),
        @r"
    60b725f10c9c85c70d97880dfe8191b3	a.txt
    3b5d5c3712955042212316173ccf37be	b.txt
    87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7	a.txt
    0263829989b6fd954f72baaf2fc64bc2e2f01d692d4de72986ea808f6e99813f	b.txt
    "
    );
    // The same lines `sha1sum` prints, with a tab for its two spaces.
    let sha1 = std::fs::read_to_string(dir.path().join("sums/sha1.checksum")).unwrap();
    if let Some(theirs) = coreutils(ChecksumType::Sha1, &dir.path().join("out/a.txt")) {
        assert_eq!(sha1.lines().next().unwrap(), format!("{theirs}\ta.txt"));
    }
}

#[test]
fn an_existing_checksum_file_is_appended_to_and_not_listed_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a\n").unwrap();
    std::fs::write(dir.path().join("sums"), "old\tline\n").unwrap();
    let outputs = vec![ChecksumOutput {
        kind: ChecksumType::Md5,
        path: "sums".into(),
    }];
    let files = write_checksums(&outputs, &["a.txt".into()], dir.path(), &never).unwrap();
    assert_eq!(files, vec![PathBuf::from("a.txt")]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("sums")).unwrap(),
        "old\tline\n60b725f10c9c85c70d97880dfe8191b3\ta.txt\n"
    );
}

#[test]
fn a_missing_input_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a\n").unwrap();
    let outputs = vec![ChecksumOutput {
        kind: ChecksumType::Md5,
        path: "sums".into(),
    }];
    let inputs = ["a.txt", "gone.txt"].map(PathBuf::from);
    let err = write_checksums(&outputs, &inputs, dir.path(), &never).unwrap_err();
    let text = err
        .to_string()
        .replace(&dir.path().display().to_string(), "[dir]");
    insta::assert_snapshot!(text, @"cannot open `[dir]/gone.txt`: No such file or directory (os error 2)");
    assert!(!dir.path().join("sums").exists());
}

#[test]
fn cancelling_stops_hashing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a\n").unwrap();
    let err = hash_file(&dir.path().join("a.txt"), ChecksumType::Sha512, &|| true).unwrap_err();
    assert!(matches!(err, PostError::Cancelled));
}
