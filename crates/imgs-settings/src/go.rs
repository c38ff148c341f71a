//! The Go standard library's readings of text that Packer relies on when it decodes a configuration:
//! `strconv.ParseInt` with base 0, `strconv.ParseBool`, `strconv.ParseFloat`.

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
        let parse_go_duration = |text| crate::parse_go_duration(text).map(|d| i128::from(d.nanos));
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
