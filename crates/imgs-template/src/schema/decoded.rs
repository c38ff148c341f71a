//! A plugin configuration read the way Packer's decoder would have filled its Go struct: absent and
//! `null` keys hold the zero value, weakly typed values are converted, keys match ignoring case.
//!
//! The checks only run on shapes the decoder accepts (the caller reports the others), so a value that
//! cannot be converted reads as the zero value rather than failing.

use imgs_diagnostic::Span;

use super::SchemaProblem;
use crate::Node;
use crate::json::{Member, Value};
use imgs_settings::go::{format_json_number, parse_go_bool, parse_go_int};

/// Renders a top-level key's string value (see [`super::check_config`]).
type Render<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(super) struct Decoded<'a> {
    node: &'a Node,
    /// Top-level string values after interpolation; nested objects read their strings as written.
    interpolated: Option<Render<'a>>,
    /// Path of this object inside the configuration (`""` at the top, `launch_block_device_mappings[0]`).
    path: String,
}

impl<'a> Decoded<'a> {
    pub(super) fn new(node: &'a Node, interpolated: Render<'a>) -> Self {
        Self {
            node,
            interpolated: Some(interpolated),
            path: String::new(),
        }
    }

    fn member(&self, key: &str) -> Option<&'a Member> {
        self.node.member(key).or_else(|| match &self.node.value {
            Value::Object(members) => members
                .iter()
                .rev()
                .find(|m| m.key.eq_ignore_ascii_case(key)),
            _ => None,
        })
    }

    fn value(&self, key: &str) -> Option<&'a Node> {
        self.member(key).map(|m| &m.value).filter(|v| !v.is_null())
    }

    /// Whether `key` holds a value other than `null`.
    pub(super) fn is_set(&self, key: &str) -> bool {
        self.value(key).is_some()
    }

    /// The string a string field would hold; `""` when unset. A template that could not be rendered comes
    /// back as written (see [`known`]).
    pub(super) fn string(&self, key: &str) -> String {
        match self.value(key).map(|n| &n.value) {
            Some(Value::String(raw)) => self
                .interpolated
                .and_then(|render| render(key))
                .unwrap_or_else(|| raw.clone()),
            Some(Value::Number(n)) => format_json_number(n),
            Some(Value::Bool(b)) => if *b { "1" } else { "0" }.to_string(),
            _ => String::new(),
        }
    }

    pub(super) fn bool(&self, key: &str) -> bool {
        match self.value(key).map(|n| &n.value) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.parse::<f64>().is_ok_and(|f| f != 0.0),
            Some(Value::String(_)) => parse_go_bool(&self.string(key)).unwrap_or(false),
            _ => false,
        }
    }

    /// Tri-state booleans (`encrypt_boot`, `ena_support`, `encrypted`): `None` when unset.
    pub(super) fn trilean(&self, key: &str) -> Option<bool> {
        match self.value(key).map(|n| &n.value) {
            None => None,
            Some(Value::String(_)) if self.string(key).is_empty() => None,
            Some(_) => Some(self.bool(key)),
        }
    }

    pub(super) fn int(&self, key: &str) -> i64 {
        match self.value(key).map(|n| &n.value) {
            Some(Value::Number(n)) => n.parse::<f64>().map_or(0, |f| f.trunc() as i64),
            Some(Value::Bool(b)) => i64::from(*b),
            Some(Value::String(_)) => parse_go_int(&self.string(key)).unwrap_or(0),
            _ => 0,
        }
    }

    /// A list of strings as Packer decodes it; `None` when unset (Go's nil slice).
    pub(super) fn list(&self, key: &str) -> Option<Vec<String>> {
        let node = self.value(key)?;
        Some(match &node.value {
            Value::Array(items) => items.iter().map(scalar_text).collect(),
            Value::String(_) => {
                let text = self.string(key);
                if text.is_empty() {
                    Vec::new()
                } else {
                    text.split(',').map(str::to_string).collect()
                }
            }
            Value::Object(_) => Vec::new(),
            _ => vec![scalar_text(node)],
        })
    }

    /// Number of entries of a list of strings; 0 when unset.
    pub(super) fn list_len(&self, key: &str) -> usize {
        self.list(key).map_or(0, |l| l.len())
    }

    /// The entries of a map of strings (an object, or an array of objects merged); empty when unset.
    pub(super) fn map(&self, key: &str) -> Vec<(String, String)> {
        let mut entries: Vec<(String, String)> = Vec::new();
        let mut add = |object: &Node| {
            for m in object.members() {
                let value = scalar_text(&m.value);
                match entries.iter_mut().find(|(k, _)| *k == m.key) {
                    Some(entry) => entry.1 = value,
                    None => entries.push((m.key.clone(), value)),
                }
            }
        };
        if let Some(node) = self.value(key) {
            match &node.value {
                Value::Object(_) => add(node),
                Value::Array(items) => items.iter().for_each(&mut add),
                _ => {}
            }
        }
        entries
    }

    /// Whether `key` is set to a map (even an empty one), i.e. Go's map is non-nil.
    pub(super) fn map_is_set(&self, key: &str) -> bool {
        matches!(
            self.value(key).map(|n| &n.value),
            Some(Value::Object(_) | Value::Array(_))
        )
    }

    /// The object held by `key`, read the same way; `None` when unset or not an object.
    pub(super) fn object(&self, key: &str) -> Option<Decoded<'a>> {
        let node = self.value(key).filter(|n| n.is_object())?;
        Some(Decoded {
            node,
            interpolated: None,
            path: self.child_path(key),
        })
    }

    /// The objects of a list of objects (a single object counts as a list of one, `{}` as none).
    pub(super) fn objects(&self, key: &str) -> Vec<Decoded<'a>> {
        let Some(node) = self.value(key) else {
            return Vec::new();
        };
        let path = self.child_path(key);
        match &node.value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .filter(|(_, item)| item.is_object())
                .map(|(i, item)| Decoded {
                    node: item,
                    interpolated: None,
                    path: format!("{path}[{i}]"),
                })
                .collect(),
            // An empty object decodes to an empty list, any other to a list of one.
            Value::Object(members) if members.is_empty() => Vec::new(),
            Value::Object(_) => vec![Decoded {
                node,
                interpolated: None,
                path: format!("{path}[0]"),
            }],
            _ => Vec::new(),
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// A problem about `key`, pointing at its value (or at this object when the key is absent).
    pub(super) fn problem(&self, key: &str, message: impl Into<String>) -> SchemaProblem {
        let span = self
            .member(key)
            .map(|m| m.value.span)
            .unwrap_or(self.node.span);
        SchemaProblem {
            message: message.into(),
            key: Some(self.child_path(key)),
            span: Some(span),
            hint: None,
        }
    }

    /// A problem about the object as a whole (no single key is at fault).
    pub(super) fn problem_here(&self, message: impl Into<String>) -> SchemaProblem {
        SchemaProblem {
            message: message.into(),
            key: (!self.path.is_empty()).then(|| self.path.clone()),
            span: Some(self.object_span()),
            hint: None,
        }
    }

    pub(super) fn object_span(&self) -> Span {
        self.node.span
    }
}

/// Whether a value is known: it holds no template that failed to render.
pub(super) fn known(value: &str) -> bool {
    !value.contains("{{")
}

/// A list item or map value as the string Go would hold.
fn scalar_text(node: &Node) -> String {
    match &node.value {
        Value::String(s) => s.clone(),
        Value::Number(n) => format_json_number(n),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        _ => String::new(),
    }
}

/// Adds a hint to a problem.
pub(super) fn with_hint(mut problem: SchemaProblem, hint: impl Into<String>) -> SchemaProblem {
    problem.hint = Some(hint.into());
    problem
}
