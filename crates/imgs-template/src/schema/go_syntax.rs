//! The Go standard library's readings of text that Packer relies on when it decodes a configuration:
//! `time.ParseDuration`, `strconv.ParseInt` with base 0, `strconv.ParseBool`, `strconv.ParseFloat`.

/// A Go duration (`time.ParseDuration`) in nanoseconds: a sequence of decimal numbers with units
/// (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), optionally signed, e.g. `1h30m`, `2.5s`, `-3m`. A bare `0`
/// is accepted; an empty string, a number without a unit, or an unknown unit are not.
pub fn parse_go_duration(text: &str) -> Result<i128, String> {
    let invalid = || format!("invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("missing unit in duration {text:?}")),
            _ => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        let value: f64 = number.parse().map_err(|_| invalid())?;
        total += value * scale;
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let nanos = total as i128;
    Ok(if negative { -nanos } else { nanos })
}

/// `strconv.ParseInt(text, 0, 64)`: optional sign, then decimal, `0x` hex, `0o`/`0` octal or `0b` binary;
/// underscores may separate digits.
pub fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    let digits = if digits.contains('_') {
        // Go allows `_` only between digits (or after a base prefix) when the base comes from the text.
        let trimmed = digits.trim_start_matches('_');
        let bad =
            digits.ends_with('_') || digits.contains("__") || (!prefixed && trimmed != digits);
        if bad {
            return None;
        }
        digits.replace('_', "")
    } else {
        digits.to_string()
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from_str_radix(&digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// `strconv.ParseBool`.
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `strconv.ParseFloat(text, 64)` for the decimal forms templates use (also `inf`/`nan`, as Go).
pub fn parse_go_float(text: &str) -> Option<f64> {
    let cleaned = text.replace('_', "");
    cleaned.parse::<f64>().ok().filter(|_| !text.is_empty())
}

/// How Go's `strconv.FormatFloat(f, 'f', -1, 64)` prints a JSON number, which is what a number becomes
/// when Packer decodes it into a string field (`22` stays `22`, `1e3` becomes `1000`).
pub fn format_json_number(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => {
            let printed = format!("{value}");
            if printed == "-0" {
                "-0".to_string()
            } else {
                printed
            }
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_go() {
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("10s"), Ok(10_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration("-2ms"), Ok(-2_000_000));
        assert_eq!(parse_go_duration("300µs"), Ok(300_000));
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("10 s").is_err());
        assert!(parse_go_duration("5 minutes").is_err());
        assert!(parse_go_duration("1d").is_err());
        assert!(parse_go_duration(".s").is_err());
    }

    #[test]
    fn ints_follow_go_base_zero() {
        assert_eq!(parse_go_int("22"), Some(22));
        assert_eq!(parse_go_int("-7"), Some(-7));
        assert_eq!(parse_go_int("0x1F"), Some(31));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("1_000"), Some(1000));
        assert_eq!(parse_go_int("_1"), None);
        assert_eq!(parse_go_int("1__0"), None);
        assert_eq!(parse_go_int("0x_ff"), Some(255));
        assert_eq!(parse_go_int(""), None);
        assert_eq!(parse_go_int("1.5"), None);
        assert_eq!(parse_go_int("22 "), None);
        assert_eq!(parse_go_int("99999999999999999999"), None);
    }

    #[test]
    fn bools_follow_go() {
        assert_eq!(parse_go_bool("True"), Some(true));
        assert_eq!(parse_go_bool("0"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
    }

    #[test]
    fn numbers_print_as_go_prints_floats() {
        assert_eq!(format_json_number("22"), "22");
        assert_eq!(format_json_number("1e3"), "1000");
        assert_eq!(format_json_number("1.50"), "1.5");
    }
}
