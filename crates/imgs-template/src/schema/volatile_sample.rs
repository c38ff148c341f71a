//! Stand-ins for the template actions whose value changes on every run.
//!
//! Validation may render `{{timestamp}}`, `{{uuid}}` or `{{isotime "..."}}` as placeholders (their own
//! text in braces) so results stay stable. Rules about a value's characters or length, such as an AMI
//! name's, still need something of the right shape: the same action run at a fixed instant.

use chrono::{TimeZone, Utc};

use crate::interpolate::format_go_time;

/// `text` with each `{{ ... }}` placeholder of a run-dependent action replaced by a value of the same
/// shape, and other actions dropped; `true` when every action was replaced.
pub(super) fn sample(text: &str) -> (String, bool) {
    let mut rest = text;
    let mut out = String::new();
    let mut complete = true;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find("}}") else {
            return (out, false);
        };
        match sample_action(rest[open + 2..open + close].trim()) {
            Some(value) => out.push_str(&value),
            None => complete = false,
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    (out, complete)
}

fn sample_action(action: &str) -> Option<String> {
    // Any instant works; this one has two-digit fields everywhere, as most do.
    let instant = Utc.with_ymd_and_hms(2026, 11, 25, 18, 45, 56).single()?;
    match action {
        "timestamp" => Some(instant.timestamp().to_string()),
        "uuid" => Some("6a3e1f52-0c4b-4d7e-9f21-53b8c6d0e7a4".to_string()),
        "isotime" => Some(format_go_time("2006-01-02T15:04:05Z07:00", instant)),
        _ => {
            let layout = action.strip_prefix("isotime")?.trim();
            let quoted = |open: char, close: char| layout.strip_prefix(open)?.strip_suffix(close);
            let layout = quoted('"', '"').or_else(|| quoted('`', '`'))?;
            Some(format_go_time(layout, instant))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dependent_actions_get_values_of_their_shape() {
        assert_eq!(
            sample("base-{{timestamp}}"),
            ("base-1795632356".to_string(), true)
        );
        assert_eq!(
            sample("app {{isotime \"15:04\"}}"),
            ("app 18:45".to_string(), true)
        );
        assert_eq!(
            sample("app {{ isotime `2006-01-02` }}"),
            ("app 2026-11-25".to_string(), true)
        );
        assert_eq!(sample("{{uuid}}").0.len(), 36);
        assert_eq!(sample("a-{{ .Unknown }}-b"), ("a--b".to_string(), false));
        assert_eq!(sample("a-{{oops"), ("a-".to_string(), false));
    }
}
