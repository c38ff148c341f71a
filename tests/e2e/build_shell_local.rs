//! The `shell-local` provisioner through `imgs build`: on a null builder with `"communicator":
//! "none"` and on the file builder (neither has a machine to reach), a script change rebuilding the
//! image, a failing command failing the build without a record; and the same template under Packer
//! 1.6.6, whose scripts must print the same lines and see the same environment.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use imgs_test_peers::packer::packer_for;

use crate::support::{imgs, imgs_ok, new_workspace, packer_build, settings, write};

/// Lines the scripts print start with `out: `, so each tool's log can be reduced to them.
const TEMPLATE: &str = r#"{
  "variables": { "greeting": "it's me" },
  "builders": [{ "type": "null", "name": "local", "communicator": "none" }],
  "provisioners": [
    { "type": "shell-local",
      "environment_vars": ["GREETING={{user `greeting`}}", "EMPTY=", "WITH_EQUALS=a=b"],
      "inline": [
        "echo \"out: $PACKER_BUILD_NAME/$PACKER_BUILDER_TYPE greeting=$GREETING empty=[$EMPTY]\"",
        "env | grep -E '^(PACKER_|GREETING=|EMPTY=|WITH_EQUALS=)' | sort | sed 's/^/out: env /'"
      ] },
    { "type": "shell-local", "scripts": ["step.sh"],
      "execute_command": ["/bin/sh", "-c", "{{.Vars}} /bin/sh {{.Script}} {{build_name}}"] },
    { "type": "shell-local", "command": "echo \"out: format $GREETING\"",
      "environment_vars": ["GREETING=hi"], "env_var_format": "export %s=\"%s\"; " },
    { "type": "shell-local", "only_on": ["windows"], "inline": ["echo out: never"] }
  ]
}"#;

const STEP: &str = "echo \"out: script $(basename \"$0\") arg=[$1] in=$(basename \"$PWD\")\"\n";

/// The lines the scripts printed (what follows `out: `), in order.
fn script_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.find("out: ").map(|at| l[at..].to_string()))
        .collect()
}

fn bare_template(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    write(dir.path(), "t.json", TEMPLATE);
    write(dir.path(), "step.sh", STEP);
    dir
}

#[test]
fn shell_local_runs_on_a_null_builder_without_a_communicator() {
    let dir = bare_template("imgs-shell-local-");
    let out = imgs_ok(dir.path(), &["build", "t.json"]);
    let name = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let lines = script_lines(&out).join("\n").replace(&name, "[DIR]");
    insta::assert_snapshot!(lines, @r#"
    out: local/null greeting=it's me empty=[]
    out: env EMPTY=
    out: env GREETING=it's me
    out: env PACKER_BUILDER_TYPE=null
    out: env PACKER_BUILD_NAME=local
    out: env WITH_EQUALS=a=b
    out: script step.sh arg=[local] in=[DIR]
    out: format hi
    "#);
    assert!(
        out.contains("Skipping shell-local due to runtime OS"),
        "{out}"
    );
}

#[test]
fn packer_prints_the_same_lines_and_sees_the_same_environment() {
    let Some(packer) = packer_for("shell-local's lines and environment compared with Packer's")
    else {
        return;
    };
    let ours = bare_template("imgs-shell-local-");
    let ours_log = imgs_ok(ours.path(), &["build", "t.json"]);
    let theirs = bare_template("imgs-shell-local-");
    let out = packer_build(&packer, theirs.path(), "t.json");
    let theirs_log = String::from_utf8_lossy(&out.stdout);
    let name = |dir: &tempfile::TempDir| {
        dir.path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let ours_lines = script_lines(&ours_log)
        .join("\n")
        .replace(&name(&ours), "[DIR]");
    // Packer's plugin processes pass their own environment on to the scripts: its plugin
    // handshake, logging settings, the cache directory it was given and its run's UUID. They are
    // how Packer runs, not what it gives shell-local; imgs sets none of them.
    let packer_internal = [
        "PACKER_CACHE_DIR=",
        "PACKER_LOG=",
        "PACKER_LOG_PATH=",
        "PACKER_PLUGIN_",
        "PACKER_RUN_UUID=",
    ];
    let theirs_lines = script_lines(&theirs_log)
        .into_iter()
        .filter(|l| {
            !packer_internal
                .iter()
                .any(|v| l.starts_with(&format!("out: env {v}")))
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace(&name(&theirs), "[DIR]");
    assert_eq!(
        ours_lines, theirs_lines,
        "imgs:\n{ours_log}\npacker:\n{theirs_log}"
    );
    assert!(theirs_log.contains("Skipping shell-local due to runtime OS"));
}

/// A workspace: `local` (null, no communicator) runs a script of its own; `note` (the file builder)
/// reads the file it wrote.
fn workspace() -> tempfile::TempDir {
    let dir = new_workspace("imgs-shell-local-");
    let root = dir.path();
    write(
        root,
        "images/local/template.json",
        r#"{
  "builders": [{ "type": "null", "communicator": "none" }],
  "provisioners": [
    { "type": "shell-local", "script": "images/local/step.sh", "environment_vars": ["OUT=out/local.txt"] }
  ]
}"#,
    );
    write(
        root,
        "images/local/step.sh",
        "mkdir -p out\necho \"step v1 for $PACKER_BUILD_NAME\" | tee \"$OUT\"\n",
    );
    write(
        root,
        "images/note/template.json",
        r#"{
  "builders": [{ "type": "file", "content": "a note\n", "target": "out/note.txt" }],
  "provisioners": [
    { "type": "shell-local", "inline": ["echo \"the note says: $(cat out/note.txt)\""] }
  ]
}"#,
    );
    executable(&root.join("images/local/step.sh"));
    dir
}

/// Run as written (the default `execute_command` runs the script itself), as in Packer.
fn executable(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn workspace_images_run_it_and_a_changed_script_rebuilds_its_image() {
    let ws = workspace();
    let root = ws.path();
    let out = imgs_ok(root, &["build"]);
    assert!(out.contains("  step v1 for null"), "{out}");
    // The file builder's file exists when its provisioners run, as in Packer.
    assert!(out.contains("  the note says: a note"), "{out}");
    assert_eq!(
        std::fs::read_to_string(root.join("out/local.txt")).unwrap(),
        "step v1 for null\n"
    );

    let again = imgs_ok(root, &["build"]);
    assert!(!again.contains("step v1"), "nothing to rebuild:\n{again}");

    write(
        root,
        "images/local/step.sh",
        "mkdir -p out\necho \"step v2 for $PACKER_BUILD_NAME\" | tee \"$OUT\"\n",
    );
    let changed = imgs_ok(root, &["build"]);
    assert!(changed.contains("  step v2 for null"), "{changed}");
    assert!(
        !changed.contains("the note says"),
        "note is unchanged:\n{changed}"
    );
}

#[test]
fn a_failing_command_fails_the_build_with_its_exit_code_and_leaves_no_record() {
    let ws = workspace();
    let root = ws.path();
    write(root, "images/local/step.sh", "echo about to fail\nexit 3\n");
    let out = imgs(root, &["build", "-i", "local"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("  about to fail"), "{}", out.stdout);
    settings(root).bind(|| {
        insta::assert_snapshot!(out.stderr, @r#"
        error: building `local` failed: provisioners[0] failed: script `images/local/step.sh` exited with status 3 (valid: 0)
          = hint: the script's output above says why; if that status means success, add it to `valid_exit_codes`
        "#);
    });
    let cache = imgs_cache::Cache::open(&root.join("cache"));
    assert!(
        cache.latest("local").unwrap().is_none(),
        "no record for a failed image"
    );
}
