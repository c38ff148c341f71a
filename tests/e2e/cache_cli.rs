//! `imgs cache ls` and `imgs cache prune` end to end: file-builder workspaces built twice with a change in
//! between, and qcow2 layers made by `qemu-img` where an older parent disk must survive because a current
//! child is built on it.

use std::path::Path;

use crate::support::*;
use imgs_cache::{BuildArtifact, Cache, CacheRecord};

/// Snapshot filters: the workspace path, fingerprints, times (RFC 3339 and the table's), run IDs.
fn cache_settings(dir: &Path) -> insta::Settings {
    let mut s = settings(dir);
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-(\[fp\]|[0-9a-f]{12})",
        "[RUN]",
    );
    s.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[TIME]");
    s
}

fn file_template(content: &str, target: &str) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "builders": [{ "type": "file", "content": content, "target": target }],
    }))
    .unwrap()
}

/// `motd` writes a file named after its version (each build its own file); `banner` always writes
/// `out/banner.txt` (a rebuild overwrites it, so old and new records share it); `extra` is removed from
/// the workspace after the first build.
fn file_workspace() -> tempfile::TempDir {
    let dir = new_workspace("imgs-cache-");
    let root = dir.path();
    write(
        root,
        "images/motd/template.json",
        &file_template("motd v1\n", "out/motd-1.txt"),
    );
    write(
        root,
        "images/banner/template.json",
        &file_template("banner v1\n", "out/banner.txt"),
    );
    write(
        root,
        "images/extra/template.json",
        &file_template("extra\n", "out/extra.txt"),
    );
    dir
}

#[test]
fn ls_and_prune_after_a_rebuild() {
    let ws = file_workspace();
    let root = ws.path();
    let s = cache_settings(root);

    assert_eq!(
        imgs_ok(root, &["cache", "ls"]),
        "The cache holds no records.\n"
    );
    imgs_ok(root, &["build", "--all"]);
    write(
        root,
        "images/motd/template.json",
        &file_template("motd version 2\n", "out/motd-2.txt"),
    );
    write(
        root,
        "images/banner/template.json",
        &file_template("banner v2\n", "out/banner.txt"),
    );
    std::fs::remove_dir_all(root.join("images/extra")).unwrap();
    imgs_ok(root, &["build", "--all"]);

    let ls = imgs_ok(root, &["cache", "ls"]);
    s.bind(|| insta::assert_snapshot!("ls_after_rebuild", ls));
    let json: serde_json::Value =
        serde_json::from_str(&imgs_ok(root, &["cache", "ls", "--message-format", "json"])).unwrap();
    s.bind(|| insta::assert_json_snapshot!("ls_after_rebuild_json", json));

    let dry = imgs_ok(root, &["cache", "prune", "--dry-run"]);
    s.bind(|| insta::assert_snapshot!("prune_dry_run", dry));
    for kept in ["out/motd-1.txt", "out/extra.txt"] {
        assert!(root.join(kept).is_file(), "a dry run removed {kept}");
    }
    assert_eq!(
        imgs_ok(root, &["cache", "ls"]),
        ls,
        "a dry run changed the cache"
    );

    let pruned = imgs_ok(root, &["cache", "prune"]);
    assert_eq!(
        pruned
            .replace("Would remove", "    Removing")
            .lines()
            .count(),
        dry.lines().count(),
        "prune did what the dry run said:\n{dry}\n{pruned}"
    );
    s.bind(|| insta::assert_snapshot!("prune", pruned));
    assert!(!root.join("out/motd-1.txt").exists());
    assert!(!root.join("out/extra.txt").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("out/banner.txt")).unwrap(),
        "banner v2\n"
    );
    assert!(root.join("out/motd-2.txt").is_file());
    assert!(!root.join("cache/records/extra").exists());

    let after = imgs_ok(root, &["cache", "ls"]);
    s.bind(|| insta::assert_snapshot!("ls_after_prune", after));
    // Everything left is current: the plan is all fresh, and a second prune has nothing to do.
    assert!(imgs_ok(root, &["plan", "--all"]).ends_with("0 to build, 2 fresh\n"));
    assert_eq!(
        imgs_ok(root, &["cache", "prune"]),
        "Nothing to prune: every record is current (2 records, 25 B).\n"
    );
}

#[test]
fn current_means_with_the_variables_the_build_used() {
    let ws = file_workspace();
    let root = ws.path();
    write(
        root,
        "images/motd/template.json",
        &serde_json::to_string_pretty(&serde_json::json!({
            "variables": { "v": "1" },
            "builders": [{ "type": "file", "content": "motd {{user `v`}}\n", "target": "out/motd-{{user `v`}}.txt" }],
        }))
        .unwrap(),
    );
    imgs_ok(root, &["build", "-i", "motd", "--var", "v=7"]);
    let dry = imgs_ok(root, &["cache", "prune", "--dry-run"]);
    assert!(dry.contains("Would remove out/motd-7.txt"), "{dry}");
    let dry = imgs_ok(root, &["cache", "prune", "--dry-run", "--var", "v=7"]);
    assert!(dry.starts_with("Nothing to prune"), "{dry}");
}

#[test]
fn a_broken_workspace_is_listed_as_unknown_and_never_pruned() {
    let ws = file_workspace();
    let root = ws.path();
    imgs_ok(root, &["build", "--all"]);
    write(
        root,
        "images/motd/template.json",
        "{ \"builders\": [ { \"type\": \"file\", \"content\": \"x\", \"taget\": \"out/m.txt\" } ] }",
    );

    let out = imgs(root, &["cache", "ls"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = cache_settings(root);
    s.bind(|| {
        insta::assert_snapshot!(
            "ls_broken_workspace",
            format!("{}--- stderr\n{}", out.stdout, out.stderr)
        )
    });

    let err = imgs_input_error(root, &["cache", "prune"]);
    s.bind(|| insta::assert_snapshot!("prune_broken_workspace", err));
    assert_eq!(
        std::fs::read_dir(root.join("cache/records"))
            .unwrap()
            .count(),
        3
    );
    assert!(root.join("out/motd-1.txt").is_file());
}

#[test]
fn a_corrupt_record_is_listed_and_stops_a_prune() {
    let ws = file_workspace();
    let root = ws.path();
    imgs_ok(root, &["build", "--all"]);
    write(root, "cache/records/gone/0123.json", "{ \"schema\": 1");

    let ls = imgs_ok(root, &["cache", "ls"]);
    assert!(ls.contains("unreadable: cache record"), "{ls}");
    let err = imgs_input_error(root, &["cache", "prune"]);
    cache_settings(root).bind(|| insta::assert_snapshot!("prune_corrupt_record", err));
    assert!(root.join("cache/records/gone/0123.json").is_file());
}

fn qemu_img(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("qemu-img")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("qemu-img (Debian qemu-utils; `cargo xtask setup` installs it)");
    assert!(status.success(), "qemu-img {args:?}");
}

/// A record of `image` at its current fingerprint whose artifact is `disk`, as a qemu build writes one.
fn record_disk(root: &Path, image: &str, disk: &str) {
    let plan = imgs::workspace_plan(root, &[]).unwrap();
    let planned = plan.get(image).unwrap();
    Cache::open(&root.join("cache"))
        .store(&CacheRecord::new(
            image,
            planned.inputs.clone(),
            vec![BuildArtifact {
                name: image.into(),
                builder_type: "qemu".into(),
                artifact_id: "VM".into(),
                files: vec![disk.into()],
            }],
            "run-test",
        ))
        .unwrap();
}

#[test]
fn an_older_disk_a_current_layer_is_built_on_is_kept() {
    let dir = new_workspace_with(
        "imgs-cache-",
        "\n[images.app]\nparents = { base_disk = \"base\" }\n",
    );
    let root = dir.path();
    let base_template = |version: &str| file_template(version, "out/base.txt");
    write(root, "images/base/template.json", &base_template("base v1"));
    let app_template = |version: &str| {
        serde_json::to_string_pretty(&serde_json::json!({
            "variables": { "base_disk": null },
            "builders": [{ "type": "file", "content": format!("{version} on {{{{user `base_disk`}}}}"), "target": "out/app.txt" }],
        }))
        .unwrap()
    };
    write(root, "images/app/template.json", &app_template("app v1"));
    let artifacts = root.join("cache/artifacts");
    std::fs::create_dir_all(artifacts.join("base")).unwrap();
    std::fs::create_dir_all(artifacts.join("app")).unwrap();

    // Generation 1: base-1, and app-1 layered on it.
    qemu_img(
        &artifacts,
        &["create", "-q", "-f", "qcow2", "base/base-1.qcow2", "1M"],
    );
    let base1 = artifacts.join("base/base-1.qcow2");
    qemu_img(
        &artifacts,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            base1.to_str().unwrap(),
            "-F",
            "qcow2",
            "app/app-1.qcow2",
        ],
    );
    record_disk(root, "base", "cache/artifacts/base/base-1.qcow2");
    record_disk(root, "app", "cache/artifacts/app/app-1.qcow2");

    // base changes and is rebuilt (base-2); app changes and is rebuilt, but on the old base disk still
    // (as when the new base was built after it, or its layer was made by hand): its backing file is base-1,
    // by a path relative to its own directory this time.
    write(root, "images/base/template.json", &base_template("base v2"));
    qemu_img(
        &artifacts,
        &["create", "-q", "-f", "qcow2", "base/base-2.qcow2", "1M"],
    );
    record_disk(root, "base", "cache/artifacts/base/base-2.qcow2");
    write(root, "images/app/template.json", &app_template("app v2"));
    qemu_img(
        &artifacts.join("app"),
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "../base/base-1.qcow2",
            "-F",
            "qcow2",
            "app-2.qcow2",
        ],
    );
    record_disk(root, "app", "cache/artifacts/app/app-2.qcow2");

    let s = cache_settings(root);
    let ls = imgs_ok(root, &["cache", "ls"]);
    s.bind(|| insta::assert_snapshot!("ls_backing_chain", ls));
    let pruned = imgs_ok(root, &["cache", "prune"]);
    s.bind(|| insta::assert_snapshot!("prune_backing_chain", pruned));

    assert!(
        base1.is_file(),
        "the disk a current layer is built on was removed"
    );
    assert!(artifacts.join("base/base-2.qcow2").is_file());
    assert!(artifacts.join("app/app-2.qcow2").is_file());
    assert!(!artifacts.join("app/app-1.qcow2").exists());
    // The kept layer still opens with its whole chain.
    let status = std::process::Command::new("qemu-img")
        .args(["info", "--backing-chain"])
        .arg(artifacts.join("app/app-2.qcow2"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}
