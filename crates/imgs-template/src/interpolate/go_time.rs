//! Go's `time.Format` (Go 1.19 layout elements) for UTC times.
//!
//! A layout is an example rendering of the reference time `Mon Jan 2 15:04:05 MST 2006`; every
//! recognised element is replaced by the same element of `t`, everything else is copied.

use chrono::{Datelike, Timelike};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Element {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PmUpper,
    PmLower,
    ZoneName,
    /// `Z07:00` family: `Z` for UTC.
    IsoZone,
    /// `-0700` family: always numeric; the string is what UTC renders as.
    NumZone(&'static str),
    /// `002`: day of the year, three digits.
    ZeroYearDay,
    /// `__2`: day of the year, padded with blanks to three characters.
    UnderYearDay,
    /// `.000` (fixed digits) or `.999` (trailing zeros dropped); `,` may replace `.`.
    Fraction {
        separator: char,
        digits: usize,
        trim: bool,
    },
}

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Format `t` as Go's `t.Format(layout)` does for a UTC time.
pub fn format_go_time(layout: &str, t: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = String::with_capacity(layout.len() + 10);
    let mut rest = layout;
    while !rest.is_empty() {
        match next_element(rest) {
            Some((prefix, element, suffix)) => {
                out.push_str(prefix);
                write_element(&mut out, element, t);
                rest = suffix;
            }
            None => {
                out.push_str(rest);
                break;
            }
        }
    }
    out
}

fn starts_with_lower(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

fn is_digit_at(s: &str, i: usize) -> bool {
    s.as_bytes().get(i).is_some_and(u8::is_ascii_digit)
}

/// Go's `nextStdChunk`: the text before the first element, the element, and the text after it.
fn next_element(layout: &str) -> Option<(&str, Element, &str)> {
    let b = layout.as_bytes();
    for i in 0..b.len() {
        // Every element is ASCII; other characters are copied as they are.
        if !layout.is_char_boundary(i) {
            continue;
        }
        let s = &layout[i..];
        let found = |len: usize, e: Element| Some((&layout[..i], e, &layout[i + len..]));
        match b[i] {
            b'J' if s.starts_with("Jan") => {
                if s.starts_with("January") {
                    return found(7, Element::LongMonth);
                }
                if !starts_with_lower(&s["Jan".len()..]) {
                    return found(3, Element::Month);
                }
            }
            b'M' if s.len() >= 3 => {
                if let Some(after) = s.strip_prefix("Mon") {
                    if s.starts_with("Monday") {
                        return found(6, Element::LongWeekDay);
                    }
                    if !starts_with_lower(after) {
                        return found(3, Element::WeekDay);
                    }
                }
                if s.starts_with("MST") {
                    return found(3, Element::ZoneName);
                }
            }
            b'0' if s.len() >= 2 && (b'1'..=b'6').contains(&b[i + 1]) => {
                let e = [
                    Element::ZeroMonth,
                    Element::ZeroDay,
                    Element::ZeroHour12,
                    Element::ZeroMinute,
                    Element::ZeroSecond,
                    Element::Year,
                ][usize::from(b[i + 1] - b'1')];
                return found(2, e);
            }
            b'0' if s.starts_with("002") => return found(3, Element::ZeroYearDay),
            b'1' => {
                if s.starts_with("15") {
                    return found(2, Element::Hour);
                }
                return found(1, Element::NumMonth);
            }
            b'2' => {
                if s.starts_with("2006") {
                    return found(4, Element::LongYear);
                }
                return found(1, Element::Day);
            }
            b'_' if s.starts_with("_2") => {
                // `_2006` is a literal `_` followed by the long year.
                if s[1..].starts_with("2006") {
                    return Some((&layout[..i + 1], Element::LongYear, &layout[i + 5..]));
                }
                return found(2, Element::UnderDay);
            }
            b'_' if s.starts_with("__2") => return found(3, Element::UnderYearDay),
            b'3' => return found(1, Element::Hour12),
            b'4' => return found(1, Element::Minute),
            b'5' => return found(1, Element::Second),
            b'P' if s.starts_with("PM") => return found(2, Element::PmUpper),
            b'p' if s.starts_with("pm") => return found(2, Element::PmLower),
            b'-' => {
                for (pattern, utc) in [
                    ("-070000", "+000000"),
                    ("-07:00:00", "+00:00:00"),
                    ("-0700", "+0000"),
                    ("-07:00", "+00:00"),
                    ("-07", "+00"),
                ] {
                    if s.starts_with(pattern) {
                        return found(pattern.len(), Element::NumZone(utc));
                    }
                }
            }
            b'Z' => {
                for pattern in ["Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07"] {
                    if s.starts_with(pattern) {
                        return found(pattern.len(), Element::IsoZone);
                    }
                }
            }
            b'.' | b',' if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
                let digit = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == digit {
                    j += 1;
                }
                // Only a run of one repeated digit not followed by another digit is a fraction.
                if !is_digit_at(layout, j) {
                    let e = Element::Fraction {
                        separator: char::from(b[i]),
                        digits: j - (i + 1),
                        trim: digit == b'9',
                    };
                    return Some((&layout[..i], e, &layout[j..]));
                }
            }
            _ => {}
        }
    }
    None
}

fn write_element(out: &mut String, element: Element, t: chrono::DateTime<chrono::Utc>) {
    let hour = t.hour();
    let hour12 = match hour % 12 {
        0 => 12,
        h => h,
    };
    let month = t.month0() as usize;
    let weekday = t.weekday().num_days_from_sunday() as usize;
    let text = match element {
        Element::LongMonth => LONG_MONTHS[month].to_owned(),
        Element::Month => LONG_MONTHS[month][..3].to_owned(),
        Element::NumMonth => (month + 1).to_string(),
        Element::ZeroMonth => format!("{:02}", month + 1),
        Element::LongWeekDay => LONG_DAYS[weekday].to_owned(),
        Element::WeekDay => LONG_DAYS[weekday][..3].to_owned(),
        Element::Day => t.day().to_string(),
        Element::UnderDay => format!("{:>2}", t.day()),
        Element::ZeroDay => format!("{:02}", t.day()),
        Element::Hour => format!("{hour:02}"),
        Element::Hour12 => hour12.to_string(),
        Element::ZeroHour12 => format!("{hour12:02}"),
        Element::Minute => t.minute().to_string(),
        Element::ZeroMinute => format!("{:02}", t.minute()),
        Element::Second => t.second().to_string(),
        Element::ZeroSecond => format!("{:02}", t.second()),
        Element::LongYear => {
            let year = t.year();
            if year < 0 {
                format!("-{:04}", -year)
            } else {
                format!("{year:04}")
            }
        }
        Element::Year => format!("{:02}", t.year().rem_euclid(100)),
        Element::PmUpper => (if hour >= 12 { "PM" } else { "AM" }).to_owned(),
        Element::PmLower => (if hour >= 12 { "pm" } else { "am" }).to_owned(),
        Element::ZoneName => "UTC".to_owned(),
        Element::IsoZone => "Z".to_owned(),
        Element::NumZone(utc) => utc.to_owned(),
        Element::ZeroYearDay => format!("{:03}", t.ordinal()),
        Element::UnderYearDay => format!("{:>3}", t.ordinal()),
        Element::Fraction {
            separator,
            digits,
            trim,
        } => {
            // chrono stores a leap second as nanosecond >= 1e9; Go has no leap seconds.
            let nanos = format!("{:09}", t.nanosecond().min(999_999_999));
            let mut frac = &nanos[..digits.min(9)];
            if trim {
                frac = frac.trim_end_matches('0');
                if frac.is_empty() {
                    return;
                }
            }
            format!("{separator}{frac}")
        }
    };
    out.push_str(&text);
}

/// A Go layout as the spec of HCL2's `formatdate` that renders the same text, or the element that
/// has no `formatdate` form (fractions of seconds, days of the year, blank-padded days).
pub(crate) fn layout_as_formatdate(layout: &str) -> Result<String, String> {
    let mut spec = String::new();
    let mut rest = layout;
    while let Some((literal, element, after)) = next_element(rest) {
        quote_formatdate_literal(literal, &mut spec);
        spec.push_str(match element {
            Element::LongMonth => "MMMM",
            Element::Month => "MMM",
            Element::NumMonth => "M",
            Element::ZeroMonth => "MM",
            Element::LongWeekDay => "EEEE",
            Element::WeekDay => "EEE",
            Element::Day => "D",
            Element::ZeroDay => "DD",
            // Packer 1.6.6's formatdate: `hh` is the 24-hour clock, `HH`/`H` the 12-hour one.
            Element::Hour => "hh",
            Element::Hour12 => "H",
            Element::ZeroHour12 => "HH",
            Element::Minute => "m",
            Element::ZeroMinute => "mm",
            Element::Second => "s",
            Element::ZeroSecond => "ss",
            Element::LongYear => "YYYY",
            Element::Year => "YY",
            Element::PmUpper => "AA",
            Element::PmLower => "aa",
            Element::ZoneName => "ZZZ",
            Element::IsoZone => "Z",
            Element::NumZone(utc) if utc.contains(':') => "ZZZZZ",
            Element::NumZone(_) => "ZZZZ",
            Element::ZeroYearDay | Element::UnderYearDay => {
                return Err("a day of the year".to_string());
            }
            Element::UnderDay => return Err("a blank-padded day (`_2`)".to_string()),
            Element::Fraction { .. } => return Err("fractions of a second".to_string()),
        });
        rest = after;
    }
    quote_formatdate_literal(rest, &mut spec);
    Ok(spec)
}

/// `formatdate` reads letters as elements: literal letters go in single quotes, a quote is doubled.
fn quote_formatdate_literal(literal: &str, spec: &mut String) {
    let mut in_quotes = false;
    for c in literal.chars() {
        let needs_quotes = c.is_alphabetic() || c == '\'';
        if needs_quotes && !in_quotes {
            spec.push('\'');
            in_quotes = true;
        } else if !needs_quotes && in_quotes {
            spec.push('\'');
            in_quotes = false;
        }
        if c == '\'' {
            spec.push_str("''");
        } else {
            spec.push(c);
        }
    }
    if in_quotes {
        spec.push('\'');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(
        y: i32,
        mo: u32,
        d: u32,
        h: u32,
        mi: u32,
        s: u32,
        nanos: u32,
    ) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
            + chrono::Duration::nanoseconds(nanos.into())
    }

    #[test]
    fn the_reference_time_formats_as_itself() {
        let reference = t(2006, 1, 2, 15, 4, 5, 0);
        assert_eq!(
            format_go_time("Mon Jan _2 15:04:05 MST 2006", reference),
            "Mon Jan  2 15:04:05 UTC 2006"
        );
        assert_eq!(
            format_go_time("2006-01-02T15:04:05Z07:00", reference),
            "2006-01-02T15:04:05Z"
        );
    }

    #[test]
    fn common_layouts() {
        let at = t(2020, 11, 9, 8, 7, 6, 120_000_000);
        assert_eq!(format_go_time("2006-01-02", at), "2020-11-09");
        assert_eq!(
            format_go_time("Jan _2 15:04:05.000 MST", at),
            "Nov  9 08:07:06.120 UTC"
        );
        assert_eq!(format_go_time("Monday", at), "Monday");
        assert_eq!(format_go_time("Mon", at), "Mon");
        assert_eq!(format_go_time("3:04 PM pm", at), "8:07 AM am");
        assert_eq!(
            format_go_time("-0700 -07:00 -07 -070000 -07:00:00", at),
            "+0000 +00:00 +00 +000000 +00:00:00"
        );
        assert_eq!(format_go_time("Z0700 Z07:00 Z07", at), "Z Z Z");
        assert_eq!(format_go_time("1/2/06 3:4:5", at), "11/9/20 8:7:6");
        assert_eq!(
            format_go_time("January 02 03 04 05", at),
            "November 09 08 07 06"
        );
        assert_eq!(format_go_time("20060102150405", at), "20201109080706");
    }

    #[test]
    fn fractions() {
        let at = t(2020, 1, 1, 0, 0, 0, 120_000_000);
        assert_eq!(format_go_time("05.000000", at), "00.120000");
        assert_eq!(format_go_time("05.999999", at), "00.12");
        assert_eq!(format_go_time("05.999", t(2020, 1, 1, 0, 0, 0, 0)), "00");
        // A run of repeated digits followed by another digit is not a fraction.
        assert_eq!(format_go_time(".0001", at), ".0001");
    }

    #[test]
    fn year_days_and_comma_fractions() {
        let at = t(2020, 11, 24, 0, 0, 0, 450_000_000);
        assert_eq!(format_go_time("2006 002 __2", at), "2020 329 329");
        assert_eq!(
            format_go_time("002|__2", t(2020, 1, 5, 0, 0, 0, 0)),
            "005|  5"
        );
        assert_eq!(format_go_time("05,000 05,999", at), "00,450 00,45");
    }

    #[test]
    fn non_ascii_text_is_copied() {
        let at = t(2021, 6, 15, 23, 0, 0, 0);
        assert_eq!(format_go_time("é日本 2006", at), "é日本 2021");
    }

    #[test]
    fn words_that_only_look_like_elements() {
        let at = t(2021, 6, 15, 23, 0, 0, 0);
        // "Janet" is not a month and "Mond" not a day; "MST" is the zone; "_2006" keeps its underscore.
        assert_eq!(format_go_time("Janet Mond", at), "Janet Mond");
        assert_eq!(format_go_time("ami_2006", at), "ami_2021");
        assert_eq!(format_go_time("PM", at), "PM");
        assert_eq!(format_go_time("hello", at), "hello");
    }
}
