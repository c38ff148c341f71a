//! What Packer's decoder (`mapstructure` 1.5 in weakly typed mode, with Packer's hooks) makes of a value
//! for each kind of Go field. One function per kind, used by [`crate::Decoder`] to read values and by
//! [`crate::ValueType::check`] to judge them, so what `imgs validate` accepts is exactly what a plugin
//! can read.
//!
//! `null` is the field's zero value everywhere. An error says what was expected and what was found.

use crate::go::{format_json_number, parse_go_bool, parse_go_float, parse_go_int};
use crate::{GoDuration, Setting, Value, parse_go_duration};

/// "expected an integer, got the string \"x\"".
fn mismatch(expected: &str, found: &Setting) -> String {
    format!("expected {expected}, got {}", found.describe())
}

/// A string field: a string as it is, a number as Go prints a float64 (`1e3` is `1000`), a boolean as
/// `1` or `0`.
pub fn string(value: &Setting) -> Result<String, String> {
    match &value.value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(format_json_number(n)),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_string()),
        Value::List(_) | Value::Object(_) => Err(mismatch("a string", value)),
    }
}

/// A boolean field: a string `strconv.ParseBool` reads (`""` is false), a number (non-zero is true).
pub fn bool(value: &Setting) -> Result<bool, String> {
    match &value.value {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.parse::<f64>().is_ok_and(|f| f != 0.0)),
        Value::String(s) if s.is_empty() => Ok(false),
        Value::String(s) => {
            parse_go_bool(s).ok_or_else(|| format!("expected a boolean, got the string {s:?}"))
        }
        Value::List(_) | Value::Object(_) => Err(mismatch("a boolean", value)),
    }
}

/// An integer field: a number (a fraction is truncated), a boolean (0 or 1), `""` (0), or a string
/// `strconv.ParseInt(s, 0, 64)` reads (`"22"`, `"0x16"`, `"010"`, `"1_000"`).
pub fn int(value: &Setting) -> Result<i64, String> {
    match &value.value {
        Value::Null => Ok(0),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Number(n) => n
            .parse::<f64>()
            .map(|f| f.trunc() as i64)
            .map_err(|_| mismatch("an integer", value)),
        Value::String(s) if s.is_empty() => Ok(0),
        Value::String(s) => {
            parse_go_int(s).ok_or_else(|| format!("expected an integer, got the string {s:?}"))
        }
        Value::List(_) | Value::Object(_) => Err(mismatch("an integer", value)),
    }
}

/// A floating-point field: a number, a boolean (0 or 1), `""` (0), or a numeric string.
pub fn float(value: &Setting) -> Result<f64, String> {
    match &value.value {
        Value::Null => Ok(0.0),
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        Value::Number(n) => n.parse::<f64>().map_err(|_| mismatch("a number", value)),
        Value::String(s) if s.is_empty() => Ok(0.0),
        Value::String(s) => {
            parse_go_float(s).ok_or_else(|| format!("expected a number, got the string {s:?}"))
        }
        Value::List(_) | Value::Object(_) => Err(mismatch("a number", value)),
    }
}

/// A `time.Duration` field: a string `time.ParseDuration` reads (`"30s"`, `"1h5m"`, `"0"`; not `""` or
/// `"10"`), or a number of nanoseconds, or a boolean (0 or 1 ns).
pub fn duration(value: &Setting) -> Result<GoDuration, String> {
    match &value.value {
        Value::Null => Ok(GoDuration { nanos: 0 }),
        Value::Bool(b) => Ok(GoDuration {
            nanos: i64::from(*b),
        }),
        Value::Number(n) => n
            .parse::<f64>()
            .map(|f| GoDuration { nanos: f as i64 })
            .map_err(|_| mismatch("a duration", value)),
        Value::String(s) => parse_go_duration(s).map_err(|e| e.0),
        Value::List(_) | Value::Object(_) => {
            Err(mismatch("a duration such as \"30s\" or \"5m\"", value))
        }
    }
}

/// A list-of-strings field: an array of scalars (each read as [`string`]), a string split on commas
/// (`""` is empty), a single number or boolean (a list of one), or an empty object (empty).
pub fn strings(value: &Setting) -> Result<Vec<String>, String> {
    match &value.value {
        Value::Null => Ok(Vec::new()),
        Value::List(items) => items
            .iter()
            .map(|item| match item.value {
                Value::List(_) | Value::Object(_) => Err(format!(
                    "expected a list of strings, got {} in it",
                    item.describe()
                )),
                _ => string(item),
            })
            .collect(),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(s.split(',').map(str::to_string).collect()),
        Value::Number(_) | Value::Bool(_) => Ok(vec![string(value)?]),
        Value::Object(object) if object.entries.is_empty() => Ok(Vec::new()),
        Value::Object(_) => Err(mismatch("a list of strings", value)),
    }
}

/// A list-of-integers field: an array of [`int`] values, a string of them separated by commas, a single
/// number or boolean, or an empty object.
pub fn ints(value: &Setting) -> Result<Vec<i64>, String> {
    match &value.value {
        Value::Null => Ok(Vec::new()),
        Value::List(items) => items
            .iter()
            .map(|item| {
                int(item).map_err(|_| {
                    format!("expected a list of integers, got {} in it", item.describe())
                })
            })
            .collect(),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => s
            .split(',')
            .map(|part| match part {
                "" => Ok(0),
                _ => parse_go_int(part).ok_or_else(|| {
                    format!("expected integers separated by commas, got {part:?} in {s:?}")
                }),
            })
            .collect(),
        Value::Number(_) | Value::Bool(_) => Ok(vec![int(value)?]),
        Value::Object(object) if object.entries.is_empty() => Ok(Vec::new()),
        Value::Object(_) => Err(mismatch("a list of integers", value)),
    }
}

/// A list of lists of strings (qemu's `qemuargs`): an array of [`strings`] values; a string is split on
/// commas, each part a list of one; a single number or boolean is one list of one.
pub fn string_lists(value: &Setting) -> Result<Vec<Vec<String>>, String> {
    match &value.value {
        Value::Null => Ok(Vec::new()),
        Value::List(items) => items
            .iter()
            .map(|item| strings(item).map_err(|_| mismatch("a list of lists of strings", value)))
            .collect(),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(s.split(',').map(|part| vec![part.to_string()]).collect()),
        Value::Number(_) | Value::Bool(_) => Ok(vec![vec![string(value)?]]),
        Value::Object(object) if object.entries.is_empty() => Ok(Vec::new()),
        Value::Object(_) => Err(mismatch("a list of lists of strings", value)),
    }
}

/// An object-of-strings field (tags, filters): an object whose values are scalars (read as [`string`]),
/// or an array of such objects merged in order; an empty array is empty.
pub fn map(value: &Setting) -> Result<Vec<(String, String)>, String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut add = |object: &crate::Object| -> Result<(), String> {
        for (key, item) in &object.entries {
            let text = match item.value {
                Value::List(_) | Value::Object(_) => {
                    return Err(mismatch("an object of strings", value));
                }
                _ => string(item)?,
            };
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = text,
                None => entries.push((key.clone(), text)),
            }
        }
        Ok(())
    };
    match &value.value {
        Value::Null => {}
        Value::Object(object) => add(object)?,
        Value::List(items) => {
            for item in items {
                match &item.value {
                    Value::Object(object) => add(object)?,
                    Value::Null => {}
                    _ => return Err(mismatch("an object of strings", value)),
                }
            }
        }
        _ => return Err(mismatch("an object of strings", value)),
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(json: serde_json::Value) -> Setting {
        Setting::from(&json)
    }

    #[test]
    fn scalars_convert_as_go_converts_them() {
        assert_eq!(string(&of(json!(1e3))).unwrap(), "1000");
        assert_eq!(string(&of(json!(true))).unwrap(), "1");
        assert_eq!(int(&of(json!("0x1F"))).unwrap(), 31);
        assert_eq!(int(&of(json!("010"))).unwrap(), 8);
        assert_eq!(int(&of(json!(2.9))).unwrap(), 2);
        assert_eq!(int(&of(json!(""))).unwrap(), 0);
        assert!(int(&of(json!("1.5"))).is_err());
        assert!(bool(&of(json!("t"))).unwrap());
        assert!(!bool(&of(json!(0))).unwrap());
        assert_eq!(
            bool(&of(json!("yes"))),
            Err(r#"expected a boolean, got the string "yes""#.to_string())
        );
        assert_eq!(duration(&of(json!("1m30s"))).unwrap().nanos, 90_000_000_000);
        assert_eq!(duration(&of(json!(1000))).unwrap().nanos, 1000);
        assert!(duration(&of(json!("10"))).is_err());
    }

    #[test]
    fn lists_and_maps_convert_as_go_converts_them() {
        assert_eq!(strings(&of(json!("a,b"))).unwrap(), ["a", "b"]);
        assert_eq!(
            strings(&of(json!(["a", 1, true, null]))).unwrap(),
            ["a", "1", "1", ""]
        );
        assert_eq!(strings(&of(json!({}))).unwrap(), Vec::<String>::new());
        assert!(strings(&of(json!([["a"]]))).is_err());
        assert_eq!(ints(&of(json!("0,1,"))).unwrap(), [0, 1, 0]);
        assert_eq!(
            string_lists(&of(json!([["-m", "1G"], "-nographic", 5]))).unwrap(),
            [vec!["-m", "1G"], vec!["-nographic"], vec!["5"]]
        );
        assert_eq!(
            map(&of(json!([{"a": "1"}, {"a": 2, "b": false}]))).unwrap(),
            [
                ("a".to_string(), "2".to_string()),
                ("b".to_string(), "0".to_string())
            ]
        );
        assert!(map(&of(json!({"a": ["b"]}))).is_err());
    }
}
