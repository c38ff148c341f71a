//! Every cargo the tasks start runs with the environment the user's shell gave `cargo xtask`.
//!
//! `cargo xtask` is `cargo run -p xtask`, which sets variables for the program it runs (`CARGO`,
//! `CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, `OUT_DIR`, library directories on `LD_LIBRARY_PATH`). A cargo
//! that inherits them sees another environment than the user's own `cargo build` does, and cargo
//! reruns every build script that watches a variable that changed: ring's watches
//! `CARGO_MANIFEST_DIR`, so ring and all that is built on it (the TLS stack, the AWS SDK, imgs) were
//! compiled again by each nested build, and again by the user's next `cargo build` or `cargo xtask`.
//!
//! Kept: whatever the user set (`CARGO_HOME`, `CARGO_TARGET_DIR`, `RUSTFLAGS`, `CARGO_TERM_*`,
//! `RUSTC_WRAPPER`, ...), and rustup's `RUSTUP_TOOLCHAIN`/`RUSTUP_HOME`, which rustup's proxy sets
//! for every cargo anyway and which keep `cargo +nightly xtask` on that toolchain.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Variables cargo sets for a program it runs (`cargo run`, `cargo test`) and for build scripts,
/// which a user's shell does not have. `RUSTC` and its wrappers are not among them: cargo gives those
/// to build scripts only, so in this process they can only be the user's own.
const SET_BY_CARGO: &[&str] = &[
    "CARGO",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "CARGO_MAKEFLAGS",
    "OUT_DIR",
];

/// Families of variables cargo sets: package metadata, integration tests' binaries, cargo's own
/// internal settings.
const SET_BY_CARGO_PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_BIN_EXE_", "__CARGO_"];

/// A `cargo` command for the repository, with the user's environment.
pub fn cargo() -> Command {
    // The cargo that runs this task, so a nested call uses the same toolchain.
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(crate::repo_root());
    with_user_environment(&mut cmd);
    cmd
}

/// Gives `cmd` this process's environment without what cargo added to it.
fn with_user_environment(cmd: &mut Command) {
    let profile_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| profile_dir(&exe));
    cmd.env_clear().envs(user_environment(
        std::env::vars_os(),
        profile_dir.as_deref(),
    ));
}

/// The environment without cargo's variables. `profile_dir` is the `target/debug`-like directory
/// this program was built into; cargo puts it (and its `deps`, and the toolchain's libraries) in
/// front of the user's `LD_LIBRARY_PATH`.
fn user_environment(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    profile_dir: Option<&Path>,
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(name, _)| !set_by_cargo(name))
        .filter_map(|(name, value)| {
            if name != "LD_LIBRARY_PATH" {
                return Some((name, value));
            }
            let value = without_cargo_library_dirs(&value, profile_dir)?;
            Some((name, value))
        })
        .collect()
}

fn set_by_cargo(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    SET_BY_CARGO.contains(&name)
        || SET_BY_CARGO_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

/// The directory cargo built this program into: `target/debug` for `target/debug/xtask`, and for a
/// test binary in `target/debug/deps`.
fn profile_dir(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    let dir = if dir.file_name() == Some(OsStr::new("deps")) {
        dir.parent()?
    } else {
        dir
    };
    Some(dir.to_path_buf())
}

/// `LD_LIBRARY_PATH` as the user had it, or `None` when they had none. Cargo prepends, in order, the
/// native library directories of build scripts and the output directories (all under the profile
/// directory), then the toolchain's `lib/rustlib/<target>/lib` and `lib`; the user's value follows.
/// Only that leading run is removed, so a user's own entry stays even where it matches.
fn without_cargo_library_dirs(value: &OsStr, profile_dir: Option<&Path>) -> Option<OsString> {
    let entries: Vec<PathBuf> = std::env::split_paths(value).collect();
    let in_profile_dir = |entry: &Path| {
        profile_dir.is_some_and(|profile| {
            entry.starts_with(profile)
                || entry
                    .canonicalize()
                    .is_ok_and(|real| profile.canonicalize().is_ok_and(|p| real.starts_with(p)))
        })
    };
    let mut rest = entries.as_slice();
    while let [first, tail @ ..] = rest {
        if !in_profile_dir(first) {
            break;
        }
        rest = tail;
    }
    // `<sysroot>/lib/rustlib/<target>/lib`, then `<sysroot>/lib`.
    if rest.len() < entries.len()
        && let [rustlib, tail @ ..] = rest
        && let Some(sysroot) = toolchain_of_rustlib(rustlib)
    {
        rest = tail;
        if let [lib, tail @ ..] = rest
            && *lib == sysroot.join("lib")
        {
            rest = tail;
        }
    }
    if rest.is_empty() {
        return None;
    }
    std::env::join_paths(rest).ok()
}

/// `<sysroot>` for `<sysroot>/lib/rustlib/<target>/lib`.
fn toolchain_of_rustlib(dir: &Path) -> Option<&Path> {
    let named = |dir: &Path, name: &str| dir.file_name() == Some(OsStr::new(name));
    let target = dir.parent().filter(|_| named(dir, "lib"))?;
    let rustlib = target.parent().filter(|p| named(p, "rustlib"))?;
    let lib = rustlib.parent().filter(|p| named(p, "lib"))?;
    lib.parent()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    const TOOLCHAIN: &str = "/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu";

    /// What `cargo run -p xtask` gave the task, on top of a user's shell (taken from `env` under
    /// `cargo run`).
    fn as_cargo_run_sets(user_ld_library_path: Option<&str>) -> Vec<(OsString, OsString)> {
        let mut ld = format!(
            "/r/target/debug/build/ring-1/out:/r/target/debug:/r/target/debug/deps:\
             {TOOLCHAIN}/lib/rustlib/x86_64-unknown-linux-gnu/lib:{TOOLCHAIN}/lib"
        );
        if let Some(user) = user_ld_library_path {
            ld = format!("{ld}:{user}");
        }
        let mut env = vars(&[
            ("HOME", "/home/u"),
            ("PATH", "/home/u/.cargo/bin:/usr/bin"),
            ("CARGO_HOME", "/home/u/.cargo"),
            ("CARGO_TARGET_DIR", "/r/target"),
            ("CARGO_TERM_COLOR", "always"),
            ("RUSTFLAGS", "-Ctarget-cpu=native"),
            ("RUSTC_WRAPPER", "sccache"),
            ("RUSTUP_TOOLCHAIN", "stable-x86_64-unknown-linux-gnu"),
            ("RUSTUP_HOME", "/home/u/.rustup"),
            ("RUST_BACKTRACE", "1"),
            ("CARGO", &format!("{TOOLCHAIN}/bin/cargo")),
            ("CARGO_MANIFEST_DIR", "/r/xtask"),
            ("CARGO_MANIFEST_PATH", "/r/xtask/Cargo.toml"),
            ("CARGO_PKG_NAME", "xtask"),
            ("CARGO_PKG_VERSION", "0.1.0"),
            ("CARGO_PKG_VERSION_PRE", ""),
            ("OUT_DIR", "/r/target/debug/build/xtask-1/out"),
            ("__CARGO_FIX_PLZ", "1"),
        ]);
        env.push(("LD_LIBRARY_PATH".into(), ld.into()));
        env
    }

    fn names(env: &[(OsString, OsString)]) -> Vec<&str> {
        env.iter().map(|(k, _)| k.to_str().unwrap()).collect()
    }

    #[test]
    fn what_cargo_run_set_is_removed_and_what_the_user_set_is_kept() {
        let env = user_environment(as_cargo_run_sets(None), Some(Path::new("/r/target/debug")));
        assert_eq!(
            names(&env),
            [
                "HOME",
                "PATH",
                "CARGO_HOME",
                "CARGO_TARGET_DIR",
                "CARGO_TERM_COLOR",
                "RUSTFLAGS",
                "RUSTC_WRAPPER",
                "RUSTUP_TOOLCHAIN",
                "RUSTUP_HOME",
                "RUST_BACKTRACE",
            ]
        );
    }

    #[test]
    fn the_users_library_path_survives_cargos_additions() {
        let env = user_environment(
            as_cargo_run_sets(Some("/opt/lib:/r/target/debug")),
            Some(Path::new("/r/target/debug")),
        );
        let ld = env.iter().find(|(k, _)| k == "LD_LIBRARY_PATH").unwrap();
        assert_eq!(ld.1, "/opt/lib:/r/target/debug");
    }

    #[test]
    fn a_library_path_of_the_users_own_is_left_alone() {
        let env = user_environment(
            vars(&[("LD_LIBRARY_PATH", "/opt/lib:/usr/local/lib")]),
            Some(Path::new("/r/target/debug")),
        );
        assert_eq!(env, vars(&[("LD_LIBRARY_PATH", "/opt/lib:/usr/local/lib")]));
    }

    #[test]
    fn profile_dir_of_a_binary_and_of_a_test() {
        assert_eq!(
            profile_dir(Path::new("/r/target/debug/xtask")).unwrap(),
            Path::new("/r/target/debug")
        );
        assert_eq!(
            profile_dir(Path::new("/r/target/debug/deps/xtask-0123")).unwrap(),
            Path::new("/r/target/debug")
        );
    }

    /// This test runs under `cargo test`, which sets the same variables as `cargo run` (and more):
    /// a command given the user's environment must see none of them.
    #[test]
    fn a_nested_command_sees_none_of_the_variables_cargo_set_for_this_process() {
        for name in ["CARGO", "CARGO_MANIFEST_DIR", "CARGO_PKG_NAME"] {
            assert!(
                std::env::var_os(name).is_some(),
                "cargo test sets {name}, which this test relies on"
            );
        }
        let mut env = Command::new("env");
        with_user_environment(&mut env);
        let output = env.output().unwrap();
        assert!(output.status.success());
        let seen = String::from_utf8(output.stdout).unwrap();
        let leaked: Vec<&str> = seen
            .lines()
            .filter_map(|line| line.split_once('=').map(|(name, _)| name))
            .filter(|name| set_by_cargo(OsStr::new(name)))
            .collect();
        assert_eq!(leaked, Vec::<&str>::new());
        if let Some(ld) = seen
            .lines()
            .find_map(|l| l.strip_prefix("LD_LIBRARY_PATH="))
        {
            assert!(!ld.contains("/deps"), "cargo's library dirs are left: {ld}");
        }
        assert!(seen.lines().any(|l| l.starts_with("PATH=")));
    }

    /// The demo's cycle: the user's `cargo build`, then `cargo xtask` (whose nested build used to see
    /// `cargo run`'s variables, so both sides rebuilt ring and all on top of it), then the user's
    /// build again. After the first round nothing may be compiled or linked again.
    #[test]
    #[ignore = "runs cargo five times; on a cold target directory the first builds take minutes"]
    fn cargo_xtask_between_two_user_builds_compiles_nothing() {
        let cargo_ok = |args: &[&str]| {
            let output = cargo().args(args).output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "cargo {args:?}: {stderr}");
            String::from_utf8(output.stdout).unwrap()
        };
        let user_build = || cargo_ok(&["build", "--quiet", "-p", "imgs"]);
        // `cargo xtask build-imgs`, as the alias runs it.
        let xtask = || cargo_ok(&["run", "--quiet", "--package", "xtask", "--", "build-imgs"]);
        user_build();
        let imgs = PathBuf::from(xtask().trim());
        let xtask_bin = imgs.with_file_name("xtask");
        let modified = |path: &Path| std::fs::metadata(path).unwrap().modified().unwrap();
        let before = (modified(&imgs), modified(&xtask_bin));
        xtask();
        user_build();
        xtask();
        assert_eq!(
            (modified(&imgs), modified(&xtask_bin)),
            before,
            "imgs or xtask was linked again"
        );
    }
}
