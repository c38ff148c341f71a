//! Docker chain benchmark: the 4-image workspace of `examples/docker` (base → runtime → app-web and
//! app-worker, each tagged and pushed to a registry) built by imgs and by Packer 1.6.6 glued together
//! by hand, in the same run, on private peers: a Docker daemon (only the offline base image imported)
//! and a registry, both on loopback.
//!
//! Measured, `RUNS` times each, every cold run on fresh peers (a new daemon with only the base image,
//! an empty registry) and a fresh copy of the workspace (no `cache/`):
//! - `imgs build --all`, cold, then its no-op rerun on the same peers;
//! - the best Packer glue: one `packer build -machine-readable` per image, a child given its parent's
//!   image ID (from the parent's `artifact,0,id` line) as `-var parent_image=…`, each level's images
//!   at once (base, runtime, then both apps together); and its "rerun": glue keeps no record of what
//!   it built, so a rerun is the same full run again, on the same peers;
//! - the sequential glue: the same builds one after another.
//!
//! The result is a section of BENCHMARKS.md of its own ([`SECTION`]), written by `cargo xtask bench
//! docker` alone (the rest of the file kept as it is) and by the full `cargo xtask bench`. No timing
//! is asserted: the section says whether the goals (≥ 2× faster than the best glue, a no-op
//! in ≤ 100 ms) are met.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use imgs_test_peers::docker::{self, Dockerd, Registry};

use crate::bench_aws::quiet;
use crate::{build_imgs, repo_root, setup};

/// The heading of the section this benchmark writes.
pub const SECTION: &str = "## Docker chain";
/// The heading of the section that stays last (`bench_build_cost`).
const LAST_SECTION: &str = "## Build cost";
/// Rounds: each measures every variant once.
const RUNS: usize = 5;
/// The image the workspace's base starts from (`IMGS_DOCKER_BASE`).
const BASE_IMAGE: &str = "imgs-test/busybox:1";
/// The goals the issue sets.
const GOAL_RATIO: f64 = 2.0;
const GOAL_NO_OP: Duration = Duration::from_millis(100);

/// The chain level by level: each image with its parent.
const LEVELS: &[&[(&str, Option<&str>)]] = &[
    &[("base", None)],
    &[("runtime", Some("base"))],
    &[
        ("app-web", Some("runtime")),
        ("app-worker", Some("runtime")),
    ],
];

/// `cargo xtask bench docker`: this benchmark alone, its section put into BENCHMARKS.md in place of
/// the earlier one.
pub fn run_alone() -> Result<()> {
    setup::install_test_peers()?;
    if let Some(why) = docker::missing() {
        bail!("the docker benchmark needs a Docker daemon: {why}");
    }
    let imgs = build_imgs(true)?;
    let work = tempfile::Builder::new()
        .prefix("imgs-bench-docker-")
        .tempdir()?;
    eprintln!("bench: the examples/docker chain, imgs vs Packer glue ({RUNS} rounds)");
    let section = chain_vs_packer(&imgs, work.path())?;
    let path = repo_root().join("BENCHMARKS.md");
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    let report = with_section(&previous, &section);
    std::fs::write(&path, &report)?;
    print!("{section}");
    Ok(())
}

/// The section for the full `cargo xtask bench`, or None (with a note) where Docker cannot run.
pub fn section_for_full_run(imgs: &Path, work: &Path) -> Result<Option<String>> {
    if let Some(why) = docker::missing() {
        eprintln!("bench: the docker chain is left out (its earlier section is kept): {why}");
        return Ok(None);
    }
    chain_vs_packer(imgs, work).map(Some)
}

/// The section of an earlier BENCHMARKS.md, for a full run that cannot measure it to keep.
pub fn section_of(report: &str) -> Option<&str> {
    let (start, end) = section_bounds(report)?;
    Some(&report[start..end])
}

/// `report` with `section` in place of its docker section; where it has none, before the build-cost
/// section (which stays last), else at the end.
pub fn with_section(report: &str, section: &str) -> String {
    let section = format!("{}\n", section.trim_end());
    let (before, after) = match section_bounds(report) {
        Some((start, end)) => (&report[..start], &report[end..]),
        None => match heading_at(report, LAST_SECTION) {
            Some(at) => (&report[..at], &report[at..]),
            None => (report, ""),
        },
    };
    let mut out = before.trim_end().to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(&section);
    if !after.is_empty() {
        out.push('\n');
        out.push_str(after);
    }
    out
}

/// Where `heading` starts a line of `report`.
fn heading_at(report: &str, heading: &str) -> Option<usize> {
    report
        .match_indices(heading)
        .map(|(i, _)| i)
        .find(|i| *i == 0 || report[..*i].ends_with('\n'))
}

/// The docker section's start and end (the next `## ` heading, or the end of the report).
fn section_bounds(report: &str) -> Option<(usize, usize)> {
    let start = heading_at(report, SECTION)?;
    let body = start + SECTION.len();
    let end = report[body..]
        .find("\n## ")
        .map_or(report.len(), |i| body + i + 1);
    Some((start, end))
}

/// The private peers of one round: a daemon with the base image, a registry, and a HOME for the
/// tools (no user's `~/.docker` or `~/.packer.d`). Dropping them stops both and removes their files.
struct Peers {
    docker: Dockerd,
    registry: Registry,
    home: tempfile::TempDir,
}

impl Peers {
    fn start() -> Result<Peers> {
        let docker = Dockerd::start().map_err(|why| anyhow!(why))?;
        docker::base_image(&docker, BASE_IMAGE).map_err(|why| anyhow!(why))?;
        let registry = Registry::start().map_err(|why| anyhow!(why))?;
        Ok(Peers {
            docker,
            registry,
            home: tempfile::tempdir()?,
        })
    }

    /// `program` in `dir`, reaching these peers: the variables the workspace's templates read.
    fn command(&self, program: &Path, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env("HOME", self.home.path())
            .env("CHECKPOINT_DISABLE", "1")
            .envs(self.docker.env())
            .env("IMGS_REGISTRY", self.registry.address())
            .env("IMGS_DOCKER_BASE", BASE_IMAGE)
            .stdin(Stdio::null());
        for name in Dockerd::CLIENT_ENV_REMOVED {
            cmd.env_remove(name);
        }
        cmd
    }

    /// Every image of the chain is in the registry with its `latest` tag: what a build must leave.
    fn check_pushed(&self, what: &str) -> Result<()> {
        for (image, _) in LEVELS.iter().flat_map(|level| level.iter()) {
            let tags = self
                .registry
                .tags(&format!("example/{image}"))
                .map_err(|why| anyhow!(why))?;
            if !tags.iter().any(|t| t == "latest") {
                bail!("{what}: example/{image}:latest is not in the registry (tags: {tags:?})");
            }
        }
        Ok(())
    }
}

/// A fresh copy of `examples/docker` (its Images.toml and images/, no cache/).
fn fresh_workspace(dir: &Path) -> Result<()> {
    let example = repo_root().join("examples/docker");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    std::fs::copy(example.join("Images.toml"), dir.join("Images.toml"))?;
    copy_dir(&example.join("images"), &dir.join("images"))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Every measurement of the benchmark, one per round.
#[derive(Default)]
struct Times {
    imgs_cold: Vec<Duration>,
    imgs_no_op: Vec<Duration>,
    glue_cold: Vec<Duration>,
    glue_rerun: Vec<Duration>,
    sequential: Vec<Duration>,
}

/// Measures every variant `RUNS` times and renders the section.
fn chain_vs_packer(imgs: &Path, work: &Path) -> Result<String> {
    let packer = PathBuf::from("packer");
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs)?;
    let load_before = load_average();
    let mut times = Times::default();
    for round in 0..RUNS {
        eprintln!("bench: docker chain, round {} of {RUNS}", round + 1);
        // imgs: cold, then the no-op rerun.
        {
            let peers = Peers::start()?;
            let ws = work.join(format!("imgs-{round}"));
            fresh_workspace(&ws)?;
            let mut cold = peers.command(imgs, &ws);
            cold.args(["build", "--all"]);
            times.imgs_cold.push(timed(|| {
                quiet(&mut cold, &logs.join(format!("imgs-cold-{round}.log")))
            })?);
            peers.check_pushed("imgs build --all")?;
            let mut no_op = peers.command(imgs, &ws);
            no_op.args(["build", "--all"]);
            let no_op_log = logs.join(format!("imgs-no-op-{round}.log"));
            times
                .imgs_no_op
                .push(timed(|| quiet(&mut no_op, &no_op_log))?);
            let said = std::fs::read_to_string(&no_op_log)?;
            if !said.contains("0 images built, 4 fresh") {
                bail!(
                    "the no-op imgs build built something; its output is in {}",
                    no_op_log.display()
                );
            }
        }
        // The best glue: cold, then the same run again.
        {
            let peers = Peers::start()?;
            let ws = work.join(format!("glue-{round}"));
            fresh_workspace(&ws)?;
            let run = |name: &str| {
                timed(|| packer_glue(&peers, &packer, &ws, &logs.join(name), Glue::PerLevel))
            };
            times.glue_cold.push(run(&format!("glue-cold-{round}"))?);
            peers.check_pushed("the per-level Packer glue")?;
            times.glue_rerun.push(run(&format!("glue-rerun-{round}"))?);
        }
        // The sequential glue, cold.
        {
            let peers = Peers::start()?;
            let ws = work.join(format!("sequential-{round}"));
            fresh_workspace(&ws)?;
            let dir = logs.join(format!("sequential-{round}"));
            times.sequential.push(timed(|| {
                packer_glue(&peers, &packer, &ws, &dir, Glue::Sequential)
            })?);
            peers.check_pushed("the sequential Packer glue")?;
        }
    }
    Ok(render(&times, &load_before, &load_average()))
}

fn timed(work: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    work()?;
    Ok(start.elapsed())
}

#[derive(Clone, Copy, PartialEq)]
enum Glue {
    Sequential,
    PerLevel,
}

/// One `packer build` per image of the chain, level by level, each child given its parent's image
/// ID; the logs in `logs/NAME.log`.
fn packer_glue(peers: &Peers, packer: &Path, ws: &Path, logs: &Path, glue: Glue) -> Result<()> {
    std::fs::create_dir_all(logs)?;
    let mut built: Vec<(&str, String)> = Vec::new();
    for level in LEVELS {
        let mut commands = Vec::new();
        for (image, parent) in level.iter() {
            let mut cmd = peers.command(packer, ws);
            cmd.args(["build", "-machine-readable"]);
            if let Some(parent) = parent {
                let (_, id) = built
                    .iter()
                    .find(|(name, _)| name == parent)
                    .ok_or_else(|| anyhow!("{parent} was not built before {image}"))?;
                cmd.arg("-var").arg(format!("parent_image={id}"));
            }
            cmd.arg(format!("images/{image}/template.json"));
            commands.push((*image, cmd, logs.join(format!("{image}.log"))));
        }
        match glue {
            Glue::Sequential => {
                for (_, cmd, log) in &mut commands {
                    quiet(cmd, log)?;
                }
            }
            Glue::PerLevel => {
                let mut running: Vec<(Child, PathBuf)> = Vec::new();
                let mut started = Ok(());
                for (_, cmd, log) in &mut commands {
                    match spawn_logged(cmd, log) {
                        Ok(child) => running.push((child, log.clone())),
                        Err(e) => {
                            started = Err(e);
                            break;
                        }
                    }
                }
                // Every child is waited for before a failure is reported, so none is left running.
                let statuses: Vec<_> = running
                    .into_iter()
                    .map(|(mut child, log)| (child.wait(), log))
                    .collect();
                started?;
                for (status, log) in statuses {
                    let status = status?;
                    if !status.success() {
                        bail!(
                            "packer failed with {status}; its output is in {}",
                            log.display()
                        );
                    }
                }
            }
        }
        for (image, _, log) in &commands {
            let output = std::fs::read_to_string(log)?;
            let id = first_artifact_id(&output)
                .ok_or_else(|| anyhow!("no artifact in Packer's output, {}", log.display()))?;
            built.push((image, id));
        }
    }
    Ok(())
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Result<Child> {
    let out = std::fs::File::create(log)?;
    cmd.stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("cannot start packer")
}

/// The ID of the first artifact in `packer build -machine-readable` output: the docker builder's
/// committed image, `TIME,BUILD,artifact,0,id,sha256:…`.
fn first_artifact_id(machine_readable: &str) -> Option<String> {
    machine_readable.lines().find_map(|line| {
        let fields: Vec<&str> = line.splitn(6, ',').collect();
        match fields.as_slice() {
            [_, _, "artifact", "0", "id", id] => Some(id.to_string()),
            _ => None,
        }
    })
}

/// The median, the fastest and the slowest.
fn spread(times: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = times.to_vec();
    sorted.sort();
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}

fn fmt(d: Duration) -> String {
    if d.as_secs_f64() >= 1.0 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

/// The 1-minute load average, or `?`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn render(times: &Times, load_before: &str, load_after: &str) -> String {
    let (imgs_cold, ..) = spread(&times.imgs_cold);
    let (glue_cold, ..) = spread(&times.glue_cold);
    let (imgs_no_op, ..) = spread(&times.imgs_no_op);
    let ratio = |reference: Duration, ours: Duration| {
        reference.as_secs_f64() / ours.as_secs_f64().max(1e-9)
    };
    let cold_ratio = ratio(glue_cold, imgs_cold);
    let met = |yes: bool| if yes { "met" } else { "not met" };
    let mut out = format!(
        "{SECTION}\n\n\
         Written by `cargo xtask bench docker` (and by the full `cargo xtask bench`): the 4-image chain of\n\
         `examples/docker` (base → runtime → app-web and app-worker; each a `docker` build committed,\n\
         then `docker-tag` and `docker-push` to a registry) built by imgs and by Packer 1.6.6 glued by\n\
         hand, on a private Docker daemon (20.10, only the offline busybox base image imported) and\n\
         registry on loopback. {RUNS} rounds; each cold run on fresh peers (a new daemon, an empty\n\
         registry) and a fresh copy of the workspace (no `cache/`). The glue passes a child its\n\
         parent's image ID with `-var parent_image=…`, parsed from the parent's `-machine-readable`\n\
         `artifact,0,id` line. Machine: {} cores; run on {}; load {load_before} → {load_after}.\n\n\
         | run | makespan, median of {RUNS} | fastest – slowest | imgs faster by |\n\
         |---|---|---|---|\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::bench::today(),
    );
    let rows: [(&str, &[Duration], Duration); 5] = [
        ("`imgs build --all`, cold", &times.imgs_cold, imgs_cold),
        (
            "Packer glue, each level's images at once (the best glue), cold",
            &times.glue_cold,
            imgs_cold,
        ),
        (
            "Packer glue, one image after another, cold",
            &times.sequential,
            imgs_cold,
        ),
        (
            "`imgs build --all`, no-op rerun (everything fresh)",
            &times.imgs_no_op,
            imgs_no_op,
        ),
        (
            "Packer glue (each level at once) run again: glue keeps no record, so its rerun is the full run",
            &times.glue_rerun,
            imgs_no_op,
        ),
    ];
    for (name, runs, ours) in rows {
        let (median, fastest, slowest) = spread(runs);
        let _ = writeln!(
            out,
            "| {name} | {} | {} – {} | {:.2}× |",
            fmt(median),
            fmt(fastest),
            fmt(slowest),
            ratio(median, ours)
        );
    }
    let _ = write!(
        out,
        "\nGoals the issue sets: a cold build ≥ {GOAL_RATIO:.0}× faster than the best glue — {cold_ratio:.2}×, \
         {}; a no-op rerun in ≤ {} ms — {}, {}. Glue could skip a rerun only with what imgs keeps: a key \
         per image over its template, files and parent's image ID, and a lookup of that key in the \
         engine or the registry (imgs's `imgs.fingerprint` label and `imgs-<fingerprint>` tag).\n",
        met(cold_ratio >= GOAL_RATIO),
        GOAL_NO_OP.as_millis(),
        fmt(imgs_no_op),
        met(imgs_no_op <= GOAL_NO_OP),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_image_comes_from_the_first_artifact_id_line() {
        let output = "1796369361,docker,artifact-count,3\n\
                      1796369361,docker,artifact,0,builder-id,packer.post-processor.docker-import\n\
                      1796369361,docker,artifact,0,id,sha256:1b5818a8\n\
                      1796369361,docker,artifact,1,id,127.0.0.1:5000/example/base:latest\n";
        assert_eq!(
            first_artifact_id(output).as_deref(),
            Some("sha256:1b5818a8")
        );
        assert_eq!(first_artifact_id("1796369361,,ui,say,nothing\n"), None);
    }

    #[test]
    fn the_section_replaces_the_earlier_one_and_stays_before_build_cost() {
        let table = "# Benchmarks\n\n| a | b |\n";
        let cost = "## Build cost\n\ncost table\n";
        let first = with_section(&format!("{table}\n{cost}"), "## Docker chain\n\none\n");
        assert_eq!(first, format!("{table}\n## Docker chain\n\none\n\n{cost}"));
        let second = with_section(&first, "## Docker chain\n\ntwo\n");
        assert_eq!(second, format!("{table}\n## Docker chain\n\ntwo\n\n{cost}"));
        assert_eq!(section_of(&second), Some("## Docker chain\n\ntwo\n\n"));
        assert_eq!(
            with_section(table, "## Docker chain\n\nx\n"),
            format!("{table}\n## Docker chain\n\nx\n")
        );
    }

    #[test]
    fn the_spread_is_median_fastest_slowest() {
        let ms = |v: u64| Duration::from_millis(v);
        assert_eq!(spread(&[ms(3), ms(1), ms(2)]), (ms(2), ms(1), ms(3)));
    }
}
