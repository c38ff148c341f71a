//! Values printed as `packer inspect` and `packer console` print them (Packer's REPL format):
//! strings bare at the top and quoted inside collections, whole numbers as integers, others as Go's
//! `%g`, lists and maps over several lines, map keys sorted.

use hcl::Value;

pub fn printable(value: &Value) -> String {
    format_value(value, false)
}

fn format_value(value: &Value, nested: bool) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) if nested => go_quote(s),
        Value::String(s) => s.clone(),
        Value::Number(n) => format_number(n),
        Value::Array(items) => {
            let mut out = String::from("[");
            if !items.is_empty() {
                out.push('\n');
            }
            for item in items {
                out.push_str(&indent(&format_value(item, true)));
                out.push_str(",\n");
            }
            out.push(']');
            out
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = String::from("{");
            if !keys.is_empty() {
                out.push('\n');
            }
            for key in keys {
                let line = format!("{} = {}", go_quote(key), format_value(&map[key], true));
                out.push_str(&indent(&line));
                out.push('\n');
            }
            out.push('}');
            out
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whole numbers that fit an int print as one; the rest as Go's `%g` with the shortest digits.
fn format_number(n: &hcl::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 9.2e18 {
        return format!("{}", f as i64);
    }
    go_g(f)
}

/// Go's `%g` with the shortest digits: exponent form when the decimal exponent is below -4 or at
/// least 6 (Go's rule for the shortest precision), plain decimals otherwise.
pub fn go_g(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: "1.5e-7".
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("a number");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        let mut m = mantissa.to_string();
        if !m.contains('.') && digits.len() > 1 {
            m = format!("{}.{}", &digits[..1], &digits[1..]);
        }
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if exp < 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-exp - 1) as usize));
        out.push_str(&digits);
    } else {
        let point = exp as usize + 1;
        if digits.len() <= point {
            out.push_str(&digits);
            out.push_str(&"0".repeat(point - digits.len()));
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

/// Go's `strconv.Quote`: printable characters as they are, the usual escapes, others as `\x`, `\u`
/// or `\U`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_control() => {
                let n = c as u32;
                if n < 0x80 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_packers_repl_prints_them() {
        let v: Value = hcl::value!({ b = ["x", 2, true], a = "q\"uote" });
        assert_eq!(
            printable(&v),
            "{\n  \"a\" = \"q\\\"uote\"\n  \"b\" = [\n    \"x\",\n    2,\n    true,\n  ]\n}"
        );
        assert_eq!(printable(&Value::from("plain")), "plain");
        assert_eq!(go_g(0.5), "0.5");
        assert_eq!(go_g(1.5e-7), "1.5e-07");
        assert_eq!(go_g(1234567.5), "1.2345675e+06");
        assert_eq!(go_g(100000.5), "100000.5");
        assert_eq!(go_quote("tab\there"), "\"tab\\there\"");
    }
}
