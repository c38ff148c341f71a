//! The template's JSON in one canonical form, so formatting and key order do not change a fingerprint.

use crate::json::{Node, Value};
use crate::model::Template;

/// Compact JSON of the template with object keys sorted (by bytes) and top-level `_` comment keys
/// dropped. Only the top level: that is the one place Packer treats `_` keys as comments (inside a block
/// they are unknown keys, and the template would not validate). A key repeated in an object keeps its
/// last value, as Go reads it. Numbers keep the digits they were written with.
pub fn canonical_json(t: &Template) -> String {
    if let Some(config) = &t.hcl {
        return config.canonical();
    }
    let mut out = String::with_capacity(t.text.len());
    match &t.root.value {
        Value::Object(_) => write_object(&t.root, &mut out, |key| key.starts_with('_')),
        _ => write_node(&t.root, &mut out),
    }
    out
}

fn write_node(node: &Node, out: &mut String) {
    match &node.value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(text) => out.push_str(text),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_node(item, out);
            }
            out.push(']');
        }
        Value::Object(_) => write_object(node, out, |_| false),
    }
}

fn write_object(node: &Node, out: &mut String, drop: impl Fn(&str) -> bool) {
    let mut members = node.members();
    members.retain(|m| !drop(&m.key));
    members.sort_by(|a, b| a.key.cmp(&b.key));
    out.push('{');
    for (i, member) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&member.key, out);
        out.push(':');
        write_node(&member.value, out);
    }
    out.push('}');
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's escaping is the canonical one: minimal escapes, everything else verbatim UTF-8.
    out.push_str(&serde_json::to_string(s).expect("a string always serializes"));
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn canonical(text: &str) -> String {
        canonical_json(&Template::parse(Path::new("t.json"), text.to_string()).unwrap())
    }

    #[test]
    fn sorts_keys_drops_comments_and_whitespace() {
        assert_eq!(
            canonical(
                "{\n \"builders\": [ {\"type\": \"null\", \"communicator\": \"none\"} ],\n \"_c\": \"x\",\n \"description\": \"a\\u00e9\\n\"\n}"
            ),
            r#"{"builders":[{"communicator":"none","type":"null"}],"description":"aé\n"}"#
        );
    }

    #[test]
    fn formatting_does_not_change_it() {
        let a = canonical(r#"{"variables":{"b":"2","a":null},"builders":[{"type":"null"}]}"#);
        let b = canonical(
            "{ \"builders\" : [ { \"type\" : \"null\" } ] , \"variables\" : { \"a\" : null , \"b\" : \"2\" } }",
        );
        assert_eq!(a, b);
    }
}
