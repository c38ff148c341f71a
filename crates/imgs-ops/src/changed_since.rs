//! `--changed-since GIT_REF`: the images whose fingerprint at REF differs from now, and everything
//! built on them. Exact rather than guessed from changed paths: the tree at REF is exported (`git
//! archive`) into a temporary directory, its workspace loaded there and fingerprinted as a plan does,
//! without any cache record; an image absent at REF counts as changed.
//!
//! Files git does not track (a generated key, a downloaded ISO) are not in the export; an image whose
//! inputs include one counts as changed, which errs on the side of building.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use imgs_diagnostic::Diagnostic;
use imgs_template::BuildFilter;
use imgs_workspace::{Selected, Selection, Workspace};

use super::{CloudLookup, Context, Failure, PlanWithWarnings, compute_plan};
use crate::options::{SelectionOptions, VariableOptions};

const FLAG: &str = "--changed-since";

/// `selected` narrowed to the images changed since `--changed-since` (and their descendants), with
/// the ancestors those need; `selected` itself when the flag is not given.
pub fn narrow(
    cx: &Context,
    ws: &Workspace,
    args: &SelectionOptions,
    variables: &VariableOptions,
    filter: &BuildFilter,
    selected: Selected,
) -> Result<Selected, Failure> {
    let Some(git_ref) = &args.changed_since else {
        return Ok(selected);
    };
    let changed = changed_images(cx, ws, git_ref, variables, filter)?;
    let requested: BTreeSet<String> = selected
        .requested
        .into_iter()
        .filter(|name| changed.contains(name))
        .collect();
    let needed = ws
        .lineage
        .with_ancestors(requested.iter().map(String::as_str));
    Ok(Selected { requested, needed })
}

/// Images whose fingerprint differs at `git_ref`, with their descendants.
fn changed_images(
    cx: &Context,
    ws: &Workspace,
    git_ref: &str,
    variables: &VariableOptions,
    filter: &BuildFilter,
) -> Result<BTreeSet<String>, Failure> {
    let top = git_toplevel(&ws.root)?;
    let commit = resolve(&top, git_ref)?;
    let export = tempfile::Builder::new()
        .prefix("imgs-changed-since-")
        .tempdir()
        .map_err(|e| Failure::Other(format!("cannot create a temporary directory: {e}")))?;
    archive(&top, &commit, export.path())?;
    let root = std::fs::canonicalize(&ws.root).unwrap_or_else(|_| ws.root.clone());
    let relative = root.strip_prefix(&top).unwrap_or(Path::new(""));
    let manifest = ws
        .manifest_path
        .file_name()
        .map(|name| export.path().join(relative).join(name))
        .unwrap_or_default();

    let now = fingerprints(cx, ws, variables, filter)?;
    let before = if manifest.is_file() {
        let old = Workspace::load(&manifest).map_err(|d| at_ref(git_ref, d.to_string()))?;
        let old_cx = Context {
            cwd: old.root.clone(),
            manifest_path: Some(manifest.clone()),
            live_output: false,
        };
        super::fingerprint::readable_fingerprints(&old_cx, &old, variables, filter).map_err(
            |f| match f {
                Failure::Input(d) => at_ref(git_ref, d.to_string()),
                other => other,
            },
        )?
    } else {
        // No workspace at REF: everything is new.
        BTreeMap::new()
    };
    let changed: Vec<&str> = now
        .iter()
        .filter(|(name, fingerprint)| before.get(*name) != Some(fingerprint))
        .map(|(name, _)| name.as_str())
        .collect();
    Ok(ws.lineage.with_descendants(changed))
}

/// Every image's fingerprint, as a plan computes it, with no cloud lookup.
fn fingerprints(
    cx: &Context,
    ws: &Workspace,
    variables: &VariableOptions,
    filter: &BuildFilter,
) -> Result<BTreeMap<String, String>, Failure> {
    let all = ws.select(&Selection::default())?;
    let PlanWithWarnings { plan, .. } =
        compute_plan(cx, ws, &all, variables, filter, false, CloudLookup::Offline)?;
    Ok(plan
        .images
        .iter()
        .map(|image| (image.name.clone(), image.fingerprint.to_string()))
        .collect())
}

fn at_ref(git_ref: &str, problem: String) -> Failure {
    Failure::Other(format!(
        "cannot fingerprint the workspace as it was at `{git_ref}`: {problem}"
    ))
}

fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, Failure> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Diagnostic::error(format!("{FLAG} needs git, which could not be run: {e}"))
                .key(FLAG)
                .hint("install git, or select images with -i instead")
                .into()
        })
}

fn git_toplevel(dir: &Path) -> Result<PathBuf, Failure> {
    let out = git(dir, &["rev-parse", "--show-toplevel"])?;
    if !out.status.success() {
        return Err(Diagnostic::error(format!(
            "{FLAG} compares with a git revision, but `{}` is not in a git repository",
            dir.display()
        ))
        .key(FLAG)
        .hint("run imgs in a git checkout of the workspace, or select images with -i instead")
        .into());
    }
    let top = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(std::fs::canonicalize(&top).unwrap_or(top))
}

/// The commit `git_ref` names.
fn resolve(top: &Path, git_ref: &str) -> Result<String, Failure> {
    let spec = format!("{git_ref}^{{commit}}");
    // `--end-of-options` keeps a ref that starts with a dash from being read as an option.
    let out = git(
        top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
    )?;
    if !out.status.success() {
        return Err(
            Diagnostic::error(format!("`{git_ref}` is not a commit of this repository"))
                .key(FLAG)
                .hint("give a branch, tag or commit (`git log --oneline` lists commits)")
                .into(),
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The tree at `commit`, unpacked under `into`: `git archive` piped into `tar` (both are where git
/// is, and this keeps an archive reader out of imgs for one export).
fn archive(top: &Path, commit: &str, into: &Path) -> Result<(), Failure> {
    let mut git = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["archive", "--format=tar", commit])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::Other(format!("cannot run git archive: {e}")))?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(into)
        .stdin(git.stdout.take().expect("stdout is piped"))
        .stderr(Stdio::piped())
        .output();
    let archived = git
        .wait_with_output()
        .map_err(|e| Failure::Other(format!("git archive failed: {e}")))?;
    if !archived.status.success() {
        return Err(Failure::Other(format!(
            "git archive {commit} failed: {}",
            String::from_utf8_lossy(&archived.stderr).trim()
        )));
    }
    match tar {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(Failure::Other(format!(
            "cannot unpack the tree at {commit}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        Err(e) => Err(Failure::Other(format!("cannot run tar: {e}"))),
    }
}
