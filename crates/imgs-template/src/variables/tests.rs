use std::path::Path;

use super::*;

fn template(text: &str) -> Template {
    Template::parse(Path::new("t.json"), text.to_string()).unwrap()
}

fn invocation() -> Invocation {
    Invocation {
        env: BTreeMap::from([("HOME".to_string(), "/home/me".to_string())]),
        ..Invocation::new("/work", Volatile::Placeholder)
    }
}

fn messages(result: Result<ResolvedVariables, Diagnostics>) -> Vec<String> {
    result
        .unwrap_err()
        .0
        .into_iter()
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn precedence_defaults_workspace_files_cli() {
    let t = template(
        r#"{"variables": {"a": "default", "b": "default", "c": "default", "d": "default"}, "builders": [{"type": "null"}]}"#,
    );
    let mut inv = invocation();
    inv.workspace_vars = vec![
        ("b".into(), "ws".into()),
        ("c".into(), "ws".into()),
        ("undeclared".into(), "ws".into()),
    ];
    inv.var_files = vec![
        VarFile {
            path: "one.json".into(),
            text: r#"{"c": "file1", "d": "file1"}"#.into(),
        },
        VarFile {
            path: "two.json".into(),
            text: r#"{"d": "file2"}"#.into(),
        },
    ];
    inv.cli_vars = vec![
        ("d".into(), "cli1".into()),
        ("d".into(), "cli2".into()),
        ("extra".into(), "x".into()),
    ];
    let resolved = resolve_variables(&t, &inv).unwrap();
    let values: Vec<(&str, &str)> = resolved
        .values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        values,
        [
            ("a", "default"),
            ("b", "ws"),
            ("c", "file1"),
            ("d", "cli2"),
            ("extra", "x")
        ]
    );
}

#[test]
fn variables_read_each_other_and_the_environment() {
    let t = template(
        r#"{"variables": {"z": "{{env `HOME`}}/{{env `NOPE`}}", "b": "{{user `a`}}-b", "a": "{{user `z`}}!"},
            "sensitive-variables": ["a", "undeclared"], "builders": [{"type": "null"}]}"#,
    );
    let resolved = resolve_variables(&t, &invocation()).unwrap();
    assert_eq!(resolved.values["z"], "/home/me/");
    assert_eq!(resolved.values["a"], "/home/me/!");
    assert_eq!(resolved.values["b"], "/home/me/!-b");
    assert_eq!(resolved.sensitive, BTreeSet::from(["a".to_string()]));
    assert_eq!(
        resolved.env_read,
        BTreeMap::from([
            ("HOME".to_string(), "/home/me".to_string()),
            ("NOPE".to_string(), String::new())
        ])
    );
}

#[test]
fn build_time_fields_are_left_for_the_build() {
    let t = template(
        r#"{"variables": {"url": "http://{{ .HTTPIP }}:{{.HTTPPort}}/{{user `f`}}", "f": "ks.cfg"}, "builders": [{"type": "null"}]}"#,
    );
    let resolved = resolve_variables(&t, &invocation()).unwrap();
    assert_eq!(
        resolved.values["url"],
        "http://{{ .HTTPIP }}:{{.HTTPPort}}/ks.cfg"
    );
}

#[test]
fn each_missing_required_variable_is_named() {
    let t = template(
        r#"{"variables": {"a": null, "b": null, "c": null}, "builders": [{"type": "null"}]}"#,
    );
    let mut inv = invocation();
    inv.cli_vars = vec![("b".into(), "given".into())];
    let errors = messages(resolve_variables(&t, &inv));
    assert_eq!(errors.len(), 2);
    assert!(
        errors[0].starts_with("error: required variable `a` is not set\n  --> t.json:1:16"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("`c`"));
}

fn resolve(variables: &str, inv: &Invocation) -> Result<ResolvedVariables, Diagnostics> {
    let t = template(&format!(
        r#"{{"variables": {variables}, "builders": [{{"type": "null"}}]}}"#
    ));
    resolve_variables(&t, inv)
}

#[test]
fn cycles_and_unknown_references_alone_are_errors() {
    let e = messages(resolve(
        r#"{"a": "{{user `b`}}", "b": "{{user `a`}}"}"#,
        &invocation(),
    ));
    assert!(
        e[0].contains("`a`, `b` read each other in a cycle"),
        "{e:?}"
    );
    let e = messages(resolve(
        r#"{"a": "{{user `regoin`}}", "region": "x"}"#,
        &invocation(),
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("variable `a` reads `regoin`, which is not a variable"),
        "{e:?}"
    );
    assert!(e[0].contains("did you mean `region`?"), "{e:?}");
}

#[test]
fn a_variable_waiting_on_an_unknown_one_is_not_reported_itself() {
    let e = messages(resolve(
        r#"{"a": "{{user `missing`}}", "c": "{{user `a`}}"}"#,
        &invocation(),
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("variable `a` reads `missing`"), "{e:?}");
}

/// Packer refuses only when its last pass rendered nothing: a variable that calls `user` and renders
/// in every pass hides one that never renders.
#[test]
fn an_unrenderable_variable_beside_one_that_renders_every_pass_is_accepted() {
    let resolved = resolve(
        r#"{"a": "{{user `missing`}}", "b": "x", "c": "{{user `b`}}"}"#,
        &invocation(),
    )
    .unwrap();
    let values: Vec<(&str, &str)> = resolved
        .values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(values, [("b", "x"), ("c", "x")]);
    assert_eq!(resolved.warnings.len(), 1);
    let warning = resolved.warnings[0].to_string();
    assert!(
        warning.starts_with(
            "warning: variable `a` reads `missing`, which is not a variable of this template, so it is not rendered\n  --> t.json:1:21"
        ),
        "{warning}"
    );

    let resolved = resolve(
        r#"{"a": "{{user `b`}}", "b": "{{user `a`}}", "c": "{{user `d`}}", "d": "x"}"#,
        &invocation(),
    )
    .unwrap();
    assert_eq!(resolved.values.keys().collect::<Vec<_>>(), ["c", "d"]);
    assert!(resolved.warnings[0].message.contains("never gets a value"));
}

#[test]
fn only_backquoted_user_calls_render_again_in_every_pass() {
    // `c` leaves after its first pass, so the last pass renders nothing.
    for c in [
        r#""{{user \"b\"}}""#,
        r#""{{user `b` | lower}}""#,
        r#""{{- user `b`}}""#,
    ] {
        let variables = format!(r#"{{"a": "{{{{user `missing`}}}}", "b": "x", "c": {c}}}"#);
        let e = messages(resolve(&variables, &invocation()));
        assert!(e[0].contains("reads `missing`"), "{c}: {e:?}");
    }
    for c in [
        r#""{{ user `b` }}""#,
        r#""{{user `b`}}-{{user `b` | lower}}""#,
    ] {
        let variables = format!(r#"{{"a": "{{{{user `missing`}}}}", "b": "x", "c": {c}}}"#);
        assert!(resolve(&variables, &invocation()).is_ok(), "{c}");
    }
}

#[test]
fn recognises_what_packer_renders_again() {
    for yes in [
        "{{user `a`}}",
        "x {{ user `a` }} y",
        "{{\n user\t`a`\n}}",
        "{{user `a` | lower}} {{user `b`}}",
        "{{user `a` | lower}}`}}",
    ] {
        assert!(calls_user_with_backquotes(yes), "{yes:?}");
    }
    for no in [
        "",
        "{{user \"a\"}}",
        "{{user `a` | lower}}",
        "{{- user `a`}}",
        "{{user `a\n`}}",
        "{{users `a`}}",
        "{{env `A`}}",
    ] {
        assert!(!calls_user_with_backquotes(no), "{no:?}");
    }
}

#[test]
fn a_given_value_that_never_renders_is_kept_as_given() {
    let mut inv = invocation();
    inv.var_files = vec![VarFile {
        path: "vars.json".into(),
        text: r#"{"a": "x={{user `missing`}}"}"#.into(),
    }];
    let resolved = resolve(r#"{"a": "", "b": "x", "c": "{{user `b`}}"}"#, &inv).unwrap();
    assert_eq!(resolved.values["a"], "x={{user `missing`}}");
    let warning = resolved.warnings[0].to_string();
    assert!(warning.contains("--> vars.json:1:7"), "{warning}");
    assert!(warning.contains("the text it was given"), "{warning}");
}

/// A given value is readable, unrendered, from the first pass: a cycle through it resolves to text.
#[test]
fn a_cycle_through_a_given_value_resolves_to_its_text() {
    let mut inv = invocation();
    inv.cli_vars = vec![("a".into(), "{{user `b`}}".into())];
    let resolved = resolve(r#"{"a": "", "b": "{{user `a`}}"}"#, &inv).unwrap();
    assert_eq!(resolved.values["a"], "{{user `b`}}");
    assert_eq!(resolved.values["b"], "{{user `b`}}");
    assert!(resolved.warnings.is_empty());
}

#[test]
fn the_empty_name_always_has_a_value() {
    let resolved = resolve(r#"{"a": "<{{user ``}}>"}"#, &invocation()).unwrap();
    assert_eq!(resolved.values["a"], "<>");
}

#[test]
fn other_rendering_errors_are_errors_whatever_renders_beside() {
    let e = messages(resolve(
        r#"{"a": "{{split `a` `,` 3}}", "b": "x", "c": "{{user `b`}}"}"#,
        &invocation(),
    ));
    assert!(e[0].contains("in the value of variable `a`"), "{e:?}");
}

#[test]
fn var_file_problems_are_located_in_the_var_file() {
    let t = template(r#"{"variables": {"a": "x"}, "builders": [{"type": "null"}]}"#);
    let mut inv = invocation();
    inv.var_files = vec![VarFile {
        path: "vars.json".into(),
        text: "{\n  \"a\": 5\n}".into(),
    }];
    let e = messages(resolve_variables(&t, &inv));
    assert!(
        e[0].starts_with(
            "error: variable `a` in a var file must be a string, found number\n  --> vars.json:2:8"
        ),
        "{}",
        e[0]
    );
}

#[test]
fn protects_only_field_references() {
    let (text, kept) = protect_build_time_fields("a{{ .X }}b{{user `y`}}{{.Y}}{{ .Z\n}}");
    assert_eq!(kept, ["{{ .X }}", "{{.Y}}"]);
    assert_eq!(
        restore_build_time_fields(text, &kept),
        "a{{ .X }}b{{user `y`}}{{.Y}}{{ .Z\n}}"
    );
}

#[test]
fn values_that_double_every_pass_are_stopped() {
    let mut inv = invocation();
    inv.cli_vars = vec![("b".into(), "{{user `a`}}{{user `a`}}".into())];
    let e = messages(resolve(r#"{"a": "{{user `b`}}"}"#, &inv));
    assert!(e[0].contains("grows past 16 MiB"), "{e:?}");
}
