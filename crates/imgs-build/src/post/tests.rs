//! Chains run on the `file` builder's artifact in a temporary directory: what is written, kept and
//! destroyed, what the log says, and the diagnostics for settings imgs refuses.

use std::path::Path;

use serde_json::{Value, json};

use crate::{Artifact, BuildError};

fn build(dir: &Path, post_processors: Value) -> Result<(Artifact, Vec<String>), String> {
    let template = json!({
        "variables": { "flavour": "plain" },
        "builders": [{ "type": "file", "name": "note", "content": "hello\n", "target": "out/note.txt" }],
        "post-processors": post_processors,
    });
    let prepared = crate::tests::prepare_in(dir, template)?;
    let (result, lines) = crate::tests::run(prepared);
    match result {
        Ok(artifact) => Ok((artifact, lines)),
        Err(e) => Err(format!("{e}\n--- log\n{}", lines.join("\n"))
            .replace(&dir.display().to_string(), "[dir]")),
    }
}

fn exists(dir: &Path, rel: &str) -> bool {
    dir.join(rel).exists()
}

#[test]
fn checksum_then_kept_compress_then_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (artifact, log) = build(
        dir.path(),
        json!([[
            { "type": "checksum", "checksum_types": ["sha256", "md5"],
              "output": "out/{{.BuildName}}_{{user `flavour`}}.{{.ChecksumType}}" },
            { "type": "compress", "output": "dist/{{.BuildName}}-{{.BuilderType}}.tar.gz",
              "keep_input_artifact": true },
            { "type": "manifest", "output": "dist/manifest.json", "strip_time": true }
        ]]),
    )
    .unwrap();
    // The compress artifact is listed twice, as Packer lists it: kept as the manifest's input, and
    // passed on by the manifest as the chain's last artifact.
    // The builder's artifact is the build's result: the first post-processor kept it.
    assert_eq!(artifact.id, "File");
    assert_eq!(artifact.handle(), "out/note.txt");
    insta::assert_snapshot!(log.join("\n"), @r"
    Writing content to out/note.txt
    Running post-processor: checksum
    Running post-processor: compress
    Tarring dist/note-file.tar.gz with gzip
    Archive dist/note-file.tar.gz completed
    Running post-processor: manifest
    Stored file: out/note.txt
    Created artifact from files: out/note.txt, out/note_plain.sha256, out/note_plain.md5
    compressed artifacts in: dist/note-file.tar.gz
    compressed artifacts in: dist/note-file.tar.gz
    ");
    insta::assert_snapshot!(
        std::fs::read_to_string(dir.path().join("out/note_plain.sha256")).unwrap(),
        @"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03	note.txt"
    );
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("dist/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["builds"][0]["files"],
        json!([{ "name": "dist/note-file.tar.gz", "size": std::fs::metadata(dir.path().join("dist/note-file.tar.gz")).unwrap().len() }])
    );
    assert_eq!(manifest["builds"][0]["builder_type"], "file");
    assert_eq!(manifest["builds"][0]["artifact_id"], "");
    for kept in [
        "out/note.txt",
        "out/note_plain.sha256",
        "out/note_plain.md5",
    ] {
        assert!(exists(dir.path(), kept), "{kept}");
    }
}

#[test]
fn compress_destroys_an_input_it_does_not_keep_as_packer_does() {
    let dir = tempfile::tempdir().unwrap();
    build(
        dir.path(),
        json!([[
            { "type": "checksum", "output": "out/sums" },
            { "type": "compress", "output": "dist/note.tar.gz" }
        ]]),
    )
    .unwrap();
    assert!(exists(dir.path(), "dist/note.tar.gz"));
    // The checksum artifact (the note and its checksum file) went into the archive and was removed.
    assert!(!exists(dir.path(), "out/sums"));
    assert!(!exists(dir.path(), "out/note.txt"));
}

#[test]
fn a_builder_artifact_no_chain_keeps_is_destroyed_and_the_last_artifact_is_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let (artifact, _) = build(
        dir.path(),
        json!([{ "type": "compress", "output": "note.gz" }]),
    )
    .unwrap();
    assert_eq!(artifact.files, [Path::new("note.gz")]);
    assert_eq!(artifact.builder_type, "file");
    assert!(!exists(dir.path(), "out/note.txt"));
}

#[test]
fn a_failing_chain_does_not_stop_the_others_and_fails_the_build() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("blocker"),
        "a file where a directory should be",
    )
    .unwrap();
    let err = build(
        dir.path(),
        json!([
            [{ "type": "checksum", "output": "blocker/sums" }],
            [{ "type": "checksum", "name": "second", "checksum_types": ["sha1"], "output": "sums.sha1" }]
        ]),
    )
    .unwrap_err();
    insta::assert_snapshot!(err, @r"
    cannot run `post-processors[0][0] (checksum)`: cannot read the checksum file `[dir]/blocker/sums`: Not a directory (os error 20)
    --- log
    Writing content to out/note.txt
    Running post-processor: checksum
    Running post-processor: second (type checksum)
    ");
    assert!(exists(dir.path(), "sums.sha1"));
}

#[test]
fn settings_imgs_refuses_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let err = build(
        dir.path(),
        json!([
            { "type": "checksum", "checksum_types": ["sha256", "crc32"], "outptu": "x" },
            { "type": "compress", "output": "a.xz" },
            { "type": "compress", "output": "a.tar.gz", "compression_level": -7, "archive": "zip" }
        ]),
    )
    .unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn cancelled_builds_run_no_post_processors() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    cancel.cancel();
    let artifact = Artifact {
        builder_type: "file".into(),
        id: "File".into(),
        description: String::new(),
        files: Vec::new(),
        docker_tags: Vec::new(),
    };
    let run = super::PostRun {
        working_dir: dir.path(),
        outputs: None,
        build_name: "b",
        run_id: "r",
        build_time: 0,
        fingerprint: None,
        image: "",
    };
    let mut log = |_: &str| {};
    let result = rt.block_on(super::run_chains(&[], artifact, &run, &mut log, &cancel));
    assert!(matches!(result, Err(BuildError::Cancelled)));
}

#[test]
fn shell_local_sees_the_build_and_passes_its_input_on() {
    let dir = tempfile::tempdir().unwrap();
    let (artifact, log) = build(
        dir.path(),
        json!([[
            { "type": "shell-local", "environment_vars": ["FLAVOUR={{user `flavour`}}"],
              "inline": ["echo \"$PACKER_BUILD_NAME $PACKER_BUILDER_TYPE $FLAVOUR\"", "cat out/note.txt"] },
            { "type": "shell-local", "command": "exit 7",
              "valid_exit_codes": [7],
              "execute_command": "{{.Vars}} {{.Command}}" },
            { "type": "checksum", "checksum_types": ["sha1"], "output": "note.sha1" }
        ]]),
    )
    .unwrap();
    assert_eq!(artifact.id, "File");
    // As in Packer, the builder's artifact is listed once as kept by the chain and once for each
    // post-processor after the first that kept it as its input.
    let log: Vec<String> = log
        .into_iter()
        .map(|l| match l.find("packer-shell") {
            Some(at) => format!("{}[inline script]", &l[..at]),
            None => l,
        })
        .collect();
    insta::assert_snapshot!(log.join("\n"), @r"
    Writing content to out/note.txt
    Running post-processor: shell-local
    Running local shell script: /tmp/[inline script]
      note file plain
      hello
    Running post-processor: shell-local
    Running local shell script: /tmp/[inline script]
    Running post-processor: checksum
    Stored file: out/note.txt
    Stored file: out/note.txt
    Stored file: out/note.txt
    Created artifact from files: out/note.txt, note.sha1
    ");
}

#[test]
fn shell_local_settings_imgs_refuses_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let err = build(
        dir.path(),
        json!([
            { "type": "shell-local", "command": "true", "inline": ["true"] },
            { "type": "shell-local", "script": "x.sh", "use_linux_pathing": true,
              "environment_vars": ["NOVALUE"], "env_var_format": "%s=%d" },
            { "type": "shell-local" }
        ]),
    )
    .unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn artifice_replaces_the_artifact_with_the_files_it_lists_for_the_rest_of_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("fetched")).unwrap();
    for name in ["b.log", "a.log", "skip.txt"] {
        std::fs::write(dir.path().join("fetched").join(name), name).unwrap();
    }
    let (artifact, log) = build(
        dir.path(),
        json!([[
            { "type": "artifice", "files": ["fetched/*.log", "fetched/not-there"] },
            { "type": "compress", "output": "dist/logs.tar.gz" },
            { "type": "checksum", "checksum_types": ["sha1"], "output": "dist/logs.sha1" }
        ]]),
    )
    .unwrap();
    // artifice keeps its input by default (the note stays), compress does not (the logs go);
    // checksum keeps the archive, listed at the end as Packer lists it.
    insta::assert_snapshot!(log.join("\n"), @r"
    Writing content to out/note.txt
    Running post-processor: artifice
    Discarding files from artifact: out/note.txt
    Using these artifact files: fetched/a.log, fetched/b.log
    Running post-processor: compress
    Tarring dist/logs.tar.gz with gzip
    Archive dist/logs.tar.gz completed
    Running post-processor: checksum
    Stored file: out/note.txt
    compressed artifacts in: dist/logs.tar.gz
    Created artifact from files: dist/logs.tar.gz, dist/logs.sha1
    ");
    assert_eq!(artifact.id, "File");
    assert!(exists(dir.path(), "out/note.txt"));
    assert!(!exists(dir.path(), "fetched/a.log"));
    assert!(!exists(dir.path(), "fetched/b.log"));
    assert!(exists(dir.path(), "fetched/skip.txt"));
    assert!(exists(dir.path(), "dist/logs.sha1"));
}

#[test]
fn artifice_told_not_to_keep_its_input_destroys_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fetched.txt"), "x").unwrap();
    let (artifact, _) = build(
        dir.path(),
        json!([{ "type": "artifice", "files": ["fetched.txt"], "keep_input_artifact": false }]),
    )
    .unwrap();
    assert_eq!(artifact.files, [Path::new("fetched.txt")]);
    assert_eq!(artifact.id, "");
    assert!(!exists(dir.path(), "out/note.txt"));
}

/// A vagrant step given an artifact it cannot box is an error before the build starts, naming
/// what makes the artifact; so are settings imgs refuses.
#[test]
fn vagrant_refuses_what_it_cannot_box_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let err = build(
        dir.path(),
        json!([
            { "type": "vagrant" },
            [{ "type": "artifice", "files": ["x"] }, { "type": "vagrant", "provider_override": "libvirt" }],
            [{ "type": "manifest" }, { "type": "vagrant", "provider_override": "aws" }],
            { "type": "vagrant", "provider_override": "virtualbox", "compression_level": 10 },
            { "type": "vagrant", "provider_override": "nope", "override": { "libvirt": { "include": "x" } } }
        ]),
    )
    .unwrap_err();
    insta::assert_snapshot!(err);
    assert!(!exists(dir.path(), "out/note.txt"), "nothing ran");
}
