//! `imgs build` with the `null` builder against a private sshd (the "remote" host is this machine,
//! so what the provisioners did is checked on disk), and the `file` builder, which needs no peer.

use std::path::Path;

use crate::support::*;
use imgs_test_peers::TestSshd;

/// A workspace: `base` (null over SSH: inline shell, a script, an uploaded file), `child` built on
/// `base` (writes the artifact it received, and a manifest), and `motd` (the file builder, on its own).
/// Provisioners write under `remote/` of the workspace.
fn null_workspace(sshd: &TestSshd) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-build-",
        "\n[images.child]\nparents = { base_artifact = \"base\" }\n",
    );
    let root = dir.path();
    let remote = root.join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let builder = sshd.builder("null", serde_json::json!({}));
    let remote = remote.display().to_string();
    let base = serde_json::json!({
        "variables": { "remote": remote },
        "builders": [builder],
        "provisioners": [
            { "type": "shell", "inline": ["echo inline ran > {{user `remote`}}/inline.txt", "echo hello from base"] },
            { "type": "shell", "script": "images/base/setup.sh", "environment_vars": ["REMOTE={{user `remote`}}"] },
            { "type": "file", "source": "images/base/files/motd", "destination": "{{user `remote`}}/motd" },
        ],
    });
    write_template(root, "base", &base);
    write(
        root,
        "images/base/setup.sh",
        "#!/bin/sh\necho script v1 > \"$REMOTE/script.txt\"\n",
    );
    write(root, "images/base/files/motd", "welcome\n");
    let child = serde_json::json!({
        "variables": { "remote": remote, "base_artifact": null },
        "builders": [builder],
        "provisioners": [
            { "type": "shell", "inline": ["echo '{{user `base_artifact`}}' > {{user `remote`}}/child.txt"] },
        ],
        "post-processors": [{ "type": "manifest", "output": "out/manifest.json", "custom_data": { "layer": "child" } }],
    });
    write_template(root, "child", &child);
    let motd = serde_json::json!({
        "builders": [{ "type": "file", "content": "file builder\n", "target": "out/motd.txt" }],
    });
    write_template(root, "motd", &motd);
    dir
}

fn build_settings(dir: &Path, sshd: &TestSshd) -> insta::Settings {
    let mut s = run_settings(dir, sshd.port);
    s.add_filter(r"\d+\.\d\ds", "[T]s");
    s
}

fn run_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Run "))
        .expect("a run line")
        .to_string()
}

#[test]
fn null_builds_provision_over_ssh_and_children_get_parent_artifacts() {
    let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    let ws = null_workspace(&sshd);
    let root = ws.path();

    // One at a time, so the interleaving of the log is the same on every run.
    let out = imgs_ok(root, &["build", "--all", "-j", "1"]);
    build_settings(root, &sshd).bind(|| insta::assert_snapshot!("null_build_first_run", out));
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap();
    assert_eq!(read("remote/inline.txt"), "inline ran\n");
    assert_eq!(read("remote/script.txt"), "script v1\n");
    assert_eq!(read("remote/motd"), "welcome\n");
    // Packer's null artifact ID, passed to the child through its parent variable.
    assert_eq!(read("remote/child.txt"), "Null\n");
    assert_eq!(read("out/motd.txt"), "file builder\n");

    let manifest: serde_json::Value = serde_json::from_str(&read("out/manifest.json")).unwrap();
    let run = run_id(&out);
    assert_eq!(manifest["last_run_uuid"], run.as_str());
    let entry = &manifest["builds"][0];
    assert_eq!(entry["name"], "null");
    assert_eq!(entry["builder_type"], "null");
    assert_eq!(entry["artifact_id"], "Null");
    assert_eq!(entry["files"], serde_json::Value::Null);
    assert_eq!(entry["packer_run_uuid"], run.as_str());
    assert_eq!(
        entry["custom_data"],
        serde_json::json!({ "layer": "child" })
    );
    assert!(entry["build_time"].as_i64().unwrap() > 0);

    let cache = imgs_cache::Cache::open(&root.join("cache"));
    for image in ["base", "child", "motd"] {
        let record = cache
            .latest(image)
            .unwrap()
            .expect("a record per built image");
        assert_eq!(record.run_id, run);
    }

    // Nothing changed: nothing is built, and the plan agrees.
    let again = imgs_ok(root, &["build", "--all"]);
    assert!(!again.contains("Building"), "{again}");
    for image in ["base", "child", "motd"] {
        assert!(again.contains(&format!("Fresh {image} (")), "{again}");
    }
    let plan = imgs_ok(root, &["plan", "--all"]);
    assert!(plan.contains("0 to build, 3 fresh"), "{plan}");

    // A changed script rebuilds its image and the child, not the unrelated image.
    write(
        root,
        "images/base/setup.sh",
        "#!/bin/sh\necho script v2 > \"$REMOTE/script.txt\"\n",
    );
    let rebuilt = imgs_ok(root, &["build", "--all"]);
    build_settings(root, &sshd)
        .bind(|| insta::assert_snapshot!("null_build_after_script_change", rebuilt));
    assert!(rebuilt.contains("Building base"), "{rebuilt}");
    assert!(rebuilt.contains("Building child"), "{rebuilt}");
    assert!(rebuilt.contains("Fresh motd"), "{rebuilt}");
    assert_eq!(read("remote/script.txt"), "script v2\n");
    let manifest: serde_json::Value = serde_json::from_str(&read("out/manifest.json")).unwrap();
    assert_eq!(
        manifest["builds"].as_array().unwrap().len(),
        2,
        "entries are appended"
    );
}

#[test]
fn a_failing_provisioner_stops_the_run_without_a_record() {
    let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    let ws = null_workspace(&sshd);
    let root = ws.path();
    let template = std::fs::read_to_string(root.join("images/base/template.json")).unwrap();
    write(
        root,
        "images/base/template.json",
        &template.replace("echo hello from base", "echo about to fail; exit 3"),
    );

    let out = imgs(root, &["build", "--all"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    build_settings(root, &sshd).bind(|| {
        insta::assert_snapshot!("null_build_failure_stderr", out.stderr);
    });
    assert!(out.stdout.contains("about to fail"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Skipped child: `base` was not built"),
        "{}",
        out.stdout
    );
    let cache = imgs_cache::Cache::open(&root.join("cache"));
    assert!(
        cache.latest("base").unwrap().is_none(),
        "no record for a failed image"
    );
    assert!(
        cache.latest("child").unwrap().is_none(),
        "the child never started"
    );
    assert!(!root.join("remote/child.txt").exists());
}

#[test]
fn the_file_builder_needs_no_peer_and_a_bare_template_builds_too() {
    let dir = new_workspace("imgs-build-");
    let root = dir.path();
    write(root, "images/note/source.txt", "copied\n");
    write(
        root,
        "images/note/template.json",
        r#"{ "builders": [{ "type": "file", "source": "images/note/source.txt", "target": "out/note.txt" }] }"#,
    );
    let out = imgs_ok(root, &["build"]);
    assert!(out.contains("Built note (out/note.txt)"), "{out}");
    assert_eq!(
        std::fs::read_to_string(root.join("out/note.txt")).unwrap(),
        "copied\n"
    );

    // Outside a workspace, as `packer build FILE -var …`: no cache, every build runs.
    let bare = tempfile::tempdir().unwrap();
    write(
        bare.path(),
        "t.json",
        r#"{ "variables": { "greeting": "hi" },
             "builders": [{ "type": "file", "content": "{{user `greeting`}}", "target": "greeting.txt" }] }"#,
    );
    let out = imgs_ok(bare.path(), &["build", "t.json", "-var", "greeting=hello"]);
    assert!(out.contains("Stored file: greeting.txt"), "{out}");
    assert_eq!(
        std::fs::read_to_string(bare.path().join("greeting.txt")).unwrap(),
        "hello"
    );
}

/// The file provisioner's most common shape, from a bare template in its own directory:
/// `{{template_dir}}/files/` to a destination whose parent exists. It succeeds, as with Packer's
/// default transfer (scp), and the path is printed without a doubled slash.
#[test]
fn a_bare_templates_files_upload_to_a_new_destination() {
    let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    let dir = tempfile::Builder::new()
        .prefix("imgs-build-")
        .tempdir()
        .unwrap();
    let base0 = dir.path().join("base0");
    write(&base0, "files/f0.txt", "f0\n");
    std::fs::create_dir(dir.path().join("remote")).unwrap();
    let destination = dir.path().join("remote/new").display().to_string();
    let template = serde_json::json!({
        "builders": [sshd.builder("null", serde_json::json!({}))],
        "provisioners": [{ "type": "file", "source": "{{template_dir}}/files/", "destination": destination }],
    });
    write(
        &base0,
        "template.json",
        &serde_json::to_string_pretty(&template).unwrap(),
    );
    let out = imgs_ok(&base0, &["build", "template.json"]);
    let line = format!("Uploading {}/files/ => {destination}", base0.display());
    assert!(out.contains(&line), "{out}");
    assert!(!out.contains("//files"), "{out}");
    // scp writes the only file of `files/` as the new destination itself, as it does for Packer.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("remote/new")).unwrap(),
        "f0\n"
    );
}

/// A build that is to be native (Images.toml) but uses a type imgs does not run fails before
/// anything is built or reserved.
#[test]
fn unsupported_post_processors_fail_before_anything_is_built() {
    let dir = new_workspace_with("imgs-build-", "\n[images.note]\nengine = \"native\"\n");
    let root = dir.path();
    write(
        root,
        "images/note/template.json",
        r#"{ "builders": [{ "type": "file", "content": "x", "target": "out/note.txt" }],
             "post-processors": [{ "type": "vagrant-cloud", "box_tag": "r" }] }"#,
    );
    let err = imgs_input_error(root, &["build"]);
    settings(root).bind(|| insta::assert_snapshot!("build_unsupported_post_processor", err));
    assert!(!root.join("out/note.txt").exists());
    assert!(!root.join("cache/artifacts").exists(), "nothing reserved");
}

/// Two independent images and a child of each; `ready_when` makes a script wait (up to 10 s) for a
/// file another image's script creates, so a test can tell what ran at the same time without timing
/// anything.
fn overlap_workspace(sshd: &TestSshd, scripts: [(&str, &str); 3]) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-build-dag-",
        "\n[images.c]\nparents = { parent = \"a\" }\n",
    );
    let root = dir.path();
    std::fs::create_dir_all(root.join("remote")).unwrap();
    let builder = sshd.builder("null", serde_json::json!({}));
    for (name, script) in scripts {
        let mut variables = serde_json::json!({ "remote": root.join("remote") });
        if name == "c" {
            variables["parent"] = serde_json::Value::Null;
        }
        let template = serde_json::json!({
            "variables": variables,
            "builders": [builder],
            "provisioners": [{ "type": "shell", "inline": [
                "cd {{user `remote`}}",
                format!("touch {name}.started"),
                script,
                format!("touch {name}.done"),
            ] }],
        });
        write_template(root, name, &template);
    }
    dir
}

/// Shell that waits for `file` to exist (10 s at most) and fails if it never does.
fn wait_for(file: &str) -> String {
    format!(
        "for i in $(seq 100); do [ -e {file} ] && exit_ok=1 && break; sleep 0.1; done; [ \"$exit_ok\" = 1 ] || {{ echo never saw {file}; exit 7; }}"
    )
}

#[test]
fn independent_images_build_at_the_same_time_and_children_wait_for_their_parent() {
    let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    // a and b each wait until the other has started: only possible when they run at once. c must
    // find a finished (its parent) when it starts.
    let ws = overlap_workspace(
        &sshd,
        [
            ("a", &wait_for("b.started")),
            ("b", &wait_for("a.started")),
            ("c", "test -e a.done || { echo parent not done; exit 9; }"),
        ],
    );
    let out = imgs_ok(ws.path(), &["build", "--all"]);
    assert!(out.contains("3 images built"), "{out}");
}

#[test]
fn keep_going_builds_what_does_not_depend_on_a_failure() {
    let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    // a fails; b, independent, must still be built under --keep-going even though it starts later
    // (one job at a time).
    let scripts = [("a", "exit 4"), ("b", "true"), ("c", "true")];
    let ws = overlap_workspace(&sshd, scripts);
    let root = ws.path();
    let out = imgs(root, &["build", "--all", "-j", "1", "--keep-going"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Built b"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Skipped c: `a` was not built"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("not built: c"), "{}", out.stderr);

    // Fail-fast (the default) leaves b unstarted, and says so.
    let ws = overlap_workspace(&sshd, scripts);
    let out = imgs(ws.path(), &["build", "--all", "-j", "1"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("Skipped b: not started after `a` failed (--keep-going builds it anyway)"),
        "{}",
        out.stdout
    );
    assert!(!ws.path().join("remote/b.started").exists());
}

/// A file build writing under its image's artifacts directory, with Packer's default checksum and
/// manifest outputs after it.
const NOTE_TEMPLATE: &str = r#"{ "builders": [{ "type": "file", "source": "images/note/text.txt", "target": "cache/artifacts/note/note.txt" }],
             "post-processors": [[
               { "type": "checksum", "checksum_types": ["sha256"] },
               { "type": "manifest" }
             ]] }"#;

/// The rule for outputs in a workspace on a builder with no peer: what a template writes under
/// `cache/artifacts/<image>/`, and outputs it leaves at Packer's default, go into one directory per
/// version; a change writes a new one next to the old, a revert finds the old one fresh, `--force`
/// takes a directory of its own, a failed build leaves nothing, and prune removes old versions.
#[test]
fn each_version_of_an_image_writes_into_its_own_directory() {
    let dir = new_workspace("imgs-versions-");
    let root = dir.path();
    write(root, "images/note/text.txt", "version 1\n");
    write(root, "images/note/template.json", NOTE_TEMPLATE);
    let versions = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join("cache/artifacts/note"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && n != "current")
            .collect();
        names.sort();
        names
    };
    let current = |file: &str| {
        std::fs::read_to_string(root.join("cache/artifacts/note/current").join(file)).unwrap()
    };
    let fingerprint = || {
        imgs::workspace_plan(root, &["note"]).unwrap().images[0]
            .fingerprint
            .short()
    };

    imgs_ok(root, &["build"]);
    let v1 = fingerprint();
    assert_eq!(versions(), vec![v1.clone()]);
    assert_eq!(current("note.txt"), "version 1\n");
    // Packer's default names, in the version directory.
    assert!(current("packer_file_file_sha256.checksum").contains("note.txt"));
    let manifest: serde_json::Value =
        serde_json::from_str(&current("packer-manifest.json")).unwrap();
    assert_eq!(
        manifest["builds"][0]["files"][1]["name"],
        format!("cache/artifacts/note/{v1}/packer_file_file_sha256.checksum"),
        "the manifest names the files where they are"
    );
    let run_manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("cache/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        run_manifest["builds"][0]["artifact_dir"],
        format!("cache/artifacts/note/{v1}")
    );

    write(root, "images/note/text.txt", "version 2\n");
    let changed = imgs_ok(root, &["build"]);
    assert!(
        changed.contains("Building note: `images/note/text.txt` changed"),
        "{changed}"
    );
    let v2 = fingerprint();
    let mut both = vec![v1.clone(), v2.clone()];
    both.sort();
    assert_eq!(versions(), both);
    assert_eq!(current("note.txt"), "version 2\n");
    assert_eq!(
        std::fs::read_to_string(root.join(format!("cache/artifacts/note/{v1}/note.txt"))).unwrap(),
        "version 1\n",
        "the first version is untouched"
    );

    write(root, "images/note/text.txt", "version 1\n");
    let reverted = imgs_ok(root, &["build"]);
    assert!(
        reverted.contains("Fresh note (cache/artifacts/note/"),
        "{reverted}"
    );
    assert!(!reverted.contains("Building"), "{reverted}");
    assert_eq!(
        current("note.txt"),
        "version 1\n",
        "`current` follows the fresh version"
    );

    let forced = imgs_ok(root, &["build", "--force"]);
    assert!(forced.contains("Building note: forced"), "{forced}");
    assert!(versions().contains(&format!("{v1}-2")), "{:?}", versions());
    assert_eq!(
        std::fs::read_link(root.join("cache/artifacts/note/current")).unwrap(),
        Path::new(&format!("{v1}-2"))
    );

    // A failed build removes its own directory and nothing else.
    write(
        root,
        "images/note/template.json",
        r#"{ "builders": [{ "type": "file", "source": "images/note/text.txt", "target": "cache/artifacts/note/note.txt" }],
             "post-processors": [{ "type": "shell-local", "inline": ["exit 1"] }] }"#,
    );
    let before = versions();
    let out = imgs(root, &["build"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(versions(), before);

    // Prune keeps the version the current record names and removes the rest.
    write(root, "images/note/template.json", NOTE_TEMPLATE);
    let pruned = imgs_ok(root, &["cache", "prune"]);
    assert!(
        pruned.contains(&format!("Removing version cache/artifacts/note/{v2}/")),
        "{pruned}"
    );
    assert!(
        pruned.contains(&format!("Removing version cache/artifacts/note/{v1}/")),
        "{pruned}"
    );
    assert_eq!(versions(), [format!("{v1}-2")]);
    assert_eq!(current("note.txt"), "version 1\n");
    assert!(imgs_ok(root, &["plan"]).contains("0 to build, 1 fresh"));
}
