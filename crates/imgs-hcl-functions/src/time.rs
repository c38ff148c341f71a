//! `formatdate` and `timeadd` over RFC 3339 timestamps; `timestamp` is a host call.

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};
use hcl::Value;
use hcl::eval::FuncArgs;

use crate::as_string;

/// RFC 3339 in UTC with `Z`, seconds only, as Packer's `timestamp()` prints.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn parse(text: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(text)
        .map_err(|_| format!("not a valid RFC3339 timestamp: cannot use {text:?} as year"))
}

pub(crate) fn formatdate(args: FuncArgs) -> Result<Value, String> {
    let spec = as_string(&args[0])?;
    let t = parse(&as_string(&args[1])?)?;
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
                    None => return Err("unterminated literal '".to_string()),
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
        out.push_str(&element(&token, &t)?);
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
            return Err(format!(
                "invalid date format verb {other:?}: unsupported format verb"
            ));
        }
    })
}

/// `timeadd(timestamp, duration)`: a Go duration such as `1h30m` or `-10s`.
pub(crate) fn timeadd(args: FuncArgs) -> Result<Value, String> {
    let t = parse(&as_string(&args[0])?)?;
    let text = as_string(&args[1])?;
    let nanos =
        go_duration_nanos(&text).ok_or_else(|| format!("time: invalid duration {text:?}"))?;
    let moved = t + chrono::Duration::nanoseconds(nanos);
    Ok(Value::String(
        moved.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    ))
}

fn go_duration_nanos(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    Some(if negative { -total } else { total } as i64)
}
