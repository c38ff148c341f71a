//! Go's `time.ParseDuration` syntax, which Packer uses for `pause_before`, `timeout` and every duration
//! option of its plugins: a sequence of decimal numbers with units (`1h30m`, `1.5s`, `-2m`, `300ms`);
//! a bare `0` is the only number allowed without a unit.

use std::fmt;

/// A duration as Go holds it: signed nanoseconds that fit in an `i64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration {
    pub nanos: i64,
}

impl GoDuration {
    /// The duration if it is not negative (Packer treats a negative pause as none).
    pub fn to_std(self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos)
            .ok()
            .map(std::time::Duration::from_nanos)
    }
}

/// Why a duration was rejected, worded like Go's `time` package so messages match Packer's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError(pub String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parse `text` as Go's `time.ParseDuration` would.
pub fn parse_go_duration(text: &str) -> Result<GoDuration, DurationError> {
    let invalid = || DurationError(format!("time: invalid duration {}", go_quote(text)));
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(GoDuration { nanos: 0 });
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    // Accumulate in u128 nanoseconds (times 1e9 for the fraction) so no step can overflow silently.
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError(format!(
                "time: missing unit in duration {}",
                go_quote(text)
            )));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(DurationError(format!(
                "time: unknown unit {} in duration {}",
                go_quote(unit),
                go_quote(text)
            )));
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(u128::from(scale)).ok_or_else(invalid)?;
        // Go keeps only the fraction digits that still matter and truncates the rest.
        let mut fraction_scale = u128::from(scale);
        for digit in frac_part.bytes().take(30) {
            fraction_scale /= 10;
            value += u128::from(digit - b'0') * fraction_scale;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i64::MAX as u128 + u128::from(negative) {
            return Err(invalid());
        }
        rest = after;
    }
    let nanos = if negative {
        (-(total as i128)) as i64
    } else {
        total as i64
    };
    Ok(GoDuration { nanos })
}

/// Go's `strconv.Quote` for the text we show back (ASCII escapes; enough for messages).
fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A duration the way a template would write it, shortest first: `250ms`, `1.5s`, `30s`, `5m`,
/// `1m30s`, `2h`. For messages ("did not finish within its timeout of 5m"); it reads back with
/// [`parse_go_duration`].
pub fn human_duration(d: std::time::Duration) -> String {
    let millis = d.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    if d.subsec_millis() != 0 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let secs = d.as_secs();
    match (secs / 3600, secs / 60 % 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(text: &str) -> i64 {
        parse_go_duration(text).unwrap().nanos
    }

    fn error(text: &str) -> String {
        parse_go_duration(text).unwrap_err().0
    }

    #[test]
    fn accepts_go_syntax() {
        assert_eq!(nanos("0"), 0);
        assert_eq!(nanos("-0"), 0);
        assert_eq!(nanos("5s"), 5_000_000_000);
        assert_eq!(nanos("1h30m"), 5_400_000_000_000);
        assert_eq!(nanos("1.5s"), 1_500_000_000);
        assert_eq!(nanos(".5s"), 500_000_000);
        assert_eq!(nanos("5.s"), 5_000_000_000);
        assert_eq!(nanos("-2m"), -120_000_000_000);
        assert_eq!(nanos("+3ms"), 3_000_000);
        assert_eq!(nanos("10\u{b5}s"), 10_000);
        assert_eq!(nanos("1h1m1s1ms1us1ns"), 3_661_001_001_001);
    }

    #[test]
    fn rejects_like_go() {
        assert_eq!(error(""), r#"time: invalid duration """#);
        assert_eq!(error("5"), r#"time: missing unit in duration "5""#);
        assert_eq!(error("5x"), r#"time: unknown unit "x" in duration "5x""#);
        assert_eq!(error("s"), r#"time: invalid duration "s""#);
        assert_eq!(error("."), r#"time: invalid duration ".""#);
        assert_eq!(
            error("{{user `x`}}"),
            "time: invalid duration \"{{user `x`}}\""
        );
        assert_eq!(error("3000000h"), r#"time: invalid duration "3000000h""#);
    }

    #[test]
    fn human_durations_read_like_template_values() {
        use std::time::Duration;
        let cases = [
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(3661), "1h1m1s"),
        ];
        for (duration, text) in cases {
            assert_eq!(human_duration(duration), text);
            assert_eq!(
                i128::from(nanos(text)),
                duration.as_nanos() as i128,
                "{text} reads back"
            );
        }
    }
}
