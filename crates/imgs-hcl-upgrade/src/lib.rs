//! JSON templates rewritten as HCL2 configurations (`imgs hcl2-upgrade`), as `packer hcl2_upgrade`
//! does, with one difference of aim: the result must build the same thing. Packer 1.6.6's command
//! drops `override` and `pause_before`, writes `env()` calls its own HCL2 cannot evaluate, guesses
//! blocks from the shape of values and leaves Go templates it cannot parse behind a comment. Here
//! every plugin setting is written from the plugin's schema (structs as blocks, maps as arguments,
//! exact key names, Packer's weak typing made explicit), every Go template call is translated or is
//! an error naming it, and `only`/`except`/`override` are rewritten for HCL2's source names.
//!
//! The crate does no I/O: it takes the template's text and returns the configuration's text.

use std::fmt::Write as _;
use std::path::Path;

use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_settings::go::{parse_go_bool, parse_go_int};
use imgs_template::interpolate::{Hcl2Place, escape_hcl_string, is_identifier, to_hcl2_string};
use imgs_template::schema::{self, Section, TypeSchema, ValueType};
use imgs_template::{Member, Node, Template, Value};

/// The converted configuration and what a person should check in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgraded {
    /// The `.pkr.hcl` text.
    pub text: String,
    /// Conversions that need a person's attention (a variable that became required, …).
    pub warnings: Vec<String>,
}

/// `text` (the JSON template at `path`) as one HCL2 configuration file.
pub fn upgrade(path: &Path, text: &str) -> Result<Upgraded, Diagnostics> {
    let template = Template::parse(path, text.to_string())?;
    let mut writer = Writer {
        template: &template,
        errors: Vec::new(),
        warnings: Vec::new(),
        reads_timestamp: false,
        sources: Vec::new(),
        builder: None,
        in_build: false,
        reads_variables: Vec::new(),
        plugin_kind: None,
    };
    let text = writer.configuration();
    if !writer.errors.is_empty() {
        return Err(Diagnostics(writer.errors));
    }
    // The layout `packer fmt` gives, so the result is what `imgs fmt --check` accepts.
    let text = imgs_hcl_fmt::format(&text).unwrap_or(text);
    Ok(Upgraded {
        text,
        warnings: writer.warnings,
    })
}

struct Writer<'a> {
    template: &'a Template,
    errors: Vec<Diagnostic>,
    warnings: Vec<String>,
    reads_timestamp: bool,
    /// JSON build name → HCL2 source reference `TYPE.NAME`, in the template's order.
    sources: Vec<(String, String, String)>,
    /// The builder (name, type) whose settings are being written, if any; `None` in
    /// provisioners and post-processors.
    builder: Option<(String, String)>,
    in_build: bool,
    /// Variables the converted strings read, in order of first use.
    reads_variables: Vec<String>,
    /// The provisioner whose settings are being written.
    plugin_kind: Option<String>,
}

/// One line of an HCL2 body before indentation and alignment.
enum Line {
    /// `key = value` (value on one line, or the first line of a multi-line value).
    Attribute {
        key: String,
        value: Vec<String>,
    },
    Block {
        header: String,
        body: Vec<Line>,
    },
    Comment(String),
    Blank,
}

impl Writer<'_> {
    fn configuration(&mut self) -> String {
        let t = self.template;
        let mut top: Vec<Line> = Vec::new();
        if let Some(version) = &t.min_packer_version {
            top.push(Line::Block {
                header: "packer".to_string(),
                body: vec![attribute(
                    "required_version",
                    quoted(&format!(">= {version}")),
                )],
            });
            top.push(Line::Blank);
        }
        for (name, comment) in &t.comments {
            top.push(Line::Comment(format!("{name}: {comment}")));
        }
        if !t.comments.is_empty() {
            top.push(Line::Blank);
        }
        for decl in t.variables.values() {
            let block = self.variable(decl);
            top.push(block);
            top.push(Line::Blank);
        }

        for builder in &t.builders {
            self.sources.push((
                builder.name.clone(),
                builder.kind.clone(),
                format!("{}.{}", builder.kind, builder.name),
            ));
        }
        let mut sources = Vec::new();
        for builder in &t.builders {
            let schema = schema::lookup(Section::Builder, &builder.kind);
            self.builder = Some((builder.name.clone(), builder.kind.clone()));
            let body = self.body(&builder.config, schema, &[]);
            self.builder = None;
            sources.push(Line::Block {
                header: format!("source {} {}", quoted(&builder.kind), quoted(&builder.name)),
                body,
            });
            sources.push(Line::Blank);
        }
        let build = self.build();

        // A JSON template may read a variable it never declares (it reads as empty); HCL2 must
        // declare every variable it reads.
        let undeclared: Vec<String> = self
            .reads_variables
            .iter()
            .filter(|name| !t.variables.contains_key(*name))
            .cloned()
            .collect();
        for name in undeclared {
            self.warnings.push(format!(
                "variable `{name}` is read but not declared in the JSON template (where it reads as \"\"); it is declared with an empty default"
            ));
            top.push(Line::Block {
                header: format!("variable {}", quoted(&name)),
                body: vec![
                    Line::Comment("read but not declared in the JSON template".to_string()),
                    attribute("type", "string".to_string()),
                    attribute("default", quoted("")),
                ],
            });
            top.push(Line::Blank);
        }

        if self.reads_timestamp {
            top.push(Line::Comment(
                "JSON's {{timestamp}}: one value for the whole run".to_string(),
            ));
            top.push(Line::Block {
                header: "locals".to_string(),
                body: vec![attribute(
                    "timestamp",
                    "regex_replace(timestamp(), \"[- TZ:]\", \"\")".to_string(),
                )],
            });
            top.push(Line::Blank);
        }
        top.extend(sources);
        top.push(build);

        if let Some(cleanup) = &t.error_cleanup_provisioner {
            self.error(
                "`error-cleanup-provisioner` has no HCL2 form in Packer 1.6.6",
                cleanup.span.start,
                "error-cleanup-provisioner",
                "remove it, or keep this template in JSON",
            );
        }

        let mut out = format!(
            "# Converted from {} by imgs hcl2-upgrade.\n\n",
            t.path.file_name().map_or_else(
                || t.path.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        );
        render(&top, 0, &mut out);
        out
    }

    fn variable(&mut self, decl: &imgs_template::model::VariableDecl) -> Line {
        let mut body = vec![attribute("type", "string".to_string())];
        let sensitive = self.template.sensitive_variables.contains(&decl.name);
        match &decl.default {
            None => {}
            Some(default) if default.contains("{{") => {
                // HCL2 variable defaults are constants: they cannot read the environment or
                // other variables.
                let reads_env = default.contains("env");
                if reads_env && !default.contains("user") {
                    body.push(Line::Comment(format!(
                        "the JSON default was {default}: set PKR_VAR_{} instead",
                        decl.name
                    )));
                    self.warnings.push(format!(
                        "variable `{}` read its default from the environment (`{default}`); Packer \
                         1.6.6's HCL2 has no env(): it is now required, set PKR_VAR_{} or pass -var",
                        decl.name, decl.name
                    ));
                } else {
                    self.error(
                        format!(
                            "variable `{}`'s default `{default}` is computed, and HCL2 variable defaults are constants",
                            decl.name
                        ),
                        decl.span.start,
                        &format!("variables.{}", decl.name),
                        "move the computed value into a `locals` block by hand, or give a constant default",
                    );
                }
            }
            Some(default) => body.push(attribute("default", quoted(default))),
        }
        if sensitive {
            body.push(attribute("sensitive", "true".to_string()));
        }
        Line::Block {
            header: format!("variable {}", quoted(&decl.name)),
            body,
        }
    }

    fn build(&mut self) -> Line {
        let t = self.template;
        let mut body = Vec::new();
        if let Some(description) = &t.description {
            body.push(attribute(
                "description",
                self.string(description, 0, "description"),
            ));
        }
        self.in_build = true;
        let sources: Vec<String> = self
            .sources
            .iter()
            .map(|(_, _, reference)| quoted(&format!("source.{reference}")))
            .collect();
        body.push(Line::Attribute {
            key: "sources".to_string(),
            value: list_lines(&sources),
        });
        for p in &t.provisioners {
            body.push(Line::Blank);
            let schema = schema::lookup(Section::Provisioner, &p.kind);
            self.plugin_kind = Some(p.kind.clone());
            let mut lines = self.body(&p.config, schema, &[]);
            self.plugin_kind = None;
            self.build_names(&mut lines, "only", &p.only, p.span.start);
            self.build_names(&mut lines, "except", &p.except, p.span.start);
            if let Some(pause) = &p.pause_before {
                lines.push(attribute("pause_before", quoted(pause)));
            }
            if let Some(retries) = &p.max_retries_text {
                let value = match parse_go_int(retries) {
                    Some(n) => n.to_string(),
                    None => self.string(retries, p.span.start, "max_retries"),
                };
                lines.push(attribute("max_retries", value));
            }
            if let Some(timeout) = &p.timeout {
                lines.push(attribute("timeout", quoted(timeout)));
            }
            if !p.overrides.is_empty() {
                let mut entries = Vec::new();
                for (build, config) in &p.overrides {
                    let key = self
                        .sources
                        .iter()
                        .find(|(name, _, _)| name == build)
                        .map(|(name, _, _)| name.clone())
                        .unwrap_or_else(|| build.clone());
                    let value = self.value(config, None, "override");
                    entries.push((key, value));
                }
                lines.push(Line::Attribute {
                    key: "override".to_string(),
                    value: object_lines(entries),
                });
            }
            body.push(Line::Block {
                header: format!("provisioner {}", quoted(&p.kind)),
                body: lines,
            });
        }
        for chain in &t.post_processors {
            if chain.is_empty() {
                continue;
            }
            body.push(Line::Blank);
            let mut blocks = Vec::new();
            for pp in chain {
                let schema = schema::lookup(Section::PostProcessor, &pp.kind);
                let mut lines = Vec::new();
                if pp.name != pp.kind {
                    lines.push(attribute("name", quoted(&pp.name)));
                }
                if let Some(keep) = pp.keep_input_artifact {
                    lines.push(attribute("keep_input_artifact", keep.to_string()));
                }
                self.plugin_kind = Some(pp.kind.clone());
                lines.extend(self.body(&pp.config, schema, &[]));
                self.plugin_kind = None;
                self.build_names(&mut lines, "only", &pp.only, pp.span.start);
                self.build_names(&mut lines, "except", &pp.except, pp.span.start);
                blocks.push(Line::Block {
                    header: format!("post-processor {}", quoted(&pp.kind)),
                    body: lines,
                });
            }
            if blocks.len() == 1 {
                body.extend(blocks);
            } else {
                body.push(Line::Block {
                    header: "post-processors".to_string(),
                    body: blocks,
                });
            }
        }
        Line::Block {
            header: "build".to_string(),
            body,
        }
    }

    /// `only`/`except` name JSON builds; HCL2 names sources as `TYPE.NAME`.
    fn build_names(&mut self, lines: &mut Vec<Line>, key: &str, names: &[String], at: usize) {
        if names.is_empty() {
            return;
        }
        let mut items = Vec::new();
        for name in names {
            match self.sources.iter().find(|(build, _, _)| build == name) {
                Some((_, _, reference)) => items.push(quoted(reference)),
                None => self.error(
                    format!("`{key}` names `{name}`, which is no build of this template"),
                    at,
                    key,
                    "name one of the builders' names",
                ),
            }
        }
        lines.push(Line::Attribute {
            key: key.to_string(),
            value: list_lines(&items),
        });
    }

    /// A plugin's settings as HCL2 body lines: the schema says which are blocks.
    fn body(
        &mut self,
        config: &Node,
        plugin: Option<&'static TypeSchema>,
        path: &[&str],
    ) -> Vec<Line> {
        let Value::Object(members) = &config.value else {
            return Vec::new();
        };
        let keys: Option<Vec<(&'static str, ValueType)>> = match (plugin, path) {
            (Some(p), []) => Some(p.all_keys().collect()),
            (Some(p), path) => p.nested_keys_at(path).map(<[_]>::to_vec),
            (None, _) => None,
        };
        let mut lines = Vec::new();
        for member in members {
            if member.key.starts_with('_') {
                if let Value::String(text) = &member.value.value {
                    lines.push(Line::Comment(format!("{}: {text}", member.key)));
                }
                continue;
            }
            if member.key.starts_with("packer_") {
                // Packer sets these itself; its HCL2 forms refuse them as arguments.
                self.warnings.push(format!(
                    "`{}` is set by Packer itself and cannot be written in HCL2; it is left out",
                    member.key
                ));
                continue;
            }
            if path.is_empty()
                && let Some(kind) = self.plugin_kind.clone()
                && let Some(why) = schema::unsettable_in_hcl2(&kind, &member.key)
            {
                // What the default already is can be left out.
                let is_default = match &member.value.value {
                    Value::String(s) => kind == "inspec" && s == "exec",
                    Value::Object(m) => m.is_empty(),
                    Value::Null => true,
                    _ => false,
                };
                if !is_default {
                    self.error(
                        format!("`{}` of `{kind}` cannot be written in HCL2", member.key),
                        member.key_span.start,
                        &member.key,
                        why,
                    );
                }
                continue;
            }
            let found = keys.as_ref().and_then(|keys| {
                keys.iter()
                    .find(|(k, _)| *k == member.key)
                    .or_else(|| {
                        keys.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(&member.key))
                    })
                    .copied()
            });
            let (key, ty) = match found {
                Some((canonical, ty)) => (canonical.to_string(), Some(ty)),
                None => (member.key.clone(), None),
            };
            let mut nested: Vec<&str> = path.to_vec();
            nested.push(&key);
            let has_nested_schema = plugin.and_then(|p| p.nested_keys_at(&nested)).is_some();
            let as_blocks = match ty {
                // A struct is a block; a free-form object (chef's `json`) is an argument.
                Some(ValueType::Object | ValueType::ObjectList) => has_nested_schema,
                Some(_) => false,
                // No schema (a type imgs does not know): a guess, see `holds_blocks`.
                None => holds_blocks(&key, &member.value),
            };
            if as_blocks {
                let items: Vec<&Node> = match &member.value.value {
                    Value::Array(items) => items.iter().collect(),
                    Value::String(s) if s.is_empty() => Vec::new(),
                    // Packer decodes `{}` for a list of objects as an empty list.
                    Value::Object(m) if m.is_empty() && ty == Some(ValueType::ObjectList) => {
                        Vec::new()
                    }
                    _ => vec![&member.value],
                };
                for item in items {
                    let body = self.body(item, plugin, &nested);
                    lines.push(Line::Block {
                        header: key.clone(),
                        body,
                    });
                }
                continue;
            }
            let empty = match &member.value.value {
                Value::Object(m) => m.is_empty(),
                Value::Array(items) => items.is_empty(),
                _ => false,
            };
            if empty
                && matches!(
                    ty,
                    Some(ValueType::Map | ValueType::StringList | ValueType::IntList)
                )
            {
                // An empty map or list is what an absent one decodes to; HCL2 plugins that test
                // whether a setting is present would take `{}` as set.
                continue;
            }
            let value = self.value(&member.value, ty, &key);
            lines.push(Line::Attribute { key, value });
        }
        lines
    }

    /// A JSON value as an HCL2 expression (possibly on several lines), with Packer's weak typing
    /// for `ty` made explicit, since HCL2 decodes strictly.
    fn value(&mut self, node: &Node, ty: Option<ValueType>, key: &str) -> Vec<String> {
        let at = node.span.start;
        let one = |s: String| vec![s];
        match (&node.value, ty) {
            (Value::Null, _) => one("null".to_string()),
            (
                Value::Number(_) | Value::Bool(_),
                Some(list @ (ValueType::StringList | ValueType::IntList)),
            ) => {
                // Packer reads a single scalar as a list of one.
                let inner = if list == ValueType::StringList {
                    ValueType::String
                } else {
                    ValueType::Int
                };
                let item = self.value(node, Some(inner), key);
                vec![format!("[{}]", item.join(" "))]
            }
            (Value::Bool(b), Some(ValueType::String)) => one(quoted(if *b { "1" } else { "0" })),
            (Value::Bool(b), Some(ValueType::Int | ValueType::Float)) => {
                one(u8::from(*b).to_string())
            }
            (Value::Bool(b), _) => one(b.to_string()),
            (Value::Number(n), Some(ValueType::Bool)) => {
                one((n.parse::<f64>().unwrap_or(0.0) != 0.0).to_string())
            }
            (Value::Number(n), Some(ValueType::Duration)) => one(quoted(&format!("{n}ns"))),
            (Value::Number(n), Some(ValueType::Int)) if n.contains(['.', 'e', 'E']) => {
                // Packer's decoder truncates a fraction for an integer setting.
                one(format!(
                    "{}",
                    n.parse::<f64>().unwrap_or(0.0).trunc() as i64
                ))
            }
            (Value::Number(n), _) => one(n.clone()),
            (Value::String(s), Some(ValueType::Bool)) if !s.contains("{{") => {
                one(parse_go_bool(s).unwrap_or(false).to_string())
            }
            (Value::String(s), Some(ValueType::Int)) if !s.contains("{{") => {
                one(parse_go_int(s).unwrap_or(0).to_string())
            }
            (Value::String(s), Some(ValueType::StringList | ValueType::IntList)) => {
                let items: Vec<String> = if s.is_empty() {
                    Vec::new()
                } else {
                    s.split(',')
                        .map(|part| self.string(part, at, key))
                        .collect()
                };
                list_lines(&items)
            }
            (Value::String(s), Some(ValueType::ListOfStringLists)) => {
                let items: Vec<String> = s
                    .split(',')
                    .map(|part| format!("[{}]", self.string(part, at, key)))
                    .collect();
                list_lines(&items)
            }
            (Value::String(s), _) => one(self.string(s, at, key)),
            (Value::Object(members), Some(ValueType::StringList | ValueType::IntList))
                if members.is_empty() =>
            {
                one("[]".to_string())
            }
            (Value::Array(items), Some(ValueType::Map)) => {
                // Packer merges a list of maps in order.
                let mut merged: Vec<(String, Vec<String>)> = Vec::new();
                for item in items {
                    if let Value::Object(members) = &item.value {
                        for m in members {
                            let value = self.value(&m.value, None, &m.key);
                            merged.retain(|(k, _)| *k != m.key);
                            merged.push((m.key.clone(), value));
                        }
                    }
                }
                object_lines(merged)
            }
            (Value::Array(items), ty) => {
                let inner = match ty {
                    Some(ValueType::StringList) => Some(ValueType::String),
                    Some(ValueType::IntList) => Some(ValueType::Int),
                    Some(ValueType::ListOfStringLists) => Some(ValueType::StringList),
                    _ => None,
                };
                let rendered: Vec<Vec<String>> = items
                    .iter()
                    .map(|item| self.value(item, inner, key))
                    .collect();
                if rendered.iter().all(|r| r.len() == 1) {
                    list_lines(
                        &rendered
                            .into_iter()
                            .map(|mut r| r.remove(0))
                            .collect::<Vec<_>>(),
                    )
                } else {
                    let mut lines = vec!["[".to_string()];
                    let count = rendered.len();
                    for (i, mut r) in rendered.into_iter().enumerate() {
                        if i + 1 < count
                            && let Some(last) = r.last_mut()
                        {
                            last.push(',');
                        }
                        lines.extend(r.into_iter().map(|l| format!("  {l}")));
                    }
                    lines.push("]".to_string());
                    lines
                }
            }
            (Value::Object(members), _) => {
                let entries: Vec<(String, Vec<String>)> = members
                    .iter()
                    .map(|m: &Member| {
                        let value = self.value(&m.value, None, &m.key);
                        (m.key.clone(), value)
                    })
                    .collect();
                object_lines(entries)
            }
        }
    }

    /// A JSON string (a Go template) as an HCL2 quoted string.
    fn string(&mut self, text: &str, at: usize, key: &str) -> String {
        let place = match &self.builder {
            Some((name, kind)) => Hcl2Place::Builder { name, kind },
            None if self.in_build => Hcl2Place::Plugin,
            None => Hcl2Place::Template,
        };
        match to_hcl2_string(text, place) {
            Ok(converted) => {
                self.reads_timestamp |= converted.reads_timestamp;
                for name in converted.reads_variables {
                    if !self.reads_variables.contains(&name) {
                        self.reads_variables.push(name);
                    }
                }
                format!("\"{}\"", converted.text)
            }
            Err(e) => {
                let mut diagnostic = Diagnostic::error(format!("`{text}`: {}", e.message))
                    .at_offset(&self.template.path, &self.template.text, at)
                    .key(key.to_string());
                if let Some(hint) = e.hint {
                    diagnostic = diagnostic.hint(hint);
                }
                self.errors.push(diagnostic);
                quoted(text)
            }
        }
    }

    fn error(&mut self, message: impl Into<String>, at: usize, key: &str, hint: &str) {
        self.errors.push(
            Diagnostic::error(message)
                .at_offset(&self.template.path, &self.template.text, at)
                .key(key.to_string())
                .hint(hint.to_string()),
        );
    }
}

/// A guess for a setting `key` of a type without a schema: a list of objects is blocks, and so is an
/// object holding an object or list (Packer's own guess), or one whose keys all read like setting
/// names (`snake_case`) unless the setting's name says it is a map (`tags`, `vmx_data`, `labels`,
/// …): amazon-ebssurrogate's `ami_root_device` is a block, docker's `volumes` (paths as keys) and
/// `tags` are maps.
fn holds_blocks(key: &str, node: &Node) -> bool {
    const MAP_LIKE: &[&str] = &[
        "tags",
        "tag",
        "labels",
        "metadata",
        "data",
        "properties",
        "vars",
        "variables",
        "env",
        "environment",
        "options",
        "parameters",
        "args",
        "attributes",
        "annotations",
    ];
    let setting_name = |k: &str| {
        let mut chars = k.chars();
        chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match &node.value {
        Value::Object(members) => {
            members
                .iter()
                .any(|m| matches!(m.value.value, Value::Object(_) | Value::Array(_)))
                || (!members.is_empty()
                    && members.iter().all(|m| setting_name(&m.key))
                    && !MAP_LIKE
                        .iter()
                        .any(|word| key == *word || key.ends_with(&format!("_{word}"))))
        }
        Value::Array(items) => {
            !items.is_empty() && items.iter().all(|i| matches!(i.value, Value::Object(_)))
        }
        _ => false,
    }
}

fn attribute(key: &str, value: String) -> Line {
    Line::Attribute {
        key: key.to_string(),
        value: vec![value],
    }
}

/// A constant string (no template calls) as an HCL2 quoted string.
fn quoted(text: &str) -> String {
    format!("\"{}\"", escape_hcl_string(text))
}

/// `[a, b]` on one line while it is short, else one item per line.
fn list_lines(items: &[String]) -> Vec<String> {
    let one_line = format!("[{}]", items.join(", "));
    if one_line.len() <= 80 {
        return vec![one_line];
    }
    let mut lines = vec!["[".to_string()];
    lines.extend(items.iter().map(|i| format!("  {i},")));
    lines.push("]".to_string());
    lines
}

/// An HCL2 object expression, one entry per line, keys as identifiers where they can be.
fn object_lines(entries: Vec<(String, Vec<String>)>) -> Vec<String> {
    if entries.is_empty() {
        return vec!["{}".to_string()];
    }
    let keys: Vec<String> = entries
        .iter()
        .map(|(k, _)| {
            if is_identifier(k) {
                k.clone()
            } else {
                quoted(k)
            }
        })
        .collect();
    let width = keys
        .iter()
        .zip(&entries)
        .filter(|(_, (_, v))| v.len() == 1)
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines = vec!["{".to_string()];
    for (key, (_, value)) in keys.iter().zip(entries) {
        let pad = if value.len() == 1 {
            width.saturating_sub(key.chars().count())
        } else {
            0
        };
        let mut value = value.into_iter();
        let first = value.next().unwrap_or_default();
        lines.push(format!("  {key}{} = {first}", " ".repeat(pad)));
        lines.extend(value.map(|l| format!("  {l}")));
    }
    lines.push("}".to_string());
    lines
}

/// Lines at `depth`, with `=` aligned over each run of one-line attributes as `packer fmt` does.
fn render(lines: &[Line], depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let mut i = 0;
    while i < lines.len() {
        match &lines[i] {
            Line::Attribute { .. } => {
                let start = i;
                while i < lines.len() && matches!(&lines[i], Line::Attribute { .. }) {
                    i += 1;
                }
                let run = &lines[start..i];
                let width = run
                    .iter()
                    .map(|l| match l {
                        Line::Attribute { key, .. } => key.chars().count(),
                        _ => 0,
                    })
                    .max()
                    .unwrap_or(0);
                for line in run {
                    if let Line::Attribute { key, value } = line {
                        let pad = width - key.chars().count();
                        let mut value = value.iter();
                        let first = value.next().map_or("", String::as_str);
                        let _ = writeln!(out, "{indent}{key}{} = {first}", " ".repeat(pad));
                        for continued in value {
                            let _ = writeln!(out, "{indent}{continued}");
                        }
                    }
                }
                continue;
            }
            Line::Block { header, body } => {
                if body.is_empty() {
                    let _ = writeln!(out, "{indent}{header} {{");
                    let _ = writeln!(out, "{indent}}}");
                } else {
                    let _ = writeln!(out, "{indent}{header} {{");
                    render(body, depth + 1, out);
                    let _ = writeln!(out, "{indent}}}");
                }
            }
            Line::Comment(text) => {
                for line in text.lines() {
                    let _ = writeln!(out, "{indent}# {line}");
                }
            }
            Line::Blank => {
                // One blank line at most, none at the end of a body.
                if i + 1 < lines.len() && !out.ends_with("\n\n") {
                    out.push('\n');
                }
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests;
