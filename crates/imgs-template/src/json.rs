//! Strict JSON with a byte span on every value and key.
//!
//! Packer reads templates with Go's `encoding/json`, so this parser accepts exactly that grammar: no
//! comments, no trailing commas, no control characters inside strings, numbers without leading zeros, and
//! lone UTF-16 surrogates in `\u` escapes decoded to U+FFFD. Objects keep every member in source order,
//! duplicates included: Go lets the last one win ([`Node::get`] does the same), while Packer rejects
//! templates that repeat a key, which the model checks with the spans kept here.

use imgs_diagnostic::Span;

/// Deepest nesting accepted. Go allows 10000; a template nested a few hundred levels deep is not a
/// template, and the limit keeps the recursive descent far from the thread's stack size.
const MAX_DEPTH: usize = 500;

/// A JSON value and the bytes it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number exactly as written, so nothing is lost to float rounding.
    Number(String),
    String(String),
    Array(Vec<Node>),
    /// Members in source order; a repeated key appears once per occurrence.
    Object(Vec<Member>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub key: String,
    /// The key including its quotes.
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    /// The value of `key` if this is an object holding it; the last occurrence wins, as in Go.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.member(key).map(|m| &m.value)
    }

    /// The member named `key` (last occurrence), with its key span.
    pub fn member(&self, key: &str) -> Option<&Member> {
        match &self.value {
            Value::Object(members) => members.iter().rev().find(|m| m.key == key),
            _ => None,
        }
    }

    /// The member a Go struct field named `key` is decoded from, as Packer's decoder (`mapstructure`)
    /// finds it: the exact key, else one equal to it ignoring ASCII case.
    pub fn field_member(&self, key: &str) -> Option<&Member> {
        self.member(key).or_else(|| match &self.value {
            Value::Object(members) => members
                .iter()
                .rev()
                .find(|m| m.key.eq_ignore_ascii_case(key)),
            _ => None,
        })
    }

    /// The value of [`Node::field_member`].
    pub fn field(&self, key: &str) -> Option<&Node> {
        self.field_member(key).map(|m| &m.value)
    }

    /// Members of an object, without repeats (last occurrence wins, first position kept), or empty.
    pub fn members(&self) -> Vec<&Member> {
        match &self.value {
            Value::Object(members) => {
                let mut out: Vec<&Member> = Vec::with_capacity(members.len());
                for m in members {
                    match out.iter_mut().find(|seen| seen.key == m.key) {
                        Some(seen) => *seen = m,
                        None => out.push(m),
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// A scalar as Go's weak decoding reads it into a string (Packer decodes plugin configs weakly):
    /// numbers in plain decimal (`1e3` is `"1000"`), booleans as `"1"`/`"0"`, `null` as `""`.
    /// `None` for arrays and objects.
    pub fn weak_string(&self) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
            Value::Number(text) => Some(match text.parse::<f64>() {
                Ok(f) if f.is_finite() => format!("{f}"),
                _ => text.clone(),
            }),
            Value::Null => Some(String::new()),
            Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// A value as Go's weak decoding reads it into a boolean: `true`, a non-zero number, or a string
    /// Go's `strconv.ParseBool` reads as true (`1`, `t`, `T`, `true`, `TRUE`, `True`). Anything else is false.
    pub fn weak_bool(&self) -> bool {
        match &self.value {
            Value::Bool(b) => *b,
            Value::Number(n) => n.parse::<f64>().is_ok_and(|f| f != 0.0),
            Value::String(s) => matches!(s.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"),
            _ => false,
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self.value, Value::Object(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The same value as `serde_json` sees it (repeated keys: last wins, first position kept).
    pub fn to_serde(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(text) => serde_json::from_str::<serde_json::Number>(text)
                .map(serde_json::Value::Number)
                // Only numbers beyond f64's range get here; a string keeps what was written.
                .unwrap_or_else(|_| serde_json::Value::String(text.clone())),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_serde).collect())
            }
            Value::Object(_) => serde_json::Value::Object(
                self.members()
                    .into_iter()
                    .map(|m| (m.key.clone(), m.value.to_serde()))
                    .collect(),
            ),
        }
    }

    /// The JSON type name used in messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

/// Parse one JSON document (surrounding whitespace allowed, nothing else).
/// The error is a message and the byte offset it points at.
pub fn parse_json(text: &str) -> Result<Node, (String, usize)> {
    let (node, end) = parse_json_prefix(text)?;
    let mut parser = Parser::at(text, end);
    parser.skip_whitespace();
    if parser.pos < parser.bytes.len() {
        return Err(parser.unexpected("after top-level value"));
    }
    Ok(node)
}

/// Parse the first JSON value of `text` and ignore what follows it, as Go's `json.Decoder.Decode` does
/// (Packer reads `-var-file` files that way). Returns the value and the offset just after it.
pub fn parse_json_prefix(text: &str) -> Result<(Node, usize), (String, usize)> {
    let mut parser = Parser::at(text, 0);
    parser.skip_whitespace();
    let node = parser.value(0)?;
    Ok((node, parser.pos))
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

type Parsed<T> = Result<T, (String, usize)>;

impl<'a> Parser<'a> {
    fn at(text: &'a str, pos: usize) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos,
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// "invalid character 'x' <context>" at the current position, or the end-of-input message.
    fn unexpected(&self, context: &str) -> (String, usize) {
        match self
            .text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
        {
            Some(c) => (
                format!("invalid character {} {context}", quote_char(c)),
                self.pos,
            ),
            None => ("unexpected end of JSON input".to_string(), self.pos),
        }
    }

    fn value(&mut self, depth: usize) -> Parsed<Node> {
        let start = self.pos;
        let value = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
            _ => return Err(self.unexpected("looking for beginning of value")),
        };
        Ok(Node {
            value,
            span: Span::new(start, self.pos),
        })
    }

    fn enter(&self, depth: usize) -> Parsed<usize> {
        if depth >= MAX_DEPTH {
            return Err((
                format!("exceeded max depth of {MAX_DEPTH} nested arrays and objects"),
                self.pos,
            ));
        }
        Ok(depth + 1)
    }

    fn object(&mut self, depth: usize) -> Parsed<Value> {
        let (depth, empty) = self.open(depth, b'}')?;
        let mut members = Vec::new();
        if empty {
            return Ok(Value::Object(members));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("looking for beginning of object key string"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = Span::new(key_start, self.pos);
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("after object key"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value(depth)?;
            members.push(Member {
                key,
                key_span,
                value,
            });
            if self.item_separator(b'}', "after object key:value pair")? {
                return Ok(Value::Object(members));
            }
        }
    }

    /// Past the opening bracket of an object or array: the depth inside it, and whether `close`
    /// follows at once (an empty one, its closing bracket consumed).
    fn open(&mut self, depth: usize, close: u8) -> Parsed<(usize, bool)> {
        let depth = self.enter(depth)?;
        self.pos += 1;
        self.skip_whitespace();
        let empty = self.peek() == Some(close);
        if empty {
            self.pos += 1;
        }
        Ok((depth, empty))
    }

    /// After an object member or array element: `,` and whitespace (`false`: another item follows)
    /// or `close` (`true`: the end). Anything else is unexpected `after` the item.
    fn item_separator(&mut self, close: u8, after: &str) -> Parsed<bool> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_whitespace();
                Ok(false)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.unexpected(after)),
        }
    }

    fn array(&mut self, depth: usize) -> Parsed<Value> {
        let (depth, empty) = self.open(depth, b']')?;
        let mut items = Vec::new();
        if empty {
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            if self.item_separator(b']', "after array element")? {
                return Ok(Value::Array(items));
            }
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Parsed<Value> {
        for expected in word.bytes() {
            if self.peek() != Some(expected) {
                return Err(self.unexpected(&format!(
                    "in literal {word} (expecting '{}')",
                    expected as char
                )));
            }
            self.pos += 1;
        }
        Ok(value)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Parsed<String> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.unexpected("in numeric literal")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.unexpected("after decimal point in numeric literal"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.unexpected("in exponent of numeric literal"));
            }
        }
        Ok(self.text[start..self.pos].to_string())
    }

    fn string(&mut self) -> Parsed<String> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Stops only at ASCII bytes, so both ends are character boundaries.
            out.push_str(&self.text[run_start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.unexpected("in string literal")),
                None => return Err(self.unexpected("in string literal")),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Parsed<()> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let unit = self.hex4()?;
                out.push(self.utf16(unit));
                return Ok(());
            }
            _ => return Err(self.unexpected("in string escape code")),
        };
        self.pos += 1;
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Parsed<u32> {
        let mut unit = 0;
        for _ in 0..4 {
            let digit = self.peek().and_then(|b| (b as char).to_digit(16));
            match digit {
                Some(d) => unit = unit * 16 + d,
                None => return Err(self.unexpected("in \\u hexadecimal character escape")),
            }
            self.pos += 1;
        }
        Ok(unit)
    }

    /// Decode one UTF-16 unit, pairing a high surrogate with a following `\uDC00..\uDFFF` escape.
    /// Anything unpaired becomes U+FFFD, as Go does.
    fn utf16(&mut self, unit: u32) -> char {
        if (0xD800..0xDC00).contains(&unit) && self.bytes[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            if let Ok(low) = self.hex4()
                && (0xDC00..0xE000).contains(&low)
            {
                let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                return char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
            }
            self.pos = save;
        }
        char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER)
    }
}

fn quote_char(c: char) -> String {
    match c {
        '\'' => r"'\''".to_string(),
        '"' => r#"'"'"#.to_string(),
        c if c.is_control() => format!("{:?}", c),
        c => format!("'{c}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (String, usize) {
        parse_json(text).unwrap_err()
    }

    #[test]
    fn spans_cover_values_and_keys() {
        let text = r#" {"a": [1, "x"], "b": null} "#;
        let root = parse_json(text).unwrap();
        assert_eq!(
            &text[root.span.start..root.span.end],
            r#"{"a": [1, "x"], "b": null}"#
        );
        let a = root.member("a").unwrap();
        assert_eq!(&text[a.key_span.start..a.key_span.end], r#""a""#);
        assert_eq!(&text[a.value.span.start..a.value.span.end], r#"[1, "x"]"#);
        let items = a.value.as_array().unwrap();
        assert_eq!(items[1].as_str(), Some("x"));
        assert_eq!(items[0].value, Value::Number("1".into()));
        assert!(root.get("b").unwrap().is_null());
    }

    #[test]
    fn rejects_what_go_rejects() {
        assert_eq!(
            err(r#"{"a": 1,}"#),
            (
                "invalid character '}' looking for beginning of object key string".into(),
                8
            )
        );
        assert_eq!(
            err("[1,]"),
            (
                "invalid character ']' looking for beginning of value".into(),
                3
            )
        );
        assert_eq!(err("// c\n{}").1, 0);
        assert_eq!(
            err("{} x"),
            ("invalid character 'x' after top-level value".into(), 3)
        );
        assert_eq!(err("01").0, "invalid character '1' after top-level value");
        assert_eq!(err("1.").0, "unexpected end of JSON input");
        assert_eq!(
            err("\"a\tb\"").0,
            "invalid character '\\t' in string literal"
        );
        assert_eq!(err("{\"a\" 1}").0, "invalid character '1' after object key");
        assert_eq!(err("tru").0, "unexpected end of JSON input");
        assert_eq!(
            err("'a'").0,
            r"invalid character '\'' looking for beginning of value"
        );
        assert_eq!(
            err("\u{feff}{}").0,
            "invalid character '\u{feff}' looking for beginning of value"
        );
        assert_eq!(err("").0, "unexpected end of JSON input");
    }

    #[test]
    fn decodes_escapes_like_go() {
        let node = parse_json(r#""a\n\u00e9\ud83d\ude00\ud800x\/""#).unwrap();
        assert_eq!(node.as_str(), Some("a\né😀\u{fffd}x/"));
    }

    #[test]
    fn duplicate_keys_are_kept_and_last_wins() {
        let root = parse_json(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!(root.get("a").unwrap().value, Value::Number("3".into()));
        let Value::Object(members) = &root.value else {
            panic!()
        };
        assert_eq!(members.len(), 3);
        assert_eq!(root.to_serde(), serde_json::json!({"a": 3, "b": 2}));
    }

    #[test]
    fn fields_match_like_go_struct_fields() {
        let root = parse_json(r#"{"Scripts": 1, "script": 2, "SCRIPT": 3}"#).unwrap();
        assert_eq!(
            root.field("script").unwrap().value,
            Value::Number("2".into())
        );
        assert_eq!(
            root.field("scripts").unwrap().value,
            Value::Number("1".into())
        );
        assert!(root.get("scripts").is_none());
    }

    #[test]
    fn a_prefix_ignores_what_follows() {
        let (node, end) = parse_json_prefix(" {\"a\": \"1\"} trailing").unwrap();
        assert_eq!(node.get("a").and_then(Node::as_str), Some("1"));
        assert_eq!(end, 11);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        assert!(err(&text).0.contains("max depth"));
    }
}
