//! Encodings, hashes and `format`.

use base64::Engine as _;
use hcl::eval::FuncArgs;
use hcl::{Map, Value};
use sha2::Digest as _;

use crate::{as_f64, as_i64, as_string, number};

fn s(args: &FuncArgs, i: usize) -> Result<String, String> {
    as_string(&args[i])
}

pub(crate) fn base64encode(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s(&args, 0)?),
    ))
}

pub(crate) fn base64decode(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|_| format!("failed to decode base64 data '{text}'"))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| "the result of decoding the provided string is not valid UTF-8".to_string())
}

/// A value as cty sees it for encoding: object keys in order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out: Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), sorted(v))).collect();
            out.sort_keys();
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Go's `json.Marshal`: sorted keys, no spaces, `<`, `>` and `&` escaped.
pub(crate) fn to_json(value: &Value) -> Result<String, String> {
    let text = serde_json::to_string(&sorted(value)).map_err(|e| e.to_string())?;
    Ok(text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

pub(crate) fn jsonencode(args: FuncArgs) -> Result<Value, String> {
    to_json(&args[0]).map(Value::String)
}

pub(crate) fn jsondecode(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    hcl::to_value(json).map_err(|e| e.to_string())
}

/// go-cty-yaml's output: mappings in key order, every string double-quoted, sequences under a
/// key at the key's indentation.
pub(crate) fn yamlencode(args: FuncArgs) -> Result<Value, String> {
    let mut out = String::new();
    yaml_node(&sorted(&args[0]), 0, &mut out);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(Value::String(out))
}

fn yaml_scalar(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Array(items) if items.is_empty() => "[]".to_string(),
        Value::Object(map) if map.is_empty() => "{}".to_string(),
        _ => return None,
    })
}

fn yaml_node(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = serde_json::to_string(k).unwrap_or_default();
                match yaml_scalar(v) {
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
                match yaml_scalar(item) {
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
            out.push_str(&yaml_scalar(other).unwrap_or_default());
            out.push('\n');
        }
    }
}

pub(crate) fn yamldecode(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    let yaml: serde_json::Value =
        serde_norway::from_str(&text).map_err(|e| format!("on line {e}"))?;
    hcl::to_value(yaml).map_err(|e| e.to_string())
}

/// RFC 4180 as Go's `encoding/csv` reads it: the first row names the columns, every row has as
/// many fields.
pub(crate) fn csvdecode(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
    let rows = csv_rows(&text)?;
    let Some((header, body)) = rows.split_first() else {
        return Err("missing header line".to_string());
    };
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

fn csv_rows(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
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
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            other => field.push(other),
        }
    }
    if quoted {
        return Err("extraneous or missing \" in quoted-field".to_string());
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Go's `url.QueryEscape`.
pub(crate) fn urlencode(args: FuncArgs) -> Result<Value, String> {
    let text = s(&args, 0)?;
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

pub(crate) fn md5(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(format!("{:x}", ::md5::compute(s(&args, 0)?))))
}

pub(crate) fn sha1(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(hex(&::sha1::Sha1::digest(s(&args, 0)?))))
}

pub(crate) fn sha256(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(hex(&sha2::Sha256::digest(s(&args, 0)?))))
}

pub(crate) fn sha512(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(hex(&sha2::Sha512::digest(s(&args, 0)?))))
}

/// `bcrypt(string, cost)`: a new salt each call, cost 10 by default (Go's `DefaultCost`).
pub(crate) fn bcrypt(args: FuncArgs) -> Result<Value, String> {
    let cost = match args.get(1) {
        Some(c) => u32::try_from(as_i64(c)?).map_err(|_| "invalid cost".to_string())?,
        None => 10,
    };
    if args.len() > 2 {
        return Err("bcrypt() takes no more than two arguments".to_string());
    }
    // Go's x/crypto/bcrypt writes the `$2a$` form.
    ::bcrypt::hash_with_result(s(&args, 0)?, cost)
        .map(|parts| Value::String(parts.format_for_version(::bcrypt::Version::TwoA)))
        .map_err(|e| format!("error occured generating password {e}"))
}

/// `rsadecrypt(ciphertext_base64, private_key_pem)`: PKCS #1 v1.5.
pub(crate) fn rsadecrypt(args: FuncArgs) -> Result<Value, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(s(&args, 0)?)
        .map_err(|_| "failed to decode input: illegal base64 data".to_string())?;
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(&s(&args, 1)?)
        .map_err(|e| format!("invalid private key: {e}"))?;
    let plain = key
        .decrypt(rsa::Pkcs1v15Encrypt, &ciphertext)
        .map_err(|_| "failed to decrypt: crypto/rsa: decryption error".to_string())?;
    String::from_utf8(plain)
        .map(Value::String)
        .map_err(|_| "the decrypted value is not valid UTF-8".to_string())
}

/// `uuidv5(namespace, name)`: RFC 4122 name-based UUID (SHA-1).
pub(crate) fn uuidv5(args: FuncArgs) -> Result<Value, String> {
    let namespace = match s(&args, 0)?.as_str() {
        "dns" => "6ba7b810-9dad-11d1-80b4-00c04fd430c8".to_string(),
        "url" => "6ba7b811-9dad-11d1-80b4-00c04fd430c8".to_string(),
        "oid" => "6ba7b812-9dad-11d1-80b4-00c04fd430c8".to_string(),
        "x500" => "6ba7b814-9dad-11d1-80b4-00c04fd430c8".to_string(),
        other => other.to_string(),
    };
    let digits: String = namespace.chars().filter(|c| *c != '-').collect();
    if digits.len() != 32 {
        return Err(format!("uuid string is wrong length: {namespace}"));
    }
    let mut ns = [0u8; 16];
    for (i, byte) in ns.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("invalid uuid namespace: {namespace}"))?;
    }
    let mut hasher = ::sha1::Sha1::new();
    hasher.update(ns);
    hasher.update(s(&args, 1)?.as_bytes());
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
pub(crate) fn go_format(spec: &str, args: &[Value]) -> Result<String, String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut next_arg = 0usize;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
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
                .ok_or("unterminated argument index")?
                + i;
            let n: usize = chars[i + 1..end]
                .iter()
                .collect::<String>()
                .parse()
                .map_err(|_| "invalid argument index")?;
            next_arg = n.checked_sub(1).ok_or("invalid argument index")?;
            i = end + 1;
        }
        let mut width: Option<usize> = None;
        let start = i;
        while chars.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
        if i > start {
            width = chars[start..i].iter().collect::<String>().parse().ok();
        }
        let mut precision: Option<usize> = None;
        if chars.get(i) == Some(&'.') {
            i += 1;
            let start = i;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            precision = Some(
                chars[start..i]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0),
            );
        }
        let Some(&verb) = chars.get(i) else {
            return Err("unrecognized format character '\\x00' at offset end".to_string());
        };
        i += 1;
        let Some(arg) = args.get(next_arg) else {
            return Err(format!(
                "not enough arguments for %{verb} at offset {}",
                i - 1
            ));
        };
        next_arg += 1;
        let body = match verb {
            'v' if sharp => to_json(arg)?,
            'v' => match arg {
                Value::String(s) => s.clone(),
                Value::Null => "null".to_string(),
                Value::Number(_) | Value::Bool(_) => as_string(arg)?,
                other => to_json(other)?,
            },
            's' => as_string(arg).map_err(|_| {
                format!("unsupported value for \"%s\" at {}: string required", i - 1)
            })?,
            'q' => serde_json::to_string(&as_string(arg)?).unwrap_or_default(),
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                Value::String(s) if s == "true" || s == "false" => s.clone(),
                _ => {
                    return Err(format!(
                        "unsupported value for \"%t\" at {}: bool is required",
                        i - 1
                    ));
                }
            },
            'd' | 'b' | 'o' | 'x' | 'X' => {
                if verb != 'd' && matches!(arg, Value::String(_)) && matches!(verb, 'x' | 'X') {
                    let text = as_string(arg)?;
                    let h = hex(text.as_bytes());
                    if verb == 'X' { h.to_uppercase() } else { h }
                } else {
                    let n = as_f64(arg).map_err(|_| {
                        format!(
                            "unsupported value for \"%{verb}\" at {}: number required",
                            i - 1
                        )
                    })?;
                    if n.fract() != 0.0 {
                        return Err(format!(
                            "unsupported value for \"%{verb}\" at {}: an integer is required",
                            i - 1
                        ));
                    }
                    let n = n as i64;
                    let digits = match verb {
                        'd' => n.unsigned_abs().to_string(),
                        'b' => format!("{:b}", n.unsigned_abs()),
                        'o' => format!("{:o}", n.unsigned_abs()),
                        'x' => format!("{:x}", n.unsigned_abs()),
                        _ => format!("{:X}", n.unsigned_abs()),
                    };
                    let sign = if n < 0 {
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
            }
            'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
                let n = as_f64(arg).map_err(|_| {
                    format!(
                        "unsupported value for \"%{verb}\" at {}: number required",
                        i - 1
                    )
                })?;
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
                    'f' | 'F' => format!("{a:.*}", precision.unwrap_or(6)),
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
            other => {
                return Err(format!(
                    "unrecognized format character '{other}' at offset {}",
                    i - 1
                ));
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
    Ok(out)
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
    let text = format!("{n:.precision$e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mantissa}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
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
        let text = format!("{n:.decimals$}");
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
