//! Reading the template's JSON into the model, with every problem Packer reports while parsing.

use std::path::Path;

use imgs_diagnostic::{Diagnostic, Diagnostics, Span, did_you_mean};
use indexmap::IndexMap;

use super::{BuilderBlock, PostProcessorBlock, ProvisionerBlock, VariableDecl};
use crate::json::{Member, Node, Value, parse_json};
use crate::parse_go_duration;
use crate::source::Source;

/// Top-level keys Packer decodes, with the JSON type it requires (`None`: anything).
const TOP_LEVEL_KEYS: &[&str] = &[
    "description",
    "min_packer_version",
    "variables",
    "sensitive-variables",
    "builders",
    "provisioners",
    "post-processors",
    "error-cleanup-provisioner",
    // Accepted and ignored by Packer 1.6.6 (Atlas push, and comments written as a list).
    "push",
    "comments",
];

const PROVISIONER_META_KEYS: &[&str] = &[
    "type",
    "only",
    "except",
    "override",
    "pause_before",
    "max_retries",
    "timeout",
];
const POST_PROCESSOR_META_KEYS: &[&str] =
    &["type", "name", "only", "except", "keep_input_artifact"];
const BUILDER_META_KEYS: &[&str] = &["type", "name"];

/// The JSON of `text` and the parts of the template read from it, or every problem found.
pub(super) fn structure(path: &Path, text: &str) -> Result<(Node, Parts), Diagnostics> {
    let source = Source::new(path, text);
    let root = parse_json(text).map_err(|(message, offset)| {
        Diagnostic::error(format!("invalid JSON: {message}"))
            .at(source.location(offset))
            .hint("templates are strict JSON: no comments, no trailing commas, strings in double quotes")
    })?;
    let mut parser = TemplateParser {
        source: &source,
        diagnostics: Vec::new(),
    };
    parser.repeated_keys(&root, String::new());
    let parts = parser.top_level(&root);
    if parser.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics(parser.diagnostics));
    }
    Ok((root, parts))
}

#[derive(Default)]
pub(super) struct Parts {
    pub(super) description: Option<String>,
    pub(super) min_packer_version: Option<String>,
    pub(super) variables: IndexMap<String, VariableDecl>,
    pub(super) sensitive_variables: Vec<String>,
    pub(super) builders: Vec<BuilderBlock>,
    pub(super) provisioners: Vec<ProvisionerBlock>,
    pub(super) post_processors: Vec<Vec<PostProcessorBlock>>,
    pub(super) error_cleanup_provisioner: Option<ProvisionerBlock>,
    pub(super) comments: IndexMap<String, String>,
}

struct TemplateParser<'a> {
    source: &'a Source<'a>,
    diagnostics: Vec<Diagnostic>,
}

impl TemplateParser<'_> {
    fn error(
        &mut self,
        message: impl Into<String>,
        offset: usize,
        key: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diagnostics
            .push(self.source.error(message, offset, key));
        self.diagnostics.last_mut().expect("just pushed")
    }

    fn type_error(&mut self, node: &Node, key: &str, expected: &str) {
        self.error(
            format!("`{key}` must be {expected}, found {}", node.type_name()),
            node.span.start,
            key,
        );
    }

    /// Packer rejects a template that repeats a key in any object ("template has duplicate field").
    fn repeated_keys(&mut self, node: &Node, path: String) {
        match &node.value {
            Value::Object(members) => {
                for (i, member) in members.iter().enumerate() {
                    let key = join_key(&path, &member.key);
                    if let Some(first) = members[..i].iter().find(|m| m.key == member.key) {
                        let first_at = self.source.location(first.key_span.start);
                        self.error(
                            format!("`{}` is set twice in the same object", member.key),
                            member.key_span.start,
                            key.clone(),
                        )
                        .hint = Some(format!(
                            "the first is at line {}; Packer rejects templates with repeated keys, keep one",
                            first_at.line.unwrap_or(0)
                        ));
                    }
                    self.repeated_keys(&member.value, key);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.repeated_keys(item, format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
    }

    fn top_level(&mut self, root: &Node) -> Parts {
        let mut parts = Parts::default();
        let Value::Object(members) = &root.value else {
            self.error(
                format!(
                    "a template must be a JSON object, found {}",
                    root.type_name()
                ),
                root.span.start,
                "",
            )
            .key = None;
            return parts;
        };
        let mut known: IndexMap<&str, &Member> = IndexMap::new();
        // Packer's decoder matches keys exactly first and then case-insensitively.
        for exact in [true, false] {
            for member in members.iter().rev() {
                let Some(&name) = TOP_LEVEL_KEYS.iter().find(|k| {
                    if exact {
                        **k == member.key
                    } else {
                        k.eq_ignore_ascii_case(&member.key)
                    }
                }) else {
                    continue;
                };
                if !known.contains_key(name) && !known.values().any(|m| std::ptr::eq(*m, member)) {
                    known.insert(name, member);
                }
            }
        }
        known.sort_by_key(|_, m| m.key_span.start);
        for member in members {
            if known.values().any(|m| std::ptr::eq(*m, member)) {
                continue;
            }
            if member.key.starts_with('_') {
                match member.value.as_str() {
                    Some(comment) => {
                        parts
                            .comments
                            .insert(member.key.clone(), comment.to_string());
                    }
                    None => {
                        self.error(
                            format!(
                                "comment `{}` must be a string, found {}",
                                member.key,
                                member.value.type_name()
                            ),
                            member.value.span.start,
                            member.key.clone(),
                        )
                        .hint = Some(
                            "Packer treats top-level keys starting with `_` as comments".into(),
                        );
                    }
                }
                continue;
            }
            // A key repeated exactly is reported once, by `repeated_keys`.
            if TOP_LEVEL_KEYS.contains(&member.key.as_str()) {
                continue;
            }
            let hint = match did_you_mean(&member.key, TOP_LEVEL_KEYS.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!(
                    "top-level keys are {}; keys starting with `_` are comments",
                    TOP_LEVEL_KEYS[..8]
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            self.error(
                format!("unknown top-level key `{}`", member.key),
                member.key_span.start,
                member.key.clone(),
            )
            .hint = Some(hint);
        }

        for (name, member) in known {
            let node = &member.value;
            if node.is_null() {
                continue;
            }
            match name {
                "description" => parts.description = self.strict_string(node, name),
                "min_packer_version" => parts.min_packer_version = self.strict_string(node, name),
                "variables" => parts.variables = self.variables(node),
                "sensitive-variables" => {
                    parts.sensitive_variables = self.strict_strings(node, name)
                }
                "builders" => parts.builders = self.builders(node),
                "provisioners" => {
                    if let Some(items) = self.array(node, name) {
                        parts.provisioners = items
                            .iter()
                            .enumerate()
                            .filter_map(|(i, item)| {
                                self.provisioner(item, &format!("provisioners[{i}]"))
                            })
                            .collect();
                    }
                }
                "error-cleanup-provisioner" => {
                    parts.error_cleanup_provisioner = self.provisioner(node, name);
                }
                "post-processors" => parts.post_processors = self.post_processors(node),
                "push" => {
                    if !node.is_object() {
                        self.type_error(node, name, "an object");
                    }
                }
                "comments" => self.comment_list(node),
                _ => unreachable!("every top-level key is handled"),
            }
        }
        parts
    }

    fn strict_string(&mut self, node: &Node, key: &str) -> Option<String> {
        match &node.value {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.type_error(node, key, "a string");
                None
            }
        }
    }

    /// A list of strings, decoded strictly (top level, post-processors).
    fn strict_strings(&mut self, node: &Node, key: &str) -> Vec<String> {
        let Some(items) = self.array(node, key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match &item.value {
                Value::String(s) => out.push(s.clone()),
                Value::Null => out.push(String::new()),
                _ => self.type_error(item, &format!("{key}[{i}]"), "a string"),
            }
        }
        out
    }

    /// A list of strings, decoded weakly (builders, provisioners): a single value stands for a list of one.
    fn weak_strings(&mut self, node: &Node, key: &str) -> Vec<String> {
        match &node.value {
            Value::Null => Vec::new(),
            Value::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.weak_string() {
                        Some(s) => out.push(s),
                        None => self.type_error(item, &format!("{key}[{i}]"), "a string"),
                    }
                }
                out
            }
            _ => match node.weak_string() {
                Some(s) => vec![s],
                None => {
                    self.type_error(node, key, "a list of strings");
                    Vec::new()
                }
            },
        }
    }

    fn array<'n>(&mut self, node: &'n Node, key: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Array(items) => Some(items),
            Value::Null => Some(&[]),
            _ => {
                self.type_error(node, key, "an array");
                None
            }
        }
    }

    fn comment_list(&mut self, node: &Node) {
        let Some(items) = self.array(node, "comments") else {
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let key = format!("comments[{i}]");
            if !item.is_object() && !item.is_null() {
                self.type_error(item, &key, "an object of strings");
                continue;
            }
            for member in item.members() {
                if member.value.as_str().is_none() && !member.value.is_null() {
                    self.type_error(&member.value, &format!("{key}.{}", member.key), "a string");
                }
            }
        }
    }

    fn variables(&mut self, node: &Node) -> IndexMap<String, VariableDecl> {
        let mut out = IndexMap::new();
        if !node.is_object() {
            self.type_error(node, "variables", "an object");
            return out;
        }
        for member in node.members() {
            let key = format!("variables.{}", member.key);
            let default = match &member.value.value {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                _ => {
                    let written = &self.source_text(member.value.span);
                    let hint = match member.value.value {
                        Value::Number(_) | Value::Bool(_) => format!("quote it: \"{written}\""),
                        _ => "variables hold strings; use null to make the variable required"
                            .to_string(),
                    };
                    self.error(
                        format!(
                            "the default of variable `{}` must be a string or null, found {}",
                            member.key,
                            member.value.type_name()
                        ),
                        member.value.span.start,
                        key,
                    )
                    .hint = Some(hint);
                    continue;
                }
            };
            let span = Span::new(member.key_span.start, member.value.span.end);
            out.insert(
                member.key.clone(),
                VariableDecl {
                    name: member.key.clone(),
                    default,
                    span,
                },
            );
        }
        out
    }

    fn source_text(&self, span: Span) -> String {
        self.source_slice(span).to_string()
    }

    fn source_slice(&self, span: Span) -> &str {
        self.source.text(span)
    }

    /// The block's `type`, or an error; Packer needs it before anything else.
    fn block_type(&mut self, node: &Node, key: &str, what: &str, weak: bool) -> Option<String> {
        let Some(type_node) = node.get("type") else {
            self.error(format!("{what} has no `type`"), node.span.start, key)
                .hint = Some(format!("add \"type\": the kind of {what} to run"));
            return None;
        };
        let kind = if weak {
            type_node.weak_string()
        } else {
            type_node.as_str().map(str::to_string)
        };
        match kind {
            Some(kind) if !kind.is_empty() => Some(kind),
            Some(_) => {
                self.error(
                    format!("{what} has an empty `type`"),
                    type_node.span.start,
                    format!("{key}.type"),
                );
                None
            }
            None => {
                self.type_error(type_node, &format!("{key}.type"), "a string");
                None
            }
        }
    }

    fn builders(&mut self, node: &Node) -> Vec<BuilderBlock> {
        let mut out: Vec<BuilderBlock> = Vec::new();
        let Some(items) = self.array(node, "builders") else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let key = format!("builders[{i}]");
            if !item.is_object() {
                self.type_error(item, &key, "an object");
                continue;
            }
            let Some(kind) = self.block_type(item, &key, "builder", true) else {
                continue;
            };
            let name = match item.get("name") {
                None => kind.clone(),
                Some(name_node) => match name_node.weak_string() {
                    Some(name) if !name.is_empty() => name,
                    Some(_) => kind.clone(),
                    None => {
                        self.type_error(name_node, &format!("{key}.name"), "a string");
                        continue;
                    }
                },
            };
            if let Some(first) = out.iter().find(|b| b.name == name) {
                let first_at = self.source.location(first.span.start);
                let at = item.get("name").map_or(item.span.start, |n| n.span.start);
                self.error(
                    format!("two builders are named `{name}`"),
                    at,
                    format!("{key}.name"),
                )
                .hint = Some(format!(
                    "build names must be unique (the other is at line {}); set a distinct \"name\" on one of them",
                    first_at.line.unwrap_or(0)
                ));
                continue;
            }
            out.push(BuilderBlock {
                name,
                kind,
                config: without_keys(item, BUILDER_META_KEYS),
                span: item.span,
            });
        }
        out
    }

    fn provisioner(&mut self, node: &Node, key: &str) -> Option<ProvisionerBlock> {
        if !node.is_object() {
            self.type_error(node, key, "an object");
            return None;
        }
        let kind = self.block_type(node, key, "provisioner", true);
        let only = node
            .get("only")
            .map(|n| self.weak_strings(n, &format!("{key}.only")))
            .unwrap_or_default();
        let except = node
            .get("except")
            .map(|n| self.weak_strings(n, &format!("{key}.except")))
            .unwrap_or_default();
        let mut overrides = IndexMap::new();
        if let Some(override_node) = node.get("override") {
            match &override_node.value {
                Value::Object(_) => {
                    for member in override_node.members() {
                        overrides.insert(member.key.clone(), member.value.clone());
                    }
                }
                Value::Null => {}
                _ => self.type_error(override_node, &format!("{key}.override"), "an object"),
            }
        }
        let pause_before = self.duration(node.get("pause_before"), &format!("{key}.pause_before"));
        let timeout = self.duration(node.get("timeout"), &format!("{key}.timeout"));
        let max_retries_text = match node.get("max_retries") {
            None => None,
            Some(n) if n.is_null() => None,
            Some(n) => match n.weak_string() {
                Some(text) => Some(text),
                None => {
                    self.type_error(n, &format!("{key}.max_retries"), "an integer");
                    None
                }
            },
        };
        let max_retries = max_retries_text
            .as_deref()
            .and_then(|t| t.parse::<u64>().ok());
        Some(ProvisionerBlock {
            kind: kind?,
            config: without_keys(node, PROVISIONER_META_KEYS),
            only,
            except,
            overrides,
            pause_before: pause_before?,
            max_retries,
            max_retries_text,
            timeout: timeout?,
            span: node.span,
        })
    }

    /// A provisioner duration. `Some(None)`: absent; `None`: invalid (reported).
    fn duration(&mut self, node: Option<&Node>, key: &str) -> Option<Option<String>> {
        let Some(node) = node else { return Some(None) };
        match &node.value {
            Value::Null => Some(None),
            Value::String(text) => match parse_go_duration(text) {
                Ok(_) => Some(Some(text.clone())),
                Err(e) => {
                    let hint = if text.contains("{{") {
                        "Packer reads this key before interpolation: write a literal duration such as \"30s\" or \"5m\""
                    } else {
                        "write a Go duration: a number with a unit (ns, us, ms, s, m, h), e.g. \"30s\" or \"1m30s\""
                    };
                    self.error(format!("invalid duration: {e}"), node.span.start, key)
                        .hint = Some(hint.into());
                    None
                }
            },
            // Go's weak decoding reads a number as nanoseconds and a boolean as 0 or 1 of them.
            Value::Number(_) | Value::Bool(_) => {
                match node.weak_string().and_then(|s| s.parse::<i64>().ok()) {
                    Some(nanos) => Some(Some(format!("{nanos}ns"))),
                    None => {
                        self.type_error(node, key, "a duration string such as \"30s\"");
                        None
                    }
                }
            }
            _ => {
                self.type_error(node, key, "a duration string such as \"30s\"");
                None
            }
        }
    }

    fn post_processors(&mut self, node: &Node) -> Vec<Vec<PostProcessorBlock>> {
        let mut chains = Vec::new();
        let Some(items) = self.array(node, "post-processors") else {
            return chains;
        };
        for (i, item) in items.iter().enumerate() {
            let key = format!("post-processors[{i}]");
            let chain = match &item.value {
                Value::String(_) | Value::Object(_) => {
                    self.post_processor(item, &key).into_iter().collect()
                }
                Value::Array(inner) => {
                    let mut chain = Vec::new();
                    for (j, inner_item) in inner.iter().enumerate() {
                        let inner_key = format!("{key}[{j}]");
                        match &inner_item.value {
                            Value::String(_) | Value::Object(_) => {
                                chain.extend(self.post_processor(inner_item, &inner_key));
                            }
                            Value::Array(_) => {
                                self.error(
                                    "a post-processor chain cannot contain another chain",
                                    inner_item.span.start,
                                    inner_key,
                                )
                                .hint = Some(
                                    "a chain is one flat list of post-processors, run in order"
                                        .into(),
                                );
                            }
                            _ => self.type_error(
                                inner_item,
                                &inner_key,
                                "a post-processor name or object",
                            ),
                        }
                    }
                    chain
                }
                _ => {
                    self.error(
                        format!(
                            "`{key}` must be a post-processor name, object, or list of them (a chain), found {}",
                            item.type_name()
                        ),
                        item.span.start,
                        key,
                    );
                    continue;
                }
            };
            chains.push(chain);
        }
        chains
    }

    fn post_processor(&mut self, node: &Node, key: &str) -> Option<PostProcessorBlock> {
        if let Value::String(kind) = &node.value {
            if kind.is_empty() {
                self.error("post-processor has an empty `type`", node.span.start, key);
                return None;
            }
            return Some(PostProcessorBlock {
                kind: kind.clone(),
                name: kind.clone(),
                config: Node {
                    value: Value::Object(Vec::new()),
                    span: node.span,
                },
                only: Vec::new(),
                except: Vec::new(),
                keep_input_artifact: None,
                span: node.span,
            });
        }
        let kind = self.block_type(node, key, "post-processor", false);
        let name = match node.get("name") {
            None => None,
            Some(n) if n.is_null() => None,
            Some(n) => match n.as_str() {
                Some(name) => Some(name.to_string()),
                None => {
                    self.type_error(n, &format!("{key}.name"), "a string");
                    None
                }
            },
        };
        let only = node
            .get("only")
            .map(|n| self.strict_strings(n, &format!("{key}.only")))
            .unwrap_or_default();
        let except = node
            .get("except")
            .map(|n| self.strict_strings(n, &format!("{key}.except")))
            .unwrap_or_default();
        let keep_input_artifact = match node.get("keep_input_artifact") {
            None => None,
            Some(n) => match n.value {
                Value::Bool(b) => Some(b),
                Value::Null => None,
                _ => {
                    let hint = match n.as_str() {
                        Some("true") | Some("false") => Some("write it without quotes".to_string()),
                        _ => None,
                    };
                    self.type_error(n, &format!("{key}.keep_input_artifact"), "true or false");
                    self.diagnostics.last_mut().expect("just reported").hint = hint;
                    None
                }
            },
        };
        let kind = kind?;
        Some(PostProcessorBlock {
            name: name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| kind.clone()),
            kind,
            config: without_keys(node, POST_PROCESSOR_META_KEYS),
            only,
            except,
            keep_input_artifact,
            span: node.span,
        })
    }
}

/// A copy of an object node without Packer's own keys, keeping its span.
fn without_keys(node: &Node, keys: &[&str]) -> Node {
    let members = match &node.value {
        Value::Object(members) => members
            .iter()
            .filter(|m| !keys.contains(&m.key.as_str()))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    Node {
        value: Value::Object(members),
        span: node.span,
    }
}

fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
