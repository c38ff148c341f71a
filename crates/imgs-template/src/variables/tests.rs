use std::path::Path;

use super::*;

fn template(text: &str) -> Template {
    Template::parse(Path::new("t.json"), text.to_string()).unwrap()
}

fn invocation() -> Invocation {
    Invocation {
        working_dir: PathBuf::from("/work"),
        env: BTreeMap::from([("HOME".to_string(), "/home/me".to_string())]),
        workspace_vars: Vec::new(),
        var_files: Vec::new(),
        cli_vars: Vec::new(),
        volatile: Volatile::Placeholder,
        force: false,
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

#[test]
fn cycles_and_unknown_references_are_errors() {
    let t = template(
        r#"{"variables": {"a": "{{user `b`}}", "b": "{{user `a`}}"}, "builders": [{"type": "null"}]}"#,
    );
    assert!(messages(resolve_variables(&t, &invocation()))[0].contains("cycle"));
    let t = template(
        r#"{"variables": {"a": "{{user `regoin`}}", "region": "x"}, "builders": [{"type": "null"}]}"#,
    );
    let e = messages(resolve_variables(&t, &invocation()));
    assert_eq!(e.len(), 1, "{e:?}");
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
