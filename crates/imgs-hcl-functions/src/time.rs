//! `formatdate` and `timeadd` over RFC 3339 timestamps; `timestamp` is a host call.

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};
use hcl::Value;

use crate::{arg_error, as_string};

/// RFC 3339 in UTC with `Z`, seconds only, as Packer's `timestamp()` prints.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 3339 as cty reads it (Go's layout, with cty's messages): `T` and the offset required,
/// upper case only.
fn parse(text: &str) -> Result<DateTime<FixedOffset>, String> {
    let fail = |why: String| format!("not a valid RFC3339 timestamp: {why}");
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = text.get(from..from + n)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let rest = |from: usize| text.get(from..).unwrap_or_default().to_string();
    let year = digits(0, 4).ok_or_else(|| fail(format!("cannot use {text:?} as year")))?;
    let expect = |at: usize, c: u8, what: &str| -> Result<(), String> {
        if b.get(at) == Some(&c) {
            Ok(())
        } else {
            Err(fail(format!("cannot use {:?} as {what}", rest(at))))
        }
    };
    expect(4, b'-', "date separator")?;
    let month = digits(5, 2).ok_or_else(|| fail(format!("cannot use {:?} as month", rest(5))))?;
    expect(7, b'-', "date separator")?;
    let day = digits(8, 2).ok_or_else(|| fail(format!("cannot use {:?} as day", rest(8))))?;
    if b.get(10) != Some(&b'T') {
        return Err(fail("missing required time introducer 'T'".to_string()));
    }
    let hour = digits(11, 2).ok_or_else(|| fail(format!("cannot use {:?} as hour", rest(11))))?;
    expect(13, b':', "time separator")?;
    let minute =
        digits(14, 2).ok_or_else(|| fail(format!("cannot use {:?} as minute", rest(14))))?;
    expect(16, b':', "time separator")?;
    let second =
        digits(17, 2).ok_or_else(|| fail(format!("cannot use {:?} as second", rest(17))))?;
    let mut at = 19;
    let mut nanos = 0u32;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        at = start;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let frac = &text[start..at];
        let padded = format!("{frac:0<9}");
        nanos = padded.get(..9).and_then(|d| d.parse().ok()).unwrap_or(0);
    }
    let offset = match b.get(at) {
        None => return Err(fail("end of string before UTC offset".to_string())),
        Some(b'Z') if at + 1 == b.len() => 0,
        Some(b'+' | b'-') if b.len() == at + 6 && b[at + 3] == b':' => {
            let h = digits(at + 1, 2).ok_or_else(|| fail("invalid UTC offset".to_string()))?;
            let m = digits(at + 4, 2).ok_or_else(|| fail("invalid UTC offset".to_string()))?;
            let secs = i32::try_from(h * 3600 + m * 60).unwrap_or(0);
            if b[at] == b'-' { -secs } else { secs }
        }
        _ => return Err(fail(format!("extra text: {:?}", rest(at)))),
    };
    let range = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(fail(format!("{what} out of range")))
        }
    };
    range((1..=12).contains(&month), "month")?;
    range(hour < 24, "hour")?;
    range(minute < 60, "minute")?;
    range(second < 60, "second")?;
    let zone =
        FixedOffset::east_opt(offset).ok_or_else(|| fail("invalid UTC offset".to_string()))?;
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).unwrap_or(0), month, day)
        .ok_or_else(|| fail("day out of range".to_string()))?;
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
        .ok_or_else(|| fail("second out of range".to_string()))?;
    date.and_time(time)
        .and_local_timezone(zone)
        .single()
        .ok_or_else(|| fail("invalid time".to_string()))
}

pub(crate) fn formatdate(args: &[Value]) -> Result<Value, String> {
    let spec = as_string(&args[0])?;
    let t = parse(&as_string(&args[1])?).map_err(|e| arg_error(1, e))?;
    let mut out = String::new();
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // A quoted literal; '' is a quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None => return Err(arg_error(0, "unterminated literal '")),
                    Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                        out.push('\'');
                        j += 2;
                    }
                    Some('\'') => break,
                    Some(other) => {
                        out.push(*other);
                        j += 1;
                    }
                }
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        let token: String = chars[i..i + n].iter().collect();
        out.push_str(&element(&token, &t).map_err(|e| arg_error(0, e))?);
        i += n;
    }
    Ok(Value::String(out))
}

fn element(token: &str, t: &DateTime<FixedOffset>) -> Result<String, String> {
    let offset = t.offset().local_minus_utc();
    let zone = |colon: bool| {
        let sign = if offset < 0 { '-' } else { '+' };
        let m = offset.abs() / 60;
        if colon {
            format!("{sign}{:02}:{:02}", m / 60, m % 60)
        } else {
            format!("{sign}{:02}{:02}", m / 60, m % 60)
        }
    };
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    Ok(match token {
        "YYYY" => format!("{:04}", t.year()),
        "YY" => format!("{:02}", t.year() % 100),
        // chrono's English names are Go's.
        "MMMM" => t.format("%B").to_string(),
        "MMM" => t.format("%b").to_string(),
        "MM" => format!("{:02}", t.month()),
        "M" => t.month().to_string(),
        "DD" => format!("{:02}", t.day()),
        "D" => t.day().to_string(),
        "EEEE" => t.format("%A").to_string(),
        "EEE" => t.format("%a").to_string(),
        // cty's formatdate of Packer 1.6.6: `hh`/`h` are the 24-hour clock, `HH`/`H` the 12-hour
        // one (checked against `packer console`).
        "hh" => format!("{:02}", t.hour()),
        "h" => t.hour().to_string(),
        "HH" => format!("{hour12:02}"),
        "H" => hour12.to_string(),
        "AA" => if t.hour() < 12 { "AM" } else { "PM" }.to_string(),
        "aa" => if t.hour() < 12 { "am" } else { "pm" }.to_string(),
        "mm" => format!("{:02}", t.minute()),
        "m" => t.minute().to_string(),
        "ss" => format!("{:02}", t.second()),
        "s" => t.second().to_string(),
        "ZZZZZ" => zone(true),
        "ZZZZ" => zone(false),
        "ZZZ" => {
            if offset == 0 {
                "UTC".to_string()
            } else {
                zone(false)
            }
        }
        "Z" => {
            if offset == 0 {
                "Z".to_string()
            } else {
                zone(true)
            }
        }
        other => {
            let why = match other.chars().next() {
                Some('Y') => ": year must either be \"YY\" or \"YYYY\"",
                Some('M') => ": month must be \"M\", \"MM\", \"MMM\", or \"MMMM\"",
                Some('D') => ": day of month must either be \"D\" or \"DD\"",
                Some('E') => ": day of week must either be \"EEE\" or \"EEEE\"",
                Some('h') => ": 24-hour must either be \"h\" or \"hh\"",
                Some('H') => ": 12-hour must either be \"H\" or \"HH\"",
                Some('A') => ": must be \"AA\"",
                Some('a') => ": must be \"aa\"",
                Some('m') => ": minute must either be \"m\" or \"mm\"",
                Some('s') => ": second must either be \"s\" or \"ss\"",
                Some('Z') => ": timezone must be Z, ZZZZ, or ZZZZZ",
                _ => "",
            };
            return Err(format!("invalid date format verb {other:?}{why}"));
        }
    })
}

/// `timeadd(timestamp, duration)`: a Go duration such as `1h30m` or `-10s`.
pub(crate) fn timeadd(args: &[Value]) -> Result<Value, String> {
    let t = parse(&as_string(&args[0])?)?;
    let text = as_string(&args[1])?;
    let nanos = go_duration_nanos(&text)?;
    let moved = t
        .checked_add_signed(chrono::Duration::nanoseconds(nanos))
        .ok_or_else(|| "the time is out of range".to_string())?;
    // Go's time.RFC3339 layout: whole seconds.
    Ok(Value::String(
        moved.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    ))
}

/// Go's `time.ParseDuration`, with its messages.
fn go_duration_nanos(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_end == 0 {
            return Err(invalid());
        }
        let value: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    if total > 9.2e18 {
        return Err(invalid());
    }
    Ok(if negative { -total } else { total } as i64)
}
