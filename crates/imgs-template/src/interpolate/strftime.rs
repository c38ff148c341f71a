//! Packer's `strftime` (jehiah/go-strftime): each `%x` maps to one Go layout element; unknown
//! directives are kept as written.

use super::go_time::format_go_time;

pub(super) fn format_strftime(format: &str, t: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = String::with_capacity(format.len());
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(directive) = chars.next() else {
            out.push('%');
            break;
        };
        let layout = match directive {
            '%' => {
                out.push('%');
                continue;
            }
            'B' => "January",
            'b' => "Jan",
            'm' => "01",
            'A' => "Monday",
            'a' => "Mon",
            'd' => "02",
            'H' => "15",
            'I' => "03",
            'M' => "04",
            'S' => "05",
            'Y' => "2006",
            'y' => "06",
            'p' => "PM",
            'Z' => "MST",
            'z' => "-0700",
            'L' => ".000",
            other => {
                out.push('%');
                out.push(other);
                continue;
            }
        };
        out.push_str(&format_go_time(layout, t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn maps_directives_to_go_layouts() {
        let t = chrono::Utc.with_ymd_and_hms(2020, 3, 4, 15, 6, 7).unwrap();
        assert_eq!(
            format_strftime("%Y-%m-%d %H:%M:%S %p %Z %z %%", t),
            "2020-03-04 15:06:07 PM UTC +0000 %"
        );
        assert_eq!(
            format_strftime("%A %a %B %b %I %y%L", t),
            "Wednesday Wed March Mar 03 20.000"
        );
        assert_eq!(format_strftime("%Q %", t), "%Q %");
    }
}
