//! A plugin configuration read the way Packer's decoder would have filled its Go struct: absent and
//! `null` keys hold the zero value, weakly typed values are converted, keys match ignoring case.
//!
//! The checks only run on shapes the decoder accepts (the caller reports the others), so a value that
//! cannot be converted reads as the zero value rather than failing.

use imgs_diagnostic::Span;

use super::SchemaProblem;
use super::value_type::setting_of;
use crate::Node;
use crate::json::{Member, Value};
use imgs_settings::{Setting, weak};

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

    /// The value of `key` as imgs-settings holds values, a top-level string rendered when it can be.
    fn setting(&self, key: &str) -> Option<Setting> {
        let node = self.value(key)?;
        Some(match (&node.value, self.interpolated) {
            (Value::String(_), Some(render)) => match render(key) {
                Some(text) => Setting::string(text),
                None => setting_of(node),
            },
            _ => setting_of(node),
        })
    }

    /// The string a string field would hold; `""` when unset. A template that could not be rendered comes
    /// back as written (see [`known`]).
    pub(super) fn string(&self, key: &str) -> String {
        self.setting(key)
            .and_then(|v| weak::string(&v).ok())
            .unwrap_or_default()
    }

    pub(super) fn bool(&self, key: &str) -> bool {
        self.setting(key)
            .and_then(|v| weak::bool(&v).ok())
            .unwrap_or(false)
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
        self.setting(key)
            .and_then(|v| weak::int(&v).ok())
            .unwrap_or(0)
    }

    /// A list of strings as Packer decodes it; `None` when unset (Go's nil slice).
    pub(super) fn list(&self, key: &str) -> Option<Vec<String>> {
        let value = self.setting(key)?;
        Some(weak::strings(&value).unwrap_or_default())
    }

    /// Number of entries of a list of strings; 0 when unset.
    pub(super) fn list_len(&self, key: &str) -> usize {
        self.list(key).map_or(0, |l| l.len())
    }

    /// The entries of a map of strings (an object, or an array of objects merged); empty when unset.
    pub(super) fn map(&self, key: &str) -> Vec<(String, String)> {
        self.setting(key)
            .and_then(|v| weak::map(&v).ok())
            .unwrap_or_default()
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

/// Adds a hint to a problem.
pub(super) fn with_hint(mut problem: SchemaProblem, hint: impl Into<String>) -> SchemaProblem {
    problem.hint = Some(hint.into());
    problem
}
