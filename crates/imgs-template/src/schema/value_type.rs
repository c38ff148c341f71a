//! Judging a template's JSON values against a [`ValueType`]: the type and its rules are
//! imgs-settings', the same ones a plugin reads its settings with; this adds what only a template has,
//! strings that still hold a template.

pub use imgs_settings::ValueType;

use crate::Node;
use crate::json::Value;

/// [`ValueType::check`] for a template value.
pub trait CheckNode {
    /// Whether Packer would decode `node` into this type. `rendered` is the value after interpolation when
    /// `node` is a string and the caller rendered it; when `None`, a string holding a template (`{{`) is
    /// not judged, other strings are judged as written.
    fn check_node(self, node: &Node, rendered: Option<&str>) -> Result<(), String>;
}

impl CheckNode for ValueType {
    fn check_node(self, node: &Node, rendered: Option<&str>) -> Result<(), String> {
        if let Value::String(raw) = &node.value {
            let text = match rendered {
                Some(text) => text,
                None if raw.contains("{{") => return Ok(()),
                None => raw,
            };
            return self.check(&imgs_settings::Setting::string(text));
        }
        self.check(&setting_of(node))
    }
}

/// A template value as imgs-settings holds values (locations are the caller's to add).
pub fn setting_of(node: &Node) -> imgs_settings::Setting {
    use imgs_settings::{Object, Setting, Value as V};
    Setting::unplaced(match &node.value {
        Value::Null => V::Null,
        Value::Bool(b) => V::Bool(*b),
        Value::Number(n) => V::Number(n.clone()),
        Value::String(s) => V::String(s.clone()),
        Value::Array(items) => V::List(items.iter().map(setting_of).collect()),
        Value::Object(members) => V::Object(Object {
            entries: members
                .iter()
                .map(|m| (m.key.clone(), setting_of(&m.value)))
                .collect(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_json;

    fn check(ty: ValueType, json: &str) -> Result<(), String> {
        ty.check_node(&parse_json(json).expect("test JSON parses"), None)
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
        assert!(ValueType::Int.check_node(&node, None).is_ok());
        assert!(ValueType::Int.check_node(&node, Some("2222")).is_ok());
        assert!(ValueType::Int.check_node(&node, Some("many")).is_err());
    }
}
