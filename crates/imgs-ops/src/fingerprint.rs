//! From a loaded workspace to a plan: resolve each image's variables, find the files it references, hash
//! everything into a fingerprint (parents first, since a child's fingerprint includes its parents'), and
//! compare with the cache.

use std::collections::BTreeSet;
use std::path::PathBuf;

use imgs_cache::Cache;
use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_fingerprint::{
    FileHasher, Fingerprint, ImageInputs, InputKey, image_inputs, reads_any_variable, relative_key,
};
use imgs_plan::{Action, BuildEngine, ImagePlan, Plan, Reason, Recorded, decide};
use imgs_template::{BuildFilter, Invocation, ResolvedVariables, Template, interpolate::Volatile};
use imgs_workspace::{Image, Selected, Workspace};

use imgs_build::cloud::{CloudQuery, look_up};
use imgs_build::docker_cache::DockerQuery;

use super::{CloudLookup, Context, Failure};
use crate::options::VariableOptions;

/// The directory under the workspace root holding records, the stat cache and local artifacts.
pub fn cache_dir(ws: &Workspace) -> PathBuf {
    ws.root.join("cache")
}

pub use imgs_fingerprint::parent_placeholder;

/// Every image's template with its variables resolved as for planning (parents' artifacts and
/// times as placeholders): what the cloud places a workspace builds in are read from.
pub fn planning_variables<'w>(
    cx: &Context,
    ws: &'w Workspace,
    variables: &VariableOptions,
) -> Result<Vec<(std::borrow::Cow<'w, Template>, ResolvedVariables)>, Failure> {
    let base = cx.invocation(&ws.root, variables, Volatile::Placeholder, true)?;
    let mut images = Vec::new();
    for image in &ws.images {
        let invocation = Invocation {
            workspace_vars: workspace_variables(ws, image),
            ..base.clone()
        };
        let template = imgs_template::instantiate(&image.template, &invocation)?;
        let resolved = imgs_template::resolve_variables(&template, &invocation)?;
        images.push((template, resolved));
    }
    Ok(images)
}

/// Workspace-level variables for one image, lowest precedence first: `[workspace] variables` (only those
/// the template declares), `[images.NAME] variables`, then the parents' artifacts.
pub fn workspace_variables(ws: &Workspace, image: &Image) -> Vec<(String, String)> {
    let declared = |name: &str| image.template.variables.contains_key(name);
    ws.variables
        .iter()
        .filter(|(k, _)| declared(k))
        .cloned()
        .chain(image.variables.iter().cloned())
        .chain(
            image
                .parents
                .iter()
                .map(|p| (p.variable.clone(), parent_placeholder(&p.image))),
        )
        .collect()
}

/// Every image of `selected.needed` fingerprinted (parents first), with what to ask the clouds;
/// an image whose template has errors is left out with them, and so are its children.
struct Fingerprints<'w> {
    images: Vec<Fingerprinted<'w>>,
    queries: Vec<CloudQuery>,
    /// Per image (in `images`' order): its Docker questions, when it has docker builds.
    docker: Vec<Option<DockerQuery>>,
    errors: Vec<Diagnostic>,
}

fn fingerprint_selected<'w>(
    ws: &'w Workspace,
    selected: &Selected,
    invocation: &Invocation,
    filter: &BuildFilter,
    hasher: &FileHasher,
    lookup: CloudLookup,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Fingerprints<'w>, Failure> {
    let mut errors = Vec::new();
    let mut images: Vec<Fingerprinted<'_>> = Vec::new();
    let mut queries: Vec<CloudQuery> = Vec::new();
    let mut docker: Vec<Option<DockerQuery>> = Vec::new();
    for name in ws.lineage.topological_order() {
        if !selected.needed.contains(&name) {
            continue;
        }
        let image = ws.image(&name).expect("lineage names are workspace images");
        // A parent that failed to fingerprint leaves its children unknowable; its error is already reported.
        let Some(parents) = image
            .parents
            .iter()
            .map(|p| {
                images
                    .iter()
                    .find(|i| i.image.name == p.image)
                    .map(|i| (p.image.as_str(), i.fingerprint))
            })
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let (inputs, resolved, template) =
            match image_input_set(ws, image, invocation, filter, parents, hasher, warnings) {
                Ok(found) => found,
                Err(Failure::Input(d)) => {
                    errors.extend(d.0);
                    continue;
                }
                Err(other) => return Err(other),
            };
        let engines = match build_engines(&template, &resolved, image, invocation, filter) {
            Ok(engines) => engines,
            Err(d) => {
                errors.extend(d.0);
                continue;
            }
        };
        let fingerprint = inputs.fingerprint();
        if lookup == CloudLookup::Online {
            queries.push(CloudQuery::of(
                fingerprint.to_string(),
                &template,
                &resolved,
                filter,
                &ws.root,
            ));
        }
        docker.push(DockerQuery::of(
            &fingerprint.to_string(),
            &template,
            &resolved,
            filter,
            &ws.root,
        ));
        images.push(Fingerprinted {
            image,
            inputs,
            fingerprint,
            engines,
        });
    }
    Ok(Fingerprints {
        images,
        queries,
        docker,
        errors,
    })
}

/// The fingerprints of the workspace's images whose templates read without errors (no cloud
/// lookup): what `--changed-since` compares an old tree with, where an image that cannot be read
/// (a file git does not track, such as a generated key) counts as changed.
pub(crate) fn readable_fingerprints(
    cx: &Context,
    ws: &Workspace,
    variables: &VariableOptions,
    filter: &BuildFilter,
) -> Result<std::collections::BTreeMap<String, String>, Failure> {
    let all = ws.select(&imgs_workspace::Selection::default())?;
    let invocation = cx.invocation(&ws.root, variables, Volatile::Placeholder, true)?;
    let hasher = FileHasher::open(&cache_dir(ws));
    let mut warnings = Vec::new();
    let found = fingerprint_selected(
        ws,
        &all,
        &invocation,
        filter,
        &hasher,
        CloudLookup::Offline,
        &mut warnings,
    )?;
    Ok(found
        .images
        .iter()
        .map(|i| (i.image.name.clone(), i.fingerprint.to_string()))
        .collect())
}

/// A plan and the warnings met while making it (inputs that do not exist yet).
pub struct PlanWithWarnings {
    pub plan: Plan,
    pub warnings: Diagnostics,
}

/// One image fingerprinted, waiting for its decision.
struct Fingerprinted<'w> {
    image: &'w Image,
    inputs: imgs_fingerprint::InputSet,
    fingerprint: Fingerprint,
    engines: Vec<BuildEngine>,
}

/// Who runs each selected build of `image` (`engine = "native"` for a build imgs cannot run is an
/// error here, before anything builds).
fn build_engines(
    template: &Template,
    resolved: &ResolvedVariables,
    image: &Image,
    base: &Invocation,
    filter: &BuildFilter,
) -> Result<Vec<BuildEngine>, Diagnostics> {
    let scope = imgs_template::interpolate::RenderScope::new(
        template,
        &base.working_dir,
        &resolved.values,
        base.volatile.clone(),
    );
    let mut engines = Vec::new();
    let mut errors = Vec::new();
    // The builds `imgs build` runs: selected by name as written, as `build_image` selects them.
    for block in template.builds(filter) {
        let name = scope.build_name(block);
        match imgs_build::engine::decide_located(
            template,
            block,
            &name,
            image.engine.of(&block.name),
        ) {
            Ok(decision) => engines.push(BuildEngine {
                build: name,
                engine: decision.engine.to_string(),
                reason: decision.reason,
            }),
            Err(d) => errors.extend(d.0),
        }
    }
    if errors.is_empty() {
        Ok(engines)
    } else {
        Err(Diagnostics(errors))
    }
}

/// Fingerprint every image in `selected.needed` (parents before children), ask the clouds which of
/// those fingerprints already have artifacts there (unless `lookup` is offline, or no selected image
/// builds in a cloud),
/// then decide each image against its local records and that answer.
pub fn compute_plan(
    cx: &Context,
    ws: &Workspace,
    selected: &Selected,
    variables: &VariableOptions,
    filter: &BuildFilter,
    force: bool,
    lookup: CloudLookup,
) -> Result<PlanWithWarnings, Failure> {
    let cache_dir = cache_dir(ws);
    let hasher = FileHasher::open(&cache_dir);
    let cache = Cache::open(&cache_dir);
    let invocation = cx.invocation(&ws.root, variables, Volatile::Placeholder, true)?;
    let mut warnings = Vec::new();
    let Fingerprints {
        images,
        queries,
        mut docker,
        errors,
    } = fingerprint_selected(
        ws,
        selected,
        &invocation,
        filter,
        &hasher,
        lookup,
        &mut warnings,
    )?;
    if let Some(problem) = hasher.load_problem() {
        warnings.push(
            Diagnostic::warning(format!(
                "the stat cache `{}` is unreadable ({problem}); it is ignored: every input file \
                 is hashed again, and the stat cache written anew",
                relative_key(&ws.root, hasher.cache_file())
            ))
            .hint("nothing needs doing: the stat cache only saves reading unchanged files again"),
        );
    }
    // The stat cache only speeds up the next run; failing to save it must not fail this one.
    let _ = hasher.save();
    if !errors.is_empty() {
        return Err(Failure::Input(Diagnostics(errors)));
    }
    let cloud = match lookup {
        CloudLookup::Online => {
            let (cloud, failed) = look_up(&queries);
            warnings.extend(failed);
            cloud
        }
        CloudLookup::Offline => images.iter().map(|_| None).collect(),
    };
    // Records first: which docker images they name is what the engine is asked about. A record
    // that cannot be read is said and ignored, never trusted: the image is planned as if it had
    // none, and its build writes it anew.
    let mut exacts = Vec::new();
    let mut unreadable_exact = Vec::new();
    for (fingerprinted, query) in images.iter().zip(docker.iter_mut()) {
        let name = &fingerprinted.image.name;
        let exact = match cache.lookup(name, &fingerprinted.fingerprint) {
            Ok(exact) => exact,
            Err(e) => {
                warnings.push(unreadable_record(
                    ws,
                    &e,
                    format!("it is ignored, and written anew when `{name}` is built"),
                ));
                unreadable_exact.push(name.clone());
                None
            }
        };
        if let (Some(query), Some(record)) = (query.as_mut(), exact.as_ref()) {
            query.recorded(record);
        }
        exacts.push(exact);
    }
    let revocations = super::revoke::load_revocations(ws, &cache_dir)?;
    // The remote cache, for the images the local cache has no usable record of: one lookup for
    // them all.
    let mut remote_found = super::remote_cache::plan_lookup(
        ws,
        lookup == CloudLookup::Online,
        images
            .iter()
            .zip(&exacts)
            .map(|(i, exact)| {
                let usable = exact.as_ref().is_some_and(|r| {
                    r.builds
                        .iter()
                        .flat_map(|b| &b.files)
                        .all(|f| ws.root.join(f).exists())
                });
                (!usable).then(|| (i.image.name.clone(), i.fingerprint))
            })
            .collect(),
        &mut warnings,
    )
    .into_iter();
    let (docker_answers, docker_warnings) =
        imgs_build::docker_cache::look_up(&docker, lookup == CloudLookup::Online);
    warnings.extend(docker_warnings);
    let mut plan = Plan::default();
    for (
        (
            (
                Fingerprinted {
                    image,
                    inputs,
                    fingerprint,
                    engines,
                },
                cloud,
            ),
            exact,
        ),
        docker_answer,
    ) in images
        .into_iter()
        .zip(cloud)
        .zip(exacts)
        .zip(docker_answers)
    {
        let name = &image.name;
        let io = |e: std::io::Error| Failure::Other(format!("cache of `{name}`: {e}"));
        let remote = remote_found.next().flatten();
        let latest = if exact.is_none() {
            let (latest, unreadable) = cache.latest_readable(name).map_err(io)?;
            for older in unreadable.iter().filter(|u| {
                // The current fingerprint's record is reported above.
                !unreadable_exact.contains(name)
                    || u.path.file_stem().and_then(|s| s.to_str())
                        != Some(fingerprint.to_string().as_str())
            }) {
                warnings.push(unreadable_record(
                    ws,
                    &std::io::Error::other(older.error.clone()),
                    "it is ignored (it only says what changed since that build)".to_string(),
                ));
            }
            latest
        } else {
            None
        };
        // A record is only as good as its files: one deleted by hand makes the image stale.
        let gone_files: Vec<String> = exact
            .iter()
            .flat_map(|record| record.builds.iter().flat_map(|b| &b.files))
            .filter(|file| !ws.root.join(file).exists())
            .cloned()
            .collect();
        let forced = force && selected.requested.contains(name);
        let action = decide(
            name,
            &inputs,
            Recorded {
                exact,
                gone_files: &gone_files,
                gone_images: &docker_answer.gone_images,
                found_elsewhere: docker_answer.found.map(|found| found.record(name, &inputs)),
                latest: latest.as_ref(),
            },
            &plan.parents(),
            forced,
            cloud.as_ref(),
        );
        // Rebuilt because this fingerprint's record is damaged, not for what differs from an
        // older record (which is what `decide` compared with, having no record to trust).
        let action = match action {
            Action::Build { .. } if !forced && unreadable_exact.contains(name) => Action::Build {
                reasons: vec![Reason::RecordUnreadable],
            },
            action => action,
        };
        // The remote cache stands in where the local cache and EC2 did not make it fresh.
        let (action, remote) =
            super::remote_cache::decide(action, remote, forced, cloud.as_ref(), image, &plan);
        if let Some(revoked) =
            super::revoke::revoked_now(name, &action, cloud.as_ref(), &revocations)
        {
            plan.revoked.insert(name.clone(), revoked);
        }
        plan.images.push(ImagePlan {
            name: name.clone(),
            fingerprint,
            inputs,
            parents: image
                .parents
                .iter()
                .map(|p| (p.variable.clone(), p.image.clone()))
                .collect(),
            requested: selected.requested.contains(name),
            engines,
            action,
            remote,
        });
    }
    Ok(PlanWithWarnings {
        plan,
        warnings: Diagnostics(warnings),
    })
}

/// The warning for a cache record that cannot be read: which file (relative to the workspace), what
/// is wrong with it, and `consequence`.
fn unreadable_record(ws: &Workspace, error: &std::io::Error, consequence: String) -> Diagnostic {
    let what = error
        .to_string()
        .replace(&format!("{}/", ws.root.display()), "");
    Diagnostic::warning(format!("{what}; {consequence}"))
        .hint("imgs never trusts a record it cannot read whole; nothing needs doing")
}

fn image_input_set<'a>(
    ws: &Workspace,
    image: &'a Image,
    base: &Invocation,
    filter: &BuildFilter,
    parents: Vec<(&str, Fingerprint)>,
    hasher: &FileHasher,
    warnings: &mut Vec<Diagnostic>,
) -> Result<
    (
        imgs_fingerprint::InputSet,
        ResolvedVariables,
        std::borrow::Cow<'a, Template>,
    ),
    Failure,
> {
    let invocation = Invocation {
        workspace_vars: workspace_variables(ws, image),
        ..base.clone()
    };
    let instantiated = imgs_template::instantiate(&image.template, &invocation)?;
    let template = instantiated.as_ref();
    let resolved = imgs_template::resolve_variables(template, &invocation)?;
    let problems = imgs_template::validate(template, &resolved, &invocation, filter);
    if problems.has_errors() {
        return Err(Failure::Input(Diagnostics(
            problems.0.into_iter().filter(|d| d.is_error()).collect(),
        )));
    }
    let mut files = imgs_template::referenced_files(template, &resolved, &invocation)?;
    // A file that a step before the build makes (a base disk, a downloaded ISO) may not exist at plan
    // time. Packer accepts such a template, so the plan does too: the file counts as "missing" in the
    // fingerprint (its appearance changes the fingerprint) and the user is warned that the build needs it.
    let parent_variables: BTreeSet<String> =
        image.parents.iter().map(|p| p.variable.clone()).collect();
    let mut missing = Vec::new();
    files.retain(|reference| {
        if reference.path.exists()
            || reads_any_variable(&reference.written, &parent_variables)
            || imgs_fingerprint::holds_parent_placeholder(
                &reference.written,
                image.parents.iter().map(|p| p.image.as_str()),
            )
        {
            return true;
        }
        let shown = relative_key(&ws.root, &reference.path);
        warnings.push(
            Diagnostic::warning(format!(
                "`{shown}` does not exist yet; building `{}` needs it",
                image.name
            ))
            .at(template.location(reference.span.start))
            .key(reference.key.clone())
            .hint("create it before building, or correct the path"),
        );
        missing.push(shown);
        false
    });
    let extra_inputs = extra_inputs(ws, image)?;
    let builds: Vec<(&str, &str)> = template
        .builds(filter)
        .into_iter()
        .map(|b| (b.name.as_str(), b.kind.as_str()))
        .collect();
    let inputs = ImageInputs {
        root: &ws.root,
        template,
        variables: &resolved,
        builds,
        files: &files,
        extra_inputs: &extra_inputs,
        parent_variables: &parent_variables,
        parents,
    };
    let mut set = image_inputs(&inputs, hasher)?;
    super::lock::add_inputs(&ws.root, &image.name, template, &resolved, filter, &mut set)?;
    for shown in missing {
        set.insert(
            InputKey::File(shown),
            blake3::hash(b"imgs: input file missing"),
        );
    }
    Ok((set, resolved, instantiated))
}

/// Paths matched by `[images.NAME] inputs` globs, relative to the image directory.
fn extra_inputs(ws: &Workspace, image: &Image) -> Result<Vec<PathBuf>, Diagnostics> {
    let mut paths = Vec::new();
    let image_dir = ws.root.join(&image.dir);
    for pattern in &image.inputs {
        let matches = imgs_workspace::glob_under(&image_dir, pattern).map_err(|e| {
            Diagnostic::error(format!(
                "invalid glob `{pattern}` in `inputs` of `{}`: {e}",
                image.name
            ))
            .in_file(std::path::Path::new(imgs_workspace::MANIFEST_NAME))
            .key(format!("images.{}.inputs", image.name))
        })?;
        let before = paths.len();
        paths.extend(matches.into_iter().filter(|m| m.is_file).map(|m| m.path));
        if paths.len() == before {
            return Err(Diagnostic::error(format!("`inputs` pattern `{pattern}` of `{}` matches no file", image.name))
                .in_file(std::path::Path::new(imgs_workspace::MANIFEST_NAME))
                .key(format!("images.{}.inputs", image.name))
                .hint("patterns are relative to the image directory; a pattern that matches nothing is almost always a typo")
                .into());
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}
