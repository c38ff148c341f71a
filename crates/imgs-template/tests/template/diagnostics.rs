//! The rendered diagnostics for bad templates: what a person sees from `imgs validate`.

use std::path::Path;

use imgs_template::interpolate::Volatile;
use imgs_template::{BuildFilter, Invocation, VarFile, check};

fn invocation() -> Invocation {
    Invocation::new("workspace", Volatile::Placeholder)
}

fn render_with(text: &str, inv: &Invocation, filter: &BuildFilter) -> String {
    check(
        Path::new("images/app/template.json"),
        text.to_string(),
        inv,
        filter,
    )
    .to_string()
}

fn render(text: &str) -> String {
    render_with(text, &invocation(), &BuildFilter::default())
}

#[test]
fn syntax_error() {
    insta::assert_snapshot!(render(
        "{\n  \"builders\": [\n    {\"type\": \"null\",}\n  ]\n}\n"
    ));
}

#[test]
fn repeated_key() {
    insta::assert_snapshot!(render(
        "{\n  \"builders\": [{\"type\": \"null\", \"communicator\": \"none\"}],\n  \"builders\": []\n}\n"
    ));
}

#[test]
fn unknown_top_level_key_and_bad_comment() {
    insta::assert_snapshot!(render(
        "{\n  \"_comment\": 1,\n  \"provisioner\": [],\n  \"builders\": [{\"type\": \"null\", \"communicator\": \"none\"}]\n}\n"
    ));
}

#[test]
fn block_structure() {
    insta::assert_snapshot!(render(
        r#"{
  "variables": {"count": 3},
  "builders": [
    {"name": "first"},
    {"type": "null", "communicator": "none"},
    {"type": "null", "communicator": "none"}
  ],
  "provisioners": [{"type": "shell", "inline": ["true"], "timeout": "5 minutes"}],
  "post-processors": [[["manifest"]], {"type": "manifest", "keep_input_artifact": "true"}]
}
"#
    ));
}

#[test]
fn unsupported_and_misspelt_types() {
    insta::assert_snapshot!(render(
        r#"{
  "builders": [{"type": "virtualbox-iso"}, {"type": "amazon-eb", "name": "aws"}],
  "post-processors": ["docker-push"]
}
"#
    ));
}

#[test]
fn unknown_key_with_suggestion() {
    insta::assert_snapshot!(render(
        r#"{
  "builders": [{"type": "null", "comunicator": "none"}]
}
"#
    ));
}

#[test]
fn only_except_override_targets() {
    insta::assert_snapshot!(render(
        r#"{
  "builders": [{"type": "null", "name": "local", "communicator": "none"}],
  "provisioners": [
    {"type": "shell-local", "inline": ["true"], "only": ["locl"]},
    {"type": "shell-local", "inline": ["true"], "only": ["local"], "except": ["local"]},
    {"type": "shell-local", "inline": ["true"], "override": {"aws": {}}}
  ]
}
"#
    ));
}

#[test]
fn required_variables_and_min_version() {
    insta::assert_snapshot!(render(
        r#"{
  "min_packer_version": "1.7.0",
  "variables": {"source_ami": null, "region": null, "name": "app"},
  "builders": [{"type": "null", "communicator": "none"}]
}
"#
    ));
}

#[test]
fn interpolation_errors() {
    insta::assert_snapshot!(render(
        r#"{
  "variables": {"token": "{{vault `secret/app` `token`}}", "name": "{{user `nmae`}}"},
  "builders": [{"type": "null", "communicator": "none", "name": "{{lower `X`}}-{{nope}}"}]
}
"#
    ));
}

#[test]
fn variable_cycle() {
    insta::assert_snapshot!(render(
        r#"{
  "variables": {"a": "{{user `b`}}", "b": "{{user `a`}}"},
  "builders": [{"type": "null", "communicator": "none"}]
}
"#
    ));
}

#[test]
fn bad_value_and_max_retries() {
    insta::assert_snapshot!(render(
        r#"{
  "builders": [{"type": "null", "communicator": "ssh", "ssh_host": "h", "ssh_username": "u", "ssh_port": "twenty-two"}],
  "provisioners": [{"type": "shell-local", "inline": ["true"], "max_retries": "often"}]
}
"#
    ));
}

#[test]
fn missing_script() {
    insta::assert_snapshot!(render(
        r#"{
  "builders": [{"type": "null", "communicator": "none"}],
  "provisioners": [{"type": "shell-local", "scripts": ["scripts/setup.sh"]}]
}
"#
    ));
}

#[test]
fn var_file_and_undeclared_variable() {
    let mut inv = invocation();
    inv.var_files = vec![VarFile {
        path: "vars.json".into(),
        text: "{\n  \"region\": [\"us-east-1\"]\n}\n".into(),
    }];
    insta::assert_snapshot!(render_with(
        r#"{"variables": {"region": "eu-west-1"}, "builders": [{"type": "null", "communicator": "none"}]}"#,
        &inv,
        &BuildFilter::default()
    ));
    let mut inv = invocation();
    inv.cli_vars = vec![("regoin".into(), "us-east-1".into())];
    insta::assert_snapshot!(render_with(
        r#"{"variables": {"region": "eu-west-1"}, "builders": [{"type": "null", "communicator": "none"}]}"#,
        &inv,
        &BuildFilter::default()
    ));
}
