//! `imgs gc`: removes the cloud resources imgs runs left behind (a run killed, a second Ctrl-C, a
//! clean-up that failed), found by their `imgs:run` tag in every region and account the workspace's
//! cloud builds use (see `imgs_build::cloud`).
//!
//! "Not in progress" is known only on this machine: a running `imgs build` holds an advisory lock on
//! `cache/runs/<run id>.lock` until it exits (the OS drops it even when the process is killed), and gc
//! skips every run whose lock is held. A build on another machine in the same account holds no lock
//! here, so `imgs gc` without `--run` must not be run while another machine builds there.
//!
//! gc does not wait for the workspace lock (`workspace_lock.rs`): it is made to run beside builds. A
//! build waiting for that lock has no run lock yet and has made nothing, so gc has nothing of it to
//! collect or to skip.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use imgs_build::cloud::{self, GcPlace, GcReport, GcRuns, Leftover};
use imgs_diagnostic::Diagnostic;

use super::fingerprint::{cache_dir, planning_variables};
use super::{Context, Failure, Output};
use crate::options::GcOptions;

/// Held by a running build: its run is in progress while the lock is held.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    _file: File,
}

impl RunLock {
    /// Creates and locks `cache/runs/<run_id>.lock`.
    pub fn acquire(cache: &Path, run_id: &str) -> Result<RunLock, String> {
        let dir = runs_dir(cache);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let path = dir.join(format!("{run_id}.lock"));
        let file = File::create(&path)
            .map_err(|e| format!("cannot create the run lock `{}`: {e}", path.display()))?;
        file.try_lock()
            .map_err(|e| format!("cannot lock `{}`: {e}", path.display()))?;
        Ok(RunLock { path, _file: file })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still held, so gc never mistakes a finishing run for a dead one; a file left
        // by a killed run is unlocked and gc removes it.
        let _ = std::fs::remove_file(&self.path);
    }
}

fn runs_dir(cache: &Path) -> PathBuf {
    cache.join("runs")
}

/// Runs whose lock is held on this machine; lock files of dead runs, to remove after collecting.
fn runs_in_progress(cache: &Path) -> Result<(BTreeSet<String>, Vec<PathBuf>), Failure> {
    let dir = runs_dir(cache);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => {
            return Err(Failure::Other(format!(
                "cannot read `{}`: {e}",
                dir.display()
            )));
        }
    };
    let mut busy = BTreeSet::new();
    let mut stale = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Failure::Other(format!("cannot read `{}`: {e}", dir.display())))?
            .path();
        let Some(run) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".lock"))
        else {
            continue;
        };
        match lock_state(&path) {
            Ok(LockState::Held) => {
                busy.insert(run.to_string());
            }
            Ok(LockState::Free) => stale.push(path),
            // The run ended between the listing and now.
            Ok(LockState::Absent) => {}
            Err(e) => {
                return Err(Failure::Other(format!(
                    "cannot check the run lock `{}`: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok((busy, stale))
}

enum LockState {
    /// A running build holds it.
    Held,
    /// Left by a run that died.
    Free,
    Absent,
}

fn lock_state(path: &Path) -> std::io::Result<LockState> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockState::Absent),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(LockState::Free),
        Err(TryLockError::WouldBlock) => Ok(LockState::Held),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Whether `run` holds its lock now. A run ID comes from a tag anyone can write, so one that is not
/// a plain name (imgs's are UUIDs) never names a file; a lock that cannot be checked counts as held.
pub(super) fn still_running(cache: &Path, run: &str) -> bool {
    let plain = !run.is_empty() && run.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    plain
        && !matches!(
            lock_state(&runs_dir(cache).join(format!("{run}.lock"))),
            Ok(LockState::Free | LockState::Absent)
        )
}

/// Every account and region the workspace's cloud builds use (build regions and `ami_regions`).
fn places(
    cx: &Context,
    ws: &imgs_workspace::Workspace,
    args: &GcOptions,
) -> Result<Vec<GcPlace>, Failure> {
    let planned = planning_variables(cx, ws, &args.variables)?;
    let images: Vec<_> = planned
        .iter()
        .map(|(t, r)| (t.as_ref(), r.clone()))
        .collect();
    Ok(cloud::gc_places(&images, &ws.root, args.region.as_deref())?)
}

/// `imgs gc [--run ID] [--dry-run] [--region R]`.
pub fn gc(cx: &Context, args: &GcOptions) -> Result<Output, Failure> {
    let ws = cx.load_workspace()?;
    let places = places(cx, &ws, args)?;
    let cache = cache_dir(&ws);
    // The local Docker engine: build containers of this workspace whose run is over.
    let containers = if args.region.is_some() {
        None
    } else {
        let is_running = |run: &str| still_running(&cache, run);
        imgs_build::docker_cache::left_containers(&ws.root, &is_running, args.run.as_deref())
            .map_err(|e| {
                Failure::Other(format!(
                    "could not ask the Docker engine for containers: {e}"
                ))
            })?
    };
    // The directories killed runs shared with their containers: only a dead run's, so a live
    // build's container keeps its files.
    let shared_dirs = if args.region.is_some() {
        Vec::new()
    } else {
        let is_running = |run: &str| still_running(&cache, run);
        imgs_build::docker_cache::left_shared_dirs(
            &ws.root,
            &std::env::temp_dir(),
            &is_running,
            args.run.as_deref(),
        )
    };
    let (docker_out, docker_failed) = match (&containers, shared_dirs.is_empty()) {
        (None, true) => (None, 0),
        (found, _) => {
            let (out, failed) = collect_containers(
                found.as_deref().unwrap_or_default(),
                &shared_dirs,
                args.dry_run,
            );
            (Some(out), failed)
        }
    };
    if places.is_empty()
        && let Some(out) = docker_out
    {
        return gc_outcome(out, docker_failed);
    }
    if places.is_empty() {
        let types = cloud::builder_types().join(" or ");
        let mut d = Diagnostic::error(match &args.region {
            Some(region) => format!("no {types} build of this workspace uses the region `{region}`"),
            None => format!("no image of this workspace builds with {types}: imgs runs leave nothing to collect elsewhere"),
        })
        .hint(format!("gc looks where the workspace's {types} templates build (region, ami_regions) with their credentials"));
        if args.region.is_some() {
            d = d.key("--region");
        }
        return Err(d.into());
    }
    let (in_progress, stale_locks) = runs_in_progress(&cache)?;
    if let Some(run) = &args.run
        && in_progress.contains(run)
    {
        return Err(
            Diagnostic::error(format!("run {run} is still building on this machine"))
                .key("--run")
                .hint("wait until it ends, or stop it with Ctrl-C: it cleans up after itself")
                .into(),
        );
    }
    let cache_dir = cache.clone();
    let runs = GcRuns {
        run: args.run.clone(),
        in_progress: Arc::new(move |run| still_running(&cache, run)),
    };
    let reports = cloud::collect_garbage(&places, &runs, args.dry_run).map_err(Failure::Other)?;
    if !args.dry_run {
        remove_dead_run_locks(&cache_dir, &stale_locks);
    }
    let mut stdout = render(&reports, args.dry_run);
    stdout.push_str(&docker_out.unwrap_or_default());
    let failed: usize = reports.iter().map(|r| r.failed.len()).sum();
    gc_outcome(stdout, failed + docker_failed)
}

/// What gc printed, as a failure when something could not be removed.
fn gc_outcome(stdout: String, failed: usize) -> Result<Output, Failure> {
    if failed > 0 {
        return Err(Failure::Other(format!(
            "{stdout}{failed} resource(s) could not be removed; run `imgs gc` again once the reasons above are dealt with"
        )));
    }
    Ok(stdout.into())
}

/// Removes the lock files of runs that were dead when gc listed them, if no build runs in the
/// workspace now. A build creates its run's lock file and then locks it, both while it holds the
/// workspace lock: had gc listed the file between the two, it would take a live run for a dead one,
/// and removing the file would make that run look dead to every later gc. So gc removes them only
/// while it holds the workspace lock itself (never waiting for it: left files are harmless, and the
/// next gc removes them), and only those still free.
fn remove_dead_run_locks(cache: &Path, stale: &[PathBuf]) {
    use super::workspace_lock::{self, Wait};
    if stale.is_empty() {
        return;
    }
    let Ok(_lock) = workspace_lock::acquire(
        cache,
        "imgs gc",
        None,
        Wait::NoWait,
        &tokio_util::sync::CancellationToken::new(),
        |_, _| {},
    ) else {
        return;
    };
    for path in stale {
        if matches!(lock_state(path), Ok(LockState::Free)) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Removes (unless `dry_run`) the build containers dead runs left, and says so; the text, and how
/// many could not be removed (each named with Docker's reason).
fn collect_containers(
    found: &[imgs_build::docker_cache::LeftContainer],
    shared_dirs: &[imgs_build::docker_cache::LeftSharedDir],
    dry_run: bool,
) -> (String, usize) {
    if found.is_empty() && shared_dirs.is_empty() {
        return ("docker: nothing to remove\n".to_string(), 0);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut out = format!("docker: {verb}\n");
    let mut not_removed = String::new();
    for container in found {
        let line = format!(
            "  container {} (run {}, image {})",
            imgs_docker_short(&container.id),
            container.run_id,
            container.image
        );
        let removed = if dry_run {
            Ok(())
        } else {
            imgs_build::docker_cache::remove_container(container)
        };
        match removed {
            Ok(()) => {
                let _ = writeln!(out, "{line}");
            }
            Err(why) => {
                let _ = writeln!(not_removed, "{line}: {why}");
            }
        }
    }
    let failed = not_removed.lines().count();
    for dir in shared_dirs {
        if !dry_run {
            let _ = std::fs::remove_dir_all(&dir.path);
        }
        let _ = writeln!(
            out,
            "  shared directory {} (run {}, image {})",
            dir.path.display(),
            dir.run_id,
            dir.image
        );
    }
    if failed > 0 {
        let _ = write!(out, "docker: could not remove\n{not_removed}");
    }
    (out, failed)
}

fn imgs_docker_short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Per region: what was (or would be) removed, what could not be, which runs were skipped.
fn render(reports: &[GcReport], dry_run: bool) -> String {
    let mut out = String::new();
    let skipped: BTreeSet<&String> = reports.iter().flat_map(|r| &r.skipped_runs).collect();
    for run in skipped {
        let _ = writeln!(
            out,
            "Skipped run {run}: it is still building on this machine"
        );
    }
    for report in reports {
        if report.removed.is_empty() && report.failed.is_empty() {
            let _ = writeln!(out, "{}: nothing to remove", report.region);
            continue;
        }
        if !report.removed.is_empty() {
            let verb = if dry_run { "would remove" } else { "removed" };
            let _ = writeln!(out, "{}: {verb}", report.region);
            for leftover in &report.removed {
                let _ = writeln!(out, "  {}", describe(leftover));
            }
        }
        if !report.failed.is_empty() {
            let _ = writeln!(out, "{}: could not remove", report.region);
            for (leftover, why) in &report.failed {
                let _ = writeln!(out, "  {}: {why}", describe(leftover));
            }
        }
    }
    out
}

fn describe(leftover: &Leftover) -> String {
    let r = &leftover.resource;
    let kind = r.kind.noun();
    match &leftover.image {
        Some(image) => format!("{kind} {} (run {}, image {image})", r.id, leftover.run_id),
        None => format!("{kind} {} (run {})", r.id, leftover.run_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_marks_its_run_in_progress_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path(), "run-1").unwrap();
        // A lock left by a killed run: the file exists, nobody holds it.
        std::fs::write(runs_dir(dir.path()).join("run-2.lock"), "").unwrap();
        let (busy, stale) = runs_in_progress(dir.path()).unwrap();
        assert_eq!(busy, BTreeSet::from(["run-1".to_string()]));
        assert_eq!(stale, vec![runs_dir(dir.path()).join("run-2.lock")]);
        assert!(still_running(dir.path(), "run-1"));
        assert!(!still_running(dir.path(), "run-2"));
        assert!(!still_running(dir.path(), "run-3"), "no lock at all");
        assert!(!still_running(dir.path(), "../runs/run-1"), "not a run ID");
        drop(lock);
        assert!(!still_running(dir.path(), "run-1"));
        let (busy, _) = runs_in_progress(dir.path()).unwrap();
        assert!(busy.is_empty());
        assert!(!runs_dir(dir.path()).join("run-1.lock").exists());
    }
}
