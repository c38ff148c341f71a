//! One plugin block of a build: its type, its keys and their values, then the type's own checks.

use std::collections::BTreeMap;

use imgs_diagnostic::{Diagnostic, did_you_mean};

use super::{Build, Validator, with_hint};
use crate::interpolate::{self, InterpolateError};
use crate::json::{Member, Node, Value};
use crate::schema::{self, CheckNode, Section, ValueType};
use crate::source::string_offset;

/// Where a nested object sits: its plugin's schema, the schema path to it (`["source_ami_filter",
/// "filter"]`) and the plugin named for messages.
#[derive(Clone, Copy)]
pub(super) struct Nested<'a> {
    schema: &'static schema::TypeSchema,
    path: &'a [&'a str],
    noun: &'a str,
    kind: &'a str,
}

impl Validator<'_> {
    /// Check one plugin block: its type, its keys and their values, then the type's own checks.
    pub(super) fn plugin(
        &mut self,
        section: Section,
        kind: &str,
        config: &Node,
        key: &str,
        build: &Build,
        data: &BTreeMap<String, String>,
    ) {
        let noun = section.noun();
        let Some(schema) = schema::lookup(section, kind) else {
            // A type Packer ships that imgs has no settings for: the `packer` engine builds it,
            // and `imgs validate` asks `packer validate` about its settings.
            if schema::packer_known(section, kind) {
                return;
            }
            let offset = self.member_offset(config.span.start, &["type"]);
            let supported = schema::supported(section);
            let list = supported
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let close = did_you_mean(
                kind,
                supported
                    .iter()
                    .copied()
                    .chain(schema::packer_types(section).iter().copied()),
            );
            let hint = match close {
                Some(close) => format!("did you mean `{close}`? imgs supports: {list}"),
                None => format!("imgs supports these {noun} types: {list}"),
            };
            let message = format!("unknown {noun} type `{kind}`");
            let d = self.source.error(message, offset, format!("{key}.type"));
            self.push(d.hint(hint));
            return;
        };
        let mut rendered: BTreeMap<String, String> = BTreeMap::new();
        let mut rendered_config = config.clone();
        let mut shape_ok = self.user_variables_again(build, data);
        let members = config.members();
        for member in &members {
            let name = member.key.as_str();
            let member_key = format!("{key}.{name}");
            if schema::is_ignored_key(name) {
                // Never unknown, but the ones a plugin config embeds are still decoded (all but
                // `sleep` embed Packer's common settings).
                let typed = schema.find_key(name);
                if let Some(Err(problem)) = typed.map(|(_, t)| t.check_node(&member.value, None)) {
                    self.invalid_value(member, member_key, &problem);
                    shape_ok = false;
                }
                continue;
            }
            let found = schema.find_key(name);
            if let Some((canonical, _)) = found
                && let Some(winner) = case_twin(&members, canonical, name)
            {
                let d = self.source.error(
                    format!("`{name}` and `{winner}` are the same key to Packer (it ignores case); only one is used"),
                    member.key_span.start,
                    member_key,
                );
                self.push(d.hint(format!("remove `{name}`")));
                shape_ok = false;
                continue;
            }
            let Some((_, value_type)) = found else {
                let hint = match did_you_mean(name, schema.all_keys().map(|(k, _)| k)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if schema::is_extension(section, kind) => {
                        format!("imgs's `{kind}` {noun} has no such key")
                    }
                    None => format!("`{kind}` {noun}s do not take this key in Packer 1.6.6"),
                };
                let d = self.source.error(
                    format!("unknown key `{name}` in {noun} `{kind}`"),
                    member.key_span.start,
                    member_key,
                );
                self.push(d.hint(hint));
                shape_ok = false;
                continue;
            };
            let mut value_rendered = None;
            // Packer checks the template syntax of every value, and renders all but deferred keys.
            let render = !schema.is_deferred(name);
            match self.render_tree(&member.value, build, data, render) {
                Ok(node) => {
                    if render {
                        if let Value::String(s) = &node.value {
                            value_rendered = Some(s.clone());
                            rendered.insert(name.to_string(), s.clone());
                        }
                        set_member(&mut rendered_config, name, node);
                    }
                }
                Err(failed) => {
                    let (e, at) = *failed;
                    let offset = string_offset(self.source.text(at.span), &at, Some(e.offset));
                    let d = self.source.error(
                        format!("in `{name}`: {}", e.message),
                        offset,
                        member_key,
                    );
                    self.push(with_hint(d, e.hint));
                    shape_ok = false;
                    continue;
                }
            }
            if let Err(problem) = value_type.check_node(&member.value, value_rendered.as_deref()) {
                self.invalid_value(member, member_key, &problem);
                shape_ok = false;
                continue;
            }
            if let Some(nested) = schema.nested_keys(name) {
                // Judge nested values as Packer decodes them: after interpolation.
                let value = rendered_config
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| member.value.clone());
                let (canonical, _) = schema.find_key(name).unwrap_or((name, value_type));
                let at = Nested {
                    schema,
                    path: &[canonical],
                    noun,
                    kind,
                };
                shape_ok &= self.nested(&value, nested, at, &member_key);
            }
        }
        // Packer stops at a decoding error before it runs the type's checks.
        if !shape_ok {
            return;
        }
        let interpolated = |k: &str| {
            rendered.get(k).cloned().or_else(|| {
                schema
                    .find_key(k)
                    .and_then(|(canonical, _)| rendered.get(canonical).cloned())
            })
        };
        // The type's checks read nested values too, so they get the interpolated configuration.
        for problem in schema::check_config(section, kind, &rendered_config, &interpolated) {
            let offset = problem.span.map_or(config.span.start, |s| s.start);
            let mut d = Diagnostic::error(problem.message).at(self.source.location(offset));
            d.key = Some(match problem.key {
                Some(k) => format!("{key}.{k}"),
                None => key.to_string(),
            });
            self.push(with_hint(d, problem.hint));
        }
        self.io_checks(section, kind, config, &rendered_config, key);
    }

    /// Packer hands every plugin the user variables (`packer_user_variables`) among its settings,
    /// and the plugin renders them like the rest, in its own context: without `{{env}}`, with its
    /// data. A value that still holds `{{…}}` after the variables were rendered (one left unrendered,
    /// or braces a value produced) can fail there. False when one did, as Packer then stops decoding.
    fn user_variables_again(&mut self, build: &Build, data: &BTreeMap<String, String>) -> bool {
        let vars = self.vars;
        let mut ok = true;
        for (name, value) in &vars.values {
            if !value.contains("{{") {
                continue;
            }
            let Err(e) = self.render(value, Some(build), data) else {
                continue;
            };
            let mut d = Diagnostic::error(format!(
                "the value of variable `{name}` fails when Packer renders it again for a plugin: {}",
                e.message
            ))
            .hint(
                "after the variables are rendered, each builder, provisioner and post-processor \
                 renders their values once more, where `{{env}}` is not allowed; this value still \
                 holds `{{…}}`: it was left unrendered, or rendering produced braces",
            );
            match vars.origins.get(name) {
                Some(origin) => {
                    d.location = origin.location.clone();
                    d.key = Some(origin.key.clone());
                }
                None => d.key = Some(format!("variables.{name}")),
            }
            self.push(d);
            ok = false;
        }
        ok
    }

    /// Unknown keys and value shapes inside the object(s) a key holds.
    pub(super) fn nested(
        &mut self,
        value: &Node,
        keys: &'static [(&'static str, ValueType)],
        at: Nested<'_>,
        key: &str,
    ) -> bool {
        let Nested {
            schema: type_schema,
            path: schema_path,
            noun,
            kind,
        } = at;
        let objects: Vec<(String, &Node)> = match &value.value {
            Value::Object(_) => vec![(key.to_string(), value)],
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{key}[{i}]"), item))
                .collect(),
            _ => Vec::new(),
        };
        let mut ok = true;
        for (path, object) in objects {
            let members = object.members();
            for member in &members {
                let member_key = format!("{path}.{}", member.key);
                let found = schema::find_in(keys, &member.key);
                if let Some((canonical, _)) = found
                    && let Some(winner) = case_twin(&members, canonical, &member.key)
                {
                    let d = self.source.error(
                        format!(
                            "`{}` and `{winner}` are the same key to Packer (it ignores case); only one is used",
                            member.key
                        ),
                        member.key_span.start,
                        member_key,
                    );
                    self.push(d.hint(format!("remove `{}`", member.key)));
                    ok = false;
                    continue;
                }
                match found {
                    None if schema::is_ignored_key(&member.key) => {}
                    None => {
                        let hint = match did_you_mean(&member.key, keys.iter().map(|(k, _)| *k)) {
                            Some(close) => format!("did you mean `{close}`?"),
                            None => format!(
                                "keys here: {}",
                                keys.iter()
                                    .map(|(k, _)| format!("`{k}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        };
                        let d = self.source.error(
                            format!(
                                "unknown key `{}` in `{}` of {noun} `{kind}`",
                                member.key,
                                last_key(key)
                            ),
                            member.key_span.start,
                            member_key,
                        );
                        self.push(d.hint(hint));
                        ok = false;
                    }
                    Some((canonical, value_type)) => {
                        if let Err(problem) = value_type.check_node(&member.value, None) {
                            self.invalid_value(member, member_key, &problem);
                            ok = false;
                            continue;
                        }
                        // Objects inside objects have their own keys (`source_ami_filter.filter`).
                        let mut deeper: Vec<&str> = schema_path.to_vec();
                        deeper.push(canonical);
                        if let Some(inner) = type_schema.nested_keys_at(&deeper) {
                            let at = Nested {
                                schema: type_schema,
                                path: &deeper,
                                noun,
                                kind,
                            };
                            ok &= self.nested(&member.value, inner, at, &member_key);
                        }
                    }
                }
            }
        }
        ok
    }

    /// A copy of `node` with every string and nested object key rendered (`render`), or only checked
    /// for template syntax (keys Packer renders at build time: it still parses them while validating).
    /// The error comes with the string that failed, as a node at its place in the template.
    /// A value that does not decode into its key's type, as Packer's decoder reports it.
    fn invalid_value(&mut self, member: &Member, member_key: String, problem: &str) {
        let d = self.source.error(
            format!("invalid value for `{}`: {problem}", member.key),
            member.value.span.start,
            member_key,
        );
        self.push(d);
    }

    pub(super) fn render_tree(
        &self,
        node: &Node,
        build: &Build,
        data: &BTreeMap<String, String>,
        render: bool,
    ) -> Result<Node, Box<(InterpolateError, Node)>> {
        let text = |s: &str, at: &Node| -> Result<String, Box<(InterpolateError, Node)>> {
            let result = if render {
                self.render(s, Some(build), data)
            } else {
                interpolate::check_syntax(s, Some(&build.block.kind)).map(|()| s.to_string())
            };
            result.map_err(|e| Box::new((e, at.clone())))
        };
        let value = match &node.value {
            Value::String(s) => Value::String(text(s, node)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.render_tree(item, build, data, render))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(members) => {
                let mut out = Vec::with_capacity(members.len());
                for m in members {
                    let key_node = Node {
                        value: Value::String(m.key.clone()),
                        span: m.key_span,
                    };
                    let key = text(&m.key, &key_node)?;
                    let value = self.render_tree(&m.value, build, data, render)?;
                    out.push(Member {
                        key,
                        key_span: m.key_span,
                        value,
                    });
                }
                Value::Object(out)
            }
            other => other.clone(),
        };
        Ok(Node {
            value,
            span: node.span,
        })
    }
}

/// When several keys of `members` match the schema key `canonical` ignoring case, Packer's decoder uses
/// one (the exact spelling if present, else the first here) and rejects the others as unknown. Returns
/// the key used instead of `name`, if `name` is one of the rejected.
fn case_twin<'m>(members: &[&'m Member], canonical: &str, name: &str) -> Option<&'m str> {
    let twins: Vec<&str> = members
        .iter()
        .map(|m| m.key.as_str())
        .filter(|k| k.eq_ignore_ascii_case(canonical))
        .collect();
    if twins.len() < 2 {
        return None;
    }
    let used = twins
        .iter()
        .copied()
        .find(|k| *k == canonical)
        .unwrap_or(twins[0]);
    (used != name).then_some(used)
}

fn last_key(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

fn set_member(object: &mut Node, key: &str, value: Node) {
    if let Value::Object(members) = &mut object.value {
        match members.iter_mut().rev().find(|m| m.key == key) {
            Some(m) => m.value = value,
            None => members.push(Member {
                key: key.to_string(),
                key_span: value.span,
                value,
            }),
        }
    }
}
