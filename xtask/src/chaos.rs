//! `cargo xtask chaos [--quick]`: the reliability tests at full scale (or the quick one CI runs), the
//! fuzz targets, and RELIABILITY.md made from the figures they wrote.
//!
//! The tests are the end-to-end `chaos_*` modules of the imgs package (interrupts, kills and gc,
//! EC2 faults, SSH faults, concurrent runs, damaged caches, the secrets audit); each writes its counts
//! as `<name>.json` into `IMGS_CHAOS_REPORT_DIR` (see tests/e2e/support/chaos.rs). The qemu ones boot
//! the example base disk, so they run when it exists (`cargo xtask base-image`) and not in `--quick`.
//! Nothing here measures time for a verdict: the report is counts, and the goal is zeros where zeros
//! are due (leaked resources, false records, crashes, secret hits).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{cargo, repo_root, run_on_terminal};

/// Where the tests write their figures, under the target directory.
const REPORTS: &str = "target/chaos/reports";
/// Seconds each fuzz target runs (`--fuzz-seconds` says otherwise): at full scale ten minutes, quick
/// a smoke run.
const FUZZ_SECONDS_FULL: u64 = 600;
const FUZZ_SECONDS_QUICK: u64 = 10;

/// What each report is, for the reader of RELIABILITY.md; in this order.
const ABOUT: &[(&str, &str)] = &[
    (
        "interrupts_amazon_ebs",
        "Ctrl-C (SIGINT) during a 13-image layered amazon-ebs build (moto and a real sshd on loopback), aimed in turn at each phase of some image plus a random delay; after each run both regions are audited (instances not terminated, volumes, security groups, key pairs, snapshots no AMI uses, AMIs not available) and every record (local, and AMIs tagged with a fingerprint) is checked to name an available AMI of that fingerprint, with its copy",
    ),
    (
        "kills_amazon_ebs",
        "The same with SIGKILL, each followed by `imgs gc --run ID`",
    ),
    (
        "interrupts_docker",
        "Ctrl-C during the docker example chain (4 images, pushed to a registry) at each phase; audited: containers, directories shared with containers, records whose image is not in the engine with their fingerprint's label",
    ),
    (
        "kills_docker",
        "The same with SIGKILL, each followed by `imgs gc`",
    ),
    (
        "interrupts_qemu",
        "Ctrl-C during the example qemu chain (base → hardened → app-web, app-worker) at each phase; audited: qemu processes, version directories no record names, recorded disks failing `qemu-img check`",
    ),
    (
        "kills_qemu",
        "The same with SIGKILL, each followed by `imgs cache prune`",
    ),
    (
        "ec2_faults",
        "A fault-injecting proxy between imgs and the EC2 server: throttling, 5xx, connection resets and delays at a rate per action",
    ),
    (
        "ssh_faults",
        "SSH faults against a real sshd, each compared with Packer 1.6.6's behaviour",
    ),
    (
        "concurrent_runs",
        "Several `imgs build` at once in one workspace: the workspace lock, and every record, the stat cache and the manifest valid afterwards",
    ),
    (
        "three_runners",
        "CI fan-out simulated: three imgs processes, each with its own checkout and cache/, build the 13-image layered workspace (each image an amazon-ebs and a file build) wave by wave with --shard K/3 --wave W, sharing only moto's EC2 and S3 (the remote cache); every image must be built once (one RunInstances, one AMI of its fingerprint), later waves must find their parents in the remote cache, fetched files must be byte-identical",
    ),
    (
        "corrupted_caches",
        "Records, the stat cache, the manifest, the workspace lock, markers, timings, revocations, a channel file and the run state damaged in several ways: reported, ignored and rebuilt, or refused as the README documents",
    ),
    (
        "disk_full",
        "A full disk while writing a record or an artifact",
    ),
    (
        "secrets_audit",
        "Unique marker strings as sensitive variables, AWS secret key and session token and SSH password; every byte imgs wrote searched for them (also base64)",
    ),
    (
        "fuzz",
        "Coverage-guided fuzzing (cargo afl) of the parsers and the template engine",
    ),
];

pub fn run(args: &[String]) -> Result<()> {
    let usage = "usage: cargo xtask chaos [--quick] [--fuzz-seconds N] [TEST_FILTER…]";
    let mut quick = false;
    let mut filters: Vec<String> = Vec::new();
    let mut fuzz_seconds: Option<u64> = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--fuzz-seconds" => {
                let n = rest.next().context(usage)?;
                fuzz_seconds = Some(
                    n.parse()
                        .with_context(|| format!("--fuzz-seconds {n}: {usage}"))?,
                );
            }
            flag if flag.starts_with('-') => bail!("{usage}"),
            filter => filters.push(filter.to_string()),
        }
    }
    let root = repo_root();
    let reports = root.join(REPORTS);
    // With filters, only the tests they select run again and only their figures are replaced: a
    // failed test is run again without the hour the rest takes.
    let partial = !filters.is_empty();
    if !partial {
        let _ = std::fs::remove_dir_all(&reports);
        filters.push("chaos_".into());
    }
    std::fs::create_dir_all(&reports).with_context(|| format!("create {}", reports.display()))?;
    let started = Instant::now();
    let base_disk = root.join(crate::BASE_DISK).exists();
    let mut test = cargo();
    test.args(["test", "-p", "imgs", "--test", "e2e", "--"])
        .args(&filters)
        .env("IMGS_CHAOS_REPORT_DIR", &reports)
        .env("IMGS_CHAOS_SCALE", if quick { "quick" } else { "full" });
    if base_disk && !quick {
        test.arg("--include-ignored");
    }
    // The tests' verdicts come first; the report is written from what they wrote even when one
    // failed, so the figures of a failure are there to read.
    let tests = run_on_terminal(&mut test);
    let fuzz_seconds = fuzz_seconds.unwrap_or(if quick {
        FUZZ_SECONDS_QUICK
    } else {
        FUZZ_SECONDS_FULL
    });
    // The fuzz task is this program's own (`cargo xtask fuzz`), run as a process of its own so its
    // output and failure stay its own; `--fuzz-seconds 0` keeps the last run's figures.
    let fuzz = if fuzz_seconds == 0 {
        Ok(())
    } else {
        let fuzz = run_on_terminal(
            std::process::Command::new(std::env::current_exe()?)
                .current_dir(&root)
                .args(["fuzz", "--seconds", &fuzz_seconds.to_string()]),
        );
        let fuzz_summary = root.join("target/chaos/fuzz.json");
        if fuzz_summary.exists() {
            std::fs::copy(&fuzz_summary, reports.join("fuzz.json"))?;
        }
        fuzz
    };
    let figures = read_reports(&reports)?;
    let run = Run {
        args: args.join(" "),
        quick,
        partial,
        base_disk,
        seconds: started.elapsed().as_secs(),
    };
    let text = render(&figures, &run);
    let out = root.join("RELIABILITY.md");
    std::fs::write(&out, text).with_context(|| format!("write {}", out.display()))?;
    println!("wrote {}", out.display());
    tests.context("a reliability test failed (its figures are in RELIABILITY.md)")?;
    fuzz.context("fuzzing failed")?;
    let totals = Totals::of(&figures);
    if totals.bad() > 0 {
        bail!("{}", totals.line());
    }
    Ok(())
}

fn read_reports(dir: &Path) -> Result<BTreeMap<String, Value>> {
    let mut figures = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path: PathBuf = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)?;
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            figures.insert(name, value);
        }
    }
    Ok(figures)
}

/// What must be zero, summed over every report.
#[derive(Default)]
struct Totals {
    leaked: u64,
    false_records: u64,
    crashes: u64,
    secret_hits: u64,
}

impl Totals {
    fn of(figures: &BTreeMap<String, Value>) -> Totals {
        let mut totals = Totals::default();
        for value in figures.values() {
            totals.add(value);
        }
        totals
    }

    fn add(&mut self, value: &Value) {
        let Some(fields) = value.as_object() else {
            return;
        };
        for (key, field) in fields {
            match key.as_str() {
                "leaked" => self.leaked += sum(field),
                "false_records" => self.false_records += sum(field),
                "crashes" => self.crashes += sum(field),
                "secret_hits" => self.secret_hits += sum(field),
                _ => self.add(field),
            }
        }
    }

    fn bad(&self) -> u64 {
        self.leaked + self.false_records + self.crashes + self.secret_hits
    }

    fn line(&self) -> String {
        format!(
            "{} leaked, {} false records, {} crashes, {} secret hits",
            self.leaked, self.false_records, self.crashes, self.secret_hits
        )
    }
}

/// A count, or the sum of the counts in an object or array.
fn sum(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::Array(items) => items.iter().map(sum).sum(),
        Value::Object(fields) => fields.values().map(sum).sum(),
        _ => 0,
    }
}

/// A non-empty list of objects, as rows of a table of their own.
fn rows(value: &Value) -> Option<Vec<&serde_json::Map<String, Value>>> {
    let items = value.as_array().filter(|items| !items.is_empty())?;
    items.iter().map(Value::as_object).collect()
}

/// A field's value in one table cell: counts per kind as `kind: n, …`.
fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join("; "),
        Value::Object(fields) if fields.is_empty() => "none".into(),
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| format!("{k}: {}", cell(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
    .replace('|', "\\|")
}

/// How the report's figures were made.
struct Run {
    args: String,
    quick: bool,
    /// Only some tests ran; the others' figures are the last run's.
    partial: bool,
    base_disk: bool,
    seconds: u64,
}

fn render(figures: &BTreeMap<String, Value>, run: &Run) -> String {
    let totals = Totals::of(figures);
    let mut out = String::from("# Reliability\n\n");
    let command = if run.args.is_empty() {
        "cargo xtask chaos".to_string()
    } else {
        format!("cargo xtask chaos {}", run.args)
    };
    let _ = writeln!(
        out,
        "Written by `{command}` ({} scale, {} min {} s on this machine{}). Everything runs on \
         loopback: moto's EC2 server, a real OpenSSH sshd, a private dockerd and registry, qemu on the \
         example base disk{}.\n",
        if run.quick { "quick" } else { "full" },
        run.seconds / 60,
        run.seconds % 60,
        if run.partial {
            "; the tests it did not select keep the figures of the run before"
        } else {
            ""
        },
        if run.base_disk {
            ""
        } else {
            " (absent on this run: the qemu tests did not run; `cargo xtask base-image` makes it)"
        },
    );
    let _ = writeln!(
        out,
        "**Totals: {}.** The goal is zero for each.\n",
        totals.line()
    );
    let mut names: Vec<&String> = figures.keys().collect();
    let order = |name: &str| {
        ABOUT
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or(usize::MAX)
    };
    names.sort_by_key(|name| (order(name), (*name).clone()));
    for name in names {
        let value = &figures[name];
        let _ = writeln!(out, "## {name}\n");
        if let Some((_, about)) = ABOUT.iter().find(|(n, _)| n == name) {
            let _ = writeln!(out, "{about}.\n");
        }
        let _ = writeln!(out, "| figure | value |\n|---|---|");
        let mut row_tables = Vec::new();
        if let Some(fields) = value.as_object() {
            for (key, field) in fields {
                match rows(field) {
                    Some(rows) => row_tables.push((key, rows)),
                    None => {
                        let _ = writeln!(out, "| {} | {} |", key.replace('_', " "), cell(field));
                    }
                }
            }
        }
        out.push('\n');
        // A list of cases (objects alike) reads better as a table of its own.
        for (key, rows) in row_tables {
            let columns: Vec<&String> = rows[0].keys().collect();
            let _ = writeln!(out, "{}:\n", key.replace('_', " "));
            let header: Vec<String> = columns.iter().map(|c| c.replace('_', " ")).collect();
            let _ = writeln!(out, "| {} |", header.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(columns.len()));
            for row in &rows {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|c| row.get(*c).map(cell).unwrap_or_default())
                    .collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
            out.push('\n');
        }
    }
    out
}
