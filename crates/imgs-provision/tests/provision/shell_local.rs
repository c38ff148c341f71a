//! The `shell-local` provisioner: run without a communicator, on this machine, in the build's
//! working directory, with the step's pause, timeout, retries and secret masking around it.

use std::path::Path;

use crate::common::{PASSWORD, step_in};
use imgs_provision::{ProvisionError, Stream, run_provisioner};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Runs `provisioner` with `dir` as the working directory; the result and the output lines.
async fn run(dir: &Path, provisioner: Value) -> (Result<(), ProvisionError>, Vec<String>) {
    let step = step_in(dir, provisioner).unwrap_or_else(|d| panic!("{d}"));
    let mut lines = Vec::new();
    let mut output = |stream: Stream, line: &str| {
        assert_eq!(
            stream,
            Stream::Status,
            "the runner indents the script's lines itself"
        );
        lines.push(line.to_string());
    };
    let result = run_provisioner(None, &step, &mut output, &CancellationToken::new()).await;
    (result, lines)
}

#[tokio::test]
async fn commands_run_here_with_the_build_and_user_variables_in_their_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.sh"),
        "echo \"script: $1 in $(basename \"$PWD\")\"\n",
    )
    .unwrap();
    let (result, lines) = run(
        dir.path(),
        json!({ "type": "shell-local",
                "environment_vars": ["GREETING={{user `greeting`}}", "QUOTED=it's"],
                "inline": ["echo \"$PACKER_BUILD_NAME/$PACKER_BUILDER_TYPE: $GREETING, $QUOTED\""] }),
    )
    .await;
    result.unwrap();
    assert_eq!(lines[1], "  app/null: hello, it's");
    let (result, lines) = run(
        dir.path(),
        json!({ "type": "shell-local", "scripts": ["s.sh"],
                "execute_command": ["/bin/sh", "-c", "{{.Vars}} /bin/sh {{.Script}} {{user `greeting`}}"] }),
    )
    .await;
    result.unwrap();
    let name = dir.path().file_name().unwrap().to_string_lossy();
    assert_eq!(
        lines,
        [
            "Running local shell script: s.sh".to_string(),
            format!("  script: hello in {name}")
        ]
    );
}

#[tokio::test]
async fn an_unlisted_exit_code_fails_and_retries_run_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(
        dir.path(),
        json!({ "type": "shell-local", "command": "exit 3" }),
    )
    .await;
    insta::assert_snapshot!(result.unwrap_err().to_string(), @"script `inline script` exited with status 3 (valid: 0)");
    let (result, _) = run(
        dir.path(),
        json!({ "type": "shell-local", "command": "exit 3", "valid_exit_codes": [0, 3] }),
    )
    .await;
    result.unwrap();
    let (result, lines) = run(
        dir.path(),
        json!({ "type": "shell-local", "max_retries": 2,
                "inline": ["if [ -e marker ]; then exit 0; fi", "touch marker", "exit 1"] }),
    )
    .await;
    result.unwrap();
    let retries: Vec<&String> = lines.iter().filter(|l| l.contains("retrying")).collect();
    insta::assert_snapshot!(retries.len().to_string() + " " + retries[0], @"1 provisioner failed: script `inline script` exited with status 1 (valid: 0); retrying (2 tries left)");
}

#[tokio::test]
async fn a_timeout_stops_the_command_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(
        dir.path(),
        json!({ "type": "shell-local", "timeout": "1s",
                "inline": ["sleep 300 &", "echo $! > background.pid", "wait"] }),
    )
    .await;
    insta::assert_snapshot!(result.unwrap_err().to_string(), @"provisioner `shell-local` (provisioners[0]) did not finish within its timeout of 1s");
    let (pid, gone) =
        imgs_test_peers::process::written_pid_ends(&dir.path().join("background.pid"));
    assert!(gone, "the background `sleep` ({pid}) outlived the timeout");
}

#[tokio::test]
async fn sensitive_values_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let (result, lines) = run(
        dir.path(),
        json!({ "type": "shell-local",
                "environment_vars": ["PASSWORD={{user `password`}}"],
                "inline": ["echo \"the secret is $PASSWORD\"", "exit 9"] }),
    )
    .await;
    assert!(!result.unwrap_err().to_string().contains(PASSWORD));
    assert!(
        lines.contains(&"  the secret is <sensitive>".to_string()),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains(PASSWORD)), "{lines:?}");
    // The step keeps the build's variables for rendering `execute_command`; its debug form hides them.
    let step = step_in(
        dir.path(),
        json!({ "type": "shell-local", "environment_vars": ["PASSWORD={{user `password`}}"], "inline": ["true"] }),
    )
    .unwrap();
    assert!(!format!("{step:?}").contains(PASSWORD));
}

#[test]
fn settings_problems_are_located_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let problems = step_in(
        dir.path(),
        json!({ "type": "shell-local", "command": "true", "inline": ["true"],
                "environment_vars": ["NOVALUE"], "only_on": ["plan9"], "valid_exit_codes": ["x"] }),
    )
    .unwrap_err();
    insta::assert_snapshot!(problems.to_string(), @r#"
    error: invalid value for `valid_exit_codes`: expected a list of integers, got the string "x" in it
      --> images/app/template.json:29:27
      = key: provisioners[0].valid_exit_codes
      = hint: write a list of whole numbers such as [0, 1]
    error: only one of command, inline, script and scripts may be given
      --> images/app/template.json:19:18
      = key: provisioners[0].command
      = hint: consolidate these options into one
    error: invalid OS `plan9` in only_on
      --> images/app/template.json:26:18
      = key: provisioners[0].only_on
      = hint: use one of: darwin, freebsd, linux, openbsd, solaris, windows
    error: environment variable not in the form NAME=value: `NOVALUE`
      --> images/app/template.json:23:27
      = key: provisioners[0].environment_vars
      = hint: e.g. `"environment_vars": ["VERSION=1.2"]`
    "#);
    let empty = step_in(dir.path(), json!({ "type": "shell-local" })).unwrap_err();
    insta::assert_snapshot!(empty.to_string(), @r#"
    error: shell-local has nothing to run
      --> images/app/template.json:17:5
      = key: provisioners[0].inline
      = hint: give one of `command`, `inline`, `script` or `scripts`
    "#);
}

#[tokio::test]
async fn override_and_pause_before_apply_as_to_every_provisioner() {
    let dir = tempfile::tempdir().unwrap();
    let (result, lines) = run(
        dir.path(),
        json!({ "type": "shell-local", "inline": ["echo not overridden"], "pause_before": "10ms",
                "override": { "app": { "inline": ["echo overridden for $PACKER_BUILD_NAME"] } } }),
    )
    .await;
    result.unwrap();
    assert_eq!(lines[0], "Pausing 10ms before the next provisioner...");
    assert_eq!(lines[2], "  overridden for app");
}
