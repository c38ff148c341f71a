//! `cargo xtask bench --build-cost`: what building and testing imgs costs a developer and CI, measured
//! in a fresh clone of the repository's committed tree (its own target directories, the cargo
//! registry as this machine has it), and written to the "Build cost" section of BENCHMARKS.md.
//!
//! Rows: a cold `cargo xtask test` (the whole suite, the qemu boots too: the base disk is copied from
//! this checkout's `cache/base-image`, as CI keeps it between runs); `target/` after that and
//! `cargo xtask demo`; the test binaries it holds; the test build after a one-line change in
//! imgs-plan; a cold `cargo build --release -p imgs` in a target directory of its own; and the
//! duplicated code `duplicates` finds in `crates/` and `tests/`. Times are wall-clock on a shared
//! machine, so each row notes the load average before and after it.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::{cargo, repo_root};

/// The heading of the section this writes; `cargo xtask bench` keeps the section as it is.
pub const SECTION: &str = "## Build cost";

/// One row of the section.
#[derive(Debug, Clone, PartialEq)]
pub struct CostRow {
    pub measure: String,
    pub value: String,
    pub goal: String,
    pub notes: String,
}

pub fn run() -> Result<()> {
    let repo = repo_root();
    let base_image = repo.join("cache/base-image");
    if !base_image.join("debian-bookworm.qcow2").is_file() {
        bail!(
            "the cold `cargo xtask test` row boots the base disk, and {} has none: make it first \
             (`cargo xtask base-image`)",
            base_image.display()
        );
    }
    let work = tempfile::Builder::new()
        .prefix("imgs-build-cost-")
        .tempdir()?;
    let clone = work.path().join("imgs");
    let head = git_head(&repo)?;
    eprintln!(
        "bench: cloning {} ({head}) into {}",
        repo.display(),
        clone.display()
    );
    crate::run(
        Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks"])
            .arg(&repo)
            .arg(&clone),
    )?;
    // The clone checks out the repository's current branch; the figures are of the commit here.
    crate::run(
        Command::new("git")
            .current_dir(&clone)
            .args(["checkout", "--quiet", "--detach", &head]),
    )?;
    eprintln!("bench: copying the base disk into the clone's cache/");
    crate::run(
        Command::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(&base_image)
            .arg(clone.join("cache/base-image")),
    )?;
    let target = work.path().join("target");
    let logs = work.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut rows = Vec::new();

    eprintln!("bench: cold `cargo xtask test` in the clone (the whole suite; tens of minutes)");
    let load = Load::now();
    let (took, log) = timed(
        clone_cargo(&clone, &target).args(["xtask", "test"]),
        &logs.join("xtask-test.log"),
    )?;
    let totals = log
        .lines()
        .rev()
        .find(|l| l.starts_with("tests: "))
        .unwrap_or("tests: (no totals line)")
        .to_string();
    rows.push(CostRow {
        measure: "cold `cargo xtask test` in a fresh clone (registry cache warm)".into(),
        value: minutes(took),
        goal: "≤ 15 min".into(),
        notes: format!(
            "every test, the qemu boot tests too (base disk copied into the clone's cache/, as CI \
             keeps it); {totals}; {}",
            load.until_now()
        ),
    });
    let binaries = test_binaries(&target.join("debug/deps"))?;
    rows.push(CostRow {
        measure: "test binaries after `cargo xtask test`".into(),
        value: format!("{} ({})", binaries.len(), gigabytes(binaries.iter().sum())),
        goal: String::new(),
        notes: "unit-test binaries of every crate, and the integration-test binaries (end-to-end \
                tests: one)"
            .into(),
    });

    eprintln!("bench: `cargo xtask demo` in the clone (the example workspace under qemu)");
    let load = Load::now();
    let (took, _) = timed(
        clone_cargo(&clone, &target).args(["xtask", "demo"]),
        &logs.join("xtask-demo.log"),
    )?;
    rows.push(CostRow {
        measure: "`target/` after `cargo xtask test`, then `cargo xtask demo`".into(),
        value: gigabytes(disk_usage(&target)?),
        goal: "≤ 10 GB".into(),
        notes: format!(
            "the demo took {} (its build compiles nothing: the test run built imgs); {}",
            minutes(took),
            load.until_now()
        ),
    });

    eprintln!("bench: the test build after a one-line change in imgs-plan");
    let touched = clone.join("crates/imgs-plan/src/lib.rs");
    let mut text = std::fs::read_to_string(&touched)?;
    text.push_str("// A line changed by `cargo xtask bench --build-cost`.\n");
    std::fs::write(&touched, text)?;
    let load = Load::now();
    let (took, _) = timed(
        clone_cargo(&clone, &target).args(["test", "--workspace", "--no-run"]),
        &logs.join("incremental.log"),
    )?;
    rows.push(CostRow {
        measure:
            "incremental `cargo test --workspace --no-run` after a one-line change in imgs-plan"
                .into(),
        value: seconds(took),
        goal: "≤ 60 s".into(),
        notes: format!(
            "a comment line added to crates/imgs-plan/src/lib.rs: imgs-plan and every crate and \
             test binary built on it again; {}",
            load.until_now()
        ),
    });

    eprintln!("bench: cold `cargo build --release -p imgs` in a target directory of its own");
    let load = Load::now();
    let release_target = work.path().join("target-release");
    let (took, _) = timed(
        clone_cargo(&clone, &release_target).args(["build", "--release", "-p", "imgs"]),
        &logs.join("release.log"),
    )?;
    rows.push(CostRow {
        measure: "cold `cargo build --release -p imgs`".into(),
        value: minutes(took),
        goal: "≤ 12 min".into(),
        notes: format!(
            "what `cargo install --path crates/imgs` compiles; {}",
            load.until_now()
        ),
    });

    eprintln!("bench: duplicated code in crates/ and tests/");
    let crates = duplicate_pairs(&clone.join("crates"))?;
    let tests = duplicate_pairs(&clone.join("tests"))?;
    rows.push(CostRow {
        measure: "duplicate pairs not marked boilerplate, `crates/` + `tests/`".into(),
        value: format!("{} + {}", crates.not_boilerplate(), tests.not_boilerplate()),
        goal: "≤ 12 + 6".into(),
        notes: format!(
            "`duplicates` over each folder (runs of 6 or more alike lines): {} and {} pairs in all",
            crates.pairs, tests.pairs
        ),
    });

    let path = repo.join("BENCHMARKS.md");
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    let section = render(&rows, &head);
    let report = with_section(&previous, &section);
    std::fs::write(&path, &report)?;
    print!("{section}");
    // The clone and its target directories (tens of GB) go with `work`.
    drop(work);
    Ok(())
}

/// A cargo for the clone, with its own target directory and the user's environment otherwise.
fn clone_cargo(clone: &Path, target: &Path) -> Command {
    let mut cmd = cargo();
    cmd.current_dir(clone).env("CARGO_TARGET_DIR", target);
    cmd
}

/// Runs `cmd` with its output (stdout and stderr) in `log`; how long it took, and the log's text.
fn timed(cmd: &mut Command, log: &Path) -> Result<(Duration, String)> {
    eprintln!(
        "$ {}  (output in {})",
        crate::cmd::display(cmd),
        log.display()
    );
    let file = std::fs::File::create(log)?;
    let start = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("cannot start `{}`", crate::cmd::display(cmd)))?;
    let took = start.elapsed();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "`{}` failed with {status}; its output ended with:\n{}",
            crate::cmd::display(cmd),
            tail.join("\n")
        );
    }
    Ok((took, text))
}

fn git_head(repo: &Path) -> Result<String> {
    let out = Command::new("git")
        .current_dir(repo)
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!("{} is not a git checkout", repo.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The sizes of the test binaries in a `deps` directory: the executables cargo put there (build
/// scripts and the programs of `[[bin]]` targets live elsewhere).
fn test_binaries(deps: &Path) -> Result<Vec<u64>> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut sizes = Vec::new();
    for entry in
        std::fs::read_dir(deps).with_context(|| format!("cannot list {}", deps.display()))?
    {
        let entry = entry?;
        let meta = entry.metadata()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // `name-hash`, executable; libraries end in .rlib, .rmeta, .so, .d.
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 && !name.contains('.') {
            sizes.push(meta.len());
        }
    }
    Ok(sizes)
}

/// Bytes a directory takes on disk (`du`), which is what fills a machine.
fn disk_usage(dir: &Path) -> Result<u64> {
    let out = Command::new("du")
        .args(["-s", "--block-size=1"])
        .arg(dir)
        .output()
        .context("cannot run du")?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("du gave no size for {}", dir.display()))
}

/// The first line of `duplicates` over a folder.
#[derive(Debug, PartialEq)]
struct Duplicates {
    pairs: u64,
    boilerplate: u64,
}

impl Duplicates {
    fn not_boilerplate(&self) -> u64 {
        self.pairs - self.boilerplate
    }
}

fn duplicate_pairs(dir: &Path) -> Result<Duplicates> {
    let out = Command::new("duplicates")
        .args(["--most", "1", "--seconds", "120", "--repo"])
        .arg(dir)
        .output()
        .context("cannot run `duplicates`")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(incomplete) = text.lines().find(|l| l.starts_with("incomplete:")) {
        bail!("duplicates over {}: {incomplete}", dir.display());
    }
    parse_duplicates(text.lines().next().unwrap_or_default())
        .ok_or_else(|| anyhow!("cannot read duplicates' summary: {text}"))
}

/// `35 pairs of places (21 files read), … (12 by shape alone, 12 of those marked boilerplate)`, or
/// `no duplicates (21 files read)`.
fn parse_duplicates(line: &str) -> Option<Duplicates> {
    if line.starts_with("no duplicates") {
        return Some(Duplicates {
            pairs: 0,
            boilerplate: 0,
        });
    }
    let pairs = line.split_whitespace().next()?.parse().ok()?;
    let boilerplate = match line.find(" of those marked boilerplate") {
        Some(end) => line[..end].rsplit([' ', ',', '(']).next()?.parse().ok()?,
        None => 0,
    };
    Some(Duplicates { pairs, boilerplate })
}

/// The 1-minute load average when a measurement started.
struct Load(String);

impl Load {
    fn now() -> Load {
        Load(load_average())
    }

    fn until_now(&self) -> String {
        format!("load {} → {}", self.0, load_average())
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn minutes(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{} min {:02} s", secs / 60, secs % 60)
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn gigabytes(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

fn render(rows: &[CostRow], commit: &str) -> String {
    let mut out = format!(
        "{SECTION}\n\nWritten by `cargo xtask bench --build-cost`, in a fresh clone of commit {commit}: \
         what compiling and testing imgs costs. Machine: {} cores; run on {}.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::bench::today()
    );
    out.push_str("| measure | value | goal | notes |\n|---|---|---|---|\n");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            row.measure, row.value, row.goal, row.notes
        );
    }
    out
}

/// `report` with its build-cost section replaced by `section` (added at the end when it has none).
pub fn with_section(report: &str, section: &str) -> String {
    let (before, _) = split_section(report);
    let mut out = before.trim_end().to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(section);
    out
}

/// The build-cost section of an earlier BENCHMARKS.md, for a run of the other benchmarks to keep.
pub fn section_of(report: &str) -> Option<&str> {
    split_section(report).1
}

/// The text before the build-cost section, and the section (to the end: it is the last one).
fn split_section(report: &str) -> (&str, Option<&str>) {
    let start = report
        .match_indices(SECTION)
        .find(|(i, _)| *i == 0 || report[..*i].ends_with('\n'))
        .map(|(i, _)| i);
    match start {
        Some(i) => (&report[..i], Some(&report[i..])),
        None => (report, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_of_duplicates_gives_pairs_and_boilerplate() {
        let line = "35 pairs of places (21 files read), each sharing runs of 6 or more identical \
                    or same-shape lines (12 by shape alone, 12 of those marked boilerplate)";
        assert_eq!(
            parse_duplicates(line),
            Some(Duplicates {
                pairs: 35,
                boilerplate: 12
            })
        );
        let none_marked = "4 pairs of places (9 files read), each sharing runs of 6 or more \
                           identical or same-shape lines";
        assert_eq!(parse_duplicates(none_marked).unwrap().not_boilerplate(), 4);
        assert_eq!(
            parse_duplicates("no duplicates (3 files read)")
                .unwrap()
                .pairs,
            0
        );
        assert_eq!(parse_duplicates("incomplete: usage"), None);
    }

    #[test]
    fn the_section_replaces_an_earlier_one_and_the_rest_stays() {
        let table = "# Benchmarks\n\n| a | b |\n|---|---|\n| x | 1 ms |\n";
        let section = format!("{SECTION}\n\n| measure |\n| m | 1 |\n");
        let first = with_section(table, &section);
        assert_eq!(first, format!("{}\n\n{section}", table.trim_end()));
        assert_eq!(section_of(&first), Some(section.as_str()));
        let newer = format!("{SECTION}\n\n| measure |\n| m | 2 |\n");
        assert_eq!(
            with_section(&first, &newer),
            format!("{}\n\n{newer}", table.trim_end())
        );
        assert_eq!(section_of(table), None);
        assert_eq!(with_section("", &section), section);
    }

    #[test]
    fn durations_and_sizes_read_as_people_write_them() {
        assert_eq!(minutes(Duration::from_secs(14 * 60 + 5)), "14 min 05 s");
        assert_eq!(seconds(Duration::from_millis(41_260)), "41.3 s");
        assert_eq!(gigabytes(9_460_000_000), "9.5 GB");
    }
}
