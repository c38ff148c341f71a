//! `sleep` and `breakpoint`: no communicator needed, Packer's messages.

use imgs_provision::{ProvisionerStep, Stream, run_provisioner};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::common::step_in;

async fn run_without_communicator(provisioner: Value) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let step: ProvisionerStep = step_in(dir.path(), provisioner).unwrap_or_else(|d| panic!("{d}"));
    assert!(!step.needs_communicator());
    let mut lines = Vec::new();
    let mut output = |_: Stream, line: &str| lines.push(line.to_string());
    run_provisioner(None, &step, &mut output, &CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    lines
}

#[tokio::test]
async fn sleep_waits_quietly_and_without_a_machine() {
    let lines = run_without_communicator(json!({ "type": "sleep", "duration": "10ms" })).await;
    assert!(lines.is_empty(), "{lines:?}");
    let lines = run_without_communicator(json!({ "type": "sleep" })).await;
    assert!(lines.is_empty(), "{lines:?}");
}

#[tokio::test]
async fn a_disabled_breakpoint_says_so_with_its_note() {
    let lines = run_without_communicator(json!({
        "type": "breakpoint",
        "note": "before {{user `greeting`}}",
        "disable": true,
    }))
    .await;
    insta::assert_snapshot!(lines.join("\n"), @r#"Breakpoint provisioner with note "before hello" disabled; continuing..."#);
    let lines = run_without_communicator(json!({ "type": "breakpoint", "disable": "1" })).await;
    insta::assert_snapshot!(lines.join("\n"), @"Breakpoint provisioner disabled; continuing...");
}

#[test]
fn a_templated_sleep_is_refused_as_packer_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = step_in(
        dir.path(),
        json!({ "type": "sleep", "duration": "{{user `greeting`}}" }),
    )
    .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @r#"
    error: invalid duration `{{user `greeting`}}`: `sleep` does not render templates
      --> images/app/template.json:19:19
      = key: provisioners[0].duration
      = hint: write the duration itself, such as "30s"; Packer 1.6.6 reads this key as written
    "#);
}
