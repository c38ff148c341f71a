//! `cargo xtask dist`: the imgs binary to ship, small, with its debug information beside it.
//!
//! A release build with line tables is 291 MB, almost all of it DWARF; stripped of everything it is
//! 25 MB but a backtrace then names no function. So the shipped binary is stripped, and what was
//! stripped (symbols and line tables) goes into `imgs.debug` next to it, linked by a
//! `.gnu_debuglink` section: the Rust runtime's backtraces (like gdb, perf and Debian's `-dbgsym`
//! packages) look the debug file up there, so a panic's backtrace has names and file:line whenever
//! `imgs.debug` sits beside the binary (or under /usr/lib/debug), and costs nothing when it does not.
//! `cargo install` builds the plain `release` profile, which strips the same way without keeping the
//! debug file.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, repo_root, run, run_on_terminal, setup};

/// The profile with line tables and symbols kept, for splitting (Cargo.toml).
const PROFILE: &str = "dist";

const USAGE: &str = "usage: cargo xtask dist

Builds imgs with the `dist` profile and writes target/dist/bin/imgs (stripped) and imgs.debug
(its symbols and line tables, found through a .gnu_debuglink section). Install both side by side.";

pub fn run_task(args: &[String]) -> Result<()> {
    match args {
        [] => {}
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return Ok(());
        }
        _ => bail!("unknown arguments {args:?}; {USAGE}"),
    }
    setup::install_dist_tools()?;
    run_on_terminal(cargo().args(["build", "--locked", "-p", "imgs", "--profile", PROFILE]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let built = target.join(PROFILE).join("imgs");
    let out = target.join(PROFILE).join("bin");
    let split = split_debug_info(&built, &out)?;
    println!(
        "dist: {} ({:.1} MB) and {} ({:.1} MB); built with line tables: {:.1} MB",
        split.binary.display(),
        mb(&split.binary)?,
        split.debug.display(),
        mb(&split.debug)?,
        mb(&built)?,
    );
    Ok(())
}

/// The two files a split makes.
#[derive(Debug)]
pub struct Split {
    pub binary: PathBuf,
    pub debug: PathBuf,
}

/// Writes `<out>/<name>` (no symbols, no debug sections, a debug link) and `<out>/<name>.debug`
/// (what was taken out) from `built`, which is left as it is (it is cargo's).
pub fn split_debug_info(built: &Path, out: &Path) -> Result<Split> {
    let name = built
        .file_name()
        .with_context(|| format!("{} names no file", built.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let binary = out.join(name);
    let debug = out.join(format!("{}.debug", name.to_string_lossy()));
    run(Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(built)
        .arg(&debug))?;
    // The link holds the debug file's name and checksum; readers look for that name beside the
    // binary, so it is given by name from inside `out`.
    run(Command::new("objcopy")
        .current_dir(out)
        .arg("--strip-all")
        .arg(format!(
            "--add-gnu-debuglink={}",
            debug.file_name().unwrap().to_string_lossy()
        ))
        .arg(built)
        .arg(&binary))?;
    Ok(Split { binary, debug })
}

fn mb(path: &Path) -> Result<f64> {
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    Ok(bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panicking program built with line tables, split, then run: its backtrace names the function
    /// and the line with the debug file beside it, and neither once the debug file is gone.
    #[test]
    fn a_split_binary_is_smaller_and_its_backtraces_find_the_debug_file() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("prog.rs");
        std::fs::write(
            &source,
            "#[inline(never)]\nfn fails_here() { panic!(\"on purpose\") }\nfn main() { fails_here() }\n",
        )
        .unwrap();
        let built = dir.path().join("prog");
        let status = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
            .args(["-O", "-C", "debuginfo=line-tables-only", "-o"])
            .arg(&built)
            .arg(&source)
            .status()
            .unwrap();
        assert!(status.success());
        let split = split_debug_info(&built, &dir.path().join("bin")).unwrap();
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        assert!(size(&split.binary) < size(&built));

        let backtrace = || {
            let out = Command::new(&split.binary)
                .env("RUST_BACKTRACE", "1")
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stderr).into_owned()
        };
        let with_debug = backtrace();
        assert!(with_debug.contains("prog::fails_here"), "{with_debug}");
        assert!(with_debug.contains("prog.rs:2"), "{with_debug}");

        std::fs::remove_file(&split.debug).unwrap();
        let without = backtrace();
        assert!(!without.contains("prog::fails_here"), "{without}");
        // The panic's own location is in the binary, debug file or not.
        assert!(without.contains("panicked at"), "{without}");
    }
}
