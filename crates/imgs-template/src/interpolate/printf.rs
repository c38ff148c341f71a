//! Go's `fmt.Sprintf` for the values a template can hold: verbs `v s q d t x X o b c e f g`, flags
//! `- + # 0 space`, width and precision (`*` not supported), and Go's `%!` markers for mistakes.

use super::value::{Value, format_float};

pub(super) fn sprintf(format: &str, args: &[Value<'_>]) -> String {
    let mut out = String::with_capacity(format.len());
    let mut next_arg = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(&mut chars);
        if spec.width.is_some_and(too_large) {
            // Go refuses absurd widths and precisions rather than allocate them.
            out.push_str("%!(BADWIDTH)");
            spec.width = None;
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(digits(&mut chars).unwrap_or(0));
            if spec.precision.is_some_and(too_large) {
                out.push_str("%!(BADPREC)");
                spec.precision = None;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next_arg += 1;
        match format_one(verb, &spec, arg) {
            Some(text) => out.push_str(&spec.pad(text)),
            None => out.push_str(&format!("%!{verb}({}={})", arg.type_name(), arg.to_text())),
        }
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.to_text()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

impl Spec {
    fn pad(&self, text: String) -> String {
        let Some(width) = self.width else { return text };
        let len = text.chars().count();
        if len >= width {
            return text;
        }
        let fill = width - len;
        if self.minus {
            return text + &" ".repeat(fill);
        }
        if self.zero {
            // Zero padding goes after the sign.
            let (sign, digits) = match text.strip_prefix(['-', '+']) {
                Some(rest) => (&text[..1], rest),
                None => ("", text.as_str()),
            };
            return format!("{sign}{}{digits}", "0".repeat(fill));
        }
        " ".repeat(fill) + &text
    }

    fn sign(&self, negative: bool) -> &'static str {
        match (negative, self.plus, self.space) {
            (true, _, _) => "-",
            (false, true, _) => "+",
            (false, false, true) => " ",
            _ => "",
        }
    }
}

/// Go stops reading a width or precision once it passes a million, so seven digits is the most it takes.
fn too_large(n: usize) -> bool {
    n > 9_999_999
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut value: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        value = Some(
            value
                .unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(d as usize),
        );
        chars.next();
    }
    value
}

fn format_one(verb: char, spec: &Spec, arg: &Value<'_>) -> Option<String> {
    match (verb, arg) {
        ('v', Value::Float(f)) | ('g', Value::Float(f)) if spec.precision.is_none() => {
            Some(format!("{}{}", spec.sign(*f < 0.0), format_float(f.abs())))
        }
        ('v', Value::Int(i)) | ('d', Value::Int(i)) => {
            Some(format!("{}{}", spec.sign(*i < 0), i.unsigned_abs()))
        }
        ('v', Value::Str(s)) | ('s', Value::Str(s)) => Some(match spec.precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        }),
        ('v', other) | ('s', other) if !matches!(other, Value::Int(_) | Value::Float(_)) => {
            Some(other.to_text())
        }
        ('q', Value::Str(s)) => Some(if spec.sharp && !s.contains('`') {
            format!("`{s}`")
        } else {
            go_quote(s)
        }),
        ('t', Value::Bool(b)) => Some(b.to_string()),
        ('x', Value::Int(i)) => Some(format!(
            "{}{}{:x}",
            spec.sign(*i < 0),
            prefix(spec, "0x"),
            i.unsigned_abs()
        )),
        ('X', Value::Int(i)) => Some(format!(
            "{}{}{:X}",
            spec.sign(*i < 0),
            prefix(spec, "0X"),
            i.unsigned_abs()
        )),
        ('o', Value::Int(i)) => Some(format!(
            "{}{}{:o}",
            spec.sign(*i < 0),
            prefix(spec, "0"),
            i.unsigned_abs()
        )),
        ('b', Value::Int(i)) => Some(format!("{}{:b}", spec.sign(*i < 0), i.unsigned_abs())),
        ('c', Value::Int(i)) => u32::try_from(*i)
            .ok()
            .and_then(char::from_u32)
            .map(String::from),
        ('x', Value::Str(s)) => Some(s.bytes().map(|b| format!("{b:02x}")).collect()),
        ('X', Value::Str(s)) => Some(s.bytes().map(|b| format!("{b:02X}")).collect()),
        ('f' | 'F', Value::Float(f)) => Some(format!(
            "{}{}",
            spec.sign(*f < 0.0),
            go_fixed(f.abs(), spec.precision.unwrap_or(6))
        )),
        ('e', Value::Float(f)) => Some(format!(
            "{}{}",
            spec.sign(*f < 0.0),
            go_exp(f.abs(), spec.precision.unwrap_or(6))
        )),
        _ => None,
    }
}

fn prefix(spec: &Spec, p: &'static str) -> &'static str {
    if spec.sharp { p } else { "" }
}

/// `%e`: mantissa with `precision` decimals and an exponent of at least two digits.
fn go_exp(f: f64, precision: usize) -> String {
    let shown = precision.min(EXACT_DIGITS);
    let text = format!("{f:.shown$e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    format!(
        "{mantissa}{}e{}{:02}",
        "0".repeat(precision - shown),
        if exponent < 0 { '-' } else { '+' },
        exponent.abs()
    )
}

/// Digits after the point past which every f64's exact decimal expansion is zeros (the smallest,
/// 2^-1074, has 1074 of them; no f64 has more than 767 significant digits). Go's `printf` takes
/// precisions up to 9999999 and Rust's formatter panics above 65535, so digits past this are
/// zeros added.
const EXACT_DIGITS: usize = 1100;

/// `%f`: exact digits, `precision` of them after the point.
fn go_fixed(f: f64, precision: usize) -> String {
    let shown = precision.min(EXACT_DIGITS);
    let mut text = format!("{f:.shown$}");
    text.push_str(&"0".repeat(precision - shown));
    text
}

/// Go's `strconv.Quote`: double quotes, Go escapes, printable Unicode kept.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_control() => {
                let code = c as u32;
                if code < 0x80 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code <= 0xFFFF {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
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

    fn s(v: &str) -> Value<'static> {
        Value::Str(v.to_owned())
    }

    #[test]
    fn common_verbs() {
        assert_eq!(sprintf("%05d|%q", &[Value::Int(3), s("x")]), "00003|\"x\"");
        assert_eq!(
            sprintf("%s-%v-%d", &[s("a"), Value::Bool(true), Value::Int(-4)]),
            "a-true--4"
        );
        assert_eq!(
            sprintf("%-4s|%4s|%.2s", &[s("ab"), s("ab"), s("abc")]),
            "ab  |  ab|ab"
        );
        assert_eq!(
            sprintf(
                "%x %X %#x",
                &[Value::Int(255), Value::Int(255), Value::Int(255)]
            ),
            "ff FF 0xff"
        );
        assert_eq!(
            sprintf("%.2f %v", &[Value::Float(1.005), Value::Float(2.5)]),
            "1.00 2.5"
        );
        assert_eq!(sprintf("100%%", &[]), "100%");
    }

    #[test]
    fn mistakes_are_marked_like_go() {
        assert_eq!(sprintf("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s %s", &[s("x")]), "x %!s(MISSING)");
        assert_eq!(sprintf("%s", &[s("x"), Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(sprintf("%99999999d", &[Value::Int(1)]), "%!(BADWIDTH)1");
        // Precisions Go takes and Rust's formatter does not (above 65535): `printf "%.70000f"`
        // panicked with "Formatting argument out of range" (the same fault fuzzing found in
        // imgs-hcl-functions' `format`).
        let fixed = sprintf("%.70000f", &[Value::Float(2.5)]);
        assert_eq!(fixed.len(), "2.".len() + 70000);
        assert!(fixed.starts_with("2.5000") && fixed.ends_with('0'));
        let exp = sprintf("%.70000e", &[Value::Float(-2.5)]);
        assert_eq!(exp.len(), "-2.".len() + 70000 + "e+00".len());
        assert!(exp.starts_with("-2.5000") && exp.ends_with("0e+00"));
        assert_eq!(
            sprintf("%.60f", &[Value::Float(0.1)]),
            "0.100000000000000005551115123125782702118158340454101562500000"
        );
    }
}
