//! The messages and hints people read when a template string is wrong, reviewed as snapshots.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::TimeZone;
use indexmap::IndexMap;

use super::*;

/// Every case rendered outside variable defaults, for an amazon-ebs build, with data `.Path`.
const CASES: &[&str] = &[
    "abc {{ lowr `X` }}",
    "{{ isotim }}",
    "{{ completely_unknown }}",
    "{{ env `HOME` }}",
    "{{ vault `secret/app` `password` }}",
    "{{ consul_key `app/version` }}",
    "{{ aws_secretsmanager `app` `password` }}",
    "{{ sed `s/a/b/` `abc` }}",
    "{{ range .Path }}x{{ end }}",
    "{{ define `x` }}{{ end }}",
    "{{ lower .Missing }}",
    "{{ split `a,b` `,` 2 }}",
    "{{ split `a,b` `,` }}",
    "{{ split `a,b` `,` `1` }}",
    "{{ replace `a` `b` `aaa` }}",
    "{{ isotime `2006` `01` }}",
    "{{ build `Missing` }}",
    "ami-{{ user `name` ",
    "{{ user \"name }}",
    "{{ user `name` | }}{{ end }}",
    "{{ if user `name` }}never closed",
    "{{ \"a\" | \"b\" }}",
    "{{ (lower `A` }}",
    "{{/* comment */ x }}",
    "{{ user`name` }}",
];

fn describe(input: &str, result: Result<Rendered, InterpolateError>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "input: {input}");
    match result {
        Ok(rendered) => {
            let _ = writeln!(out, "text:  {}", rendered.text);
        }
        Err(e) => {
            let column = input.get(..e.offset).map_or(0, |s| s.chars().count());
            let _ = writeln!(out, "       {}^", " ".repeat(column));
            let _ = writeln!(out, "error: {} ({:?})", e.message, e.kind);
            if let Some(hint) = &e.hint {
                let _ = writeln!(out, "hint:  {hint}");
            }
        }
    }
    out
}

#[test]
fn error_messages_and_hints() {
    let user = IndexMap::from([("name".to_owned(), "web".to_owned())]);
    let data = BTreeMap::from([("Path".to_owned(), "/tmp/x.sh".to_owned())]);
    let volatile = Volatile::Real {
        init_time: chrono::Utc.with_ymd_and_hms(2020, 11, 9, 8, 7, 6).unwrap(),
    };
    let ctx = Context {
        user_variables: &user,
        env: None,
        build_name: Some("web"),
        build_type: Some("amazon-ebs"),
        template_dir: "/repo/images/web",
        pwd: "/repo",
        data: &data,
        volatile: &volatile,
    };
    let report: Vec<String> = CASES
        .iter()
        .map(|input| describe(input, render(input, &ctx)))
        .collect();
    insta::assert_snapshot!(report.join("\n"));
}

#[test]
fn clean_resource_name_outside_cloud_builders() {
    let user = IndexMap::new();
    let data = BTreeMap::new();
    let ctx = Context {
        user_variables: &user,
        env: None,
        build_name: Some("base"),
        build_type: Some("qemu"),
        template_dir: "/repo/images/base",
        pwd: "/repo",
        data: &data,
        volatile: &Volatile::Placeholder,
    };
    let input = "base-{{ clean_resource_name `x` }}";
    insta::assert_snapshot!(describe(input, render(input, &ctx)));
}
