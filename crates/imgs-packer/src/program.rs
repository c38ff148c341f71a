//! Which `packer` runs: `IMGS_PACKER` when set (a path or a name on `PATH`), else `packer` on
//! `PATH`; it must be Packer 1.6.6 or later, the version whose templates imgs reads.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::PackerError;

/// The environment variable naming the `packer` program to run.
pub const PROGRAM_VAR: &str = "IMGS_PACKER";

/// The oldest Packer imgs runs: the one whose template language imgs implements.
pub const MINIMUM: (u64, u64, u64) = (1, 6, 6);

/// The `packer` imgs runs, checked once per process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packer {
    pub path: PathBuf,
    /// As `packer version` prints it, without the `v`: `1.6.6`.
    pub version: String,
}

/// Finds `packer` and checks its version; the answer (or the error) is kept for the process.
pub fn find() -> Result<Packer, PackerError> {
    static FOUND: OnceLock<Result<Packer, PackerError>> = OnceLock::new();
    FOUND.get_or_init(find_uncached).clone()
}

fn find_uncached() -> Result<Packer, PackerError> {
    let wanted = std::env::var_os(PROGRAM_VAR)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("packer"), PathBuf::from);
    let path = on_path(&wanted).ok_or_else(|| PackerError::NotInstalled {
        program: wanted.display().to_string(),
    })?;
    let output = std::process::Command::new(&path)
        .arg("version")
        .env("CHECKPOINT_DISABLE", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| PackerError::Spawn {
            program: path.display().to_string(),
            reason: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = parse_version(&text).ok_or_else(|| PackerError::Version {
        program: path.display().to_string(),
        found: text.lines().next().unwrap_or_default().trim().to_string(),
    })?;
    if numbers(&version).is_none_or(|v| v < MINIMUM) {
        return Err(PackerError::Version {
            program: path.display().to_string(),
            found: version,
        });
    }
    Ok(Packer { path, version })
}

/// `1.6.6` from `Packer v1.6.6` (the first line of `packer version`).
fn parse_version(text: &str) -> Option<String> {
    let first = text.lines().next()?.trim();
    let rest = first.strip_prefix("Packer v")?;
    let version = rest.split_whitespace().next()?;
    numbers(version).map(|_| version.to_string())
}

fn numbers(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().unwrap_or(Some(0))?,
    ))
}

/// `program` itself when it names a path, else the first executable of that name on `PATH`.
fn on_path(program: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        return executable(program).then(|| program.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_and_compared() {
        assert_eq!(parse_version("Packer v1.6.6\n").as_deref(), Some("1.6.6"));
        assert_eq!(
            parse_version("Packer v1.10.0\n\nYour version of Packer is out of date!").as_deref(),
            Some("1.10.0")
        );
        assert_eq!(parse_version("Terraform v1.0.0"), None);
        assert!(numbers("1.6.5").unwrap() < MINIMUM);
        assert!(numbers("1.10.0").unwrap() > MINIMUM);
        assert!(numbers("1.6.6-dev").unwrap() >= MINIMUM);
    }
}
