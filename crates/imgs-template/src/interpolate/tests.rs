//! Behaviour of `render` as a whole: Packer's functions, Go's syntax, errors and their offsets.

use std::collections::BTreeMap;

use chrono::TimeZone;
use indexmap::IndexMap;

use super::*;

struct Fixture {
    user: IndexMap<String, String>,
    env: BTreeMap<String, String>,
    data: BTreeMap<String, String>,
    volatile: Volatile,
}

impl Fixture {
    fn new() -> Self {
        let init_time = chrono::Utc.with_ymd_and_hms(2020, 11, 9, 8, 7, 6).unwrap();
        Self {
            user: IndexMap::from([
                ("name".to_owned(), "web".to_owned()),
                ("region".to_owned(), "us-east-1".to_owned()),
                ("csv".to_owned(), "a,b,c".to_owned()),
            ]),
            env: BTreeMap::from([("HOME".to_owned(), "/home/me".to_owned())]),
            data: BTreeMap::from([
                ("Path".to_owned(), "/tmp/script.sh".to_owned()),
                ("Vars".to_owned(), "A=1".to_owned()),
            ]),
            volatile: Volatile::Real { init_time },
        }
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            user_variables: &self.user,
            env: None,
            build_name: Some("web"),
            build_type: Some("amazon-ebs"),
            template_dir: "/repo/images/web",
            pwd: "/repo",
            data: &self.data,
            volatile: &self.volatile,
        }
    }
}

fn render_ok(input: &str) -> String {
    let fixture = Fixture::new();
    render(input, &fixture.ctx())
        .unwrap_or_else(|e| panic!("{input}: {e:?}"))
        .text
}

fn render_err(input: &str) -> InterpolateError {
    let fixture = Fixture::new();
    render(input, &fixture.ctx()).expect_err(input)
}

#[test]
fn plain_text_passes_through() {
    assert_eq!(render_ok("no actions here"), "no actions here");
    assert_eq!(render_ok(""), "");
    assert_eq!(render_ok("a } b }} c {"), "a } b }} c {");
}

#[test]
fn user_reads_variables_and_records_them() {
    let fixture = Fixture::new();
    let rendered = render(
        "{{user `name`}}-{{ user \"region\" }}-{{user `nope`}}",
        &fixture.ctx(),
    )
    .unwrap();
    assert_eq!(rendered.text, "web-us-east-1-");
    assert_eq!(rendered.user_read, ["name", "region", "nope"]);
    assert!(rendered.env_read.is_empty());
}

#[test]
fn user_of_an_unset_variable_is_an_error_while_resolving_variables() {
    let fixture = Fixture::new();
    let ctx = Context {
        env: Some(&fixture.env),
        ..fixture.ctx()
    };
    let error = render("x{{user `later`}}", &ctx).unwrap_err();
    assert_eq!(error.kind, ErrorKind::UnsetVariable("later".into()));
    assert_eq!(error.offset, 3);
}

#[test]
fn env_works_only_in_variable_defaults() {
    let fixture = Fixture::new();
    let ctx = Context {
        env: Some(&fixture.env),
        ..fixture.ctx()
    };
    let rendered = render("{{env `HOME`}}:{{env `UNSET`}}", &ctx).unwrap();
    assert_eq!(rendered.text, "/home/me:");
    assert_eq!(rendered.env_read, ["HOME", "UNSET"]);

    let error = render_err("ab {{env `HOME`}}");
    assert_eq!(
        error.message,
        "error calling env: env vars are not allowed here"
    );
    assert_eq!(error.offset, 5);
    assert!(error.hint.unwrap().contains("default value of a variable"));
}

#[test]
fn pipelines_pass_the_value_as_last_argument() {
    assert_eq!(render_ok("{{ user `name` | upper }}"), "WEB");
    assert_eq!(render_ok("{{ user `csv` | replace `,` `;` 1 }}"), "a;b,c");
    assert_eq!(
        render_ok("{{ user `csv` | replace_all `,` `;` | upper }}"),
        "A;B;C"
    );
    assert_eq!(render_ok("{{ lower (user `name` | upper) }}"), "web");
    assert_eq!(render_ok("{{ split (user `csv`) `,` 1 }}"), "b");
}

#[test]
fn packer_functions() {
    assert_eq!(render_ok("{{build_name}}/{{build_type}}"), "web/amazon-ebs");
    assert_eq!(
        render_ok("{{template_dir}} {{pwd}}"),
        "/repo/images/web /repo"
    );
    assert_eq!(render_ok("{{packer_version}}"), "1.6.6");
    assert_eq!(render_ok("{{timestamp}}"), "1604909226");
    assert_eq!(render_ok("{{isotime}}"), "2020-11-09T08:07:06Z");
    assert_eq!(render_ok("{{isotime `2006-01-02`}}"), "2020-11-09");
    assert_eq!(render_ok("{{strftime `%Y%m%d`}}"), "20201109");
    assert_eq!(render_ok("{{upper `abc`}}{{lower `DEF`}}"), "ABCdef");
    assert_eq!(
        render_ok("{{replace `a` `b` -1 `aaa`}}{{replace `a` `b` 2 `aaa`}}"),
        "bbbbba"
    );
    assert_eq!(render_ok("{{replace_all `-` `` `a-b-c`}}"), "abc");
    assert_eq!(render_ok("{{split `a-b-c` `-` 2}}"), "c");
    assert_eq!(render_ok("{{split `héj` `` 1}}"), "é");
    assert_eq!(render_ok("{{clean_resource_name `app:v1`}}"), "app-v1");
    assert_eq!(render_ok("{{build `Path`}}"), "/tmp/script.sh");
}

#[test]
fn uuid_is_time_ordered() {
    let text = render_ok("{{uuid}}");
    let parts: Vec<&str> = text.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(text.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    assert_ne!(text, render_ok("{{uuid}}"));
}

#[test]
fn placeholders_keep_run_dependent_values_stable() {
    let mut fixture = Fixture::new();
    fixture.volatile = Volatile::Placeholder;
    let ctx = fixture.ctx();
    let text = render(
        "ami-{{ timestamp }}-{{isotime   \"2006\"}}-{{uuid}}-{{ user `name` }}",
        &ctx,
    )
    .unwrap()
    .text;
    assert_eq!(
        text,
        "ami-{{timestamp}}-{{isotime   \"2006\"}}-{{uuid}}-web"
    );
}

#[test]
fn split_reports_missing_pieces() {
    let error = render_err("{{split `a-b` `-` 5}}");
    assert_eq!(
        error.message,
        "error calling split: the substring 5 was unavailable using the separator value, -, only 2 values were found"
    );
}

#[test]
fn fields_read_the_data_map() {
    assert_eq!(render_ok("{{.Vars}} {{ .Path }}"), "A=1 /tmp/script.sh");
    assert_eq!(render_ok("{{.Missing}}"), "<no value>");
    assert_eq!(render_ok("{{.}}"), "map[Path:/tmp/script.sh Vars:A=1]");
    assert_eq!(render_ok("{{$.Vars}}"), "A=1");
    let error = render_err("{{lower .Missing}}");
    assert_eq!(error.message, "invalid value; expected string");
    assert_eq!(error.offset, 8);
}

#[test]
fn a_map_inside_the_data_reads_as_go_reads_a_map_field() {
    let mut fixture = Fixture::new();
    fixture.data.extend([
        (
            "SourceAMITags.".to_owned(),
            "map[Name:base Team:ops]".to_owned(),
        ),
        ("SourceAMITags.Name".to_owned(), "base".to_owned()),
        ("SourceAMITags.Team".to_owned(), "ops".to_owned()),
    ]);
    let ok = |input: &str| render(input, &fixture.ctx()).unwrap().text;
    assert_eq!(
        ok("{{ .SourceAMITags.Name }}-{{.SourceAMITags.Team}}"),
        "base-ops"
    );
    assert_eq!(ok("{{ .SourceAMITags.Missing }}"), "<no value>");
    assert_eq!(ok("{{ .SourceAMITags }}"), "map[Name:base Team:ops]");
    assert_eq!(ok("{{ .SourceAMITags.Name | upper }}"), "BASE");
    let error = render(".{{ .SourceAMITags.Name.X }}", &fixture.ctx()).unwrap_err();
    assert_eq!(error.message, "can't evaluate field X in type string");
    let error = render("{{ .SourceAMITags.Name 1 }}", &fixture.ctx()).unwrap_err();
    assert_eq!(error.message, "Name is not a method but has arguments");
}

#[test]
fn literals() {
    assert_eq!(render_ok(r#"{{"a\tb\x41\u00e9"}}"#), "a\tbAé");
    assert_eq!(render_ok("{{`raw\\n`}}"), "raw\\n");
    assert_eq!(
        render_ok("{{ 42 }} {{ -3 }} {{ 0x10 }} {{ 1.5 }} {{ 1e6 }} {{ 'a' }}"),
        "42 -3 16 1.5 1e+06 97"
    );
    assert_eq!(render_ok("{{ true }} {{ false }}"), "true false");
    assert_eq!(render_ok("{{printf `%05d|%q` 3 `x`}}"), "00003|\"x\"");
}

#[test]
fn whitespace_trim_markers_and_comments() {
    assert_eq!(render_ok("a  \n {{- `b` -}} \n  c"), "abc");
    assert_eq!(render_ok("a {{-3}}"), "a -3");
    assert_eq!(render_ok("a {{/* note */}} b"), "a  b");
    assert_eq!(render_ok("a {{- /* note */ -}} b"), "ab");
    assert_eq!(render_ok("{{/* multi\nline */}}x"), "x");
}

#[test]
fn control_flow_and_variables() {
    assert_eq!(render_ok("{{if user `name`}}yes{{else}}no{{end}}"), "yes");
    assert_eq!(
        render_ok("{{if user `nope`}}yes{{else if .Vars}}vars{{else}}no{{end}}"),
        "vars"
    );
    assert_eq!(render_ok("{{with user `name`}}<{{.}}>{{end}}"), "<web>");
    assert_eq!(
        render_ok("{{$x := upper `a`}}{{$x}}{{$x = `b`}}{{$x}}"),
        "Ab"
    );
    assert_eq!(
        render_ok("{{if and (eq (user `name`) `web`) (ne 1 2)}}ok{{end}}"),
        "ok"
    );
    assert_eq!(
        render_ok("{{or `` `fallback`}}|{{not true}}|{{len `abc`}}"),
        "fallback|false|3"
    );
}

#[test]
fn unsupported_features_are_named() {
    let error = render_err("{{ vault `secret/x` `key` }}");
    assert_eq!(error.message, "`vault` is not supported by imgs");
    assert_eq!(error.kind, ErrorKind::Unsupported);
    assert!(error.hint.is_some());
    assert_eq!(
        render_err("{{consul_key `a`}}").message,
        "`consul_key` is not supported by imgs"
    );
    assert_eq!(
        render_err("{{aws_secretsmanager `a`}}").message,
        "`aws_secretsmanager` is not supported by imgs"
    );
    assert_eq!(
        render_err("{{range .}}{{end}}").message,
        "`{{range}}` is not supported by imgs"
    );
}

#[test]
fn unknown_functions_suggest_close_names() {
    let error = render_err("abc {{ lowr `X` }}");
    assert_eq!(error.message, "function \"lowr\" not defined");
    assert_eq!(error.offset, 7);
    assert_eq!(error.hint.as_deref(), Some("did you mean `lower`?"));
    assert_eq!(error.kind, ErrorKind::Parse);
}

#[test]
fn clean_resource_name_depends_on_the_builder() {
    let fixture = Fixture::new();
    let ctx = Context {
        build_type: Some("qemu"),
        ..fixture.ctx()
    };
    let error = render("{{clean_resource_name `x`}}", &ctx).unwrap_err();
    assert_eq!(
        error.message,
        "function \"clean_resource_name\" not defined"
    );
    let ctx = Context {
        build_type: Some("googlecompute"),
        ..fixture.ctx()
    };
    assert_eq!(
        render("{{clean_resource_name `My Image`}}", &ctx)
            .unwrap()
            .text,
        "my-image"
    );
}

#[test]
fn argument_errors_follow_go() {
    assert_eq!(
        render_err("{{split `a`}}").message,
        "wrong number of args for split: want 3 got 1"
    );
    assert_eq!(
        render_err("{{isotime `a` `b`}}").message,
        "error calling isotime: too many values, 1 needed: [a b]"
    );
    assert_eq!(
        render_err("{{split `a` `b` `c`}}").message,
        "expected integer; found \"c\""
    );
    assert_eq!(
        render_err("{{upper 3}}").message,
        "expected string; found 3"
    );
    assert_eq!(
        render_err("{{len `ab` | upper}}").message,
        "wrong type for value; expected string; got int"
    );
    assert_eq!(
        render_err("{{ `a` `b` }}").message,
        "can't give argument to non-function `a`"
    );
    assert_eq!(render_err("{{ nil }}").message, "nil is not a command");
    assert_eq!(
        render_err("{{ \"a b\" 1 }}").message,
        "can't give argument to non-function \"a b\""
    );
    assert_eq!(
        render_err("{{ (lower `A`) 1 }}").message,
        "can't give argument to non-function (lower `A`)"
    );
    assert_eq!(render_err("{{sed `a` `b`}}").kind, ErrorKind::Execute);
}

#[test]
fn syntax_errors_point_at_the_action() {
    let cases = [
        ("ab {{ user `x`", "unclosed action", 3),
        ("{{break}}", "{{break}} outside {{range}}", 0),
        ("{{ }}", "missing value for command", 3),
        ("x{{ \"abc }}", "unterminated quoted string", 4),
        ("{{ `abc }}", "unterminated raw quoted string", 3),
        ("{{/* x }}", "unclosed comment", 0),
        ("{{/* x */ y}}", "comment ends before closing delimiter", 0),
        ("{{ user\"x\" }}", "bad character U+0022 '\"'", 7),
        ("{{ (user `x` }}", "unclosed left paren", 13),
        ("{{ user `x`) }}", "unexpected \")\" in command", 11),
        (
            "{{ `a` | `b` }}",
            "non executable command in pipeline stage 2",
            9,
        ),
        ("{{end}}", "unexpected {{end}}", 0),
        ("{{if true}}x", "unexpected EOF in if", 5),
        ("{{ $x }}", "undefined variable \"$x\"", 3),
        ("{{ 3x }}", "bad number syntax: \"3x\"", 3),
    ];
    for (input, message, offset) in cases {
        let error = render_err(input);
        assert_eq!(
            (error.message.as_str(), error.offset),
            (message, offset),
            "{input}"
        );
    }
}

#[test]
fn check_syntax_validates_without_values() {
    assert!(check_syntax("{{user `x` | lower}}", None).is_ok());
    assert!(check_syntax("{{clean_resource_name `x`}}", Some("amazon-ebs")).is_ok());
    assert!(check_syntax("{{clean_resource_name `x`}}", None).is_err());
    assert!(check_syntax("{{ nope }}", None).is_err());
}

#[test]
fn go_escapers_slice_and_call() {
    assert_eq!(render_ok("{{html `<a&b>` 1}}"), "&lt;a&amp;b&gt;1");
    assert_eq!(render_ok("{{html .Nope}}"), "&lt;no value&gt;");
    assert_eq!(
        render_ok(r#"{{js "<a&b>=\"x\"\\'"}}"#),
        r#"\u003Ca\u0026b\u003E\u003D\"x\"\\\'"#
    );
    assert_eq!(render_ok("{{urlquery `a b&c/d~é`}}"), "a+b%26c%2Fd~%C3%A9");
    assert_eq!(
        render_ok("{{slice `abcdef` 1 3}}|{{slice `abc`}}|{{slice `abc` 1}}"),
        "bc|abc|bc"
    );
    assert_eq!(
        render_err("{{slice `abc` 4}}").message,
        "error calling slice: index out of range: 4"
    );
    assert_eq!(
        render_err("{{call `x`}}").message,
        "error calling call: non-function of type string"
    );
}

#[test]
fn comparisons_treat_missing_values_as_nil() {
    assert_eq!(
        render_ok("{{eq .Nope .Nope}} {{eq .Nope `x`}} {{eq nil nil}} {{ne .Nope .Nope}}"),
        "true false true false"
    );
    assert_eq!(
        render_err("{{lt .Nope .Nope}}").message,
        "error calling lt: invalid type for comparison"
    );
    assert_eq!(
        render_err("{{eq 1 1.0}}").message,
        "error calling eq: incompatible types for comparison"
    );
}

#[test]
fn numbers_as_go_parses_them() {
    assert_eq!(
        render_ok(
            "{{ 0x1p4 }} {{ 0x1.8p1 }} {{ 010 }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ .5 }}"
        ),
        "16 3 8 15 5 1000 0.5"
    );
    assert_eq!(
        render_err("{{ 99999999999999999999 }}").message,
        "integer overflow: \"99999999999999999999\""
    );
    assert_eq!(
        render_err("{{ 18446744073709551615 }}").message,
        "18446744073709551615 overflows int"
    );
    assert_eq!(
        render_err("{{ 1e400 }}").message,
        "illegal number syntax: \"1e400\""
    );
    assert_eq!(
        render_err("{{\"x\"-}}").message,
        "unexpected \"-\" in operand"
    );
    assert_eq!(
        render_err("{{ \"x\".A }}").message,
        "unexpected . after term \"\\\"x\\\"\""
    );
}

#[test]
fn actions_may_span_lines() {
    assert_eq!(render_ok("{{ user `name`\n  | upper }}"), "WEB");
    assert_eq!(render_ok("a\n{{-\n`b`\n-}}\nc"), "abc");
}

#[test]
fn and_or_stop_at_the_deciding_argument() {
    // `env` would fail outside variable defaults; Go 1.18+ never evaluates it here.
    assert_eq!(render_ok("{{or (user `name`) (env `HOME`)}}"), "web");
    assert_eq!(render_ok("{{and (user `nope`) (env `HOME`)}}"), "");
    assert_eq!(render_ok("{{`x` | and 1}}|{{`` | or 0}}"), "x|");
    assert!(
        render_err("{{or (user `nope`) (env `HOME`)}}")
            .message
            .contains("env vars are not allowed here")
    );
}

#[test]
fn render_until_stable_interpolates_interpolated_values() {
    let mut fixture = Fixture::new();
    fixture
        .user
        .insert("nested".into(), "{{user `name`}}-{{upper `x`}}".into());
    fixture
        .user
        .insert("itself".into(), "a{{user `itself`}}".into());
    let ctx = fixture.ctx();
    assert_eq!(
        render("{{user `nested`}}", &ctx).unwrap().text,
        "{{user `name`}}-{{upper `x`}}"
    );
    let stable = render_until_stable("{{user `nested`}}", &ctx).unwrap();
    assert_eq!(stable.text, "web-X");
    assert_eq!(stable.user_read, ["nested", "name"]);
    let error = render_until_stable("{{user `itself`}}", &ctx).unwrap_err();
    assert_eq!(
        error.message,
        "the value still changes after 100 rounds of interpolation"
    );
}
