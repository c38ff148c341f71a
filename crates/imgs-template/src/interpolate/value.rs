//! Values flowing through a template, with Go's names for their types and Go's way of printing them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value<'d> {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// An untyped nil (`nil`, or an absent value passed where anything is accepted).
    Nil,
    /// Go's invalid `reflect.Value`: what a missing map key yields; prints as `<no value>`.
    Missing,
    /// The template's data (`.`), a string map as in Packer's contexts.
    Map(&'d BTreeMap<String, String>),
}

impl Value<'_> {
    /// The Go type name used in error messages.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Bool(_) => "bool",
            Value::Nil | Value::Missing => "<nil>",
            Value::Map(_) => "map[string]string",
        }
    }

    /// Go's truth: empty strings, zero numbers, false, nil, missing values and empty maps are false.
    pub(super) fn is_true(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Bool(b) => *b,
            Value::Nil | Value::Missing => false,
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// What `{{ value }}` writes (Go's `fmt.Fprint` as text/template calls it).
    pub(super) fn print(&self, out: &mut String) {
        match self {
            Value::Str(s) => out.push_str(s),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float(*f)),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Nil => out.push_str("<nil>"),
            Value::Missing => out.push_str("<no value>"),
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "{k}:{v}");
                }
                out.push(']');
            }
        }
    }

    pub(super) fn to_text(&self) -> String {
        let mut out = String::new();
        self.print(&mut out);
        out
    }
}

/// Go's `%v` for a float64: shortest digits, exponent form below 1e-4 and from 1e6 on.
pub(super) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // `{:e}` gives the shortest round-tripping digits, e.g. "1.5e3".
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        return format!("{f}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(1000.0), "1000");
        assert_eq!(format_float(123456.5), "123456.5");
        assert_eq!(format_float(1e6), "1e+06");
        assert_eq!(format_float(1e20), "1e+20");
        assert_eq!(format_float(1.25e-7), "1.25e-07");
        assert_eq!(format_float(0.0001), "0.0001");
    }

    #[test]
    fn maps_print_sorted_like_go() {
        let map = BTreeMap::from([
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ]);
        assert_eq!(Value::Map(&map).to_text(), "map[a:1 b:2]");
        assert_eq!(Value::Missing.to_text(), "<no value>");
        assert_eq!(Value::Nil.to_text(), "<nil>");
    }
}
