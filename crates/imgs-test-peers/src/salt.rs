//! Salt's `salt-call`, which the salt-masterless test runs for real. No Debian package carries Salt,
//! so `cargo xtask setup` installs PyPI's `salt` into a virtual environment of its own in the user's
//! cache directory ([`venv`]), where every clone of the repository finds it. The policy for a machine
//! without it is Packer's ([`crate::packer`]): skipped with a line saying so, a failure with `CI` set.

use std::path::PathBuf;

use crate::packer::{in_ci, skipped};

const INSTALL_HINT: &str = "PyPI's `salt` in a virtual environment (`cargo xtask setup` makes it)";

/// The virtual environment `cargo xtask setup` installs Salt into: `imgs-test-peers/salt` in
/// `$XDG_CACHE_HOME`, else in `~/.cache`. (xtask computes the same path; keep the two in step.)
pub fn venv() -> Option<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(cache.join("imgs-test-peers").join("salt"))
}

/// The directory holding `salt-call` (what the provisioner's `salt_bin_dir` names) for the test
/// `what`, or None when Salt is missing and the test is to be skipped.
///
/// # Panics
/// When Salt is missing and `CI` is set.
pub fn salt_bin_dir_for(what: &str) -> Option<PathBuf> {
    let bin = venv()?.join("bin");
    if bin.join("salt-call").is_file() {
        return Some(bin);
    }
    assert!(
        !in_ci(),
        "Salt is missing, and CI is set: {what} needs {INSTALL_HINT}"
    );
    skipped(&format!(
        "{what}: Salt is missing; install {INSTALL_HINT} (with CI set, this fails)"
    ));
    None
}
