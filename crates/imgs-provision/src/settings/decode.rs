//! Rendering a configuration's strings, then reading values as Packer's weak decoder does.

use std::time::Duration;

use imgs_diagnostic::Diagnostic;
use imgs_settings::weak;
use imgs_template::Node;
use imgs_template::interpolate::{self, Context};
use imgs_template::json::{Member, Value};
use imgs_template::schema;

use super::Locator;

/// `config` with every string rendered against `ctx`, except top-level `deferred` keys, which keep
/// their text for the provisioner to render at run time. The error is a message and its offset.
pub(super) fn render_strings(
    config: &Node,
    ctx: &Context<'_>,
    deferred: &[&str],
) -> Result<Node, (String, usize)> {
    let Value::Object(members) = &config.value else {
        return Ok(config.clone());
    };
    let mut rendered = Vec::with_capacity(members.len());
    for member in members {
        let value = if deferred.iter().any(|k| k.eq_ignore_ascii_case(&member.key)) {
            member.value.clone()
        } else {
            render_node(&member.value, ctx)?
        };
        rendered.push(Member {
            value,
            ..member.clone()
        });
    }
    Ok(Node {
        value: Value::Object(rendered),
        span: config.span,
    })
}

fn render_node(node: &Node, ctx: &Context<'_>) -> Result<Node, (String, usize)> {
    let value = match &node.value {
        Value::String(text) => {
            let rendered = interpolate::render(text, ctx).map_err(|e| {
                let message = match e.hint {
                    Some(hint) => format!("{} ({hint})", e.message),
                    None => e.message,
                };
                (message, node.span.start)
            })?;
            Value::String(rendered.text)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| render_node(item, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(_) => render_strings(node, ctx, &[])?.value,
        other => other.clone(),
    };
    Ok(Node {
        value,
        span: node.span,
    })
}

/// Reads keys of a rendered configuration.
pub(super) struct Reader<'a> {
    pub(super) config: &'a Node,
    pub(super) locate: &'a Locator<'a>,
}

/// Rendered strings need no further rendering when decoded.
fn rendered(_: &str) -> Option<String> {
    None
}

impl Reader<'_> {
    pub(super) fn string(&self, key: &str) -> Option<String> {
        schema::decoded_string(self.config, key, &rendered)
    }

    pub(super) fn non_empty_string(&self, key: &str) -> Option<String> {
        self.string(key).filter(|s| !s.is_empty())
    }

    pub(super) fn strings(&self, key: &str) -> Option<Vec<String>> {
        schema::decoded_strings(self.config, key, &rendered)
    }

    pub(super) fn bool(&self, key: &str) -> bool {
        schema::decoded_bool(self.config, key, &rendered)
    }

    /// A map of strings (an object, or a list of objects merged), as Packer's decoder reads it; empty
    /// when unset.
    pub(super) fn map(&self, key: &str) -> Result<Vec<(String, String)>, Diagnostic> {
        let Some(node) = self.node(key) else {
            return Ok(Vec::new());
        };
        weak::map(&schema::setting_of(node)).map_err(|why| {
            self.error(key, format!("invalid value for `{key}`: {why}"))
                .hint("write an object of strings such as {\"role\": \"web\"}")
        })
    }

    pub(super) fn node(&self, key: &str) -> Option<&Node> {
        self.config.field(key).filter(|n| !n.is_null())
    }

    /// Where to point for `key`: its value, else the whole block.
    pub(super) fn offset(&self, key: &str) -> usize {
        self.node(key)
            .map_or(self.config.span.start, |n| n.span.start)
    }

    pub(super) fn error(&self, key: &str, message: impl Into<String>) -> Diagnostic {
        self.locate.error(self.offset(key), Some(key), message)
    }

    /// A Go duration: a string such as `"30s"`, or a number of nanoseconds. `None` when unset, empty,
    /// zero or negative.
    pub(super) fn duration(&self, key: &str) -> Result<Option<Duration>, Diagnostic> {
        let Some(node) = self.node(key) else {
            return Ok(None);
        };
        if matches!(&node.value, Value::String(s) if s.is_empty()) {
            return Ok(None);
        }
        match weak::duration(&schema::setting_of(node)) {
            Ok(d) => Ok(d.to_std().filter(|d| !d.is_zero())),
            Err(why) => Err(self
                .error(key, format!("invalid value for `{key}`: {why}"))
                .hint("write a duration such as \"30s\", \"5m\" or \"1h30m\"")),
        }
    }

    /// A list of integers: an array of numbers or numeric strings, a single number, or `"0,1"`.
    pub(super) fn ints(&self, key: &str) -> Result<Option<Vec<i64>>, Diagnostic> {
        let Some(node) = self.node(key) else {
            return Ok(None);
        };
        weak::ints(&schema::setting_of(node))
            .map(Some)
            .map_err(|why| {
                self.error(key, format!("invalid value for `{key}`: {why}"))
                    .hint("write a list of whole numbers such as [0, 1]")
            })
    }
}
