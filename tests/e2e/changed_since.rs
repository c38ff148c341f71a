//! `--changed-since GIT_REF` in a temporary git repository: the images whose inputs changed since the
//! revision, with what is built on them, narrowed by `-i`/`--exclude`; clear errors for a revision
//! that does not exist and for a workspace outside git.

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=imgs test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `base` → `child`, and `other` on its own: file builders, each writing its template's content.
/// The workspace sits in a subdirectory of the repository, as it may.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("imgs-changed-")
        .tempdir()
        .unwrap();
    let ws = dir.path().join("images-ws");
    write(
        &ws,
        "Images.toml",
        "[workspace]\nmembers = [\"images/*\"]\n\n[images.child]\nparents = { base_artifact = \"base\" }\n",
    );
    file_image(&ws, "base", "base v1", None);
    file_image(&ws, "child", "child v1", Some("base_artifact"));
    file_image(&ws, "other", "other v1", None);
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    git(dir.path(), &["tag", "v1"]);
    dir
}

fn file_image(ws: &Path, name: &str, content: &str, parent: Option<&str>) {
    let mut variables = serde_json::Map::new();
    if let Some(parent) = parent {
        variables.insert(parent.into(), serde_json::Value::Null);
    }
    let template = serde_json::json!({
        "variables": variables,
        "builders": [{ "type": "file", "target": format!("{name}.txt"), "content": content }],
    });
    write_template(ws, name, &template);
}

fn planned(out: &str) -> Vec<String> {
    let plan: serde_json::Value = serde_json::from_str(out).unwrap();
    plan["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_changed_image_brings_what_is_built_on_it() {
    let repo = repository();
    let ws = repo.path().join("images-ws");
    let json = ["plan", "--message-format", "json", "--changed-since"];

    let unchanged = imgs_ok(&ws, &[&json[..], &["v1"]].concat());
    assert_eq!(planned(&unchanged), Vec::<String>::new(), "{unchanged}");

    file_image(&ws, "base", "base v2", None);
    let out = imgs_ok(&ws, &["plan", "--changed-since", "v1"]);
    settings(&ws).bind(|| insta::assert_snapshot!("plan_changed_since", out));
    assert_eq!(
        planned(&imgs_ok(&ws, &[&json[..], &["v1"]].concat())),
        ["base", "child"]
    );

    // Committed: HEAD has it, v1 does not.
    git(repo.path(), &["commit", "-q", "-am", "base v2"]);
    assert_eq!(
        planned(&imgs_ok(&ws, &[&json[..], &["HEAD"]].concat())),
        Vec::<String>::new()
    );
    assert_eq!(
        planned(&imgs_ok(&ws, &[&json[..], &["HEAD~1"]].concat())),
        ["base", "child"]
    );

    // Narrowed like a cargo selection: -i keeps the named changed images (with the parents they
    // need), --exclude leaves one out.
    assert_eq!(
        planned(&imgs_ok(&ws, &[&json[..], &["v1", "-i", "child"]].concat())),
        ["base", "child"]
    );
    assert_eq!(
        planned(&imgs_ok(&ws, &[&json[..], &["v1", "-i", "other"]].concat())),
        Vec::<String>::new()
    );
    assert_eq!(
        planned(&imgs_ok(
            &ws,
            &[&json[..], &["v1", "--exclude", "base"]].concat()
        )),
        ["base", "child"],
        "child still needs base"
    );
    let dry = imgs_ok(&ws, &["build", "--dry-run", "--changed-since", "v1"]);
    assert!(dry.contains("child") && !dry.contains("other"), "{dry}");
}

#[test]
fn an_image_added_since_counts_as_changed() {
    let repo = repository();
    let ws = repo.path().join("images-ws");
    file_image(&ws, "extra", "extra v1", None);
    let out = imgs_ok(
        &ws,
        &["plan", "--message-format", "json", "--changed-since", "v1"],
    );
    assert_eq!(planned(&out), ["extra"]);
}

/// An image whose template reads a file git does not track (a generated key, a downloaded ISO) cannot
/// be read at the old revision: it counts as changed, and the rest of the comparison still holds.
#[test]
fn an_image_unreadable_at_the_revision_counts_as_changed() {
    let repo = repository();
    let ws = repo.path().join("images-ws");
    write(&ws, ".gitignore", "generated/\n");
    write(&ws, "generated/greeting.txt", "hello\n");
    let template = serde_json::json!({
        "builders": [{ "type": "file", "target": "keyed.txt", "source": "generated/greeting.txt" }],
    });
    write_template(&ws, "keyed", &template);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "keyed"]);
    let out = imgs_ok(
        &ws,
        &[
            "plan",
            "--message-format",
            "json",
            "--changed-since",
            "HEAD",
        ],
    );
    assert_eq!(planned(&out), ["keyed"]);
}

#[test]
fn a_bad_revision_or_no_repository_is_a_clear_error() {
    let repo = repository();
    let ws = repo.path().join("images-ws");
    let err = imgs_input_error(&ws, &["plan", "--changed-since", "no-such-ref"]);
    settings(&ws).bind(|| insta::assert_snapshot!("changed_since_bad_ref", err));

    let plain = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(plain.path().join("ws")).unwrap();
    let ws = plain.path().join("ws");
    write(
        &ws,
        "Images.toml",
        "[workspace]\nmembers = [\"images/*\"]\n",
    );
    file_image(&ws, "base", "base v1", None);
    let err = imgs_input_error(&ws, &["plan", "--changed-since", "HEAD"]);
    let mut settings = settings(&ws);
    settings.add_filter(&plain.path().display().to_string(), "[DIR]");
    settings.bind(|| insta::assert_snapshot!("changed_since_no_repository", err));
}
