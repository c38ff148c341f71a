//! `imgs cache ls` and `imgs cache prune`: what the local cache holds, and removing what the workspace no
//! longer needs.
//!
//! "Current" means what `imgs plan` (with the same `--var`, `--var-file`, `--only`, `--except`) computes
//! for the image now. A prune never guesses: if the workspace cannot be fingerprinted, or a record cannot
//! be read, it removes nothing and says why.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use imgs_build::cloud::{self, UnusedArtifact};
use imgs_report::UnusedAmi;

use imgs_cache::{Cache, CacheRecord, Inventory, Status, apply_prune, decide_prune};
use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_fingerprint::Fingerprint;
use imgs_workspace::{Selection, Workspace};

use super::fingerprint::planning_variables;
use super::{Context, Failure, Output, absolute, build_filter, compute_plan};
use crate::options::{
    BuildFilterOptions, CacheCommand, CacheLsOptions, CachePruneOptions, MessageFormat,
    VariableOptions,
};

pub fn cache(cx: &Context, command: &CacheCommand) -> Result<Output, Failure> {
    match command {
        CacheCommand::Ls(args) => ls(cx, args),
        CacheCommand::Prune(args) => prune(cx, args),
    }
}

fn ls(cx: &Context, args: &CacheLsOptions) -> Result<Output, Failure> {
    let (inventory, unknown) = inventory(cx, &args.variables, &args.filter)?;
    let stdout = match args.message_format {
        MessageFormat::Human => imgs_report::render_cache_ls(&inventory),
        MessageFormat::Json => format!("{}\n", imgs_report::cache_ls_json(&inventory)),
    };
    // Listing a broken workspace's cache is still useful; the statuses say `unknown` and this says why.
    let warnings = match unknown {
        None => Diagnostics::default(),
        Some(why) => Diagnostic::warning(format!(
            "which records are current is not known: {}",
            failure_summary(&why)
        ))
        .hint("`imgs plan` shows the problems; fix them to see which records are current")
        .into(),
    };
    Ok(Output { stdout, warnings })
}

fn prune(cx: &Context, args: &CachePruneOptions) -> Result<Output, Failure> {
    // A prune that removes anything takes the workspace lock first, so it decides from the records
    // a running build leaves when done, and never removes what that build writes or stands on. A
    // dry run only reads.
    let lock = if args.dry_run {
        None
    } else {
        Some(lock_for_prune(cx, args)?)
    };
    let warnings: Diagnostics = lock
        .as_ref()
        .and_then(|l| l.repaired.clone())
        .map(|repaired| {
            Diagnostic::warning(repaired)
                .hint("imgs owns the files in cache/; keep your own files elsewhere")
                .into()
        })
        .unwrap_or_default();
    let (inventory, unknown) = inventory(cx, &args.variables, &args.filter)?;
    if let Some(why) = unknown {
        return Err(nothing_removed(why));
    }
    let plan = decide_prune(&inventory).map_err(|refusals| {
        let mut diagnostics: Vec<Diagnostic> = refusals
            .into_iter()
            .map(|r| {
                let d = Diagnostic::error(r.message).hint(r.hint);
                match &r.path {
                    Some(path) => d.in_file(std::path::Path::new(&inventory.shown(path))),
                    None => d,
                }
            })
            .collect();
        diagnostics.push(Diagnostic::warning("nothing was removed"));
        Failure::Input(Diagnostics(diagnostics))
    })?;
    // Everything is listed, and agreed to, before anything is removed.
    let unused = if args.deregister {
        let amis = unused_artifacts(cx, &args.variables, &args.filter)?;
        if !args.dry_run && !args.yes && !amis.is_empty() {
            confirm(cx, &amis)?;
        }
        Some(amis)
    } else {
        None
    };
    if !args.dry_run {
        let cache = Cache::open(&inventory.root.join(CACHE_DIR));
        apply_prune(&cache, &plan).map_err(|e| {
            Failure::Other(format!(
                "{e}\nthe prune stopped part way; run it again to finish (it removes files before the records that name them)"
            ))
        })?;
    }
    let mut stdout = imgs_report::render_prune(&inventory, &plan, args.dry_run);
    if let Some(amis) = unused {
        let failed = if args.dry_run {
            Vec::new()
        } else {
            cloud::retire(&amis).map_err(Failure::Other)?
        };
        let rows: Vec<UnusedAmi> = amis
            .iter()
            .map(|UnusedArtifact { ami, .. }| UnusedAmi {
                region: ami.region.clone(),
                ami_id: ami.ami_id.clone(),
                image: ami.image.clone(),
                fingerprint: ami.fingerprint.clone().unwrap_or_default(),
                created_at: ami.created_at.clone(),
                snapshots: ami.snapshots.len(),
            })
            .collect();
        stdout.push_str(&imgs_report::render_deregister(
            &rows,
            &failed,
            args.dry_run,
        ));
        if !failed.is_empty() {
            return Err(Failure::Other(format!(
                "{stdout}could not deregister {} AMI{}; run the prune again to retry",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" }
            )));
        }
    }
    Ok(Output { stdout, warnings })
}

/// The workspace lock for `imgs cache prune`: waited for (saying so on stderr) unless `--no-wait`.
fn lock_for_prune(
    cx: &Context,
    args: &CachePruneOptions,
) -> Result<super::workspace_lock::WorkspaceLock, Failure> {
    lock_workspace(&workspace_root(cx)?, "imgs cache prune", args.no_wait)
}

/// The workspace lock for a command that removes or marks what builds use (`imgs cache prune`,
/// `imgs prune`, `imgs revoke`): waited for (saying so on stderr) unless `no_wait`.
pub(crate) fn lock_workspace(
    root: &std::path::Path,
    command: &str,
    no_wait: bool,
) -> Result<super::workspace_lock::WorkspaceLock, Failure> {
    use super::workspace_lock::{self, LockError, Wait};
    workspace_lock::acquire(
        &root.join(CACHE_DIR),
        command,
        None,
        if no_wait { Wait::NoWait } else { Wait::Block },
        // Ctrl-C ends a prune outright (it removes files before the records naming them, so it
        // can be run again), and with it the wait.
        &tokio_util::sync::CancellationToken::new(),
        |path, holder| {
            eprintln!(
                "{}",
                super::events::waiting_message(&path.display().to_string(), holder)
            )
        },
    )
    .map_err(|e| match e {
        LockError::Busy { .. } => Failure::Locked {
            message: e.message(),
            hint: e.hint(),
        },
        other => Failure::Other(other.message()),
    })
}

/// The artifacts made for this workspace's images under a fingerprint that is not current, looked
/// for wherever the images' cloud builds put them now (for AMIs: build region and `ami_regions`), as
/// the credentials those builds use.
fn unused_artifacts(
    cx: &Context,
    variables: &VariableOptions,
    filter: &BuildFilterOptions,
) -> Result<Vec<UnusedArtifact>, Failure> {
    let ws = cx.load_workspace()?;
    let current = current_fingerprints(cx, &ws, variables, filter)?;
    let filter = build_filter(filter);
    let planned = planning_variables(cx, &ws, variables)?;
    let images: Vec<_> = planned
        .iter()
        .map(|(t, r)| (t.as_ref(), r.clone()))
        .collect();
    let names: Vec<String> = ws.images.iter().map(|i| i.name.clone()).collect();
    cloud::unused_artifacts(&images, &filter, &ws.root, &names, &current).map_err(Failure::Other)
}

/// Asks on the terminal before deregistering; without one, refuses (a script says `--yes`).
fn confirm(cx: &Context, amis: &[UnusedArtifact]) -> Result<(), Failure> {
    let count = format!(
        "{} AMI{}",
        amis.len(),
        if amis.len() == 1 { "" } else { "s" }
    );
    let interactive = cx.live_output && std::io::stdin().is_terminal();
    if !interactive {
        return Err(Diagnostic::error(format!(
            "--deregister would deregister {count} and delete their snapshots, and there is no terminal to ask"
        ))
        .key("--deregister")
        .hint("pass --yes to deregister without asking, or --dry-run to list them")
        .into());
    }
    let mut question = String::new();
    for UnusedArtifact { ami, .. } in amis {
        question.push_str(&format!(
            "  {} in {} ({})\n",
            ami.ami_id, ami.region, ami.image
        ));
    }
    eprint!("{question}Deregister these {count} and delete their snapshots? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::Other(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err(Failure::Other("nothing was removed".to_owned()))
    }
}

/// The cache directory under the workspace root (as `compute_plan` uses it).
const CACHE_DIR: &str = "cache";

/// The inventory of the workspace's cache, with each record's status; and, when statuses could not be
/// worked out, why. Errors: no workspace to find, or the cache cannot be read.
fn inventory(
    cx: &Context,
    variables: &VariableOptions,
    filter: &BuildFilterOptions,
) -> Result<(Inventory, Option<Failure>), Failure> {
    let root = workspace_root(cx)?;
    let cache = Cache::open(&root.join(CACHE_DIR));
    let (status, unknown) = match cx.load_workspace() {
        Err(why) => (Statuses::Unknown { workspace: None }, Some(why)),
        Ok(ws) => match current_fingerprints(cx, &ws, variables, filter) {
            Ok(current) => (Statuses::Known { ws, current }, None),
            Err(why) => (
                Statuses::Unknown {
                    workspace: Some(ws),
                },
                Some(why),
            ),
        },
    };
    let io = |e: std::io::Error| Failure::Other(format!("cannot read the cache: {e}"));
    let scanned = cache.scan().map_err(io)?;
    let cache_dir = root.join(CACHE_DIR);
    let inventory = Inventory::gather(&root, scanned, |r| status.of(r))
        .and_then(|inventory| {
            inventory.with_versions(cache.versions()?, |run| {
                super::gc::still_running(&cache_dir, run)
            })
        })
        .map_err(io)?;
    Ok((inventory, unknown))
}

/// What is known about the workspace, for telling each record's status.
enum Statuses {
    Known {
        ws: Workspace,
        current: BTreeMap<String, Fingerprint>,
    },
    /// The workspace did not load (`None`) or could not be fingerprinted.
    Unknown { workspace: Option<Workspace> },
}

impl Statuses {
    fn of(&self, record: &CacheRecord) -> Status {
        match self {
            Statuses::Known { ws, current } => match current.get(&record.image) {
                Some(fingerprint) if *fingerprint == record.fingerprint => Status::Current,
                Some(_) => Status::Older,
                None if ws.image(&record.image).is_some() => Status::Unknown,
                None => Status::Orphaned,
            },
            // An image missing from a workspace that loaded is gone whatever its templates say.
            Statuses::Unknown {
                workspace: Some(ws),
            } if ws.image(&record.image).is_none() => Status::Orphaned,
            Statuses::Unknown { .. } => Status::Unknown,
        }
    }
}

/// Every image's fingerprint as `imgs plan --all` computes it now.
pub(super) fn current_fingerprints(
    cx: &Context,
    ws: &Workspace,
    variables: &VariableOptions,
    filter: &BuildFilterOptions,
) -> Result<BTreeMap<String, Fingerprint>, Failure> {
    let selected = ws.select(&Selection::default())?;
    let planned = compute_plan(
        cx,
        ws,
        &selected,
        variables,
        &build_filter(filter),
        false,
        super::CloudLookup::Offline,
    )?;
    Ok(planned
        .plan
        .images
        .into_iter()
        .map(|image| (image.name, image.fingerprint))
        .collect())
}

/// The directory of `Images.toml`, found as every command finds it, even when the workspace is broken.
fn workspace_root(cx: &Context) -> Result<PathBuf, Failure> {
    let manifest = match &cx.manifest_path {
        Some(path) => Some(absolute(&cx.cwd, path)),
        None => imgs_workspace::find_manifest(&cx.cwd),
    };
    match manifest.as_deref().and_then(std::path::Path::parent) {
        Some(root) => Ok(root.to_path_buf()),
        // Loading reports the missing manifest the way every command does.
        None => Err(cx
            .load_workspace()
            .err()
            .unwrap_or_else(|| Failure::Other("no workspace root".to_owned()))),
    }
}

/// A prune refused because statuses are unknown: the reasons, and that nothing was removed.
fn nothing_removed(why: Failure) -> Failure {
    let note = "nothing was removed: which records are current is not known while the workspace has errors";
    match why {
        Failure::Input(mut d) => {
            d.0.push(Diagnostic::warning(note).hint("fix the errors above, then prune again"));
            Failure::Input(d)
        }
        Failure::Other(message) | Failure::Locked { message, .. } => {
            Failure::Other(format!("{message}\n{note}"))
        }
    }
}

fn failure_summary(why: &Failure) -> String {
    match why {
        Failure::Input(d) => {
            let errors = d.0.iter().filter(|d| d.is_error()).count();
            format!(
                "the workspace has {errors} error{}",
                if errors == 1 { "" } else { "s" }
            )
        }
        Failure::Other(message) | Failure::Locked { message, .. } => message.clone(),
    }
}
