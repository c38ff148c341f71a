//! The `artifice` post-processor end to end: a `null` build over SSH (a private sshd; the "machine"
//! is this one) writes two logs, the `file` provisioner downloads them, and the chain
//! `artifice → compress → checksum` archives and checksums the downloaded files, not the builder's
//! artifact. The same template under Packer 1.6.6 against the same sshd must leave the same files.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use imgs_test_peers::TestSshd;
use imgs_test_peers::packer::packer_for;

use crate::support::{imgs_ok, packer_build, write};

/// The template, with the directory the build writes its logs in on the "machine".
fn template(sshd: &TestSshd, remote: &Path) -> String {
    let remote = remote.display();
    let builder = sshd.builder("null", serde_json::json!({}));
    let template = serde_json::json!({
        "builders": [builder],
        "provisioners": [
            { "type": "shell", "inline": [
                format!("mkdir -p {remote}"),
                format!("echo first > {remote}/a.log"),
                format!("echo second > {remote}/b.log"),
            ] },
            { "type": "file", "direction": "download",
              "source": format!("{remote}/a.log"), "destination": "fetched/a.log" },
            { "type": "file", "direction": "download",
              "source": format!("{remote}/b.log"), "destination": "fetched/b.log" },
        ],
        "post-processors": [[
            { "type": "artifice", "files": ["fetched/*.log"] },
            { "type": "compress", "output": "dist/{{.BuildName}}-logs.tar.gz" },
            { "type": "checksum", "checksum_types": ["sha256"],
              "output": "dist/{{.BuildName}}.{{.ChecksumType}}" },
        ]],
    });
    serde_json::to_string_pretty(&template).unwrap()
}

/// What a build left: the files under `fetched/` and `dist/`, the archive's entries and the
/// checksum file.
#[derive(Debug, PartialEq, Eq)]
struct Left {
    files: BTreeSet<String>,
    listing: String,
    contents: String,
    checksum: String,
}

fn left(dir: &Path) -> Left {
    let mut files = BTreeSet::new();
    for sub in ["fetched", "dist"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for entry in entries {
                files.insert(format!(
                    "{sub}/{}",
                    entry.unwrap().file_name().to_string_lossy()
                ));
            }
        }
    }
    let tar = |args: &[&str]| {
        let out = Command::new("tar")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "tar {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    Left {
        files,
        listing: tar(&["-tzf", "dist/null-logs.tar.gz"]),
        contents: tar(&["-xOzf", "dist/null-logs.tar.gz"]),
        checksum: std::fs::read_to_string(dir.join("dist/null.sha256")).unwrap(),
    }
}

fn build_with(sshd: &TestSshd, prefix: &str, run: impl FnOnce(&Path)) -> Left {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let remote = dir.path().join("machine");
    write(dir.path(), "t.json", &template(sshd, &remote));
    run(dir.path());
    left(dir.path())
}

#[test]
fn artifice_hands_downloaded_files_to_compress_and_checksum_as_packer_does() {
    let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    let mut log = String::new();
    let ours = build_with(&sshd, "imgs-artifice-", |dir| {
        log = imgs_ok(dir, &["build", "t.json"]);
    });
    for line in [
        "Using these artifact files: fetched/a.log, fetched/b.log",
        "Tarring dist/null-logs.tar.gz with gzip",
    ] {
        assert!(log.contains(line), "{line:?} not in:\n{log}");
    }
    // compress does not keep its input: the downloaded files went into the archive and were
    // removed; the archive and its checksum file stay.
    assert_eq!(
        ours.files,
        BTreeSet::from(["dist/null-logs.tar.gz".into(), "dist/null.sha256".into()])
    );
    assert_eq!(ours.listing, "a.log\nb.log\n");
    assert_eq!(ours.contents, "first\nsecond\n");
    assert!(
        ours.checksum.ends_with("\tnull-logs.tar.gz\n"),
        "{}",
        ours.checksum
    );

    let Some(packer) = packer_for("the artifice chain compared with Packer's") else {
        return;
    };
    let theirs = build_with(&sshd, "packer-artifice-", |dir| {
        packer_build(&packer, dir, "t.json");
    });
    // The archives differ only in their timestamps; their entries, contents and what was left do not.
    assert_eq!(ours.files, theirs.files);
    assert_eq!(ours.listing, theirs.listing);
    assert_eq!(ours.contents, theirs.contents);
    assert!(
        theirs.checksum.ends_with("\tnull-logs.tar.gz\n"),
        "{}",
        theirs.checksum
    );
}
