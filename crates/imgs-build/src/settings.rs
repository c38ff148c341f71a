//! A builder block's settings, rendered: every string goes through the template engine with the
//! build's context before a builder reads it, as Packer does for builder configurations.

use std::collections::BTreeMap;

use imgs_diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use imgs_template::interpolate::{Context, render};
use imgs_template::{Node, Template, Value};

/// A builder's rendered settings, with where each key was written (to locate problems).
pub struct Settings<'a> {
    pub template: &'a Template,
    /// `builders[N]`, for messages.
    pub block_key: String,
    pub block_offset: usize,
    /// Key → (rendered value, offset of the key in the template).
    pub values: BTreeMap<String, (serde_json::Value, usize)>,
    /// The same rendered values with where each was written, for plugins that read their settings
    /// with imgs-settings' decoder.
    pub located: imgs_settings::Settings,
}

impl<'a> Settings<'a> {
    /// Renders every string of `config` (the block without `type` and `name`).
    pub fn render(
        template: &'a Template,
        block_key: String,
        config: &Node,
        ctx: &Context<'_>,
    ) -> Result<Settings<'a>, Diagnostics> {
        Settings::render_deferring(template, block_key, config, ctx, &[])
    }

    /// As [`Settings::render`], but the values of `deferred` keys stay as written: they are templates
    /// the builder renders later with data only the build knows (amazon-ebs tags read `{{ .SourceAMI }}`).
    pub fn render_deferring(
        template: &'a Template,
        block_key: String,
        config: &Node,
        ctx: &Context<'_>,
        deferred: &[&str],
    ) -> Result<Settings<'a>, Diagnostics> {
        let mut values = BTreeMap::new();
        let mut located = imgs_settings::Object::default();
        let mut problems = Vec::new();
        for member in config.members() {
            if deferred.contains(&member.key.as_str()) {
                values.insert(
                    member.key.clone(),
                    (member.value.to_serde(), member.key_span.start),
                );
                located
                    .entries
                    .push((member.key.clone(), placed(template, &member.value, None)));
                continue;
            }
            match rendered(&member.value, ctx) {
                Ok(value) => {
                    located.entries.push((
                        member.key.clone(),
                        placed(template, &member.value, Some(&value)),
                    ));
                    values.insert(member.key.clone(), (value, member.key_span.start));
                }
                Err((message, offset)) => problems.push(
                    Diagnostic::error(message)
                        .at(template.location(offset))
                        .key(format!("{block_key}.{}", member.key)),
                ),
            }
        }
        Diagnostics::check(problems)?;
        Ok(Settings {
            template,
            block_offset: config.span.start,
            located: imgs_settings::Settings::new(
                located,
                Some(template.location(config.span.start)),
                block_key.clone(),
            ),
            block_key,
            values,
        })
    }

    /// The value of `key` as Go's weak decoding reads it into a string (`""` when `null`); `None` when
    /// absent or not a scalar.
    pub fn text(&self, key: &str) -> Option<String> {
        self.located
            .object
            .get(key)
            .and_then(|v| imgs_settings::weak::string(v).ok())
    }

    /// An error about `key`, located at the key when it was written, else at the block.
    pub fn error(&self, key: &str, message: impl Into<String>) -> Diagnostic {
        let offset = self
            .values
            .get(key)
            .map(|(_, o)| *o)
            .unwrap_or(self.block_offset);
        Diagnostic::error(message)
            .at(self.template.location(offset))
            .key(format!("{}.{key}", self.block_key))
    }

    /// Errors for keys neither in `known` nor starting with one of `prefixes` (those are read by
    /// another part, such as the SSH settings). `what` names the block: "builder `null`".
    pub fn unknown_keys(&self, what: &str, known: &[&str], prefixes: &[&str]) -> Vec<Diagnostic> {
        self.values
            .keys()
            .filter(|k| !known.contains(&k.as_str()) && !prefixes.iter().any(|p| k.starts_with(p)))
            .map(|k| {
                let mut d = self.error(k, format!("unknown key `{k}` in {what}"));
                if let Some(close) = did_you_mean(k, known.iter().copied()) {
                    d = d.hint(format!("did you mean `{close}`?"));
                }
                d
            })
            .collect()
    }
}

/// `node` as imgs-settings holds values, each placed where it was written; `rendered` is its value
/// after rendering (its strings), or `None` to keep it as written.
fn placed(
    template: &Template,
    node: &Node,
    rendered: Option<&serde_json::Value>,
) -> imgs_settings::Setting {
    use imgs_settings::{Object, Setting, Value as V};
    let value = match (&node.value, rendered) {
        (Value::String(_), Some(serde_json::Value::String(text))) => V::String(text.clone()),
        (Value::String(raw), _) => V::String(raw.clone()),
        (Value::Null, _) => V::Null,
        (Value::Bool(b), _) => V::Bool(*b),
        (Value::Number(n), _) => V::Number(n.clone()),
        (Value::Array(items), rendered) => V::List(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| placed(template, item, rendered.and_then(|r| r.get(i))))
                .collect(),
        ),
        (Value::Object(members), rendered) => V::Object(Object {
            entries: match rendered.and_then(serde_json::Value::as_object) {
                // Rendered keys, in the order written (two keys rendering alike are one entry).
                Some(map) if map.len() == members.len() => members
                    .iter()
                    .zip(map)
                    .map(|(m, (key, value))| (key.clone(), placed(template, &m.value, Some(value))))
                    .collect(),
                _ => members
                    .iter()
                    .map(|m| {
                        let value = rendered.and_then(|r| r.get(&m.key));
                        (m.key.clone(), placed(template, &m.value, value))
                    })
                    .collect(),
            },
        }),
    };
    Setting {
        value,
        at: Some(template.location(node.span.start)),
    }
}

fn rendered(node: &Node, ctx: &Context<'_>) -> Result<serde_json::Value, (String, usize)> {
    Ok(match &node.value {
        Value::String(s) => serde_json::Value::String(
            render(s, ctx)
                .map_err(|e| (e.message, node.span.start))?
                .text,
        ),
        Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|i| rendered(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        // Packer renders every string it decodes, the keys of a map setting too (`volumes`,
        // `headers`: `{{user `x`}}-vol` names a volume by the variable).
        Value::Object(_) => serde_json::Value::Object(
            node.members()
                .into_iter()
                .map(|m| {
                    let key = render(&m.key, ctx)
                        .map_err(|e| (e.message, m.key_span.start))?
                        .text;
                    Ok((key, rendered(&m.value, ctx)?))
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => node.to_serde(),
    })
}
