//! The shape of value a configuration key takes, and which JSON values Packer 1.6.6 turns into it.
//!
//! Packer interpolates every string of a plugin configuration first, then decodes the result with
//! `mapstructure` (version 1.5, which the reference Packer 1.6.6 build links) in weakly typed mode plus three
//! hooks (a string given for any list becomes a list of strings by splitting on `,`, `""` an empty list; a
//! string becomes a duration through Go's `time.ParseDuration`, a string or boolean becomes a tri-state
//! boolean). `null` anywhere leaves the field unset, so every type accepts it.

use super::go_syntax::{parse_go_bool, parse_go_float, parse_go_int};
use crate::Node;
use crate::json::Value;

/// The shape of value a key takes. Each variant lists the JSON values Packer accepts for it; strings are
/// judged after interpolation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A string. Also a number (written in decimal, `1e3` becomes `"1000"`) or a boolean (`true` becomes
    /// `"1"`, `false` `"0"`). Not an array or object.
    String,
    /// A boolean. Also a number (non-zero is true) or a string Go's `strconv.ParseBool` reads (`"true"`,
    /// `"True"`, `"TRUE"`, `"t"`, `"1"`, and the false forms); `""` is false. Not `"yes"`, arrays or objects.
    Bool,
    /// An integer. Also a number with a fraction (truncated), a boolean (0/1), `""` (0) or a string Go's
    /// `strconv.ParseInt(s, 0, 64)` reads (`"22"`, `"0x16"`, `"1_000"`, `"-1"`). Not `" 22"`, `"1.5"`,
    /// arrays or objects.
    Int,
    /// A floating-point number. Also a boolean (0/1), `""` (0) or a numeric string. Not arrays or objects.
    Float,
    /// A Go duration: a string `time.ParseDuration` reads (`"30s"`, `"1h5m"`, `"0"`, not `""`, `"10"` or
    /// `"5 minutes"`), or a number of nanoseconds, or a boolean (0/1 ns).
    Duration,
    /// A list of strings: an array whose items are strings, numbers, booleans or null. Also a string,
    /// split on commas (`"a,b"` is `["a", "b"]`, `""` is empty), a single number or boolean (a list of
    /// one), or an empty object (an empty list).
    StringList,
    /// A list of integers (also the bytes of `ssh_public_key`/`ssh_private_key`): an array whose items are
    /// [`ValueType::Int`] values. Also a string of such values
    /// separated by commas (`"0,1"`), or a single number or boolean (a list of one).
    IntList,
    /// A list of lists of strings (QEMU's `qemuargs`): an array whose items are [`ValueType::StringList`]
    /// values. Also a string (split on commas, each part a list of one) or a single number or boolean.
    ListOfStringLists,
    /// An object of strings (values: strings, numbers, booleans or null). Also an array of such objects
    /// (merged in order) or an empty array.
    Map,
    /// An object (its keys: [`super::TypeSchema::nested`]). Nothing else.
    Object,
    /// A list of objects: an array of objects, or a single object (a list of one), or `""` (empty).
    ObjectList,
    /// Anything (the value's own rules are checked by the plugin at build time, or it takes many shapes).
    Any,
}

impl ValueType {
    /// What messages call this type, e.g. "a list of strings".
    pub fn describe(self) -> &'static str {
        match self {
            ValueType::String => "a string",
            ValueType::Bool => "a boolean",
            ValueType::Int => "an integer",
            ValueType::Float => "a number",
            ValueType::Duration => "a duration such as \"30s\" or \"5m\"",
            ValueType::StringList => "a list of strings",
            ValueType::IntList => "a list of integers",
            ValueType::ListOfStringLists => "a list of lists of strings",
            ValueType::Map => "an object of strings",
            ValueType::Object => "an object",
            ValueType::ObjectList => "a list of objects",
            ValueType::Any => "any value",
        }
    }

    /// Whether Packer would decode `node` into this type. `rendered` is the value after interpolation when
    /// `node` is a string and the caller rendered it; when `None`, a string holding a template (`{{`) is
    /// not judged, other strings are judged as written. The error says what was expected and what was
    /// found.
    pub fn check(self, node: &Node, rendered: Option<&str>) -> Result<(), String> {
        if let Value::String(raw) = &node.value {
            let text = match rendered {
                Some(text) => text,
                None if raw.contains("{{") => return Ok(()),
                None => raw,
            };
            return self.check_string(text);
        }
        let fits = match (&node.value, self) {
            (Value::Null, _) | (_, ValueType::Any) => true,
            (Value::Bool(_) | Value::Number(_), scalar) => matches!(
                scalar,
                ValueType::String
                    | ValueType::Bool
                    | ValueType::Int
                    | ValueType::Float
                    | ValueType::Duration
                    | ValueType::StringList
                    | ValueType::IntList
                    | ValueType::ListOfStringLists
            ),
            (Value::Array(items), ValueType::StringList) => items.iter().all(|item| {
                matches!(
                    item.value,
                    Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null
                )
            }),
            (Value::Array(items), ValueType::IntList) => items
                .iter()
                .all(|item| ValueType::Int.check(item, None).is_ok()),
            (Value::Array(items), ValueType::ListOfStringLists) => items
                .iter()
                .all(|item| ValueType::StringList.check(item, None).is_ok()),
            (Value::Array(items), ValueType::Map) => items.iter().all(|item| {
                item.is_null() || (item.is_object() && ValueType::Map.check(item, None).is_ok())
            }),
            (Value::Array(items), ValueType::ObjectList) => {
                items.iter().all(|item| item.is_object() || item.is_null())
            }
            (Value::Array(_), _) => false,
            (Value::Object(members), ValueType::Map) => members.iter().all(|m| {
                matches!(
                    m.value.value,
                    Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null
                )
            }),
            (
                Value::Object(members),
                ValueType::StringList | ValueType::IntList | ValueType::ListOfStringLists,
            ) => members.is_empty(),
            (Value::Object(_), ValueType::Object | ValueType::ObjectList) => true,
            (Value::Object(_), _) => false,
            // Strings returned above; nothing reaches this arm.
            (Value::String(_), _) => true,
        };
        if fits {
            Ok(())
        } else {
            Err(format!("expected {}, got {}", self.describe(), found(node)))
        }
    }

    fn check_string(self, text: &str) -> Result<(), String> {
        let problem = match self {
            ValueType::String
            | ValueType::StringList
            | ValueType::ListOfStringLists
            | ValueType::Any => None,
            ValueType::Bool => (!text.is_empty() && parse_go_bool(text).is_none())
                .then(|| format!("expected a boolean, got the string {text:?}")),
            // mapstructure reads an empty string as 0.
            ValueType::Int => (!text.is_empty() && parse_go_int(text).is_none())
                .then(|| format!("expected an integer, got the string {text:?}")),
            // The string is split on commas first; each part is an integer (or empty, 0).
            ValueType::IntList => text
                .split(',')
                .find(|part| !part.is_empty() && parse_go_int(part).is_none())
                .map(|part| {
                    format!("expected integers separated by commas, got {part:?} in {text:?}")
                }),
            ValueType::Float => (!text.is_empty() && parse_go_float(text).is_none())
                .then(|| format!("expected a number, got the string {text:?}")),
            ValueType::Duration => crate::parse_go_duration(text).err().map(|e| e.0),
            // An empty string splits into an empty list.
            ValueType::ObjectList if text.is_empty() => None,
            ValueType::Map | ValueType::Object | ValueType::ObjectList => Some(format!(
                "expected {}, got the string {text:?}",
                self.describe()
            )),
        };
        problem.map_or(Ok(()), Err)
    }
}

fn found(node: &Node) -> String {
    match &node.value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("{b}"),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
        Value::Null => "null".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_json;

    fn check(ty: ValueType, json: &str) -> Result<(), String> {
        ty.check(&parse_json(json).expect("test JSON parses"), None)
    }

    #[test]
    fn weak_typing_accepts_what_packer_accepts() {
        assert!(check(ValueType::Bool, r#""true""#).is_ok());
        assert!(check(ValueType::Bool, r#""""#).is_ok());
        assert!(check(ValueType::Bool, "1").is_ok());
        assert!(check(ValueType::Int, r#""22""#).is_ok());
        assert!(check(ValueType::Int, "2.5").is_ok());
        assert!(check(ValueType::Int, "true").is_ok());
        assert!(check(ValueType::String, "22").is_ok());
        assert!(check(ValueType::String, "false").is_ok());
        assert!(check(ValueType::StringList, r#""a,b""#).is_ok());
        assert!(check(ValueType::StringList, r#"["a", 1, true, null]"#).is_ok());
        assert!(check(ValueType::StringList, "{}").is_ok());
        assert!(check(ValueType::Map, r#"[{"a": "b"}, {"c": 1}]"#).is_ok());
        assert!(check(ValueType::ObjectList, r#"{"device_name": "/dev/sda"}"#).is_ok());
        assert!(check(ValueType::Duration, r#""1m30s""#).is_ok());
        assert!(check(ValueType::Duration, "1000").is_ok());
        assert!(check(ValueType::Object, "null").is_ok());
        assert!(check(ValueType::Int, r#""""#).is_ok());
        assert!(check(ValueType::Int, r#""1_000""#).is_ok());
        assert!(check(ValueType::Float, r#""""#).is_ok());
        assert!(check(ValueType::IntList, r#"[0, "1", ""]"#).is_ok());
        assert!(check(ValueType::IntList, r#""2""#).is_ok());
        assert!(check(ValueType::IntList, r#""0,1,""#).is_ok());
        assert!(check(ValueType::ObjectList, r#""""#).is_ok());
        assert!(check(ValueType::ListOfStringLists, r#""-m,1G""#).is_ok());
        assert!(
            check(
                ValueType::ListOfStringLists,
                r#"[["-m", "1G"], "-nographic", 5]"#
            )
            .is_ok()
        );
    }

    #[test]
    fn rejects_what_packer_rejects() {
        assert_eq!(
            check(ValueType::Bool, r#""yes""#),
            Err(r#"expected a boolean, got the string "yes""#.to_string())
        );
        assert!(check(ValueType::Int, r#""1.5""#).is_err());
        assert!(check(ValueType::Int, r#"" 22""#).is_err());
        assert!(check(ValueType::IntList, r#"["a"]"#).is_err());
        assert!(check(ValueType::IntList, r#""0,one""#).is_err());
        assert!(check(ValueType::ObjectList, r#""x""#).is_err());
        assert!(check(ValueType::ListOfStringLists, r#"[[["-m"]]]"#).is_err());
        assert_eq!(
            check(ValueType::String, r#"["a"]"#),
            Err("expected a string, got an array".to_string())
        );
        assert!(check(ValueType::StringList, r#"[["a"]]"#).is_err());
        assert!(check(ValueType::StringList, r#"{"a": "b"}"#).is_err());
        assert!(check(ValueType::Map, r#"{"a": ["b"]}"#).is_err());
        assert!(check(ValueType::Object, "[]").is_err());
        assert!(check(ValueType::ObjectList, r#"["a"]"#).is_err());
        assert!(check(ValueType::Duration, r#""10""#).is_err());
        assert!(check(ValueType::Duration, r#""""#).is_err());
    }

    #[test]
    fn templates_are_judged_after_rendering() {
        let node = parse_json(r#""{{user `port`}}""#).expect("test JSON parses");
        assert!(ValueType::Int.check(&node, None).is_ok());
        assert!(ValueType::Int.check(&node, Some("2222")).is_ok());
        assert!(ValueType::Int.check(&node, Some("many")).is_err());
    }
}
