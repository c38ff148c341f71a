//! The shape of value a configuration key takes, and which values Packer 1.6.6 turns into it.
//!
//! Packer interpolates every string of a plugin configuration first, then decodes the result with
//! `mapstructure` (version 1.5, which the reference Packer 1.6.6 build links) in weakly typed mode plus three
//! hooks (a string given for any list becomes a list of strings by splitting on `,`, `""` an empty list; a
//! string becomes a duration through Go's `time.ParseDuration`, a string or boolean becomes a tri-state
//! boolean). `null` anywhere leaves the field unset, so every type accepts it. The judging is done by the
//! same conversions [`crate::Decoder`] reads values with ([`crate::weak`]).

use crate::{Setting, Value, weak};

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

    /// Whether Packer would decode `value` into this type (strings as they are: render them first). The
    /// error says what was expected and what was found.
    pub fn check(self, value: &Setting) -> Result<(), String> {
        let decoded = match self {
            ValueType::Any => Ok(()),
            ValueType::String => weak::string(value).map(drop),
            ValueType::Bool => weak::bool(value).map(drop),
            ValueType::Int => weak::int(value).map(drop),
            ValueType::Float => weak::float(value).map(drop),
            ValueType::Duration => weak::duration(value).map(drop),
            ValueType::StringList => weak::strings(value).map(drop),
            ValueType::IntList => weak::ints(value).map(drop),
            ValueType::ListOfStringLists => weak::string_lists(value).map(drop),
            ValueType::Map => weak::map(value).map(drop),
            ValueType::Object => match &value.value {
                Value::Null | Value::Object(_) => Ok(()),
                _ => Err(String::new()),
            },
            ValueType::ObjectList => match &value.value {
                Value::Null | Value::Object(_) => Ok(()),
                Value::String(s) if s.is_empty() => Ok(()),
                Value::List(items) => {
                    if items
                        .iter()
                        .all(|i| matches!(i.value, Value::Object(_) | Value::Null))
                    {
                        Ok(())
                    } else {
                        Err(String::new())
                    }
                }
                _ => Err(String::new()),
            },
        };
        decoded.map_err(|why| match &value.value {
            // A string's own reading says best what is wrong with it (Go's duration errors, …).
            Value::String(_) if !why.is_empty() => why,
            _ => format!("expected {}, got {}", self.describe(), value.describe()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(ty: ValueType, json: serde_json::Value) -> Result<(), String> {
        ty.check(&Setting::from(&json))
    }

    #[test]
    fn weak_typing_accepts_what_packer_accepts() {
        assert!(check(ValueType::Bool, json!("true")).is_ok());
        assert!(check(ValueType::Bool, json!("")).is_ok());
        assert!(check(ValueType::Bool, json!(1)).is_ok());
        assert!(check(ValueType::Int, json!("22")).is_ok());
        assert!(check(ValueType::Int, json!(2.5)).is_ok());
        assert!(check(ValueType::Int, json!(true)).is_ok());
        assert!(check(ValueType::String, json!(22)).is_ok());
        assert!(check(ValueType::String, json!(false)).is_ok());
        assert!(check(ValueType::StringList, json!("a,b")).is_ok());
        assert!(check(ValueType::StringList, json!(["a", 1, true, null])).is_ok());
        assert!(check(ValueType::StringList, json!({})).is_ok());
        assert!(check(ValueType::Map, json!([{"a": "b"}, {"c": 1}])).is_ok());
        assert!(check(ValueType::ObjectList, json!({"device_name": "/dev/sda"})).is_ok());
        assert!(check(ValueType::Duration, json!("1m30s")).is_ok());
        assert!(check(ValueType::Duration, json!(1000)).is_ok());
        assert!(check(ValueType::Object, json!(null)).is_ok());
        assert!(check(ValueType::Int, json!("")).is_ok());
        assert!(check(ValueType::Int, json!("1_000")).is_ok());
        assert!(check(ValueType::Float, json!("")).is_ok());
        assert!(check(ValueType::IntList, json!([0, "1", ""])).is_ok());
        assert!(check(ValueType::IntList, json!("2")).is_ok());
        assert!(check(ValueType::IntList, json!("0,1,")).is_ok());
        assert!(check(ValueType::ObjectList, json!("")).is_ok());
        assert!(check(ValueType::ListOfStringLists, json!("-m,1G")).is_ok());
        assert!(
            check(
                ValueType::ListOfStringLists,
                json!([["-m", "1G"], "-nographic", 5])
            )
            .is_ok()
        );
    }

    #[test]
    fn rejects_what_packer_rejects() {
        assert_eq!(
            check(ValueType::Bool, json!("yes")),
            Err(r#"expected a boolean, got the string "yes""#.to_string())
        );
        assert!(check(ValueType::Int, json!("1.5")).is_err());
        assert!(check(ValueType::Int, json!(" 22")).is_err());
        assert!(check(ValueType::IntList, json!(["a"])).is_err());
        assert!(check(ValueType::IntList, json!("0,one")).is_err());
        assert!(check(ValueType::ObjectList, json!("x")).is_err());
        assert!(check(ValueType::ListOfStringLists, json!([[["-m"]]])).is_err());
        assert_eq!(
            check(ValueType::String, json!(["a"])),
            Err("expected a string, got an array".to_string())
        );
        assert!(check(ValueType::StringList, json!([["a"]])).is_err());
        assert!(check(ValueType::StringList, json!({"a": "b"})).is_err());
        assert!(check(ValueType::Map, json!({"a": ["b"]})).is_err());
        assert!(check(ValueType::Object, json!([])).is_err());
        assert!(check(ValueType::ObjectList, json!(["a"])).is_err());
        assert!(check(ValueType::Duration, json!("10")).is_err());
        assert!(check(ValueType::Duration, json!("")).is_err());
    }
}
