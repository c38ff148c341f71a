//! Encodings, hashes and `format`.

use base64::Engine as _;
use hcl::{Map, Value};
use sha2::Digest as _;

use crate::{as_f64, as_i64, as_string, number};

fn s(args: &[Value], i: usize) -> Result<String, String> {
    as_string(&args[i])
}

pub(crate) fn base64encode(args: &[Value]) -> Result<Value, String> {
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s(args, 0)?),
    ))
}

pub(crate) fn base64decode(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    // Go's decoder skips line breaks.
    let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| format!("failed to decode base64 data '{text}'"))?;
    // The doubled "the" is Packer's message, word for word.
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        "the result of decoding the the provided string is not valid UTF-8".to_string()
    })
}

/// Go's `json.Marshal` of a cty value: object keys sorted, no spaces, `<`, `>`, `&`, U+2028 and
/// U+2029 escaped, numbers in plain decimal (cty writes `1e21` as `1000000000000000000000`).
pub(crate) fn to_json(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_json(value, &mut out);
    Ok(out)
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&json_number(n)),
        Value::String(s) => json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(key, out);
                out.push(':');
                write_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn json_number(n: &hcl::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    // Rust's Display of an f64 is plain decimal with the shortest digits, as big.Float's 'f'.
    format!("{}", n.as_f64().unwrap_or(0.0))
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(crate) fn jsonencode(args: &[Value]) -> Result<Value, String> {
    to_json(&args[0]).map(Value::String)
}

pub(crate) fn jsondecode(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        // Go's decoder's words for the errors it shares with serde_json.
        match e.classify() {
            serde_json::error::Category::Eof => "EOF".to_string(),
            _ if e.to_string().starts_with("trailing characters") => {
                "extraneous data after JSON object".to_string()
            }
            _ => e.to_string(),
        }
    })?;
    hcl::to_value(json).map_err(|e| e.to_string())
}

/// go-cty-yaml's output: mappings in key order, strings double-quoted (multi-line ones as literal
/// blocks), sequences under a key at the key's indentation, a lone plain scalar ended by `...`.
pub(crate) fn yamlencode(args: &[Value]) -> Result<Value, String> {
    let value = &args[0];
    let mut out = String::new();
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            out.push_str(&yaml_scalar(value, 0).unwrap_or_default());
            out.push_str("\n...\n");
        }
        _ => yaml_node(value, 0, &mut out),
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(Value::String(out))
}

/// A scalar (or empty collection) as it follows `key: ` or `- ` at `indent`.
fn yaml_scalar(value: &Value, indent: usize) -> Option<String> {
    Some(match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => json_number(n),
        Value::String(s) if s.contains('\n') => {
            let chomp = if !s.ends_with('\n') {
                "-"
            } else if s.ends_with("\n\n") {
                "+"
            } else {
                ""
            };
            let pad = " ".repeat(indent + 2);
            let body = s.strip_suffix('\n').unwrap_or(s);
            let lines: Vec<String> = body
                .split('\n')
                .map(|l| {
                    if l.is_empty() {
                        String::new()
                    } else {
                        format!("{pad}{l}")
                    }
                })
                .collect();
            format!("|{chomp}\n{}", lines.join("\n"))
        }
        Value::String(s) => {
            let mut quoted = String::new();
            json_string(s, &mut quoted);
            // YAML's double-quoted style needs no escape for <, > and & (JSON's HTML escapes).
            quoted
                .replace("\\u003c", "<")
                .replace("\\u003e", ">")
                .replace("\\u0026", "&")
        }
        Value::Array(items) if items.is_empty() => "[]".to_string(),
        Value::Object(map) if map.is_empty() => "{}".to_string(),
        _ => return None,
    })
}

fn yaml_node(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                let v = &map[k];
                let key = yaml_scalar(&Value::String(k.clone()), indent).unwrap_or_default();
                match yaml_scalar(v, indent) {
                    Some(scalar) => out.push_str(&format!("{pad}{key}: {scalar}\n")),
                    None => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        let inner = if matches!(v, Value::Array(_)) {
                            indent
                        } else {
                            indent + 2
                        };
                        yaml_node(v, inner, out);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                match yaml_scalar(item, indent) {
                    Some(scalar) => out.push_str(&format!("{pad}- {scalar}\n")),
                    None => {
                        // The first line of a nested node goes after the dash.
                        let mut nested = String::new();
                        yaml_node(item, indent + 2, &mut nested);
                        let body = nested
                            .strip_prefix(&" ".repeat(indent + 2))
                            .unwrap_or(&nested);
                        out.push_str(&format!("{pad}- {body}"));
                    }
                }
            }
        }
        other => {
            out.push_str(&yaml_scalar(other, indent).unwrap_or_default());
            out.push('\n');
        }
    }
}

pub(crate) fn yamldecode(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    if text.trim().is_empty() {
        return Err("on line 1, column 1: missing start of document".to_string());
    }
    let yaml: serde_json::Value = serde_norway::from_str(&text).map_err(|e| {
        let at = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        format!("on line {}, column {}: {e}", at.0, at.1)
    })?;
    hcl::to_value(yaml).map_err(|e| e.to_string())
}

/// RFC 4180 as Go's `encoding/csv` reads it: the first row names the columns, every row has as
/// many fields.
pub(crate) fn csvdecode(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    let rows = csv_rows(&text)?;
    let Some((header, body)) = rows.split_first() else {
        return Err("missing header line".to_string());
    };
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(format!("duplicate column name {name:?}"));
        }
    }
    let mut out = Vec::new();
    for (line, row) in body.iter().enumerate() {
        if row.len() != header.len() {
            return Err(format!(
                "record on line {}: wrong number of fields",
                line + 2
            ));
        }
        let mut object: Map<String, Value> = header
            .iter()
            .cloned()
            .zip(row.iter().cloned().map(Value::String))
            .collect();
        object.sort_keys();
        out.push(Value::Object(object));
    }
    Ok(Value::Array(out))
}

/// Whether a row being read has any content yet (an empty line has none).
fn any_field(row: &[String], field: &str) -> bool {
    !row.is_empty() || !field.is_empty()
}

fn csv_rows(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    let mut line = 1;
    let mut offset = 0;
    let mut line_start = 0;
    let mut quote_line = 1;
    let mut quote_line_start = 0;
    while let Some(c) = chars.next() {
        any = true;
        offset += c.len_utf8();
        if c == '\n' {
            line += 1;
            line_start = offset;
        }
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                other => field.push(other),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                quote_line = line;
                quote_line_start = line_start;
            }
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                // Go's reader skips empty lines.
                if any_field(&row, &field) {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                any = false;
            }
            other => field.push(other),
        }
    }
    if quoted {
        // Go reports the line the field began on and the column (counted from that line's
        // start) where the input ended.
        return Err(format!(
            "parse error on line {quote_line}, column {}: extraneous or missing \" in quoted-field",
            offset - quote_line_start + 1
        ));
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Go's `url.QueryEscape`.
pub(crate) fn urlencode(args: &[Value]) -> Result<Value, String> {
    let text = s(args, 0)?;
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    Ok(Value::String(out))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn md5(args: &[Value]) -> Result<Value, String> {
    Ok(Value::String(format!("{:x}", ::md5::compute(s(args, 0)?))))
}

pub(crate) fn sha1(args: &[Value]) -> Result<Value, String> {
    Ok(Value::String(hex(&::sha1::Sha1::digest(s(args, 0)?))))
}

pub(crate) fn sha256(args: &[Value]) -> Result<Value, String> {
    Ok(Value::String(hex(&sha2::Sha256::digest(s(args, 0)?))))
}

pub(crate) fn sha512(args: &[Value]) -> Result<Value, String> {
    Ok(Value::String(hex(&sha2::Sha512::digest(s(args, 0)?))))
}

/// `bcrypt(string, cost)`: a new salt each call, cost 10 by default (Go's `DefaultCost`).
pub(crate) fn bcrypt(args: &[Value]) -> Result<Value, String> {
    if args.len() > 2 {
        return Err("bcrypt() takes no more than two arguments".to_string());
    }
    let cost = match args.get(1) {
        Some(c) => as_i64(c)?,
        None => 10,
    };
    // Go's bcrypt takes a cost below the minimum (4) as its default, 10.
    let cost = if cost < 4 { 10 } else { cost };
    if cost > 31 {
        return Err(format!(
            "error occured generating password crypto/bcrypt: cost {cost} is outside allowed range (4,31)"
        ));
    }
    let cost = u32::try_from(cost).unwrap_or(10);
    // Go's x/crypto/bcrypt writes the `$2a$` form.
    ::bcrypt::hash_with_result(s(args, 0)?, cost)
        .map(|parts| Value::String(parts.format_for_version(::bcrypt::Version::TwoA)))
        .map_err(|e| format!("error occured generating password {e}"))
}

/// `rsadecrypt(ciphertext_base64, private_key_pem)`: PKCS #1 v1.5.
pub(crate) fn rsadecrypt(args: &[Value]) -> Result<Value, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    let encoded = s(args, 0)?;
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(&encoded)
        .map_err(|_| {
            format!("failed to decode input {encoded:?}: cipher text must be base64-encoded")
        })?;
    let pem = s(args, 1)?;
    if !pem.contains("-----BEGIN") {
        return Err("failed to parse key: no key found".to_string());
    }
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(&pem)
        .map_err(|e| format!("failed to parse key: {e}"))?;
    let plain = key
        .decrypt(rsa::Pkcs1v15Encrypt, &ciphertext)
        .map_err(|_| "failed to decrypt: crypto/rsa: decryption error".to_string())?;
    String::from_utf8(plain)
        .map(Value::String)
        .map_err(|_| "the decrypted value is not valid UTF-8".to_string())
}

/// A UUID in any of the forms Go's `uuid.Parse` takes: 36 characters with dashes, in braces,
/// after `urn:uuid:`, or 32 hex digits.
fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    let invalid = || "invalid UUID format".to_string();
    let hyphenated = match text.len() {
        36 => text,
        38 if text.starts_with('{') && text.ends_with('}') => &text[1..37],
        45 if text.to_ascii_lowercase().starts_with("urn:uuid:") => &text[9..],
        32 => {
            let mut out = [0u8; 16];
            for (i, byte) in out.iter_mut().enumerate() {
                *byte = text
                    .get(2 * i..2 * i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(invalid)?;
            }
            return Ok(out);
        }
        n => return Err(format!("invalid UUID length: {n}")),
    };
    let bytes = hyphenated.as_bytes();
    if [8, 13, 18, 23].iter().any(|&i| bytes.get(i) != Some(&b'-')) {
        return Err(invalid());
    }
    let digits: String = hyphenated.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = digits
            .get(2 * i..2 * i + 2)
            .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(invalid)?;
    }
    Ok(out)
}

/// `uuidv5(namespace, name)`: RFC 4122 name-based UUID (SHA-1).
pub(crate) fn uuidv5(args: &[Value]) -> Result<Value, String> {
    let namespace = match s(args, 0)?.as_str() {
        "dns" => "6ba7b810-9dad-11d1-80b4-00c04fd430c8".to_string(),
        "url" => "6ba7b811-9dad-11d1-80b4-00c04fd430c8".to_string(),
        "oid" => "6ba7b812-9dad-11d1-80b4-00c04fd430c8".to_string(),
        "x500" => "6ba7b814-9dad-11d1-80b4-00c04fd430c8".to_string(),
        other => other.to_string(),
    };
    let ns = parse_uuid(&namespace)
        .map_err(|why| format!("uuidv5() doesn't support namespace {namespace} ({why})"))?;
    let mut hasher = ::sha1::Sha1::new();
    hasher.update(ns);
    hasher.update(s(args, 1)?.as_bytes());
    let hash = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    Ok(Value::String(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )))
}

/// cty's `format`: Go's verbs over cty values (`%v`, `%#v`, `%s`, `%q`, `%d`, `%f`, `%e`, `%g`,
/// `%x`, `%X`, `%o`, `%b`, `%t`, `%%`), flags, width, precision and `%[n]` argument indexes.
/// Returns the text and how many arguments the format used.
pub(crate) fn go_format(spec: &str, args: &[Value]) -> Result<(String, usize), String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut next_arg = 0usize;
    let mut used = 0usize;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        if chars.get(i) == Some(&'%') {
            out.push('%');
            i += 1;
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space, mut sharp) =
            (false, false, false, false, false);
        while let Some(c) = chars.get(i) {
            match c {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => sharp = true,
                _ => break,
            }
            i += 1;
        }
        if chars.get(i) == Some(&'[') {
            let end = chars[i..]
                .iter()
                .position(|c| *c == ']')
                .map(|p| p + i)
                .ok_or_else(|| format!("unrecognized format character '[' at offset {i}"))?;
            let n: usize = chars[i + 1..end]
                .iter()
                .collect::<String>()
                .parse()
                .map_err(|_| format!("unrecognized format character '[' at offset {i}"))?;
            next_arg = n.saturating_sub(1);
            i = end + 1;
        }
        let mut width: Option<usize> = None;
        let digits_start = i;
        while chars.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
        if i > digits_start {
            width = chars[digits_start..i]
                .iter()
                .collect::<String>()
                .parse()
                .ok();
        }
        let mut precision: Option<usize> = None;
        if chars.get(i) == Some(&'.') {
            i += 1;
            let digits_start = i;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            precision = Some(
                chars[digits_start..i]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0),
            );
        }
        // Go's fmt refuses widths and precisions above a million (%!(BADWIDTH)); so does this,
        // before allocating them.
        if width.is_some_and(|w| w > 1_000_000) || precision.is_some_and(|p| p > 1_000_000) {
            return Err(format!("width or precision too large at offset {start}"));
        }
        let Some(&verb) = chars.get(i) else {
            return Err(format!("invalid format string starting at offset {i}"));
        };
        if !verb.is_ascii_alphabetic() {
            return Err(format!(
                "unrecognized format character '{verb}' at offset {i}"
            ));
        }
        i += 1;
        let text: String = chars[start..i].iter().collect();
        if !"vsqtdboxXeEfFgG".contains(verb) {
            return Err(format!(
                "unsupported format verb '{verb}' in \"{text}\" at offset {start}"
            ));
        }
        let Some(arg) = args.get(next_arg) else {
            return Err(format!(
                "not enough arguments for \"{text}\" at {start}: need index {} but have {} total",
                next_arg + 1,
                args.len()
            ));
        };
        next_arg += 1;
        used = used.max(next_arg);
        let unsupported = |why: &str| format!("unsupported value for \"{text}\" at {start}: {why}");
        if arg.is_null() && verb != 'v' {
            return Err(unsupported("null value cannot be formatted"));
        }
        let body = match verb {
            'v' if sharp => to_json(arg)?,
            'v' => match arg {
                Value::String(s) => s.clone(),
                Value::Null => "null".to_string(),
                Value::Number(_) | Value::Bool(_) => as_string(arg)?,
                other => to_json(other)?,
            },
            's' => as_string(arg).map_err(|_| unsupported("string required"))?,
            'q' => {
                let text = as_string(arg).map_err(|_| unsupported("string required"))?;
                crate::printable::go_quote(&text)
            }
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                Value::String(s) if s == "true" || s == "false" => s.clone(),
                _ => return Err(unsupported("bool required")),
            },
            'd' | 'b' | 'o' | 'x' | 'X' => {
                let n = format_number_arg(arg).map_err(|e| unsupported(&e))?;
                if n.fract() != 0.0 {
                    return Err(unsupported("an integer is required"));
                }
                let magnitude = n.abs();
                let digits = match verb {
                    'd' => format!("{magnitude:.0}"),
                    _ => {
                        let m = magnitude as u128;
                        match verb {
                            'b' => format!("{m:b}"),
                            'o' => format!("{m:o}"),
                            'x' => format!("{m:x}"),
                            _ => format!("{m:X}"),
                        }
                    }
                };
                let sign = if n < 0.0 {
                    "-"
                } else if plus {
                    "+"
                } else if space {
                    " "
                } else {
                    ""
                };
                let digits = match precision {
                    Some(p) if digits.len() < p => {
                        format!("{}{digits}", "0".repeat(p - digits.len()))
                    }
                    _ => digits,
                };
                signed_pad(sign, &digits, width, minus, zero)
            }
            _ => {
                let n = format_number_arg(arg).map_err(|e| unsupported(&e))?;
                let sign = if n < 0.0 {
                    "-"
                } else if plus {
                    "+"
                } else if space {
                    " "
                } else {
                    ""
                };
                let a = n.abs();
                let digits = match verb {
                    'f' | 'F' => go_fixed(a, precision.unwrap_or(6)),
                    'e' | 'E' => {
                        let t = go_exp(a, precision.unwrap_or(6));
                        if verb == 'E' { t.to_uppercase() } else { t }
                    }
                    _ => {
                        let t = match precision {
                            Some(p) => go_g(a, p.max(1)),
                            None => crate::printable::go_g(a),
                        };
                        if verb == 'G' { t.to_uppercase() } else { t }
                    }
                };
                signed_pad(sign, &digits, width, minus, zero)
            }
        };
        let body = match (verb, precision) {
            ('s' | 'v', Some(p)) => body.chars().take(p).collect(),
            _ => body,
        };
        out.push_str(&pad(
            &body,
            width,
            minus,
            matches!(verb, 's' | 'v' | 'q' | 't') && zero,
        ));
    }
    Ok((out, used))
}

/// A number argument of a numeric verb, converted as cty converts.
fn format_number_arg(arg: &Value) -> Result<f64, String> {
    match arg {
        Value::Number(_) | Value::String(_) => {
            crate::types::convert(arg, &crate::TypeConstraint::Number).and_then(|n| as_f64(&n))
        }
        _ => Err("number required".to_string()),
    }
}

fn pad(body: &str, width: Option<usize>, left: bool, zero: bool) -> String {
    let len = body.chars().count();
    match width {
        Some(w) if len < w => {
            let fill = if zero && !left { "0" } else { " " }.repeat(w - len);
            if left {
                format!("{body}{fill}")
            } else {
                format!("{fill}{body}")
            }
        }
        _ => body.to_string(),
    }
}

fn signed_pad(sign: &str, digits: &str, width: Option<usize>, left: bool, zero: bool) -> String {
    let len = sign.len() + digits.len();
    match width {
        Some(w) if len < w && zero && !left => format!("{sign}{}{digits}", "0".repeat(w - len)),
        _ => format!("{sign}{digits}"),
    }
}

/// Go's `%e`: at least two exponent digits.
fn go_exp(n: f64, precision: usize) -> String {
    let shown = precision.min(EXACT_DIGITS);
    let text = format!("{n:.shown$e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mantissa}{}e{}{:02}",
        "0".repeat(precision - shown),
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

/// Digits after the point past which every f64's exact decimal expansion is zeros (the smallest,
/// 2^-1074, has 1074 of them; no f64 has more than 767 significant digits). Go prints precisions
/// up to a million, and Rust's formatter panics above 65535, so digits past this are zeros added.
const EXACT_DIGITS: usize = 1100;

/// Go's `%.Nf` of a non-negative number: exact digits, as Go prints them.
fn go_fixed(n: f64, precision: usize) -> String {
    let shown = precision.min(EXACT_DIGITS);
    let mut text = format!("{n:.shown$}");
    text.push_str(&"0".repeat(precision - shown));
    text
}

/// Go's `%.Ng`.
fn go_g(n: f64, precision: usize) -> String {
    if n == 0.0 {
        return "0".to_string();
    }
    let exp = n.abs().log10().floor() as i32;
    if exp < -4 || exp >= precision as i32 {
        let text = go_exp(n, precision.saturating_sub(1));
        let (mantissa, e) = text.split_once('e').unwrap_or((&text, ""));
        let mantissa = if mantissa.contains('.') {
            mantissa.trim_end_matches('0').trim_end_matches('.')
        } else {
            mantissa
        };
        format!("{mantissa}e{e}")
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        let text = go_fixed(n, decimals);
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    }
}

#[allow(dead_code)]
pub(crate) fn integer(n: i64) -> Value {
    number(n as f64)
}
