//! `imgs build`: the plan, then every image it says to build, parents first, each child given its
//! parents' artifacts in their variables. A cache record is written only after an image's builds and
//! post-processors all succeeded; the first failure stops the run.
//!
//! Images are built one after another by [`build_in_order`]; it is the one place a parallel scheduler
//! replaces.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use imgs_build::{Artifact, BuildError, BuildInput, OnError, RunLabels, prepare_build};
use imgs_cache::{BuildArtifact, Cache, CacheRecord};
use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_plan::{Action, ImagePlan, Plan};
use imgs_template::interpolate::Volatile;
use imgs_template::{BuildFilter, Invocation, ResolvedVariables, Template};
use imgs_workspace::Workspace;
use tokio_util::sync::CancellationToken;

use super::fingerprint::{cache_dir, workspace_variables};
use super::inspect::read_file;
use super::plan::selection;
use super::{Context, Failure, PlanWithWarnings, build_filter, compute_plan};
use crate::Outcome;
use crate::cli::{self, BuildArgs};

/// One run: its ID (in records, manifests and the log) and its instant (for `{{timestamp}}`).
struct Run {
    id: String,
    init_time: chrono::DateTime<chrono::Utc>,
    started: Instant,
    /// Everything printed so far, for stdout (when not printed as it happens).
    log: Log,
    on_error: OnError,
}

/// Where a run's lines go: straight to stdout as they happen (the binary, where a build takes minutes),
/// or into a string returned at the end (tests, which compare it).
struct Log {
    live: bool,
    text: String,
}

impl Log {
    fn line(&mut self, text: &str) {
        if self.live {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}");
            let _ = stdout.flush();
        } else {
            let _ = writeln!(self.text, "{text}");
        }
    }
}

impl Run {
    fn new(live: bool, on_error: cli::OnError) -> Run {
        Run {
            on_error: match on_error {
                cli::OnError::Cleanup => OnError::Cleanup,
                cli::OnError::Abort => OnError::Abort,
            },
            id: uuid::Uuid::new_v4().to_string(),
            init_time: chrono::Utc::now(),
            started: Instant::now(),
            log: Log {
                live,
                text: String::new(),
            },
        }
    }

    fn status(&mut self, verb: &str, text: &str) {
        self.log.line(&format!("{verb:>12} {text}"));
    }
}

/// Why a run stopped.
enum Stop {
    /// Bad input found before or while building (exit 2).
    Input(Diagnostics),
    /// A build failed (exit 1): the message, a hint, what was left unbuilt.
    Failed {
        image: String,
        // Boxed: the run's error path should not make every `Result` here large.
        error: Box<BuildError>,
        unbuilt: Vec<String>,
    },
    Other(String),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        match f {
            Failure::Input(d) => Stop::Input(d),
            Failure::Other(m) => Stop::Other(m),
        }
    }
}

impl From<Diagnostics> for Stop {
    fn from(d: Diagnostics) -> Stop {
        Stop::Input(d)
    }
}

/// `imgs build`: what the run printed, and how it ended.
pub fn build(cx: &Context, args: &BuildArgs) -> Outcome {
    let mut run = Run::new(cx.live_output, args.on_error);
    let mut warnings = Diagnostics::default();
    let result = match &args.template {
        Some(path) => build_template_file(cx, args, path, &mut run),
        None => build_workspace(cx, args, &mut run, &mut warnings),
    };
    let mut stderr: String = warnings.0.iter().map(|w| format!("{w}\n\n")).collect();
    let code = match result {
        Ok(()) => 0,
        Err(Stop::Input(d)) => {
            stderr.push_str(&imgs_report::render_diagnostics(&d, "build"));
            2
        }
        Err(Stop::Other(message)) => {
            let _ = writeln!(stderr, "error: {message}");
            1
        }
        Err(Stop::Failed {
            image,
            error,
            unbuilt,
        }) => {
            let _ = writeln!(stderr, "error: building `{image}` failed: {error}");
            if let Some(hint) = error.hint() {
                let _ = writeln!(stderr, "  = hint: {hint}");
            }
            if !unbuilt.is_empty() {
                let _ = writeln!(stderr, "not built: {}", unbuilt.join(", "));
            }
            1
        }
    };
    Outcome {
        code,
        stdout: run.log.text,
        stderr,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Stop> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Stop::Other(format!("cannot start the async runtime: {e}")))
}

/// `imgs build FILE`: every build of one template, as `packer build FILE`; no cache.
fn build_template_file(
    cx: &Context,
    args: &BuildArgs,
    path: &Path,
    run: &mut Run,
) -> Result<(), Stop> {
    let text = read_file(cx, path)?;
    let template = Template::parse(path, text)?;
    let filter = build_filter(&args.filter);
    unsupported_parts(&template, &filter)?;
    let invocation = cx.invocation(
        &cx.cwd,
        &args.variables,
        Volatile::Real {
            init_time: run.init_time,
        },
        args.force,
    )?;
    let variables = imgs_template::resolve_variables(&template, &invocation)?;
    let problems = imgs_template::validate(&template, &variables, &invocation, &filter);
    if problems.has_errors() {
        return Err(Stop::Input(problems));
    }
    run.status("Run", &run.id.clone());
    let name = path.display().to_string();
    let rt = runtime()?;
    let artifacts = rt
        .block_on(build_image(
            &name, None, &template, &variables, &filter, &cx.cwd, run,
        ))
        .map_err(|error| Stop::Failed {
            image: name.clone(),
            error: Box::new(error),
            unbuilt: Vec::new(),
        })??;
    for (build, artifact) in &artifacts {
        run.status("Built", &format!("{build}: {}", artifact.description));
    }
    finished(run, artifacts.len(), 0);
    Ok(())
}

fn build_workspace(
    cx: &Context,
    args: &BuildArgs,
    run: &mut Run,
    warnings: &mut Diagnostics,
) -> Result<(), Stop> {
    let ws = cx.load_workspace()?;
    let selected = ws.select(&selection(cx, &ws, &args.selection))?;
    let filter = build_filter(&args.filter);
    let PlanWithWarnings {
        plan,
        warnings: plan_warnings,
    } = compute_plan(cx, &ws, &selected, &args.variables, &filter, args.force)?;
    *warnings = plan_warnings;
    // Unsupported builders and post-processors fail the run before anything is built.
    let mut unsupported = Vec::new();
    for image in plan.to_build() {
        let template = &ws
            .image(&image.name)
            .expect("plan names are images")
            .template;
        if let Err(d) = unsupported_parts(template, &filter) {
            unsupported.extend(d.0);
        }
    }
    if !unsupported.is_empty() {
        return Err(Stop::Input(Diagnostics(unsupported)));
    }
    run.status("Run", &run.id.clone());
    let base = cx.invocation(
        &ws.root,
        &args.variables,
        Volatile::Real {
            init_time: run.init_time,
        },
        true,
    )?;
    let rt = runtime()?;
    let built = rt.block_on(build_in_order(&ws, &plan, &base, &filter, run))?;
    finished(run, built, plan.fresh().count());
    Ok(())
}

fn finished(run: &mut Run, built: usize, fresh: usize) {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let text = format!(
        "{built} image{} built, {fresh} fresh in {:.2}s (run {})",
        plural(built),
        run.started.elapsed().as_secs_f64(),
        run.id
    );
    run.status("Finished", &text);
}

/// Builds the plan's `build` images one after another, in the plan's (topological) order; returns how
/// many were built. Fresh images pass their recorded artifacts on to their children.
async fn build_in_order(
    ws: &Workspace,
    plan: &Plan,
    base: &Invocation,
    filter: &BuildFilter,
    run: &mut Run,
) -> Result<usize, Stop> {
    let cache = Cache::open(&cache_dir(ws));
    // Image name → what its children receive in their parent variables.
    let mut handles: BTreeMap<String, String> = BTreeMap::new();
    let mut built = 0;
    for (position, image_plan) in plan.images.iter().enumerate() {
        let reasons = match &image_plan.action {
            Action::Fresh { record } => {
                let handle = record_handle(record);
                run.status("Fresh", &format!("{} ({handle})", image_plan.name));
                handles.insert(image_plan.name.clone(), handle);
                continue;
            }
            Action::Build { reasons } => reasons,
        };
        let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        run.status(
            "Building",
            &format!("{}: {}", image_plan.name, reasons.join(", ")),
        );
        let unbuilt = || unbuilt_after(plan, position);
        let started = Instant::now();
        let image = ws.image(&image_plan.name).expect("plan names are images");
        let variables = image_variables(ws, image_plan, base, &handles)
            .map_err(|d| input_stop(d, &unbuilt()))?;
        let artifacts = build_image(
            &image_plan.name,
            Some(image_plan.fingerprint.to_string()),
            &image.template,
            &variables,
            filter,
            &ws.root,
            run,
        )
        .await
        .map_err(|error| Stop::Failed {
            image: image_plan.name.clone(),
            error: Box::new(error),
            unbuilt: unbuilt(),
        })?
        .map_err(|stop| match stop {
            Stop::Input(d) => input_stop(d, &unbuilt()),
            other => other,
        })?;
        let record = CacheRecord::new(
            &image_plan.name,
            image_plan.inputs.clone(),
            artifacts
                .iter()
                .map(|(name, a)| BuildArtifact {
                    name: name.clone(),
                    builder_type: a.builder_type.clone(),
                    artifact_id: a.id.clone(),
                    files: a.files.iter().map(|f| f.display().to_string()).collect(),
                })
                .collect(),
            &run.id,
        );
        cache.store(&record).map_err(|e| {
            Stop::Other(format!(
                "`{}` was built, but its cache record could not be written: {e}",
                image_plan.name
            ))
        })?;
        let handle = artifacts
            .first()
            .map(|(_, a)| a.handle())
            .unwrap_or_default();
        run.status(
            "Built",
            &format!(
                "{} ({handle}) in {:.2}s",
                image_plan.name,
                started.elapsed().as_secs_f64()
            ),
        );
        handles.insert(image_plan.name.clone(), handle);
        built += 1;
    }
    Ok(built)
}

/// The images after `position` that the plan still had to build.
fn unbuilt_after(plan: &Plan, position: usize) -> Vec<String> {
    plan.images[position + 1..]
        .iter()
        .filter(|i| i.action.is_build())
        .map(|i| i.name.clone())
        .collect()
}

/// Bad input met mid-run: the diagnostics, plus a note of what was left unbuilt.
fn input_stop(mut d: Diagnostics, unbuilt: &[String]) -> Stop {
    if !unbuilt.is_empty() {
        d.0.push(Diagnostic::warning(format!(
            "not built: {}",
            unbuilt.join(", ")
        )));
    }
    Stop::Input(d)
}

/// What a fresh image's children receive: its first build's first file, or its artifact ID.
fn record_handle(record: &CacheRecord) -> String {
    record
        .builds
        .first()
        .map(|b| {
            b.files
                .first()
                .cloned()
                .unwrap_or_else(|| b.artifact_id.clone())
        })
        .unwrap_or_default()
}

/// The image's variables for a real build: as planned, but each parent variable holds the parent's
/// artifact instead of the planning placeholder.
fn image_variables(
    ws: &Workspace,
    image_plan: &ImagePlan,
    base: &Invocation,
    handles: &BTreeMap<String, String>,
) -> Result<ResolvedVariables, Diagnostics> {
    let image = ws.image(&image_plan.name).expect("plan names are images");
    let parents: BTreeMap<&str, &str> = image_plan
        .parents
        .iter()
        .map(|(variable, parent)| (variable.as_str(), parent.as_str()))
        .collect();
    let workspace_vars = workspace_variables(ws, image)
        .into_iter()
        .map(|(name, value)| match parents.get(name.as_str()) {
            Some(parent) => {
                let artifact = handles.get(*parent).cloned().unwrap_or_default();
                (name, artifact)
            }
            None => (name, value),
        })
        .collect();
    let invocation = Invocation {
        workspace_vars,
        ..base.clone()
    };
    imgs_template::resolve_variables(&image.template, &invocation)
}

/// Every selected build of one template, in template order: each is prepared in full (so a mistake
/// fails it before it starts), then run. Progress lines are prefixed with the image name (and the
/// build name when the template has several builds). The outer error is a failed build, the inner
/// one bad input.
async fn build_image(
    image: &str,
    fingerprint: Option<String>,
    template: &Template,
    variables: &ResolvedVariables,
    filter: &BuildFilter,
    working_dir: &Path,
    run: &mut Run,
) -> Result<Result<Vec<(String, Artifact)>, Stop>, BuildError> {
    let selected: Vec<usize> = template
        .builders
        .iter()
        .enumerate()
        .filter(|(_, b)| filter.selects(&b.name))
        .map(|(i, _)| i)
        .collect();
    let mut prepared = Vec::new();
    let mut problems = Vec::new();
    for &builder_index in &selected {
        let input = BuildInput {
            template,
            builder_index,
            variables,
            working_dir,
            init_time: run.init_time,
            labels: RunLabels {
                run_id: run.id.clone(),
                image: image.to_string(),
                fingerprint: fingerprint.clone(),
            },
        };
        match prepare_build(&input) {
            Ok(build) => prepared.push(build),
            Err(d) => problems.extend(d.0),
        }
    }
    if !problems.is_empty() {
        return Ok(Err(Stop::Input(Diagnostics(problems))));
    }
    let several = prepared.len() > 1;
    let cancel = CancellationToken::new();
    let mut artifacts = Vec::new();
    for build in prepared {
        let name = build.name.clone();
        let prefix = if several {
            format!("{image}/{name}")
        } else {
            image.to_string()
        };
        let Run {
            log, id, on_error, ..
        } = &mut *run;
        let mut line = |text: &str| log.line(&format!("{prefix}: {text}"));
        let artifact = build.run(&mut line, id, *on_error, &cancel).await?;
        artifacts.push((name, artifact));
    }
    Ok(Ok(artifacts))
}

/// Builder and post-processor types imgs cannot run yet, for the selected builds of `template`.
fn unsupported_parts(template: &Template, filter: &BuildFilter) -> Result<(), Diagnostics> {
    let selected: Vec<_> = template
        .builders
        .iter()
        .enumerate()
        .filter(|(_, b)| filter.selects(&b.name))
        .collect();
    let mut problems = Vec::new();
    for (index, block) in &selected {
        if !imgs_build::BUILDER_TYPES.contains(&block.kind.as_str()) {
            problems.push(
                Diagnostic::error(format!("not supported yet: builder {}", block.kind))
                    .at(template.location(block.span.start))
                    .key(format!("builders[{index}]"))
                    .hint(format!(
                        "imgs builds with {} builders",
                        imgs_build::listed(imgs_build::BUILDER_TYPES)
                    )),
            );
        }
    }
    for (chain_index, chain) in template.post_processors.iter().enumerate() {
        for (post_index, post) in chain.iter().enumerate() {
            let runs = selected.iter().any(|(_, b)| post.applies_to(&b.name));
            if runs && !imgs_build::POST_PROCESSOR_TYPES.contains(&post.kind.as_str()) {
                problems.push(
                    Diagnostic::error(format!("not supported yet: post-processor {}", post.kind))
                        .at(template.location(post.span.start))
                        .key(format!("post-processors[{chain_index}][{post_index}]"))
                        .hint(format!(
                            "imgs runs {} post-processor{}",
                            imgs_build::listed(imgs_build::POST_PROCESSOR_TYPES),
                            if imgs_build::POST_PROCESSOR_TYPES.len() == 1 {
                                ""
                            } else {
                                "s"
                            }
                        )),
                );
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(json: &str) -> Template {
        Template::parse(Path::new("images/app/template.json"), json.to_string()).unwrap()
    }

    #[test]
    fn a_post_processor_shared_by_builds_is_reported_once() {
        let t = template(
            r#"{ "builders": [{ "type": "null", "name": "a", "communicator": "none" },
                              { "type": "docker", "name": "b" }],
                 "post-processors": ["checksum", { "type": "manifest" }] }"#,
        );
        let problems = unsupported_parts(&t, &BuildFilter::default()).unwrap_err();
        let messages: Vec<_> = problems.0.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "not supported yet: builder docker",
                "not supported yet: post-processor checksum"
            ]
        );
        // Leaving the unsupported build out leaves only the post-processor.
        let only_a = BuildFilter {
            only: vec!["a".into()],
            except: vec![],
        };
        assert_eq!(unsupported_parts(&t, &only_a).unwrap_err().0.len(), 1);
    }

    #[test]
    fn children_receive_a_fresh_parents_first_file_or_its_id() {
        let inputs = imgs_fingerprint::InputSet::default();
        let build = |files: Vec<String>| BuildArtifact {
            name: "b".into(),
            builder_type: "qemu".into(),
            artifact_id: "VM".into(),
            files,
        };
        let with_file = CacheRecord::new(
            "x",
            inputs.clone(),
            vec![build(vec!["d.qcow2".into()])],
            "r",
        );
        assert_eq!(record_handle(&with_file), "d.qcow2");
        let without = CacheRecord::new("x", inputs, vec![build(vec![])], "r");
        assert_eq!(record_handle(&without), "VM");
    }
}
