//! `sleep` and `breakpoint`: provisioners that only wait, for a time or for a person.

use super::decoded::{Decoded, with_hint};
use super::{SchemaProblem, TypeSchema, ValueType};

/// Packer's `sleep` decodes its one field without rendering templates and without the settings Packer
/// injects into other plugins, so `packer_*` keys of any shape pass as unused keys.
pub(super) static SLEEP: TypeSchema = TypeSchema {
    kind: "sleep",
    keys: &[SLEEP_KEYS],
    nested: &[],
    // Not rendered at all: Packer decodes `duration` as written, so a template in it is refused when
    // the step is read ("time: invalid duration").
    deferred: &["duration"],
};

pub(super) static SLEEP_KEYS: &[(&str, ValueType)] = &[("duration", ValueType::Duration)];

pub(super) static BREAKPOINT: TypeSchema = TypeSchema {
    kind: "breakpoint",
    keys: &[BREAKPOINT_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &[],
};

pub(super) static BREAKPOINT_KEYS: &[(&str, ValueType)] =
    &[("note", ValueType::String), ("disable", ValueType::Bool)];

/// `sleep` reads `duration` as written: a template in it is not a duration to Packer.
pub(super) fn check_sleep(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let duration = c.string("duration");
    if duration.contains("{{") {
        out.push(with_hint(
            c.problem(
                "duration",
                format!("invalid duration `{duration}`: `sleep` does not render templates"),
            ),
            "write the duration itself, such as \"30s\"; Packer 1.6.6 reads this key as written",
        ));
    }
}

/// `breakpoint` checks nothing once its keys decode.
pub(super) fn check_breakpoint(_: &Decoded, _: &mut Vec<SchemaProblem>) {}
