//! `cargo xtask fuzz [--smoke] [--seconds N] [--update-corpus] [TARGET…]`: coverage-guided fuzzing
//! of imgs's parsers, validator and template engines with AFL++ (`cargo afl`), on stable Rust.
//!
//! The targets are `fuzz/`'s binary (`imgs-fuzz TARGET`) over `imgs_fuzz_targets`; each starts from
//! its kept corpus, `fuzz/corpus/<target>/`, with the tokens of `fuzz/dict/<target>.dict`. The
//! instrumented build goes to `target/fuzz`, with the workspace-hack crate replaced by an empty one
//! (fuzz/no-workspace-hack says why), so it neither touches the workspace's own build nor compiles
//! what nothing fuzzed uses. Each target then runs for its seconds, one after another
//! (`AFL_NO_AFFINITY`: other work shares the cores), and the figures go to the terminal and to
//! `target/chaos/fuzz.json` (a run of some targets keeps the others' last figures), which
//! `cargo xtask chaos` puts into RELIABILITY.md. Any crash fails the task, naming the inputs and
//! how to replay one.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::{cargo, repo_root, run};

/// A smoke run's fuzzing time over all targets together: CI's share.
const SMOKE_TOTAL_SECONDS: u64 = 60;
/// Seconds per target when neither `--seconds` nor `--smoke` is given.
const DEFAULT_SECONDS: u64 = 60;
/// An input that takes longer than this is a hang (AFL's `-t`; `+`: seeds that take longer are
/// skipped rather than fatal).
const TIMEOUT_MS: &str = "1000+";
/// The address space a target may use, in MB: an input that makes imgs allocate without bound is
/// a crash to fix, not a reason for the kernel to pick a process to kill on a shared machine.
const MEMORY_LIMIT_MB: &str = "4096";
/// Where instrumented builds and runs live, under the repository root.
const FUZZ_TARGET_DIR: &str = "target/fuzz";
/// The summary `cargo xtask chaos` reads.
const SUMMARY: &str = "target/chaos/fuzz.json";

const USAGE: &str = "usage: cargo xtask fuzz [--smoke | --seconds N] [--update-corpus] [TARGET…] (targets: the directories of fuzz/corpus)";

struct Options {
    seconds_per_target: u64,
    update_corpus: bool,
    targets: Vec<String>,
}

fn options(args: &[String], known: &[String]) -> Result<Options> {
    let mut smoke = false;
    let mut seconds = None;
    let mut update_corpus = false;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--update-corpus" => update_corpus = true,
            "--seconds" => {
                let value = args.next().context(USAGE)?;
                let n: u64 = value.parse().ok().filter(|n| *n > 0).with_context(|| {
                    format!("`--seconds {value}`: not a whole number of seconds above 0; {USAGE}")
                })?;
                seconds = Some(n);
            }
            flag if flag.starts_with('-') => bail!("unknown option `{flag}`; {USAGE}"),
            name => {
                if !known.iter().any(|k| k == name) {
                    bail!(
                        "no fuzz target `{name}`; the targets are: {}",
                        known.join(", ")
                    );
                }
                if !targets.iter().any(|t| t == name) {
                    targets.push(name.to_string());
                }
            }
        }
    }
    if targets.is_empty() {
        targets = known.to_vec();
    }
    let seconds_per_target = match (smoke, seconds) {
        (true, Some(_)) => bail!("`--smoke` sets the time itself; give `--smoke` or `--seconds`"),
        // At least a second each, so a smoke run of many targets still runs every one.
        (true, None) => (SMOKE_TOTAL_SECONDS / targets.len() as u64).max(1),
        (false, Some(n)) => n,
        (false, None) => DEFAULT_SECONDS,
    };
    Ok(Options {
        seconds_per_target,
        update_corpus,
        targets,
    })
}

/// The targets: one per directory of `fuzz/corpus`, named as `imgs-fuzz` names them.
fn known_targets(root: &Path) -> Result<Vec<String>> {
    let corpus = root.join("fuzz/corpus");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&corpus).with_context(|| format!("read {}", corpus.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// What one target's run found, from AFL's `fuzzer_stats`.
#[derive(Debug, Default, PartialEq)]
struct Figures {
    seconds: u64,
    executions: u64,
    crashes: u64,
    hangs: u64,
    corpus: u64,
}

impl Figures {
    /// `fuzzer_stats`: `key : value` lines. AFL++ 4 names crashes and hangs `saved_*`; older
    /// versions `unique_*`.
    fn parse(stats: &str) -> Figures {
        let fields: BTreeMap<&str, u64> = stats
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                Some((key.trim(), value.trim().parse().ok()?))
            })
            .collect();
        let field = |names: &[&str]| names.iter().find_map(|n| fields.get(n).copied());
        Figures {
            seconds: field(&["run_time"]).unwrap_or(0),
            executions: field(&["execs_done"]).unwrap_or(0),
            crashes: field(&["saved_crashes", "unique_crashes"]).unwrap_or(0),
            hangs: field(&["saved_hangs", "unique_hangs"]).unwrap_or(0),
            corpus: field(&["corpus_count", "paths_total"]).unwrap_or(0),
        }
    }
}

pub fn run_task(args: &[String]) -> Result<()> {
    let root = repo_root();
    let known = known_targets(&root)?;
    let options = options(args, &known)?;
    // cargo-afl and AFL++ for this toolchain, when missing (as `cargo xtask setup` installs them).
    crate::setup::install_fuzzing()?;
    note_lock_differences(&root);
    let fuzz_dir = root.join(FUZZ_TARGET_DIR);
    let _lock = lock(&fuzz_dir)?;
    let started = Instant::now();
    build(&root)?;
    eprintln!(
        "fuzz: instrumented build ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let binary = fuzz_dir.join("debug").join("imgs-fuzz");
    let summary_path = root.join(SUMMARY);
    // A run of some targets replaces their figures and keeps the others' from the last run.
    let mut summary = earlier_figures(&summary_path, &known);
    let mut crashed = Vec::new();
    for target in &options.targets {
        let figures = fuzz_one(&root, &binary, target, options.seconds_per_target)?;
        let out = fuzz_dir.join("out").join(target).join("default");
        println!(
            "{target}: {} s, {} executions, {} crashes, {} hangs, corpus {} inputs",
            figures.seconds, figures.executions, figures.crashes, figures.hangs, figures.corpus
        );
        if figures.hangs > 0 {
            println!(
                "  hangs (longer than {} ms each): {}",
                TIMEOUT_MS.trim_end_matches('+'),
                out.join("hangs").display()
            );
        }
        if figures.crashes > 0 {
            crashed.push((target.clone(), inputs_in(&out.join("crashes"))?));
        }
        if options.update_corpus {
            update_corpus(&root, &binary, target, &out.join("queue"))?;
        }
        summary.insert(
            target.clone(),
            json!({
                "seconds": figures.seconds,
                "executions": figures.executions,
                "crashes": figures.crashes,
                "hangs": figures.hangs,
                "corpus": figures.corpus,
            }),
        );
    }
    let kept: Vec<&String> = summary
        .keys()
        .filter(|name| !options.targets.contains(name))
        .collect();
    if !kept.is_empty() {
        println!(
            "kept the figures of an earlier run for {}",
            kept.iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(dir) = summary_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&json!({ "targets": summary }))?;
    std::fs::write(&summary_path, text + "\n")
        .with_context(|| format!("write {}", summary_path.display()))?;
    println!("wrote {}", summary_path.display());
    if !crashed.is_empty() {
        let mut message = String::from("fuzzing found crashes:");
        for (target, inputs) in &crashed {
            for input in inputs {
                message.push_str(&format!("\n    {target}: {}", input.display()));
            }
        }
        message.push_str(&format!(
            "\nreplay one with `{} TARGET < INPUT` (prints the panic)",
            binary.display()
        ));
        bail!("{message}");
    }
    Ok(())
}

/// The figures of each known target in the summary an earlier run wrote, if any.
fn earlier_figures(path: &Path, known: &[String]) -> serde_json::Map<String, serde_json::Value> {
    let earlier: Option<serde_json::Value> = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let mut figures = serde_json::Map::new();
    if let Some(serde_json::Value::Object(targets)) =
        earlier.as_ref().and_then(|e| e.get("targets"))
    {
        for (name, value) in targets {
            if known.contains(name) {
                figures.insert(name.clone(), value.clone());
            }
        }
    }
    figures
}

/// Holds target/fuzz for this run: a second `cargo xtask fuzz` (`cargo xtask chaos` starts one)
/// would clear the output directories of the targets this one is fuzzing, which ends their afl-fuzz
/// with an error. The lock goes with the process, however it ends.
fn lock(fuzz_dir: &Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(fuzz_dir).with_context(|| format!("create {}", fuzz_dir.display()))?;
    let path = fuzz_dir.join("fuzz.lock");
    let file =
        std::fs::File::create(&path).with_context(|| format!("create {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `cargo xtask fuzz` is running in this repository (it holds {}); \
             run this one when it has finished",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("lock {}", path.display()))
        }
    }
}

/// `cargo afl build` of `fuzz/` into target/fuzz, with the workspace-hack crate patched out.
fn build(root: &Path) -> Result<()> {
    let hack = root.join("crates/imgs-workspace-hack");
    let stub = root.join("fuzz/no-workspace-hack");
    let patch = format!(
        "patch.\"{}\".imgs-workspace-hack.path = {}",
        file_url(&hack),
        toml_string(&stub.to_string_lossy())
    );
    let mut cmd = cargo();
    cmd.current_dir(root.join("fuzz"))
        .args(["afl", "build", "--target-dir"])
        .arg(root.join(FUZZ_TARGET_DIR))
        .args(["--config", &patch]);
    crate::run_on_terminal(&mut cmd)
}

/// One target for `seconds` of fuzzing from its kept corpus, in a fresh output directory.
fn fuzz_one(root: &Path, binary: &Path, target: &str, seconds: u64) -> Result<Figures> {
    let runs = root.join(FUZZ_TARGET_DIR).join("out");
    let out = runs.join(target);
    let fixture = root.join(FUZZ_TARGET_DIR).join("fixtures").join(target);
    for dir in [&out, &fixture] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(&runs)?;
    std::fs::create_dir_all(&fixture)?;
    let log_path = runs.join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("create {}", log_path.display()))?;
    let mut cmd = cargo();
    cmd.args(["afl", "fuzz", "-i"])
        .arg(root.join("fuzz/corpus").join(target))
        .arg("-o")
        .arg(&out)
        .args(["-V", &seconds.to_string()]);
    // The target's tokens (keys, function names, syntax), which random mutation rarely spells.
    let dictionary = root.join("fuzz/dict").join(format!("{target}.dict"));
    if dictionary.is_file() {
        cmd.arg("-x").arg(&dictionary);
    }
    cmd.args(["-t", TIMEOUT_MS, "-m", MEMORY_LIMIT_MB, "--"])
        .arg(binary)
        .arg(target)
        .env("IMGS_FUZZ_FIXTURE", &fixture)
        // No curses screen: the log keeps AFL's messages, the summary comes from its statistics.
        .env("AFL_NO_UI", "1")
        // Machines shared with other work: no CPU binding, no governor demands, no requirement on
        // where the kernel sends core dumps, no warning per unstable input.
        .env("AFL_NO_AFFINITY", "1")
        .env("AFL_SKIP_CPUFREQ", "1")
        .env("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1")
        .env("AFL_NO_WARN_INSTABILITY", "1")
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log));
    eprintln!(
        "fuzz: {target} for {seconds} s (AFL's messages: {})",
        log_path.display()
    );
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{}`", crate::cmd::display(&cmd)))?;
    let stats = out.join("default").join("fuzzer_stats");
    let figures = std::fs::read_to_string(&stats).map(|text| Figures::parse(&text));
    let _ = std::fs::remove_dir_all(&fixture);
    match figures {
        Ok(figures) if status.success() => Ok(figures),
        _ => {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "afl-fuzz on `{target}` failed ({status}); the end of {}:\n    {}",
                log_path.display(),
                tail.join("\n    ")
            )
        }
    }
}

/// The inputs AFL saved in a `crashes` or `hangs` directory (not its README).
fn inputs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut inputs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n != "README.txt") {
                inputs.push(path);
            }
        }
    }
    inputs.sort();
    Ok(inputs)
}

/// The kept corpus and what this run found become the kept corpus again, at most
/// [`CORPUS_BYTES`] of it: `afl-showmap` lists the coverage of each input (edges with AFL's hit
/// count classes), and inputs are chosen greedily by the coverage they add per byte. A kept input
/// keeps its name (a `crash-…` one is always kept); a new one is named `found-<hash>`.
fn update_corpus(root: &Path, binary: &Path, target: &str, queue: &Path) -> Result<()> {
    let corpus = root.join("fuzz/corpus").join(target);
    let work = root
        .join(FUZZ_TARGET_DIR)
        .join("corpus-update")
        .join(target);
    let (all, maps) = (work.join("inputs"), work.join("maps"));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&all)?;
    let kept = inputs_in(&corpus)?;
    for input in &kept {
        std::fs::copy(
            input,
            all.join(input.file_name().context("an input has a name")?),
        )?;
    }
    for input in inputs_in(queue)? {
        if input.is_file() {
            let data = std::fs::read(&input)?;
            let name = format!("found-{}", &blake3::hash(&data).to_hex()[..16]);
            std::fs::write(all.join(name), data)?;
        }
    }
    let mut cmd = cargo();
    cmd.args(["afl", "showmap", "-q", "-t", "5000", "-i"])
        .arg(&all)
        .arg("-o")
        .arg(&maps)
        .arg("--")
        .arg(binary)
        .arg(target)
        .env("AFL_NO_AFFINITY", "1")
        .env("AFL_SKIP_CPUFREQ", "1")
        .stdout(Stdio::null());
    run(&mut cmd)?;
    let mut candidates = Vec::new();
    for map in inputs_in(&maps)? {
        let name = map.file_name().context("a map has a name")?.to_owned();
        let size = std::fs::metadata(all.join(&name))?.len();
        let mut tuples: Vec<u32> = std::fs::read_to_string(&map)?
            .split_whitespace()
            .filter_map(tuple)
            .collect();
        tuples.sort_unstable();
        tuples.dedup();
        candidates.push(Candidate {
            name: name.to_string_lossy().into_owned(),
            size,
            tuples,
        });
    }
    let chosen = most_coverage_within(candidates, CORPUS_BYTES);
    for input in &kept {
        std::fs::remove_file(input)?;
    }
    let mut bytes = 0;
    for name in &chosen {
        bytes += std::fs::copy(all.join(name), corpus.join(name))?;
    }
    println!(
        "  corpus: {} inputs, {} KB in {}",
        chosen.len(),
        bytes / 1024,
        corpus.display()
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// How many bytes of inputs each target keeps in fuzz/corpus: the five together stay within a
/// few hundred KB of the repository.
const CORPUS_BYTES: u64 = 48 * 1024;

/// A candidate's coverage per byte, and its index (the earlier wins a tie, for a stable choice).
struct Ranked(f64, usize);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

/// How the corpus names an input that once crashed a target.
const CRASH_PREFIX: &str = "crash-";

/// An input and the coverage it reaches.
struct Candidate {
    name: String,
    size: u64,
    /// Distinct, as [`tuple`] encodes them.
    tuples: Vec<u32>,
}

/// A line of `afl-showmap`'s output, `EDGE:COUNT` (the count one of AFL's classes, 1 to 128), as
/// one number: a corpus update holds thousands of inputs with thousands of tuples each.
fn tuple(line: &str) -> Option<u32> {
    let (edge, count) = line.split_once(':')?;
    let edge: u32 = edge.parse().ok().filter(|e| *e < 1 << 24)?;
    let count: u8 = count.parse().ok()?;
    Some(edge << 8 | u32::from(count))
}

/// The names of inputs that together reach as much coverage as a greedy choice finds within
/// `budget` bytes: each step takes the input adding the most tuples not yet reached per byte (a
/// fixed 64 bytes added to each size, so tiny inputs do not win on size alone), skipping one that
/// does not fit; sorted by name. Inputs named `crash-…` (what once crashed a target, kept as a
/// regression) are always kept, outside the budget.
fn most_coverage_within(candidates: Vec<Candidate>, budget: u64) -> Vec<String> {
    let rate = |new: usize, size: u64| new as f64 / (size + 64) as f64;
    let (crashes, candidates): (Vec<Candidate>, Vec<Candidate>) = candidates
        .into_iter()
        .partition(|c| c.name.starts_with(CRASH_PREFIX));
    let mut covered: HashSet<u32> = crashes
        .iter()
        .flat_map(|c| c.tuples.iter().copied())
        .collect();
    let mut chosen: Vec<String> = crashes.into_iter().map(|c| c.name).collect();
    let mut total = 0;
    // Lazy greedy: a candidate's rate only falls as coverage grows, so one whose rate, computed
    // again, still beats the best recorded rate of the rest is the best choice.
    let mut queue: BinaryHeap<Ranked> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| Ranked(rate(c.tuples.len(), c.size), i))
        .collect();
    while let Some(Ranked(_, best)) = queue.pop() {
        let candidate = &candidates[best];
        let new = candidate
            .tuples
            .iter()
            .filter(|t| !covered.contains(t))
            .count();
        if new == 0 || total + candidate.size > budget {
            continue;
        }
        let now = rate(new, candidate.size);
        if queue.peek().is_some_and(|next| next.0 > now) {
            queue.push(Ranked(now, best));
            continue;
        }
        covered.extend(candidate.tuples.iter().copied());
        total += candidate.size;
        chosen.push(candidate.name.clone());
    }
    chosen.sort();
    chosen
}

/// The `file://` URL cargo gives a path dependency's source, which `[patch]` keys must match.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(byte as char)
            }
            _ => url.push_str(&format!("%{byte:02X}")),
        }
    }
    url
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// fuzz/Cargo.lock was copied from the workspace's so the fuzzed code is built from the same
/// versions; says which packages it pins at a version the workspace's does not hold (cargo keeps a
/// lock file's versions, so the two drift apart when the workspace's is updated).
fn note_lock_differences(root: &Path) {
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let workspace = lock_versions(&read(&root.join("Cargo.lock")));
    let fuzz = lock_versions(&read(&root.join("fuzz/Cargo.lock")));
    let differ: Vec<String> = fuzz
        .iter()
        .filter_map(|(name, versions)| {
            let theirs = workspace.get(name)?;
            (!versions.is_subset(theirs))
                .then(|| format!("{name} {} (workspace: {})", join(versions), join(theirs)))
        })
        .collect();
    if !differ.is_empty() {
        eprintln!(
            "note: fuzz/Cargo.lock pins other versions than Cargo.lock: {}; to build the same \
             versions, copy Cargo.lock to fuzz/Cargo.lock (the build prunes what the fuzz \
             targets do not use)",
            differ.join(", ")
        );
    }
}

fn join(versions: &BTreeSet<String>) -> String {
    versions.iter().cloned().collect::<Vec<_>>().join(" + ")
}

/// Package name → the versions a Cargo.lock holds of it.
fn lock_versions(lock: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"').to_string());
        } else if let Some(value) = line.strip_prefix("version = ")
            && let Some(name) = name.take()
        {
            versions
                .entry(name)
                .or_default()
                .insert(value.trim_matches('"').to_string());
        }
    }
    versions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const KNOWN: &[&str] = &["go_template", "hcl_template", "images_toml"];

    #[test]
    fn a_smoke_run_shares_a_minute_among_its_targets() {
        let o = options(&strings(&["--smoke"]), &strings(KNOWN)).unwrap();
        assert_eq!((o.seconds_per_target, o.targets.len()), (20, 3));
        let o = options(&strings(&["--smoke", "go_template"]), &strings(KNOWN)).unwrap();
        assert_eq!(
            (o.seconds_per_target, o.targets),
            (60, strings(&["go_template"]))
        );
    }

    #[test]
    fn seconds_and_targets_are_checked() {
        let o = options(&strings(&["--seconds", "600"]), &strings(KNOWN)).unwrap();
        assert_eq!(o.seconds_per_target, 600);
        for bad in [
            &["--seconds", "0"][..],
            &["--seconds"],
            &["--seconds", "x"],
            &["--smoke", "--seconds", "5"],
            &["nope"],
            &["--fast"],
        ] {
            assert!(options(&strings(bad), &strings(KNOWN)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn figures_come_from_afl_statistics() {
        let stats = "start_time        : 1764842209\nrun_time          : 30\nexecs_done        : 133584\n\
                     corpus_count      : 666\nsaved_crashes     : 2\nsaved_hangs       : 1\n\
                     target_mode       : persistent shmem_testcase deferred\n";
        assert_eq!(
            Figures::parse(stats),
            Figures {
                seconds: 30,
                executions: 133584,
                crashes: 2,
                hangs: 1,
                corpus: 666
            }
        );
    }

    #[test]
    fn patch_keys_are_file_urls() {
        assert_eq!(
            file_url(Path::new("/home/a b/imgs/crates/imgs-workspace-hack")),
            "file:///home/a%20b/imgs/crates/imgs-workspace-hack"
        );
        assert_eq!(toml_string(r#"/a"b\c"#), r#""/a\"b\\c""#);
    }

    #[test]
    fn the_corpus_keeps_the_most_coverage_that_fits() {
        let candidate = |name: &str, size: u64, tuples: &[&str]| Candidate {
            name: name.into(),
            size,
            tuples: tuples.iter().map(|t| t.as_bytes()[0].into()).collect(),
        };
        let candidates = vec![
            candidate("big", 1000, &["a", "b", "c", "d"]),
            candidate("small-a", 10, &["a", "b"]),
            candidate("small-c", 10, &["c"]),
            candidate("same-as-small-a", 20, &["a", "b"]),
            candidate("too-big", 5000, &["e"]),
        ];
        // The small ones first (most coverage per byte), then what only the big one reaches; a
        // copy of what is covered adds nothing, and what does not fit is left out.
        assert_eq!(
            most_coverage_within(candidates, 1100),
            ["big", "small-a", "small-c"].map(String::from)
        );
        let candidates = vec![
            candidate("big", 1000, &["a", "b", "c", "d"]),
            candidate("small-a", 10, &["a", "b"]),
            candidate("small-c", 10, &["c"]),
        ];
        assert_eq!(
            most_coverage_within(candidates, 1010),
            ["small-a", "small-c"].map(String::from)
        );
        // A crash is kept whatever its size, and what it covers needs no other input.
        let candidates = vec![
            candidate("crash-1", 5000, &["a"]),
            candidate("small-a", 10, &["a", "b"]),
            candidate("small-c", 10, &["c"]),
        ];
        assert_eq!(
            most_coverage_within(candidates, 10),
            ["crash-1", "small-a"].map(String::from)
        );
    }

    #[test]
    fn showmap_lines_are_edges_with_their_count_class() {
        assert_eq!(tuple("000317:1"), Some(317 << 8 | 1));
        assert_eq!(tuple("65535:128"), Some(65535 << 8 | 128));
        assert_eq!(tuple("12"), None);
        assert_eq!(tuple("x:1"), None);
    }

    #[test]
    fn lock_versions_list_every_version_of_a_package() {
        let lock = "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\n\n[[package]]\nname = \"a\"\n\
                    version = \"2.0.0\"\n\n[[package]]\nname = \"b\"\nversion = \"0.1.0\"\n";
        let versions = lock_versions(lock);
        assert_eq!(versions["a"].len(), 2);
        assert!(versions["b"].contains("0.1.0"));
    }
}
