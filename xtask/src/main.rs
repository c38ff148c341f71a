//! Developer tasks, in Rust so they run wherever cargo does (`cargo xtask TASK`; alias in .cargo/config.toml).
//!
//! - `setup`       installs what tests and benchmarks need (Debian: packer 1.6.6, b3sum, OpenSSH, qemu,
//!   docker.io, docker-registry, nginx; PyPI: moto)
//! - `env`         starts (`up`) or stops (`down`) an EC2 API server and an sshd on loopback, for trying imgs
//! - `demo`        the README's main job: builds the example image workspace for real, then shows its lineage
//! - `test`        the README's test command: setup, then every test of the workspace
//! - `bench`       measures imgs against its references in one run and writes BENCHMARKS.md
//! - `chaos`       the reliability tests at full scale (`--quick`: CI's), fuzzing; writes RELIABILITY.md
//! - `fuzz`        coverage-guided fuzzing (AFL++) of the parsers, the validator and the template engines
//! - `base-image`  builds the example workspace's bootable Debian base disk from Debian packages
//! - `build-imgs`  builds imgs as `demo` and `bench` do and prints the binary's path
//! - `dist`        builds the binary to ship, stripped, with its debug information in a file beside it

mod base_image;
mod bench;
mod bench_ansible;
mod bench_aws;
mod bench_build_cost;
mod bench_docker;
mod bench_engine;
mod bench_hashing;
mod bench_layered;
mod bench_layered_breakdown;
mod bench_qemu;
mod bench_rss;
mod bench_ssh;
mod chaos;
mod cmd;
mod dist;
mod env;
mod fuzz;
mod nested_cargo;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

pub use cmd::{run, run_on_terminal};
pub use nested_cargo::cargo;

fn main() -> ExitCode {
    let backtrace = std::env::var_os(BACKTRACE_VAR).is_some_and(|v| !v.is_empty() && v != "0");
    if backtrace {
        // anyhow captures backtraces when RUST_LIB_BACKTRACE (or else RUST_BACKTRACE) asks; whether
        // one is printed is decided here, so RUST_BACKTRACE, often set for panics, prints none.
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "1") };
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run_task(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The whole chain of causes on one line, which ends with the failed command's status and
            // its last stderr lines when a command failed.
            eprintln!("error: {err:#}");
            if backtrace {
                eprintln!("\n{}", err.backtrace());
            }
            ExitCode::FAILURE
        }
    }
}

/// Set (to anything but `0`) to print the backtrace of an error.
const BACKTRACE_VAR: &str = "XTASK_BACKTRACE";

fn run_task(args: &[String]) -> Result<()> {
    let task = args.first().map(String::as_str).unwrap_or("help");
    match task {
        "setup" => setup::install_everything(),
        "env" => env::run(&args[1..]),
        "demo" => demo(),
        "test" => test(&args[1..]),
        "bench" => bench::run(&args[1..]),
        "chaos" => chaos::run(&args[1..]),
        "fuzz" => fuzz::run_task(&args[1..]),
        "base-image" => base_image::run(&args[1..]),
        "dist" => dist::run_task(&args[1..]),
        "build-imgs" => {
            let release = match args.get(1..).unwrap_or_default() {
                [] => false,
                [flag] if flag == "--release" => true,
                _ => bail!("usage: cargo xtask build-imgs [--release]"),
            };
            println!("{}", build_imgs(release)?.display());
            Ok(())
        }
        "help" | "-h" | "--help" => {
            println!("usage: cargo xtask <{TASKS}>\n\n{HELP}");
            Ok(())
        }
        other => bail!("unknown task `{other}`; usage: cargo xtask <{TASKS}>"),
    }
}

const TASKS: &str = "setup|env|demo|test|bench|chaos|fuzz|base-image|build-imgs|dist";

const HELP: &str = "\
setup       install what tests and benchmarks use (Debian: packer, b3sum, OpenSSH, qemu, docker.io,
            docker-registry, nginx; PyPI: moto's EC2 server) and what fuzzing uses (cargo-afl, AFL++)
env up|down start or stop an EC2 API server (moto) and an sshd on loopback; prints the variables to export
demo        build the example workspace: base disk (needs root), `imgs build --all`, `imgs graph`
test        setup, then run every test of the workspace (extra arguments go to `cargo test`)
bench       measure imgs against Packer 1.6.6, b3sum and scp side by side; writes BENCHMARKS.md
            (--qemu adds the qemu chain base → hardened → app-web against Packer; minutes)
            (--build-cost alone: cold test and release builds, target/ size, incremental test build,
            duplicated code, in a fresh clone; about an hour)
            (docker alone: the examples/docker chain, imgs vs Packer glue, cold and no-op; its own
            section of BENCHMARKS.md, the rest kept; a few minutes, as root)
            (layered-breakdown [--runs N] [--imgs PATH] alone: one amazon-ebs build and nine at once
            against moto — requests by action, moto's and imgs's CPU time, phases; its own section)
chaos       the reliability tests at full scale (interrupts, kills and gc, EC2 and SSH faults, concurrent
            runs, damaged caches, secrets audit; qemu ones when the base disk exists) and 10 minutes
            of fuzzing per target; writes RELIABILITY.md (--quick: CI's scale, 10 s per target;
            --fuzz-seconds N; test filters rerun only those tests and keep the others' figures)
fuzz        build the AFL fuzz targets (fuzz/, cargo afl) and fuzz each from its corpus in fuzz/corpus:
            Images.toml, JSON and HCL2 templates with validation, Go-template and HCL2 functions;
            prints executions, crashes, hangs and corpus size per target, writes
            target/chaos/fuzz.json, fails on a crash (--seconds N per target, default 60; --smoke:
            60 s in all; --update-corpus: keep in fuzz/corpus the inputs, old and found, that reach
            the most coverage within 48 KB per target, and every `crash-…` one)
base-image  build the example workspace's Debian base disk offline (mmdebstrap, qemu-img; needs root)
build-imgs  build imgs as demo and bench do (--release for bench's build) and print the binary's path
dist        build the binary to ship: target/dist/bin/imgs, stripped, and imgs.debug beside it

A failure prints one `error:` line with its causes: the command that failed, its exit status and the
last lines of its stderr. XTASK_BACKTRACE=1 adds the error's backtrace.";

/// The repository root (xtask lives one level below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the repository")
        .to_path_buf()
}

/// Build the imgs binary (release when asked) and return its path.
pub fn build_imgs(release: bool) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args(["build", "--quiet", "-p", "imgs"]);
    if release {
        cmd.arg("--release");
    }
    // On the terminal: cargo's errors keep their colours and are the explanation of a failure.
    run_on_terminal(&mut cmd)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    Ok(target
        .join(if release { "release" } else { "debug" })
        .join("imgs"))
}

/// The README's main job: the example workspace built for real. The base disk comes from Debian packages
/// (`base-image`, a no-op when current); then `imgs build --all` builds what is not fresh, and `imgs graph`
/// shows the lineage with each disk. A second run finds everything fresh.
fn demo() -> Result<()> {
    let imgs = build_imgs(false)?;
    let root = repo_root();
    base_image::run(&[])?;
    // imgs keeps the terminal, so the build draws its progress lines and its own errors explain a
    // failure; `--timings` leaves cache/imgs-timing.html to open afterwards.
    run_on_terminal(
        Command::new(&imgs)
            .current_dir(&root)
            .args(["plan", "--all"]),
    )?;
    run_on_terminal(
        Command::new(&imgs)
            .current_dir(&root)
            .args(["build", "--all", "--timings"]),
    )?;
    run_on_terminal(Command::new(&imgs).current_dir(&root).args(["graph"]))?;
    Ok(())
}

/// The example workspace's base disk, made by `cargo xtask base-image`.
const BASE_DISK: &str = "cache/base-image/debian-bookworm.qcow2";

fn test(extra: &[String]) -> Result<()> {
    setup::install_test_peers()?;
    // Tests of every run start qemu (on blank disks) and read disks with qemu-img and debugfs; as
    // root, what is missing of that is installed like the other peers.
    if setup::is_root() {
        setup::install_base_image_tools()?;
    }
    workspace_hack_is_current()?;
    let mut totals = TestTotals::default();
    let workspace = totals.run(cargo().args(["test", "--workspace"]).args(extra));
    // The ignored tests (imgs-qemu's boot; the end-to-end chain, example workspace and refused key)
    // boot the Debian base disk. CI starts from a fresh clone without it, so it is built here where
    // the machine can (root, apt, the Debian mirror; about a minute); where it cannot, one line says
    // why and the tests stay skipped.
    let qemu = if workspace.is_ok() {
        match base_disk_for_qemu_tests() {
            Ok(()) => {
                let mut booted = TestTotals::default();
                // `--workspace` with the two test targets, not `-p`: the same package set resolves
                // the same features as the run above, so nothing is compiled a second time. Every
                // ignored test of these two binaries boots the disk.
                let result = booted.run(cargo().args([
                    "test",
                    "--workspace",
                    "--test",
                    "qemu",
                    "--test",
                    "e2e",
                    "--",
                    "--ignored",
                ]));
                totals.count_ignored_run(&booted);
                result
            }
            Err(why) => {
                eprintln!("note: the qemu boot tests did not run: {why}");
                Ok(())
            }
        }
    } else {
        Ok(())
    };
    // One closing line over every test binary, since cargo prints a summary per binary only.
    println!(
        "tests: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    workspace.and(qemu)
}

/// Checks that crates/imgs-workspace-hack is what `cargo hakari` would write for the workspace as it
/// is, and that every member depends on it: otherwise some command compiles shared dependencies
/// with a feature set of its own, and everything built on them a second time. Without cargo-hakari
/// installed, one line says the check did not run.
fn workspace_hack_is_current() -> Result<()> {
    if !setup::on_path("cargo-hakari") {
        eprintln!(
            "note: cargo-hakari is not installed, so crates/imgs-workspace-hack was not checked \
             (`cargo install --locked cargo-hakari`)"
        );
        return Ok(());
    }
    let fix =
        "after a dependency change run `cargo hakari generate` and `cargo hakari manage-deps`";
    run(cargo().args(["hakari", "generate", "--diff", "--quiet"]))
        .with_context(|| format!("crates/imgs-workspace-hack is out of date; {fix}"))?;
    run(cargo().args(["hakari", "manage-deps", "--dry-run", "--quiet"]))
        .with_context(|| format!("a member does not depend on imgs-workspace-hack; {fix}"))?;
    run(cargo().args(["hakari", "verify", "--quiet"]))
        .context("imgs-workspace-hack does not unify the workspace's features")?;
    Ok(())
}

/// Makes sure the base disk exists, building it when missing; otherwise why the qemu boot tests
/// cannot run on this machine.
fn base_disk_for_qemu_tests() -> Result<(), String> {
    if repo_root().join(BASE_DISK).exists() {
        return Ok(());
    }
    if !setup::is_root() {
        return Err(format!(
            "no `{BASE_DISK}`, and building it needs root (`sudo cargo xtask base-image`)"
        ));
    }
    if !setup::on_path("mmdebstrap") && !setup::on_path("apt-get") {
        return Err(format!(
            "no `{BASE_DISK}`, and no mmdebstrap to build it nor apt-get to install mmdebstrap"
        ));
    }
    eprintln!("test: building `{BASE_DISK}` for the qemu boot tests (`cargo xtask base-image`)");
    // An unreachable mirror is the usual cause; the whole chain of causes fits one line.
    base_image::run(&[]).map_err(|err| format!("building `{BASE_DISK}` failed: {err:#}"))
}

/// Sums of cargo's per-binary `test result:` lines.
#[derive(Default)]
struct TestTotals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl TestTotals {
    /// Runs `cmd`, passing its stdout through line by line and adding up its `test result:` lines.
    fn run(&mut self, cmd: &mut Command) -> Result<()> {
        use std::io::{BufRead, BufReader};
        eprintln!("$ {}", cmd::display(cmd));
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start `{}`", cmd::display(cmd)))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            println!("{line}");
            if let Some(summary) = line.strip_prefix("test result: ") {
                self.add(summary);
            }
        }
        let status = child.wait()?;
        // cargo's stderr stays on the terminal: its progress, and what failed, are above.
        cmd::check_on_terminal(cmd, status)
    }

    /// Adds a second run of tests that the first run counted as ignored (`-- --ignored`): those it
    /// ran are no longer skipped.
    fn count_ignored_run(&mut self, ignored_run: &TestTotals) {
        let ran = ignored_run.passed + ignored_run.failed;
        self.ignored = self.ignored.saturating_sub(ran) + ignored_run.ignored;
        self.passed += ignored_run.passed;
        self.failed += ignored_run.failed;
    }

    /// `ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s`
    fn add(&mut self, summary: &str) {
        for part in summary.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TestTotals;

    #[test]
    fn totals_add_up_cargo_summaries() {
        let mut totals = TestTotals::default();
        totals.add(
            "ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
        );
        totals.add(
            "FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 4 filtered out; finished in 1.50s",
        );
        assert_eq!((totals.passed, totals.failed, totals.ignored), (5, 1, 1));
    }

    #[test]
    fn tests_run_by_a_second_ignored_pass_are_no_longer_skipped() {
        let mut totals = TestTotals::default();
        totals
            .add("ok. 40 passed; 0 failed; 5 ignored; 0 measured; 0 filtered out; finished in 9s");
        let mut booted = TestTotals::default();
        booted
            .add("ok. 2 passed; 1 failed; 0 ignored; 0 measured; 30 filtered out; finished in 90s");
        totals.count_ignored_run(&booted);
        assert_eq!((totals.passed, totals.failed, totals.ignored), (42, 1, 2));
    }
}
