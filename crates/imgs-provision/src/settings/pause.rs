//! The settings of `sleep` and `breakpoint`, the provisioners that only wait.

use std::time::Duration;

use imgs_diagnostic::Diagnostic;

use super::decode::Reader;

/// `breakpoint`: waits for a person to press enter, unless disabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakpointSettings {
    /// Shown when pausing, to say which breakpoint this is.
    pub note: String,
    /// Only say that the breakpoint was passed.
    pub disable: bool,
}

/// `sleep`'s `duration`; unset or zero waits no time at all, as in Packer.
pub(super) fn read_sleep(r: &Reader<'_>) -> Result<Duration, Vec<Diagnostic>> {
    let written = r.string("duration").unwrap_or_default();
    if written.contains("{{") {
        return Err(vec![
            r.error(
                "duration",
                format!("invalid duration `{written}`: `sleep` does not render templates"),
            )
            .hint("write the duration itself, such as \"30s\"; Packer 1.6.6 reads this key as written"),
        ]);
    }
    r.duration("duration")
        .map(Option::unwrap_or_default)
        .map_err(|d| vec![d])
}

pub(super) fn read_breakpoint(r: &Reader<'_>) -> Result<BreakpointSettings, Vec<Diagnostic>> {
    Ok(BreakpointSettings {
        note: r.string("note").unwrap_or_default(),
        disable: r.bool("disable"),
    })
}
