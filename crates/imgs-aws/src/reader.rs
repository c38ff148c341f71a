//! Reading one block's settings with Packer's weak typing: `"true"` is a flag, `"8"` a number, a single
//! string a one-element list. Every problem is collected with its key, so a template shows all of them.

use std::collections::BTreeMap;

use imgs_diagnostic::Diagnostic;
use serde_json::Value;

pub(crate) struct Reader<'a> {
    pub settings: &'a BTreeMap<String, Value>,
    pub problems: Vec<Diagnostic>,
}

impl<'a> Reader<'a> {
    pub fn new(settings: &'a BTreeMap<String, Value>) -> Self {
        Reader {
            settings,
            problems: Vec::new(),
        }
    }

    pub fn problem(&mut self, key: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.problems
            .push(Diagnostic::error(message).key(key).hint(hint));
    }

    /// The value as text, if set to something other than Packer's "unset" (null or "").
    pub fn string(&mut self, key: &str) -> Option<String> {
        let value = self.settings.get(key)?;
        self.text_of(key, value)
    }

    fn text_of(&mut self, key: &str, value: &Value) -> Option<String> {
        match scalar_text(value) {
            Some(text) if text.is_empty() => None,
            Some(text) => Some(text),
            None => {
                self.problem(key, format!("{key} must be a string"), "write a string");
                None
            }
        }
    }

    pub fn flag(&mut self, key: &str) -> bool {
        self.trilean(key).unwrap_or(false)
    }

    /// A flag that may also be left unset (Packer's "trilean").
    pub fn trilean(&mut self, key: &str) -> Option<bool> {
        let value = self.string(key)?;
        let parsed = imgs_template::schema::parse_go_bool(&value);
        if parsed.is_none() {
            self.problem(
                key,
                format!("{key} must be true or false, not `{value}`"),
                "write `true` or `false`",
            );
        }
        parsed
    }

    pub fn int(&mut self, key: &str) -> Option<i64> {
        let text = self.string(key)?;
        match text.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.problem(
                    key,
                    format!("{key} `{text}` is not a whole number"),
                    "write a number such as 8",
                );
                None
            }
        }
    }

    /// A list of strings; a single string is a list of one, as Go's weak decoding has it.
    pub fn strings(&mut self, key: &str) -> Vec<String> {
        let Some(value) = self.settings.get(key) else {
            return Vec::new();
        };
        match value {
            Value::Null => Vec::new(),
            Value::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match scalar_text(item) {
                        Some(text) => out.push(text),
                        None => self.problem(
                            &format!("{key}[{i}]"),
                            format!("{key} must be a list of strings"),
                            "write [\"a\", \"b\"]",
                        ),
                    }
                }
                out
            }
            other => self.text_of(key, other).into_iter().collect(),
        }
    }

    /// A map of strings to strings (tags, filters); values may be any scalar.
    pub fn string_map(&mut self, key: &str) -> BTreeMap<String, String> {
        let Some(value) = self.settings.get(key) else {
            return BTreeMap::new();
        };
        match value {
            Value::Null => BTreeMap::new(),
            Value::Object(map) => string_map_of(self, key, map),
            _ => {
                self.problem(
                    key,
                    format!("{key} must be an object of strings"),
                    "write {\"Name\": \"value\"}",
                );
                BTreeMap::new()
            }
        }
    }

    /// A list of objects (block device mappings), each as its own settings.
    pub fn objects(&mut self, key: &str) -> Vec<BTreeMap<String, Value>> {
        let Some(value) = self.settings.get(key) else {
            return Vec::new();
        };
        match value {
            Value::Null => Vec::new(),
            Value::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::Object(map) => {
                            out.push(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        }
                        _ => self.problem(
                            &format!("{key}[{i}]"),
                            format!("each {key} entry must be an object"),
                            "write {\"device_name\": \"/dev/sda1\", ...}",
                        ),
                    }
                }
                out
            }
            _ => {
                self.problem(
                    key,
                    format!("{key} must be a list of objects"),
                    "write [{\"device_name\": \"/dev/sda1\", ...}]",
                );
                Vec::new()
            }
        }
    }
}

pub(crate) fn string_map_of(
    r: &mut Reader<'_>,
    key: &str,
    map: &serde_json::Map<String, Value>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in map {
        match scalar_text(value) {
            Some(text) => {
                out.insert(name.clone(), text);
            }
            None => r.problem(
                &format!("{key}.{name}"),
                format!("{key} values must be strings"),
                "write {\"Name\": \"value\"}",
            ),
        }
    }
    out
}

/// A JSON scalar as Packer's weak decoding turns it into a string; `None` for arrays and objects.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Packer's zero value for a key: setting it asks for nothing.
pub(crate) fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => matches!(s.trim(), "" | "0" | "false"),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}
