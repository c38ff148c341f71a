//! Packer 1.6.6, the reference the differential tests compare imgs with, and the one policy for a
//! machine without it.
//!
//! A test that compares with Packer asks [`packer_for`]. Where Packer is missing the comparison is
//! skipped, and one line on the test's stderr (not captured by the test harness, so it shows in
//! `cargo test`'s output) names what was skipped and how to install Packer; the rest of the test
//! (imgs's own half, checked against recorded outcomes) still runs. Where the `CI` variable is set,
//! as CI services set it, a missing Packer fails the test instead: a CI machine is meant to have
//! every peer (`cargo xtask setup`), and a comparison skipped there would go unnoticed.

use std::io::Write as _;
use std::path::PathBuf;

const INSTALL_HINT: &str =
    "Debian's `packer` 1.6.6 (`apt-get install packer`; `cargo xtask setup` installs it)";

/// Packer: Debian's `/usr/bin/packer`, else `packer` on `PATH`.
pub fn find() -> Option<PathBuf> {
    let installed = PathBuf::from("/usr/bin/packer");
    if installed.is_file() {
        return Some(installed);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("packer"))
        .find(|p| p.is_file())
}

/// Packer for the comparison `what` (e.g. "the comparison of post-processor outputs with Packer"),
/// or None when Packer is missing and the comparison is to be skipped; see the module's policy.
///
/// # Panics
/// When Packer is missing and `CI` is set.
pub fn packer_for(what: &str) -> Option<PathBuf> {
    if let Some(packer) = find() {
        return Some(packer);
    }
    assert!(
        !in_ci(),
        "Packer is missing, and CI is set: {what} needs {INSTALL_HINT}"
    );
    skipped(&format!(
        "{what}: Packer is missing; install {INSTALL_HINT} (with CI set, this fails)"
    ));
    None
}

/// Whether the `CI` variable says this is a CI machine (set, and not empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Prints `skipped: {what}` on the process's stderr, past the test harness's capture, so the line
/// shows even for a test that passes.
pub fn skipped(what: &str) {
    let _ = writeln!(std::io::stderr(), "skipped: {what}");
}
