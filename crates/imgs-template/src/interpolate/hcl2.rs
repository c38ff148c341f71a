//! A JSON template's string as the HCL2 string that means the same (`imgs hcl2-upgrade`).
//!
//! Packer's JSON strings are Go templates; HCL2 strings are HCL templates. Each `{{…}}` action that
//! has an HCL2 expression becomes `${…}` (`{{user `x`}}` is `${var.x}`); actions that read the
//! build's data (`{{ .HTTPIP }}` in a boot command) stay as they are, because Packer's plugins still
//! render those Go templates in an HCL2 configuration. What has no HCL2 form in Packer 1.6.6
//! (`env`, `sed`, `strftime`, `if`, …) is an error naming the call, so a conversion never silently
//! changes what a template builds.

use super::go_time::layout_as_formatdate;
use super::lex::Number;
use super::parse::{Command, Node, Operand, OperandKind, Pipeline};
use super::{InterpolateError, parse_template};

/// The body of an HCL2 quoted string (without the quotes), escaped for HCL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hcl2String {
    pub text: String,
    /// It reads `local.timestamp`, which the caller declares once (JSON's `{{timestamp}}` is one
    /// value for the whole run; HCL2's `timestamp()` is read anew at each call).
    pub reads_timestamp: bool,
    /// The variables it reads (`{{user `x`}}`), which an HCL2 configuration must declare.
    pub reads_variables: Vec<String>,
}

/// Where a string is: `{{build_name}}` and `{{build_type}}` are the builder's own name and type in
/// its settings (a source block cannot read them in HCL2, so they are written out), and
/// `source.name` / `source.type` in a provisioner or post-processor.
#[derive(Clone, Copy, Debug)]
pub enum Hcl2Place<'a> {
    Builder {
        name: &'a str,
        kind: &'a str,
    },
    Plugin,
    /// Outside any build (a variable default, the description).
    Template,
}

/// `input` (a JSON template string) as an HCL2 string body; an error names the action that has no
/// HCL2 form, at its byte offset.
pub fn to_hcl2_string(input: &str, place: Hcl2Place<'_>) -> Result<Hcl2String, InterpolateError> {
    if !input.contains("{{") {
        return Ok(Hcl2String {
            text: escape_hcl_string(input),
            ..Hcl2String::default()
        });
    }
    // A builder's settings may call `clean_resource_name` (for the builders Packer gives it), which
    // then fails below as having no HCL2 form rather than here as not defined.
    let build_type = match place {
        Hcl2Place::Builder { kind, .. } => Some(kind),
        _ => None,
    };
    let nodes = parse_template(input, build_type)?;
    let mut out = Hcl2String::default();
    for node in &nodes {
        match node {
            Node::Text(text) => out.text.push_str(&escape_hcl_string(text)),
            Node::Action(pipeline) => {
                if let Some(kept) = build_data_action(pipeline) {
                    push_after_text(&mut out.text, &escape_hcl_string(&kept));
                } else {
                    let expr = Translator {
                        reads_timestamp: &mut out.reads_timestamp,
                        reads_variables: &mut out.reads_variables,
                        place,
                    }
                    .pipeline(pipeline)?;
                    push_after_text(&mut out.text, &format!("${{{expr}}}"));
                }
            }
            Node::Branch { pipeline, .. } => {
                return Err(untranslatable(
                    pipeline.offset,
                    "`{{if}}`/`{{with}}` has no HCL2 string form imgs writes",
                    "write the branch as an HCL2 conditional (`cond ? a : b`) by hand",
                ));
            }
        }
    }
    Ok(out)
}

/// Appends an action's HCL2 form (`${…}`, or a Go action kept as text, `{{ .X }}`) to the string
/// written so far. A `$` or `%` that the text before it ended with would join the action's first
/// characters into an HCL2 template sequence (`$${` is an escaped `${`, `${{` and `%{{` open an
/// interpolation or a directive), so such trailing characters are written as an interpolation of
/// their own, `${"$"}`, which means the same text.
fn push_after_text(out: &mut String, action: &str) {
    let kept = out.trim_end_matches(['$', '%']).len();
    if kept < out.len() {
        let trailing = out.split_off(kept);
        out.push_str("${\"");
        out.push_str(&trailing);
        out.push_str("\"}");
    }
    out.push_str(action);
}

/// `{{ .HTTPIP }}`, `{{ .Name }}`: data the plugin supplies at build time, kept as a Go template.
fn build_data_action(pipeline: &Pipeline) -> Option<String> {
    if pipeline.declare.is_some() || pipeline.commands.len() != 1 {
        return None;
    }
    let command = &pipeline.commands[0];
    match command.args.as_slice() {
        [
            Operand {
                kind: OperandKind::Field(fields),
                ..
            },
        ] => Some(format!("{{{{ .{} }}}}", fields.join("."))),
        [
            Operand {
                kind: OperandKind::Dot,
                ..
            },
        ] => Some("{{ . }}".to_string()),
        _ => None,
    }
}

struct Translator<'a> {
    reads_timestamp: &'a mut bool,
    reads_variables: &'a mut Vec<String>,
    place: Hcl2Place<'a>,
}

impl Translator<'_> {
    fn pipeline(&mut self, pipeline: &Pipeline) -> Result<String, InterpolateError> {
        if pipeline.declare.is_some() {
            return Err(untranslatable(
                pipeline.offset,
                "template variables (`$x := …`) have no HCL2 string form",
                "use an HCL2 local value instead",
            ));
        }
        let mut piped: Option<String> = None;
        for command in &pipeline.commands {
            piped = Some(self.command(command, piped.take())?);
        }
        piped.ok_or_else(|| untranslatable(pipeline.offset, "an empty action", ""))
    }

    fn command(
        &mut self,
        command: &Command,
        piped: Option<String>,
    ) -> Result<String, InterpolateError> {
        let Some((first, rest)) = command.args.split_first() else {
            return Err(untranslatable(command.offset, "an empty command", ""));
        };
        let OperandKind::Function(name) = &first.kind else {
            if rest.is_empty() && piped.is_none() {
                return self.operand(first);
            }
            return Err(untranslatable(
                command.offset,
                &format!("`{}` has no HCL2 form", command.source),
                "rewrite it by hand",
            ));
        };
        let mut args = Vec::with_capacity(rest.len() + 1);
        for arg in rest {
            args.push(self.operand(arg)?);
        }
        args.extend(piped);
        self.call(name, command, &args, rest)
    }

    fn operand(&mut self, operand: &Operand) -> Result<String, InterpolateError> {
        match &operand.kind {
            OperandKind::Str(s) => Ok(format!("\"{}\"", escape_hcl_string(s))),
            OperandKind::Number(number) => hcl_number(number).ok_or_else(|| {
                untranslatable(
                    operand.offset,
                    &format!("the number `{}` has no HCL2 form", number.text),
                    "",
                )
            }),
            OperandKind::Bool(b) => Ok(b.to_string()),
            OperandKind::Pipeline(pipeline, fields) if fields.is_empty() => self.pipeline(pipeline),
            OperandKind::Function(name) => self.call(
                name,
                &Command {
                    offset: operand.offset,
                    source: operand.source.clone(),
                    args: vec![operand.clone()],
                },
                &[],
                &[],
            ),
            _ => Err(untranslatable(
                operand.offset,
                &format!("`{}` has no HCL2 form", operand.source),
                "rewrite it by hand",
            )),
        }
    }

    /// Packer's JSON functions as the HCL2 expressions that give the same value.
    fn call(
        &mut self,
        name: &str,
        command: &Command,
        args: &[String],
        raw: &[Operand],
    ) -> Result<String, InterpolateError> {
        let at = command.offset;
        let literal = |i: usize| match raw.get(i).map(|o| &o.kind) {
            Some(OperandKind::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let arity = |n: usize| -> Result<(), InterpolateError> {
            if args.len() == n {
                Ok(())
            } else {
                Err(untranslatable(
                    at,
                    &format!("`{}` takes {n} arguments here", command.source),
                    "",
                ))
            }
        };
        Ok(match name {
            "user" => {
                arity(1)?;
                let Some(variable) = literal(0) else {
                    return Err(untranslatable(
                        at,
                        "`user` with a computed name has no HCL2 form",
                        "name the variable directly",
                    ));
                };
                if !self.reads_variables.contains(&variable) {
                    self.reads_variables.push(variable.clone());
                }
                if is_identifier(&variable) {
                    format!("var.{variable}")
                } else {
                    format!("var[\"{}\"]", escape_hcl_string(&variable))
                }
            }
            "build" => {
                arity(1)?;
                match literal(0) {
                    Some(field) if is_identifier(&field) => format!("build.{field}"),
                    _ => {
                        return Err(untranslatable(
                            at,
                            "`build` needs a field name",
                            "write `{{ build `ID` }}` style calls",
                        ));
                    }
                }
            }
            "build_name" | "build_type" => match self.place {
                Hcl2Place::Builder { name: build, kind } => {
                    let text = if name == "build_name" { build } else { kind };
                    format!("\"{}\"", escape_hcl_string(text))
                }
                Hcl2Place::Plugin if name == "build_name" => "source.name".to_string(),
                Hcl2Place::Plugin => "source.type".to_string(),
                Hcl2Place::Template => {
                    return Err(untranslatable(
                        at,
                        &format!("`{name}` is only known inside a build"),
                        "",
                    ));
                }
            },
            "template_dir" => "path.root".to_string(),
            "pwd" => "path.cwd".to_string(),
            "packer_version" => "packer.version".to_string(),
            "uuid" => "uuidv4()".to_string(),
            "timestamp" => {
                *self.reads_timestamp = true;
                "local.timestamp".to_string()
            }
            "isotime" => match args.len() {
                0 => "timestamp()".to_string(),
                1 => {
                    let Some(layout) = literal(0) else {
                        return Err(untranslatable(
                            at,
                            "`isotime` with a computed layout has no HCL2 form",
                            "write a formatdate() call by hand",
                        ));
                    };
                    let spec = layout_as_formatdate(&layout).map_err(|what| {
                        untranslatable(
                            at,
                            &format!("the layout `{layout}` shows {what}, which HCL2's formatdate cannot"),
                            "choose a layout of years, months, days, hours, minutes, seconds and zones",
                        )
                    })?;
                    format!("formatdate(\"{}\", timestamp())", escape_hcl_string(&spec))
                }
                _ => {
                    return Err(untranslatable(at, "`isotime` takes one layout", ""));
                }
            },
            "lower" | "upper" => {
                arity(1)?;
                format!("{name}({})", args[0])
            }
            "split" => {
                arity(3)?;
                format!("split({}, {})[{}]", args[1], args[0], args[2])
            }
            "replace" => {
                arity(4)?;
                if args[2] != "-1" {
                    return Err(untranslatable(
                        at,
                        "`replace` of a limited number of occurrences has no HCL2 form",
                        "HCL2's replace() replaces every occurrence: use -1 or rewrite it by hand",
                    ));
                }
                replace_call(&args[3], &args[0], &args[1], literal(0), at)?
            }
            "replace_all" => {
                arity(3)?;
                replace_call(&args[2], &args[0], &args[1], literal(0), at)?
            }
            "vault" | "consul_key" | "aws_secretsmanager" => {
                format!("{name}({})", args.join(", "))
            }
            "env" => {
                return Err(untranslatable(
                    at,
                    "Packer 1.6.6's HCL2 has no `env` function",
                    "declare the variable without a default and set it from the environment as PKR_VAR_<name>",
                ));
            }
            other => {
                return Err(untranslatable(
                    at,
                    &format!("`{other}` has no HCL2 form in Packer 1.6.6"),
                    "rewrite the value by hand",
                ));
            }
        })
    }
}

/// Packer 1.6.6's HCL2 `replace` is a plain replacement, as Go's `strings.Replace` with -1.
fn replace_call(
    subject: &str,
    search: &str,
    replacement: &str,
    _search_literal: Option<String>,
    _at: usize,
) -> Result<String, InterpolateError> {
    Ok(format!("replace({subject}, {search}, {replacement})"))
}

/// A Go number constant as an HCL2 number literal of the same value. HCL2 writes numbers in
/// decimal only: Go's `0x10`, `0o7`, `0b1`, `1_000`, `+1`, `.5`, `1.`, `0x1p-2` and character
/// constants (`'x'`, the number 120) are written as the value they stand for. Rust prints an f64
/// with digits on both sides of the point and no exponent, which HCL2 reads.
fn hcl_number(number: &Number) -> Option<String> {
    match (number.int, number.float) {
        (Some(int), _) => Some(int.to_string()),
        (None, Some(float)) => Some(float.to_string()),
        (None, None) => None,
    }
}

fn untranslatable(offset: usize, message: &str, hint: &str) -> InterpolateError {
    let error = InterpolateError {
        kind: super::ErrorKind::Unsupported,
        ..InterpolateError::new(message, offset)
    };
    if hint.is_empty() {
        error
    } else {
        error.with_hint(hint)
    }
}

/// An HCL identifier: what `var.NAME` can name without index syntax. ASCII only: HCL's identifiers
/// are Unicode's XID classes, which Rust's `is_alphabetic` is not (combining marks are alphabetic
/// but cannot start an identifier); any other name is written quoted (`var["é"]`), which means the
/// same.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Text as it goes between an HCL string's quotes: escapes, and the template introducers `${` and
/// `%{` doubled so they stay text.
pub fn escape_hcl_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' | '%' => {
                out.push(c);
                if chars.peek() == Some(&'{') {
                    out.push(c);
                }
            }
            c if c.is_control() => {
                let code = u32::from(c);
                if code < 0x10000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hcl(input: &str) -> String {
        match to_hcl2_string(input, Hcl2Place::Plugin) {
            Ok(s) => s.text,
            Err(e) => format!(
                "error at {}: {} ({})",
                e.offset,
                e.message,
                e.hint.unwrap_or_default()
            ),
        }
    }

    #[test]
    fn translates_packer_functions() {
        insta::assert_snapshot!(
            "hcl2_strings",
            [
                "plain \"quoted\" ${not} %{x} 50%",
                "{{user `ami_name`}}-{{timestamp}}",
                "{{ user \"my-var\" }}",
                "{{user `a b`}}",
                "{{template_dir}}/scripts/{{ build_name }}.sh",
                "{{ .HTTPIP }}:{{ .HTTPPort }}/preseed.cfg",
                "{{ build `ID` }} {{build_type}} {{pwd}} {{packer_version}} {{uuid}}",
                "{{ lower (user `name`) }} {{ user `name` | upper }}",
                "{{ split (user `list`) \",\" 1 }}",
                "{{ replace_all \"-\" \"_\" (user `x`) }} {{ replace \"a\" \"b\" -1 \"aa\" }}",
                "{{ isotime }} {{ isotime \"2006-01-02T15:04:05Z07:00 Mon\" }}",
                "{{ isotime \"2006.002\" }}",
                "{{ env `HOME` }}",
                "{{ replace \"a\" \"b\" 1 \"aa\" }}",
                "{{ if true }}x{{ end }}",
                "{{ sed \"s/a/b/\" \"a\" }}",
                "{{ vault \"secret/x\" \"key\" }}",
            ]
            .iter()
            .map(|input| format!("{input}\n  => {}", hcl(input)))
            .collect::<Vec<_>>()
            .join("\n")
        );
    }

    /// Found by fuzzing (`go_template`): Go number constants were copied as written, and HCL2
    /// reads none of these spellings, so `imgs hcl2-upgrade` wrote a file HCL2 could not parse.
    #[test]
    fn go_number_spellings_become_decimal_literals() {
        for (input, hcl2) in [
            ("{{0.}}", "${0}"),
            ("{{ .2}}", "${0.2}"),
            ("{{  2_2 }}", "${22}"),
            ("urlqueay{{0O6}}", "urlqueay${6}"),
            ("strfstrftime{{-0x1}}", "strfstrftime${-1}"),
            ("{{+000000000000000}}", "${0}"),
            ("{{     0x1p-2 -}}  $ }}", "${0.25}$ }}"),
            ("{{'x'}}rstrftimegs.KindSou", "${120}rstrftimegs.KindSou"),
            ("{{ .888888888888888888 }}", "${0.8888888888888888}"),
            ("{{    vault\t-0x2}}000", "${vault(-2)}000"),
            ("{{ 1e3 }} {{ 1.5 }} {{ -7 }}", "${1000} ${1.5} ${-7}"),
        ] {
            assert_eq!(hcl(input), hcl2, "{input}");
        }
    }

    /// Found by fuzzing (`go_template`): text ending in `$` or `%` before an action ran into it
    /// (`app$${…}` is HCL2's escaped `${`, so the call became text; `${{ .X }}` and `%{{ .X }}`
    /// open a sequence HCL2 cannot parse). The characters are written as an interpolation.
    #[test]
    fn a_dollar_or_percent_before_an_action_stays_text() {
        for (input, hcl2) in [
            (
                "app${{isotime \"2006-01-06 15:04\"}}",
                "app${\"$\"}${formatdate(\"YYYY-MM-YY hh:mm\", timestamp())}",
            ),
            (
                "${{ .SourceAMITags.Kind }}",
                "${\"$\"}{{ .SourceAMITags.Kind }}",
            ),
            ("50%{{ .Name }}", "50${\"%\"}{{ .Name }}"),
            ("a$$%{{user `x`}}b$", "a${\"$$%\"}${var.x}b$"),
            ("${x} %{y} {{user `x`}}", "$${x} %%{y} ${var.x}"),
        ] {
            assert_eq!(hcl(input), hcl2, "{input}");
        }
    }

    /// Found by fuzzing (`go_template`): a variable name starting with a combining mark passed as
    /// an identifier (`var.ׇa`), which HCL2 refuses; names other than ASCII identifiers are indexed.
    #[test]
    fn variable_names_that_are_not_ascii_identifiers_are_indexed() {
        assert_eq!(hcl("{{user `\u{5c7}pouzce`}}"), "${var[\"\u{5c7}pouzce\"]}");
        assert_eq!(hcl("{{user `é`}}"), "${var[\"é\"]}");
        assert_eq!(hcl("{{user `a-b_1`}}"), "${var.a-b_1}");
    }
}

#[cfg(test)]
mod clean_resource_name_tests {
    use super::*;

    /// In the settings of a builder Packer gives `clean_resource_name`, the call is known but has no
    /// HCL2 form (what Packer 1.6.6's hcl2_upgrade says too); elsewhere it is not defined.
    #[test]
    fn clean_resource_name_has_no_hcl2_form_where_it_is_defined() {
        let in_ebs = Hcl2Place::Builder {
            name: "app",
            kind: "amazon-ebs",
        };
        let error = to_hcl2_string("ami-{{isotime | clean_resource_name}}", in_ebs).unwrap_err();
        assert_eq!(
            error.message,
            "`clean_resource_name` has no HCL2 form in Packer 1.6.6"
        );
        let error = to_hcl2_string("{{clean_resource_name `x`}}", Hcl2Place::Plugin).unwrap_err();
        assert!(error.message.contains("not defined"), "{}", error.message);
    }
}
