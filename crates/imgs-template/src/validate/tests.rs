use std::path::{Path, PathBuf};

use super::files::local_checksum_file;
use super::*;
use crate::interpolate::Volatile;

fn invocation(dir: &Path) -> Invocation {
    Invocation::new(dir, Volatile::Placeholder)
}

fn run(text: &str, filter: &BuildFilter) -> Vec<String> {
    errors_in(Path::new("/nonexistent-imgs-dir"), text, filter)
}

/// The error messages for `text` checked in `dir`.
fn errors_in(dir: &Path, text: &str, filter: &BuildFilter) -> Vec<String> {
    let diagnostics = check(
        Path::new("t.json"),
        text.to_string(),
        &invocation(dir),
        filter,
    );
    diagnostics
        .0
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect()
}

fn errors(text: &str) -> Vec<String> {
    run(text, &BuildFilter::default())
}

const NULL: &str = r#"{"type": "null", "communicator": "none"}"#;

#[test]
fn a_minimal_template_is_valid() {
    assert_eq!(
        errors(&format!(r#"{{"builders": [{NULL}]}}"#)),
        Vec::<String>::new()
    );
}

#[test]
fn template_rules() {
    assert_eq!(
        errors(r#"{"builders": []}"#),
        ["the template defines no builders"]
    );
    let e = errors(&format!(
        r#"{{"builders": [{NULL}], "provisioners": [
            {{"type": "shell-local", "inline": ["true"], "only": ["nul"], "override": {{"qemu": {{}}}}}},
            {{"type": "shell-local", "inline": ["true"], "only": ["null"], "except": ["null"]}}]}}"#
    ));
    assert_eq!(
        e,
        [
            "`only` names the build `nul`, which does not exist",
            "`override` names the build `qemu`, which does not exist",
            "`only` and `except` cannot both be set",
        ]
    );
}

#[test]
fn min_packer_version_is_compared_with_1_6_6() {
    let t = |v: &str| {
        errors(&format!(
            r#"{{"min_packer_version": "{v}", "builders": [{NULL}]}}"#
        ))
    };
    assert!(t("1.6.6").is_empty());
    assert!(t("1.5").is_empty());
    assert_eq!(
        t("1.7"),
        ["this template requires Packer 1.7.0 or newer; imgs implements Packer 1.6.6"]
    );
    assert_eq!(t("abc"), ["`min_packer_version` is not a version: \"abc\""]);
}

/// A type Packer ships but imgs has no settings for is Packer's to judge (the `packer` engine
/// builds it, and `imgs validate` asks `packer validate`); a type neither knows is an error.
#[test]
fn types_only_packer_knows_and_unknown_types() {
    let e = errors(
        r#"{"builders": [{"type": "virtualbox-iso", "anything": 1}, {"type": "qemmu"}],
            "post-processors": ["vagrant-cloud", "vagrnt"]}"#,
    );
    assert_eq!(
        e,
        [
            "unknown post-processor type `vagrnt`",
            "unknown builder type `qemmu`"
        ]
    );
}

#[test]
fn unknown_keys_and_value_shapes() {
    let e = errors(
        r#"{"builders": [{"type": "null", "communicator": "none", "comunicator": "ssh", "ssh_port": "x{{user `a`}}"}]}"#,
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("unknown key `comunicator`"));
    assert!(e[1].starts_with("invalid value for `ssh_port`"), "{}", e[1]);
}

#[test]
fn only_plugins_of_selected_builds_are_checked() {
    let text = format!(
        r#"{{"builders": [{NULL}, {{"type": "null", "name": "other", "communicator": "none"}}],
            "provisioners": [{{"type": "shell-local", "inline": ["true"], "bogus": 1, "only": ["other"]}}]}}"#
    );
    assert_eq!(errors(&text).len(), 1);
    let filter = BuildFilter {
        only: vec!["null".into()],
        except: vec![],
    };
    assert!(run(&text, &filter).is_empty());
}

#[test]
fn overrides_apply_per_build() {
    let text = format!(
        r#"{{"builders": [{NULL}], "provisioners": [{{"type": "shell-local", "inline": ["true"],
            "override": {{"null": {{"bogus": true}}}}}}]}}"#
    );
    assert_eq!(
        errors(&text),
        ["unknown key `bogus` in provisioner `shell-local`"]
    );
}

#[test]
fn max_retries_must_render_to_an_integer() {
    let text = format!(
        r#"{{"builders": [{NULL}], "provisioners": [{{"type": "shell-local", "inline": ["true"], "max_retries": "x"}}]}}"#
    );
    assert_eq!(
        errors(&text),
        ["`max_retries` must be an integer, got \"x\""]
    );
    // Packer skips an empty `max_retries` as written.
    assert!(errors(&text.replace(r#""max_retries": "x""#, r#""max_retries": """#)).is_empty());
}

#[test]
fn missing_script_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("present.sh"), "true").unwrap();
    let text = format!(
        r#"{{"builders": [{NULL}], "provisioners": [{{"type": "shell-local", "scripts": ["present.sh", "absent.sh"]}}]}}"#
    );
    let d = check(
        Path::new("t.json"),
        text,
        &invocation(dir.path()),
        &BuildFilter::default(),
    );
    let e: Vec<_> = d.0.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(e, ["`scripts`: `absent.sh` does not exist"]);
}

#[test]
fn post_processors_skipped_by_except_name_are_not_checked() {
    let text = format!(
        r#"{{"builders": [{NULL}], "post-processors": [[{{"type": "manifest", "name": "m"}}, {{"type": "nope"}}]]}}"#
    );
    assert_eq!(errors(&text), ["unknown post-processor type `nope`"]);
    let filter = BuildFilter {
        only: vec![],
        except: vec!["m".into()],
    };
    assert!(run(&text, &filter).is_empty());
}

#[test]
fn undeclared_cli_variables_are_warnings() {
    let dir = PathBuf::from("/nonexistent-imgs-dir");
    let mut inv = invocation(&dir);
    inv.cli_vars = vec![("regoin".into(), "x".into())];
    let d = check(
        Path::new("t.json"),
        format!(r#"{{"variables": {{"region": "a"}}, "builders": [{NULL}]}}"#),
        &inv,
        &BuildFilter::default(),
    );
    assert!(!d.has_errors());
    assert_eq!(d.0[0].hint.as_deref(), Some("did you mean `region`?"));
}

#[test]
fn keys_equal_ignoring_case_are_one_key_to_packer() {
    let e = errors(
        r#"{"builders": [{"type": "null", "communicator": "none", "Communicator": "none"}]}"#,
    );
    assert_eq!(
        e,
        [
            "`Communicator` and `communicator` are the same key to Packer (it ignores case); only one is used"
        ]
    );
    assert!(errors(r#"{"builders": [{"type": "null", "COMMUNICATOR": "none"}]}"#).is_empty());
}

#[test]
fn ssh_keys_and_checksum_files_are_read_as_packer_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notakey"), "hello\n").unwrap();
    let run = |text: &str| errors_in(dir.path(), text, &BuildFilter::default());
    assert_eq!(
        run(
            r#"{"builders": [{"type": "null", "ssh_host": "h", "ssh_username": "u", "ssh_private_key_file": "notakey"}]}"#
        ),
        ["`ssh_private_key_file`: `notakey` is not a usable SSH private key: no key found"]
    );
    // Not the SSH communicator: Packer does not read the key.
    assert!(run(r#"{"builders": [{"type": "null", "communicator": "none", "ssh_private_key_file": "nope"}]}"#).is_empty());
    assert_eq!(
        local_checksum_file("file:sums/SHA256SUMS").as_deref(),
        Some("sums/SHA256SUMS")
    );
    assert_eq!(
        local_checksum_file("file:file:///sums").as_deref(),
        Some("/sums")
    );
    assert_eq!(
        local_checksum_file("file:https://example.com/SHA256SUMS"),
        None
    );
    assert_eq!(local_checksum_file("sha256:abc"), None);
}

#[test]
fn deferred_keys_and_object_keys_are_still_parsed() {
    let shell = |extra: &str| {
        errors(&format!(
            r#"{{"builders": [{NULL}], "provisioners": [{{"type": "shell-local", "inline": ["true"], {extra}}}]}}"#
        ))
    };
    // Rendered only at build time, but Packer parses it while validating.
    assert_eq!(
        shell(r#""execute_command": ["{{nope}}"]"#),
        ["in `execute_command`: function \"nope\" not defined"]
    );
    assert!(shell(r#""execute_command": ["{{.Vars}} {{.Script}}"]"#).is_empty());
    let e = errors(&format!(
        r#"{{"builders": [{NULL}], "post-processors": [{{"type": "manifest", "custom_data": {{"{{{{nope}}}}": "x"}}}}]}}"#
    ));
    assert_eq!(e.len(), 1, "{e:?}");
}

#[test]
fn the_error_cleanup_provisioner_runs_in_every_build() {
    let text = format!(
        r#"{{"builders": [{NULL}, {{"type": "null", "name": "b", "communicator": "none"}}],
            "error-cleanup-provisioner": {{"type": "shell-local", "only": ["b"]}}}}"#
    );
    let filter = BuildFilter {
        only: vec!["null".into()],
        except: vec![],
    };
    assert_eq!(
        run(&text, &filter).len(),
        1,
        "the shell-local config has nothing to run"
    );
}

#[test]
fn file_checks_read_values_as_packer_decodes_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.sh"), "true").unwrap();
    let run = |provisioner: &str| -> Vec<String> {
        let text = format!(r#"{{"builders": [{NULL}], "provisioners": [{provisioner}]}}"#);
        errors_in(dir.path(), &text, &BuildFilter::default())
    };
    // A string for a list is split on commas.
    assert_eq!(
        run(r#"{"type": "shell-local", "scripts": "a.sh,b.sh"}"#),
        ["`scripts`: `b.sh` does not exist"]
    );
    // `true` is the path "1".
    assert_eq!(
        run(r#"{"type": "shell-local", "script": true}"#),
        ["`script`: `1` does not exist"]
    );
    // "1" is true: the source is made during the build.
    assert!(
        run(r#"{"type": "file", "source": "later.tar", "destination": "/x", "generated": "1"}"#)
            .is_empty()
    );
}

#[test]
fn the_bastion_key_is_read_only_for_a_bastion() {
    let null = r#""type": "null", "ssh_host": "h", "ssh_username": "u", "ssh_password": "p", "ssh_bastion_private_key_file": "missing""#;
    assert!(errors(&format!(r#"{{"builders": [{{{null}}}]}}"#)).is_empty());
    let with_bastion = errors(&format!(
        r#"{{"builders": [{{{null}, "ssh_bastion_host": "b", "ssh_bastion_username": "u"}}]}}"#
    ));
    assert!(
        with_bastion
            .iter()
            .any(|e| e.contains("`missing` cannot be read")),
        "{with_bastion:?}"
    );
}

#[test]
fn packer_settings_in_a_config_must_decode() {
    let e = errors(
        r#"{"builders": [{"type": "null", "communicator": "none", "packer_force": "x", "packer_anything": 1}]}"#,
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("invalid value for `packer_force`"),
        "{}",
        e[0]
    );
}

/// Every plugin renders the user variables once more (`packer_user_variables`), without `{{env}}`.
#[test]
fn plugins_render_the_user_variables_again() {
    let template = |variables: &str| {
        format!(
            r#"{{"variables": {variables}, "builders": [{NULL}],
                "provisioners": [{{"type": "shell-local", "inline": ["true"]}}]}}"#
        )
    };
    for (variables, fails_with) in [
        (r#"{"c": "{{`{{env \"HOME\"}}`}}"}"#, "env"),
        (r#"{"c": "{{`{{`}}"}"#, "unclosed action"),
        (r#"{"c": "{{`{{build \"ID\"}}`}}"}"#, "build variable"),
    ] {
        let e = errors(&template(variables));
        assert_eq!(e.len(), 1, "{variables}: {e:?}");
        assert!(
            e[0].starts_with("the value of variable `c` fails when Packer renders it again")
                && e[0].contains(fails_with),
            "{variables}: {e:?}"
        );
    }
    for variables in [
        r#"{"c": "http://{{ .HTTPIP }}:{{.HTTPPort}}/ks.cfg"}"#,
        r#"{"c": "{{`{{user \"nope\"}}`}}"}"#,
        r#"{"c": "{{`{{ .Path }}`}}"}"#,
    ] {
        assert_eq!(
            errors(&template(variables)),
            Vec::<String>::new(),
            "{variables}"
        );
    }
}
