//! A plugin's configuration after rendering, independent of the template's syntax (JSON today): values
//! as written, each with where it was written.

use imgs_diagnostic::Location;

/// One value of a configuration and where it was written (`None` for values imgs made up, such as an
/// address a builder learns at run time).
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub value: Value,
    pub at: Option<Location>,
}

/// What a value is, before any decoding.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// A number as written (`22`, `1e3`, `-0.5`): Go reads it as a float64.
    Number(String),
    String(String),
    List(Vec<Setting>),
    Object(Object),
}

/// The members of an object in the order they were written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Object {
    pub entries: Vec<(String, Setting)>,
}

impl Object {
    /// The value of `key` as `mapstructure` finds it: the member named exactly so, else the last one
    /// whose name matches ignoring case.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .or_else(|| {
                self.entries
                    .iter()
                    .rev()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
            })
            .map(|(_, v)| v)
    }

    /// Sets `key`, replacing a member of that exact name.
    pub fn set(&mut self, key: &str, value: Setting) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key.to_string(), value)),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
}

impl Setting {
    /// A value imgs supplies itself, written nowhere.
    pub fn unplaced(value: Value) -> Setting {
        Setting { value, at: None }
    }

    /// A string imgs supplies itself.
    pub fn string(text: impl Into<String>) -> Setting {
        Setting::unplaced(Value::String(text.into()))
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Whether Packer's decoder leaves the field at its zero value: setting it asks for nothing.
    pub fn is_zero(&self) -> bool {
        match &self.value {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.parse::<f64>().is_ok_and(|f| f == 0.0),
            Value::String(s) => matches!(s.trim(), "" | "0" | "false"),
            Value::List(items) => items.is_empty(),
            Value::Object(object) => object.entries.is_empty(),
        }
    }

    /// "the string \"x\"", "an array", …: what a message says was found.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::String(s) => format!("the string {s:?}"),
            Value::Number(n) => format!("the number {n}"),
            Value::Bool(b) => format!("{b}"),
            Value::List(_) => "an array".to_string(),
            Value::Object(_) => "an object".to_string(),
            Value::Null => "null".to_string(),
        }
    }
}

impl From<&serde_json::Value> for Setting {
    /// A JSON value with no locations (values built in code, tests).
    fn from(json: &serde_json::Value) -> Setting {
        Setting::unplaced(match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.to_string()),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(Setting::from).collect())
            }
            serde_json::Value::Object(map) => Value::Object(Object {
                entries: map
                    .iter()
                    .map(|(k, v)| (k.clone(), Setting::from(v)))
                    .collect(),
            }),
        })
    }
}

/// A plugin block's settings: its members, where the block was written (for problems about a key that
/// is absent), and how messages name the block (`builders[0]`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub object: Object,
    pub at: Option<Location>,
    /// The block's path in the template, prefixed to every key a problem names; empty for none.
    pub path: String,
}

impl Settings {
    pub fn new(object: Object, at: Option<Location>, path: impl Into<String>) -> Settings {
        Settings {
            object,
            at,
            path: path.into(),
        }
    }

    /// Settings from a JSON object, with no locations (values built in code, tests); anything but an
    /// object gives empty settings.
    pub fn from_json(json: &serde_json::Value) -> Settings {
        match Setting::from(json).value {
            Value::Object(object) => Settings::new(object, None, ""),
            _ => Settings::default(),
        }
    }

    /// Settings from the members of a JSON object, with no locations.
    pub fn from_json_map(map: &std::collections::BTreeMap<String, serde_json::Value>) -> Settings {
        Settings::new(
            Object {
                entries: map
                    .iter()
                    .map(|(k, v)| (k.clone(), Setting::from(v)))
                    .collect(),
            },
            None,
            "",
        )
    }

    /// Settings of plain strings (written nowhere: problems name keys only).
    pub fn from_strings<'s>(pairs: impl IntoIterator<Item = (&'s String, &'s String)>) -> Settings {
        Settings::new(
            Object {
                entries: pairs
                    .into_iter()
                    .map(|(k, v)| (k.clone(), Setting::string(v.clone())))
                    .collect(),
            },
            None,
            "",
        )
    }

    /// The settings whose keys start with `prefix` (a builder hands its `ssh_*` keys to the SSH
    /// communicator), keeping their locations and the block's.
    pub fn with_prefix(&self, prefix: &str) -> Settings {
        Settings {
            object: Object {
                entries: self
                    .object
                    .entries
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .cloned()
                    .collect(),
            },
            at: self.at.clone(),
            path: self.path.clone(),
        }
    }
}
