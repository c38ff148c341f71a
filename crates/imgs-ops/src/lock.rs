//! Images.lock in the commands: plan and build lock what is missing or stale before they plan (as
//! `cargo build` updates Cargo.lock), `--locked` and `--offline` refuse to, the fingerprint takes
//! each locked value as an input, a build launches from the locked AMI, and `imgs update`
//! re-resolves on request and says what will rebuild because of it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use imgs_build::lock_inputs::{self, LockedSource, OutsideInput};
use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_fingerprint::{InputKey, InputSet};
use imgs_plan::{Action, Plan};
use imgs_template::interpolate::Volatile;
use imgs_template::{BuildFilter, Invocation, ResolvedVariables, Template};
use imgs_workspace::lock::{InputKind, LOCK_NAME, LockEntry, LockKey, Lockfile};
use imgs_workspace::{Selection, Workspace};

use super::fingerprint::{compute_plan, workspace_variables};
use super::{CloudLookup, Context, Failure, Output, build_filter};
use crate::options::{BuildFilterOptions, SelectionOptions, VariableOptions};

thread_local! {
    /// The lock a plan fingerprints with instead of the file: `imgs update --dry-run` plans with
    /// the lock it would write, and writes nothing. Plans run on the calling thread.
    static PLANNED_LOCK: RefCell<Option<Lockfile>> = const { RefCell::new(None) };
}

/// Images.lock of `ws`: empty when there is none.
pub(crate) fn read_lock(root: &Path) -> Result<Lockfile, Failure> {
    if let Some(planned) = PLANNED_LOCK.with(|p| p.borrow().clone()) {
        return Ok(planned);
    }
    let path = root.join(LOCK_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Lockfile::parse(Path::new(LOCK_NAME), &text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lockfile::default()),
        Err(e) => Err(Failure::Other(format!("cannot read {LOCK_NAME}: {e}"))),
    }
}

fn write_lock(root: &Path, lock: &Lockfile) -> Result<(), Failure> {
    imgs_atomic_file::write_atomically(&root.join(LOCK_NAME), lock.to_toml().as_bytes())
        .map_err(|e| Failure::Other(format!("cannot write {LOCK_NAME}: {e}")))
}

/// The lockable inputs of one image's template: a filter that reads a parent's artifact is not
/// one (the parent's fingerprint already pins it).
fn lockable(
    template: &Template,
    resolved: &ResolvedVariables,
    filter: &BuildFilter,
    root: &Path,
) -> Vec<OutsideInput> {
    lock_inputs::outside_inputs(template, resolved, filter, root)
        .into_iter()
        .filter(|i| !i.spec.contains(&imgs_fingerprint::parent_placeholder("")))
        .collect()
}

fn key_of(image: &str, input: &OutsideInput) -> LockKey {
    LockKey {
        image: image.to_string(),
        build: input.build.clone(),
        kind: InputKind::parse(input.kind).unwrap_or(InputKind::SourceAmi),
        region: input.region.clone(),
    }
}

/// Adds the image's locked values to its fingerprint inputs: each lockable input whose lock entry
/// still has its spec. (A missing or stale entry adds nothing: plan and build lock it first.)
pub(crate) fn add_inputs(
    root: &Path,
    image: &str,
    template: &Template,
    resolved: &ResolvedVariables,
    filter: &BuildFilter,
    set: &mut InputSet,
) -> Result<(), Failure> {
    let inputs = lockable(template, resolved, filter, root);
    if inputs.is_empty() {
        return Ok(());
    }
    let lock = read_lock(root)?;
    for input in &inputs {
        let key = key_of(image, input);
        if let Some(entry) = lock.get(&key).filter(|e| e.spec == input.spec) {
            let value = blake3::hash(format!("{}\0{}", entry.spec, entry.resolved).as_bytes());
            set.insert(InputKey::Locked(key.input_name()), value);
        }
    }
    Ok(())
}

/// The locked sources of `image`, by build: the AMIs its amazon-ebs builds launch from, the
/// images its docker builds start from.
pub(crate) fn locked_sources(root: &Path, image: &str) -> BTreeMap<String, LockedSource> {
    // The plan read the lock a moment ago; a lock that cannot be read now leaves the build to
    // resolve its filter, as without a lock.
    let Ok(lock) = read_lock(root) else {
        return BTreeMap::new();
    };
    lock.of_image(image)
        .filter(|e| matches!(e.key.kind, InputKind::SourceAmi | InputKind::ImageDigest))
        .map(|e| {
            (
                e.key.build.clone(),
                LockedSource {
                    spec: e.spec.clone(),
                    ami: e.resolved.clone(),
                },
            )
        })
        .collect()
}

/// The lockable inputs of each of `names`, its template's variables resolved as for planning.
fn current_inputs(
    cx: &Context,
    ws: &Workspace,
    names: &BTreeSet<String>,
    variables: &VariableOptions,
    filter: &BuildFilter,
) -> Result<Vec<(String, Vec<OutsideInput>)>, Failure> {
    let base = cx.invocation(&ws.root, variables, Volatile::Placeholder, true)?;
    let mut found = Vec::new();
    for image in ws.images.iter().filter(|i| names.contains(&i.name)) {
        let invocation = Invocation {
            workspace_vars: workspace_variables(ws, image),
            ..base.clone()
        };
        let template = imgs_template::instantiate(&image.template, &invocation)?;
        let resolved = imgs_template::resolve_variables(&template, &invocation)?;
        found.push((
            image.name.clone(),
            lockable(&template, &resolved, filter, &ws.root),
        ));
    }
    Ok(found)
}

/// What `imgs plan`/`imgs build` were asked about the lock.
#[derive(Debug, Clone, Default)]
pub struct LockOptions {
    pub selection: SelectionOptions,
    pub variables: VariableOptions,
    pub filter: BuildFilterOptions,
    /// `--locked`: Images.lock must not change.
    pub locked: bool,
    /// `--offline`: EC2 cannot be asked.
    pub offline: bool,
}

/// Before a plan or build: locks every lockable input of the selected images (and their parents)
/// that Images.lock lacks or whose spec changed, and writes the file; returns the `Locking` lines
/// for stderr. With `--locked` or `--offline` such an input is an error naming it.
pub fn settle_lock(cx: &Context, options: &LockOptions) -> Result<String, Failure> {
    // A workspace, selection or template that does not read is the plan's to report, with all
    // its errors: there is nothing to lock until it reads.
    let Ok(ws) = cx.load_workspace() else {
        return Ok(String::new());
    };
    let selection = super::plan::selection(cx, &ws, &options.selection);
    let Ok(selected) = ws.select(&selection) else {
        return Ok(String::new());
    };
    let filter = build_filter(&options.filter);
    let Ok(current) = current_inputs(cx, &ws, &selected.needed, &options.variables, &filter) else {
        return Ok(String::new());
    };
    if current.iter().all(|(_, inputs)| inputs.is_empty()) {
        return Ok(String::new());
    }
    let old = read_lock(&ws.root)?;
    let mut new = old.clone();
    // An image no longer in the workspace has nothing to lock (as Cargo drops a removed package).
    new.retain(|e| ws.image(&e.key.image).is_some());
    let mut missing: Vec<(LockKey, &OutsideInput, Option<&LockEntry>)> = Vec::new();
    for (image, inputs) in &current {
        let keys: BTreeSet<LockKey> = inputs.iter().map(|i| key_of(image, i)).collect();
        new.retain(|e| &e.key.image != image || keys.contains(&e.key));
        for input in inputs {
            let key = key_of(image, input);
            match old.get(&key) {
                Some(entry) if entry.spec == input.spec => {}
                other => missing.push((key, input, other)),
            }
        }
    }
    if !missing.is_empty() && (options.locked || options.offline) {
        let flag = if options.locked {
            "--locked"
        } else {
            "--offline"
        };
        let errors = missing
            .iter()
            .map(|(key, input, entry)| {
                let why = match (options.locked, key.kind) {
                    (true, _) => "`--locked` forbids changing it",
                    (false, InputKind::ImageDigest) => {
                        "`--offline` cannot ask the Docker engine or registry"
                    }
                    (false, _) => "`--offline` cannot ask EC2",
                };
                let what = format!(
                    "the {} of build `{}` of `{}`",
                    key.what(),
                    key.build,
                    key.image
                );
                let message = match entry {
                    None => format!("{LOCK_NAME} has no entry for {what}, and {why}"),
                    Some(e) => format!(
                        "the {LOCK_NAME} entry for {what} is stale (locked for `{}`, the template \
                         now asks `{}`), and {why}",
                        e.spec, input.spec
                    ),
                };
                let hint = format!(
                    "run `imgs update -i {}` and commit {LOCK_NAME}, then run again with `{flag}`",
                    key.image
                );
                // A stale entry is pointed at; a missing one has no place in the file.
                let at = old
                    .location(key)
                    .cloned()
                    .unwrap_or_else(|| imgs_diagnostic::Location::file(Path::new(LOCK_NAME)));
                Diagnostic::error(message)
                    .at(at)
                    .key(format!("{}.{}.{}", key.image, key.build, key.kind.as_str()))
                    .hint(hint)
            })
            .collect();
        return Err(Failure::Input(Diagnostics(errors)));
    }
    let inputs: Vec<&OutsideInput> = missing.iter().map(|(_, input, _)| *input).collect();
    let answers = lock_inputs::resolve(&inputs);
    let mut lines = String::new();
    let mut errors = Vec::new();
    for ((key, input, _), answer) in missing.iter().zip(answers) {
        match answer {
            Ok(resolved) => {
                lines.push_str(&format!(
                    "{:>12} {}: {} {resolved}\n",
                    "Locking",
                    key.image,
                    key.what()
                ));
                new.set(LockEntry {
                    key: key.clone(),
                    spec: input.spec.clone(),
                    resolved,
                });
            }
            // A docker image neither the engine nor its registry answers for is left unlocked, and
            // said so: a plan needs no engine, and a build reports what is wrong (a daemon that is
            // down, a tag no registry has) as it pulls. The next run that resolves it locks it.
            Err(why) if key.kind == InputKind::ImageDigest => {
                let warning = Diagnostic::warning(format!(
                    "the {} of build `{}` of `{}` is not locked: {why}",
                    key.what(),
                    key.build,
                    key.image
                ))
                .key(format!("{}.{}.{}", key.image, key.build, key.kind.as_str()))
                .hint(pull_hint(&input.spec));
                lines.push_str(&format!("{warning}\n"));
            }
            Err(why) => errors.push(cannot_resolve(key, &input.spec, &why)),
        }
    }
    if !errors.is_empty() {
        return Err(Failure::Input(Diagnostics(errors)));
    }
    // `--locked` and `--offline` never write: entries of inputs no template asks any more stay
    // until a run that may write.
    if new != old && !options.locked && !options.offline {
        write_lock(&ws.root, &new)?;
    }
    Ok(lines)
}

fn pull_hint(spec: &str) -> String {
    format!(
        "check the image name and tag; an image its registry does not give without a login is \
         locked once it is in the Docker engine (`docker pull {spec}`, or built there): imgs locks \
         what the build would start from"
    )
}

fn cannot_resolve(key: &LockKey, spec: &str, why: &str) -> Diagnostic {
    let hint = match key.kind {
        InputKind::ImageDigest => pull_hint(spec),
        _ => "check the template's source_ami_filter and the credentials; imgs locks what the \
              build would launch from"
            .to_string(),
    };
    Diagnostic::error(format!(
        "cannot lock the {} of build `{}` of `{}`: {why}",
        key.what(),
        key.build,
        key.image
    ))
    .key(format!("{}.{}.{}", key.image, key.build, key.kind.as_str()))
    .hint(hint)
}

/// `imgs update` options.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    pub selection: SelectionOptions,
    pub variables: VariableOptions,
    pub filter: BuildFilterOptions,
    /// Say what would change and rebuild; write nothing.
    pub dry_run: bool,
}

/// `imgs update`: resolves every lockable input of the selected images afresh, rewrites
/// Images.lock (atomically), says what changed and what will rebuild because of it.
pub fn update(cx: &Context, options: &UpdateOptions) -> Result<Output, Failure> {
    let ws = cx.load_workspace()?;
    let selection = super::plan::selection(cx, &ws, &options.selection);
    let selected = ws.select(&selection)?;
    let filter = build_filter(&options.filter);
    let current = current_inputs(cx, &ws, &selected.requested, &options.variables, &filter)?;
    let old = read_lock(&ws.root)?;
    let mut new = old.clone();
    new.retain(|e| ws.image(&e.key.image).is_some());
    let wanted: Vec<(LockKey, &OutsideInput)> = current
        .iter()
        .flat_map(|(image, inputs)| inputs.iter().map(move |i| (key_of(image, i), i)))
        .collect();
    let keys: BTreeSet<&LockKey> = wanted.iter().map(|(k, _)| k).collect();
    new.retain(|e| !selected.requested.contains(&e.key.image) || keys.contains(&e.key));
    let answers = lock_inputs::resolve(&wanted.iter().map(|(_, i)| *i).collect::<Vec<_>>());
    let mut errors = Vec::new();
    for ((key, input), answer) in wanted.iter().zip(answers) {
        match answer {
            Ok(resolved) => new.set(LockEntry {
                key: key.clone(),
                spec: input.spec.clone(),
                resolved,
            }),
            Err(why) => errors.push(cannot_resolve(key, &input.spec, &why)),
        }
    }
    if !errors.is_empty() {
        return Err(Failure::Input(Diagnostics(errors)));
    }
    let changes = changes(&old, &new);
    let mut out = String::new();
    if changes.is_empty() {
        out.push_str(&format!(
            "{LOCK_NAME} is up to date: {} locked input{} of {} image{} checked, nothing changed\n",
            wanted.len(),
            if wanted.len() == 1 { "" } else { "s" },
            selected.requested.len(),
            if selected.requested.len() == 1 {
                ""
            } else {
                "s"
            },
        ));
        return Ok(out.into());
    }
    out.push_str(&changes);
    if options.dry_run {
        out.push_str(&format!("{LOCK_NAME} not written (--dry-run)\n"));
    } else {
        // A running build reads the lock as it starts each image: the new lock waits for it,
        // as a prune does.
        let _held = super::cache::lock_workspace(&ws.root, "update", false)?;
        write_lock(&ws.root, &new)?;
    }
    // What rebuilds: the workspace planned with the new lock (a dry run's only in memory).
    let all = ws.select(&Selection::default())?;
    PLANNED_LOCK.with(|p| *p.borrow_mut() = Some(new));
    let planned = compute_plan(
        cx,
        &ws,
        &all,
        &options.variables,
        &filter,
        false,
        CloudLookup::Online,
    );
    PLANNED_LOCK.with(|p| *p.borrow_mut() = None);
    let planned = planned?;
    out.push_str(&rebuilds(&planned.plan, options.dry_run));
    Ok(Output {
        stdout: out,
        warnings: planned.warnings,
    })
}

/// One line per entry added, changed or removed, in key order.
fn changes(old: &Lockfile, new: &Lockfile) -> String {
    let keys: BTreeSet<&LockKey> = old
        .entries()
        .iter()
        .chain(new.entries())
        .map(|e| &e.key)
        .collect();
    let mut out = String::new();
    for key in keys {
        let line = match (old.get(key), new.get(key)) {
            (Some(a), Some(b)) if a.resolved == b.resolved && a.spec == b.spec => continue,
            (Some(a), Some(b)) if a.resolved == b.resolved => {
                format!(
                    "{:>12} {}: {} {} (spec changed)",
                    "Updating",
                    key.image,
                    key.what(),
                    b.resolved
                )
            }
            (Some(a), Some(b)) => format!(
                "{:>12} {}: {} {} -> {}",
                "Updating",
                key.image,
                key.what(),
                a.resolved,
                b.resolved
            ),
            (None, Some(b)) => {
                format!(
                    "{:>12} {}: {} {}",
                    "Locking",
                    key.image,
                    key.what(),
                    b.resolved
                )
            }
            (Some(a), None) => {
                format!(
                    "{:>12} {}: {} {}",
                    "Removing",
                    key.image,
                    key.what(),
                    a.resolved
                )
            }
            (None, None) => continue,
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The plan's build lines: what the changed lock makes rebuild.
fn rebuilds(plan: &Plan, dry_run: bool) -> String {
    let building: Vec<_> = plan
        .images
        .iter()
        .filter(|i| matches!(i.action, Action::Build { .. }))
        .cloned()
        .collect();
    if building.is_empty() {
        return "nothing to rebuild\n".to_string();
    }
    let view = Plan {
        images: building,
        ..Plan::default()
    };
    let heading = if dry_run {
        "would rebuild:"
    } else {
        "will rebuild:"
    };
    let rendered = imgs_report::render_plan(&view);
    // Every line but the plan's count, which would call nothing fresh.
    let lines: String = rendered
        .lines()
        .filter(|l| l.starts_with(' '))
        .map(|l| format!("{l}\n"))
        .collect();
    let n = view.images.len();
    format!(
        "{heading}\n{lines}{n} image{} to rebuild\n",
        if n == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(image: &str, spec: &str, ami: &str) -> LockEntry {
        LockEntry {
            key: LockKey {
                image: image.into(),
                build: "amazon-ebs".into(),
                kind: InputKind::SourceAmi,
                region: "us-east-1".into(),
            },
            spec: spec.into(),
            resolved: ami.into(),
        }
    }

    fn lock(entries: &[LockEntry]) -> Lockfile {
        let mut lock = Lockfile::default();
        for e in entries {
            lock.set(e.clone());
        }
        lock
    }

    #[test]
    fn changes_list_updates_additions_and_removals_in_key_order() {
        let old = lock(&[
            entry("base", "name=a", "ami-1"),
            entry("gone", "name=g", "ami-9"),
            entry("same", "name=s", "ami-5"),
        ]);
        let new = lock(&[
            entry("base", "name=a", "ami-2"),
            entry("new", "name=n", "ami-3"),
            entry("same", "name=s", "ami-5"),
        ]);
        assert_eq!(
            changes(&old, &new),
            "    Updating base: source AMI (us-east-1) ami-1 -> ami-2\n\
             \x20   Removing gone: source AMI (us-east-1) ami-9\n\
             \x20    Locking new: source AMI (us-east-1) ami-3\n"
        );
        assert_eq!(changes(&new, &new), "");
    }

    #[test]
    fn a_spec_change_to_the_same_ami_is_still_a_change() {
        let old = lock(&[entry("base", "name=a", "ami-1")]);
        let new = lock(&[entry("base", "name=b", "ami-1")]);
        assert_eq!(
            changes(&old, &new),
            "    Updating base: source AMI (us-east-1) ami-1 (spec changed)\n"
        );
    }
}
