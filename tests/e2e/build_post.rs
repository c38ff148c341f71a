//! Post-processor chains end to end: `imgs build` of a `file`-builder template with a chain
//! `[checksum, compress, manifest]`, a zip of the builder's file and a shell-local step, checked on
//! disk with the reference tools; then the same template under Packer 1.6.6, whose outputs must match.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use imgs_test_peers::packer::packer_for;

use crate::support::{imgs_ok, packer_build, write};

const TEMPLATE: &str = r#"{
  "variables": { "greeting": "hello from the file builder" },
  "builders": [
    { "type": "file", "name": "note", "content": "{{user `greeting`}}\n", "target": "out/note.txt" }
  ],
  "post-processors": [
    [
      { "type": "checksum", "checksum_types": ["sha256", "md5"],
        "output": "out/{{.BuildName}}_{{.BuilderType}}.{{.ChecksumType}}" },
      { "type": "compress", "output": "dist/{{.BuildName}}.tar.gz", "keep_input_artifact": true },
      { "type": "manifest", "output": "dist/manifest.json", "strip_time": true }
    ],
    { "type": "compress", "output": "dist/{{.BuildName}}.zip" },
    { "type": "shell-local",
      "environment_vars": ["GREETING={{user `greeting`}}"],
      "inline": [
        "echo \"$PACKER_BUILD_NAME/$PACKER_BUILDER_TYPE: $GREETING\" > shell-local.txt",
        "ls out dist >> shell-local.txt"
      ] }
  ]
}"#;

/// What a build left that the comparison looks at.
#[derive(Debug, PartialEq, Eq)]
struct Outputs {
    files: BTreeSet<String>,
    sha256: String,
    md5: String,
    tar_listing: String,
    zip_listing: Option<String>,
    shell_local: String,
    manifest_files: Vec<String>,
    manifest_builder_type: String,
}

fn tool(dir: &Path, program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn outputs(dir: &Path) -> Outputs {
    let mut files = BTreeSet::new();
    for sub in ["out", "dist"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            files.insert(format!(
                "{sub}/{}",
                entry.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("dist/manifest.json")).unwrap())
            .unwrap();
    let build = &manifest["builds"][0];
    Outputs {
        files,
        sha256: std::fs::read_to_string(dir.join("out/note_file.sha256")).unwrap(),
        md5: std::fs::read_to_string(dir.join("out/note_file.md5")).unwrap(),
        tar_listing: tool(dir, "tar", &["-tzf", "dist/note.tar.gz"]).unwrap(),
        zip_listing: tool(dir, "zipinfo", &["-1", "dist/note.zip"]),
        shell_local: std::fs::read_to_string(dir.join("shell-local.txt")).unwrap(),
        manifest_files: build["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect(),
        manifest_builder_type: build["builder_type"].as_str().unwrap().to_string(),
    }
}

fn imgs_build() -> (tempfile::TempDir, Outputs) {
    let dir = tempfile::Builder::new()
        .prefix("imgs-post-")
        .tempdir()
        .unwrap();
    write(dir.path(), "t.json", TEMPLATE);
    let log = imgs_ok(dir.path(), &["build", "t.json"]);
    for line in [
        "Running post-processor: checksum",
        "Tarring dist/note.tar.gz with gzip",
        "Zipping dist/note.zip",
        "Running local shell script: ",
    ] {
        assert!(log.contains(line), "{line:?} not in:\n{log}");
    }
    let found = outputs(dir.path());
    (dir, found)
}

#[test]
fn a_chain_of_checksum_compress_and_manifest_and_shell_local_write_what_they_should() {
    let (dir, found) = imgs_build();
    let root = dir.path();
    // Lines as coreutils prints them, with a tab for its two spaces.
    for (file, program) in [
        ("out/note_file.sha256", "sha256sum"),
        ("out/note_file.md5", "md5sum"),
    ] {
        if let Some(theirs) = tool(root, program, &["out/note.txt"]) {
            let (hex, _) = theirs.split_once(' ').unwrap();
            assert_eq!(
                std::fs::read_to_string(root.join(file)).unwrap(),
                format!("{hex}\tnote.txt\n")
            );
        }
    }
    assert_eq!(
        found.tar_listing,
        "note.txt\nnote_file.sha256\nnote_file.md5\n"
    );
    tool(root, "gzip", &["-t", "dist/note.tar.gz"]);
    if let Some(zip) = &found.zip_listing {
        assert_eq!(zip, "out/note.txt\n");
    }
    assert_eq!(
        found.shell_local,
        "note/file: hello from the file builder\ndist:\nmanifest.json\nnote.tar.gz\nnote.zip\n\nout:\nnote.txt\nnote_file.md5\nnote_file.sha256\n"
    );
    assert_eq!(found.manifest_files, ["dist/note.tar.gz"]);
    assert_eq!(found.manifest_builder_type, "file");
}

#[test]
fn packer_writes_the_same_outputs() {
    let Some(packer) = packer_for("the post-processor outputs compared with Packer's") else {
        return;
    };
    let (_imgs_dir, ours) = imgs_build();
    let dir = tempfile::Builder::new()
        .prefix("packer-post-")
        .tempdir()
        .unwrap();
    write(dir.path(), "t.json", TEMPLATE);
    packer_build(&packer, dir.path(), "t.json");
    let theirs = outputs(dir.path());
    assert_eq!(ours, theirs);
}

/// Inputs not kept are destroyed as Packer destroys them: the checksum artifact (the note and its
/// checksum file) once compressed, while the builder's artifact survives only because a first
/// post-processor kept it, and its file went with the checksum artifact.
const DESTROYING: &str = r#"{
  "builders": [
    { "type": "file", "name": "note", "content": "a note\n", "target": "out/note.txt" }
  ],
  "post-processors": [
    { "type": "compress", "output": "dist/{{.BuildName}}.gz" },
    [
      { "type": "checksum", "checksum_types": ["sha1"], "output": "out/sums" },
      { "type": "compress", "output": "dist/all.tar.lz4" }
    ]
  ]
}"#;

/// Every file under `dir` (relative, sorted), the `.gz` content and the lz4 tar's listing.
fn destroyed_outputs(dir: &Path) -> (BTreeSet<String>, Option<String>, Option<String>) {
    let mut files = BTreeSet::new();
    for sub in ["out", "dist"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for entry in entries {
                files.insert(format!(
                    "{sub}/{}",
                    entry.unwrap().file_name().to_string_lossy()
                ));
            }
        }
    }
    let gz = tool(dir, "gzip", &["-dc", "dist/note.gz"]);
    let listing = tool(dir, "lz4", &["-dqf", "dist/all.tar.lz4", "all.tar"])
        .and_then(|_| tool(dir, "tar", &["-tf", "all.tar"]));
    (files, gz, listing)
}

#[test]
fn inputs_not_kept_are_destroyed_as_packer_destroys_them() {
    let ours_dir = tempfile::Builder::new()
        .prefix("imgs-post-")
        .tempdir()
        .unwrap();
    write(ours_dir.path(), "t.json", DESTROYING);
    imgs_ok(ours_dir.path(), &["build", "t.json"]);
    let ours = destroyed_outputs(ours_dir.path());
    assert_eq!(
        ours.0,
        ["dist/all.tar.lz4", "dist/note.gz"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    if let Some(gz) = &ours.1 {
        assert_eq!(gz, "a note\n");
    }

    let Some(packer) = packer_for("the destroyed inputs compared with Packer's") else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("packer-post-")
        .tempdir()
        .unwrap();
    write(dir.path(), "t.json", DESTROYING);
    packer_build(&packer, dir.path(), "t.json");
    assert_eq!(ours, destroyed_outputs(dir.path()));
}
