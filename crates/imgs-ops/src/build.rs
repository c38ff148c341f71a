//! `imgs build`: the plan, then every image it says to build, each as soon as its parents' artifacts
//! exist, several at once (`-j`), each child given its parents' artifacts in its variables. A cache
//! record is written only after an image's builds and post-processors all succeeded. After a failure
//! nothing new starts unless `--keep-going`; every image that was not built says why.
//!
//! The front end owns the tokio runtime the builds run on and the run's cancellation token: the
//! binary cancels it on the first Ctrl-C (nothing new starts, running builds stop and clean up) and
//! exits on the second, naming the run's ID that its cloud resources carry as a tag.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use imgs_build::{
    Artifact, BuildError, BuildInput, OnError, OutputPlacement, RunLabels, prepare_build,
};
use imgs_cache::{BuildArtifact, Cache, CacheRecord};
use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_plan::{Action, ImagePlan, Plan};
use imgs_schedule::{self as schedule, DagNode, FailurePolicy, NodeOutcome, Skipped};
use imgs_template::interpolate::Volatile;
use imgs_template::{BuildFilter, EngineChoices, Invocation, ResolvedVariables, Template};
use imgs_workspace::Workspace;
use tokio_util::sync::CancellationToken;

use super::events::{Event, EventSink, PlannedImage, SummaryRow};
use super::fingerprint::{cache_dir, workspace_variables};
use super::plan::selection;
use super::run_manifest;
use super::timings;
use super::timings::Timeline;
use super::workspace_lock::{self, LockError, WorkspaceLock};
use super::{CloudLookup, Context, Failure, PlanWithWarnings, build_filter, compute_plan};
use crate::Outcome;
use crate::options::{self, BuildOptions};

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// When the state `--resume` reads could not be written: the run itself is not harmed.
const RESUME_HINT: &str = "`imgs build --resume` cannot resume this run; a plain `imgs build` \
                           finds what it built fresh";

/// One run: its ID (in records, manifests, cloud tags and the log) and its instant (for `{{timestamp}}`).
struct Run {
    id: String,
    init_time: chrono::DateTime<chrono::Utc>,
    started: Instant,
    /// Where the run's events go (the front end renders them).
    events: Arc<dyn EventSink>,
    /// When each image started, its phases, and how it ended, for `--timings`.
    timeline: Mutex<Timeline>,
    on_error: OnError,
    /// `--force`: for a template built on its own, Packer's `-force` (existing outputs are replaced).
    force: bool,
    /// Cancelled by the front end (Ctrl-C): stops scheduling and the running builds.
    cancel: CancellationToken,
    /// For `--timings`: each image's parents, and where the report goes by default (the cache
    /// directory, or the working directory for a template built on its own). Unset when the run
    /// stopped before anything was planned.
    lineage: OnceLock<(BTreeMap<String, Vec<String>>, PathBuf)>,
    /// `--no-wait`: fail rather than wait for another command's workspace lock.
    no_wait: bool,
    /// The workspace lock, held from before the plan until the run is dropped (after its manifest
    /// and timings are written). Unset for a template built on its own.
    workspace_lock: OnceLock<WorkspaceLock>,
    /// Warnings met after planning (damage found where the run writes), printed with the plan's.
    late_warnings: Mutex<Vec<Diagnostic>>,
}

impl Run {
    fn new(events: Arc<dyn EventSink>, control: RunControl, args: &BuildOptions) -> Run {
        Run {
            on_error: match args.on_error {
                options::OnError::Cleanup => OnError::Cleanup,
                options::OnError::Abort => OnError::Abort,
            },
            force: args.force,
            id: control.id,
            init_time: chrono::Utc::now(),
            started: Instant::now(),
            events,
            timeline: Mutex::new(Timeline::new()),
            cancel: control.cancel,
            lineage: OnceLock::new(),
            no_wait: args.no_wait,
            workspace_lock: OnceLock::new(),
            late_warnings: Mutex::new(Vec::new()),
        }
    }

    fn emit(&self, event: Event<'_>) {
        self.timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(&event);
        self.events.emit(&event);
    }

    fn summary(&self, rows: &[SummaryRow]) {
        let count = |status: &str| rows.iter().filter(|r| r.status == status).count();
        self.emit(Event::Summary {
            run_id: &self.id,
            built: count("built"),
            fresh: count("fresh"),
            failed: count("failed"),
            skipped: count("skipped"),
            seconds: self.started.elapsed().as_secs_f64(),
            images: rows,
        });
    }
}

/// Why a run stopped.
enum Stop {
    /// Bad input found before or while building (exit 2).
    Input(Diagnostics),
    /// Builds failed (exit 1), or the run was interrupted (exit 130).
    Failed {
        failures: Vec<ImageFailure>,
        /// Images that were not built, each with why.
        not_built: Vec<String>,
        interrupted: bool,
        /// Errors of the run itself (its manifest could not be written), after the images'.
        run_errors: Vec<String>,
    },
    Other(String),
    /// The workspace lock was not taken: `--no-wait` (exit [`super::EXIT_LOCKED`]), Ctrl-C while
    /// waiting (exit 130), or the lock file could not be used (exit 1).
    Lock(LockError),
}

/// One image that failed.
struct ImageFailure {
    image: String,
    error: NodeError,
}

/// How one image's build went wrong.
enum NodeError {
    Build(BuildError),
    Input(Diagnostics),
    Other(String),
    /// The image's record or artifact directory could not be written; the hint says what to do.
    Cache {
        message: String,
        hint: String,
    },
}

impl NodeError {
    /// `image` was built but `what` could not be written: nothing is recorded (its version directory
    /// goes with the failed build), so the next run builds it again.
    fn cache(image: &str, what: &str, e: &std::io::Error) -> NodeError {
        NodeError::in_cache(
            format!("`{image}` was built, but {what} could not be written: {e}"),
            image,
            e,
        )
    }

    /// `message` about the workspace's cache/, with what to do about `e`.
    fn in_cache(message: String, image: &str, e: &std::io::Error) -> NodeError {
        let hint = if e.kind() == std::io::ErrorKind::StorageFull
            || e.kind() == std::io::ErrorKind::QuotaExceeded
        {
            format!(
                "the file system holding the workspace's cache/ is full: free some space (`imgs cache \
                 prune` removes records that are not current) and build again; nothing was recorded, \
                 so `{image}` is built again"
            )
        } else {
            format!(
                "check that the workspace's cache/ is writable and build again; nothing was \
                 recorded, so `{image}` is built again"
            )
        };
        NodeError::Cache { message, hint }
    }
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        match f {
            Failure::Input(d) => Stop::Input(d),
            Failure::Other(m) => Stop::Other(m),
            Failure::Locked { message, .. } => Stop::Other(message),
        }
    }
}

impl From<Diagnostics> for Stop {
    fn from(d: Diagnostics) -> Stop {
        Stop::Input(d)
    }
}

/// One run's identity and its brake, made by the front end before the run starts so that its Ctrl-C
/// handler can cancel the run and name it.
#[derive(Clone, Debug)]
pub struct RunControl {
    /// In records, manifests, cloud tags (`imgs:run`) and the log.
    pub id: String,
    /// Cancelled: nothing new starts, running builds stop and clean up.
    pub cancel: CancellationToken,
}

impl RunControl {
    pub fn new() -> RunControl {
        RunControl {
            id: uuid::Uuid::new_v4().to_string(),
            cancel: CancellationToken::new(),
        }
    }
}

impl Default for RunControl {
    fn default() -> Self {
        RunControl::new()
    }
}

/// `imgs build`: the builds run on `runtime`; the run's events go to `events` as they happen; the
/// outcome has how it ended (its stdout holds only what a `--dry-run` prints).
pub fn build(
    cx: &Context,
    args: &BuildOptions,
    events: Arc<dyn EventSink>,
    runtime: &tokio::runtime::Runtime,
    mut control: RunControl,
) -> Outcome {
    let resumed;
    let args = if args.resume {
        match super::resume::resume(cx, args) {
            Ok(super::resume::Resume::Run { options, run_id }) => {
                control.id = run_id;
                resumed = options;
                &*resumed
            }
            Ok(super::resume::Resume::Nothing(message)) => {
                return Outcome {
                    code: 0,
                    stdout: String::new(),
                    stderr: format!("note: {message}\n"),
                };
            }
            Err(message) => {
                return Outcome {
                    code: 1,
                    stdout: String::new(),
                    stderr: format!("error: {message}\n"),
                };
            }
        }
    } else {
        args
    };
    if args.dry_run {
        return dry_run(cx, args);
    }
    let run = Run::new(events, control, args);
    let mut warnings = Diagnostics::default();
    let result = match &args.template {
        Some(path) => build_template_file(cx, args, path, &run, runtime),
        None => build_workspace(cx, args, &run, runtime, &mut warnings),
    };
    warnings.0.extend(std::mem::take(
        &mut *run.late_warnings.lock().unwrap_or_else(|e| e.into_inner()),
    ));
    let mut stderr: String = warnings.0.iter().map(|w| format!("{w}\n\n")).collect();
    if let Some(path) = &args.timings {
        match write_timings(cx, &run, path.as_deref()) {
            Ok(Some(written)) => {
                let _ = writeln!(stderr, "{:>12} {}", "Timings", written.display());
            }
            Ok(None) => {}
            Err(message) => {
                let _ = writeln!(stderr, "warning: {message}");
            }
        }
    }
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
        Err(Stop::Lock(error)) => {
            let _ = writeln!(stderr, "error: {}", error.message());
            if let Some(hint) = error.hint() {
                let _ = writeln!(stderr, "  = hint: {hint}");
            }
            match error {
                LockError::Busy { .. } => super::EXIT_LOCKED,
                LockError::Interrupted => EXIT_INTERRUPTED,
                LockError::Io(_) => 1,
            }
        }
        Err(Stop::Failed {
            failures,
            not_built,
            interrupted,
            run_errors,
        }) => {
            let mut input_only = !failures.is_empty();
            for ImageFailure { image, error } in &failures {
                match error {
                    NodeError::Build(BuildError::Cancelled) if interrupted => {
                        input_only = false;
                        let _ = writeln!(stderr, "error: building `{image}` was interrupted");
                    }
                    NodeError::Build(error) => {
                        input_only = false;
                        let _ = writeln!(stderr, "error: building `{image}` failed: {error}");
                        if let Some(hint) = error.hint() {
                            let _ = writeln!(stderr, "  = hint: {hint}");
                        }
                    }
                    NodeError::Input(d) => {
                        stderr.push_str(&imgs_report::render_diagnostics(d, "build"));
                    }
                    NodeError::Other(message) => {
                        input_only = false;
                        let _ = writeln!(stderr, "error: {message}");
                    }
                    NodeError::Cache { message, hint } => {
                        input_only = false;
                        let _ = writeln!(stderr, "error: {message}");
                        let _ = writeln!(stderr, "  = hint: {hint}");
                    }
                }
            }
            for message in &run_errors {
                input_only = false;
                let _ = writeln!(stderr, "error: {message}");
            }
            if !not_built.is_empty() {
                let _ = writeln!(stderr, "not built: {}", not_built.join(", "));
            }
            if interrupted {
                EXIT_INTERRUPTED
            } else if input_only {
                2
            } else {
                1
            }
        }
    };
    Outcome {
        code,
        stdout: String::new(),
        stderr,
    }
}

/// `--dry-run`: the plan this build would follow (`--force` included), printed as `imgs plan` prints it.
fn dry_run(cx: &Context, args: &BuildOptions) -> Outcome {
    let planned = (|| -> Result<PlanWithWarnings, Failure> {
        if args.template.is_some() {
            return Err(Diagnostic::error("--dry-run plans a workspace build")
                .hint("a template built on its own is never cached, so there is nothing to plan; `imgs validate FILE` checks it")
                .into());
        }
        let ws = cx.load_workspace()?;
        plan_build(cx, &ws, args)
    })();
    // With --channel, what publishing would do, after the build lines.
    let planned = planned.and_then(|planned| {
        let publication = match &args.channel {
            Some(channel) => Some(super::publish::preview(
                cx,
                &planned.plan,
                channel,
                &args.variables,
                &build_filter(&args.filter),
                cloud_lookup(args),
            )?),
            None => None,
        };
        Ok((planned, publication))
    });
    match planned {
        Ok((PlanWithWarnings { plan, warnings }, publication)) => Outcome {
            code: 0,
            stdout: match args.message_format {
                options::MessageFormat::Human => {
                    imgs_report::render_plan(&plan)
                        + &publication
                            .map(|p| super::publish::render_preview(&p))
                            .unwrap_or_default()
                }
                options::MessageFormat::Json => {
                    let mut json = imgs_report::plan_json(&plan);
                    if let Some(publication) = publication {
                        json["publish"] = serde_json::json!(publication);
                    }
                    format!("{json}\n")
                }
            },
            stderr: warnings.0.iter().map(|w| format!("{w}\n\n")).collect(),
        },
        Err(Failure::Input(d)) => Outcome {
            code: 2,
            stdout: String::new(),
            stderr: imgs_report::render_diagnostics(&d, "build"),
        },
        Err(Failure::Other(message) | Failure::Locked { message, .. }) => Outcome {
            code: 1,
            stdout: String::new(),
            stderr: format!("error: {message}\n"),
        },
    }
}

/// The plan a build follows: the selection, narrowed by `--changed-since`, planned with `--force`.
fn plan_build(
    cx: &Context,
    ws: &Workspace,
    args: &BuildOptions,
) -> Result<PlanWithWarnings, Failure> {
    if let Some(channel) = &args.channel {
        super::publish::check_channel(channel)?;
    }
    let selected = ws.select(&selection(cx, ws, &args.selection))?;
    let filter = build_filter(&args.filter);
    let selected =
        super::changed_since::narrow(cx, ws, &args.selection, &args.variables, &filter, selected)?;
    let selected = super::shard::narrow(ws, &args.shard, selected)?;
    compute_plan(
        cx,
        ws,
        &selected,
        &args.variables,
        &filter,
        args.force,
        cloud_lookup(args),
    )
    .and_then(|planned| super::shard::parents_must_be_fresh(ws, &args.shard, planned))
    .and_then(super::revoke::refuse_on_revoked)
}

fn cloud_lookup(args: &BuildOptions) -> CloudLookup {
    if args.offline {
        CloudLookup::Offline
    } else {
        CloudLookup::Online
    }
}

/// `imgs build FILE`: every build of one template, as `packer build FILE`; no cache.
fn build_template_file(
    cx: &Context,
    args: &BuildOptions,
    path: &Path,
    run: &Run,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), Stop> {
    let parsed = super::inspect::read_template(cx, path)?;
    let filter = build_filter(&args.filter);
    let invocation = cx.invocation(
        &cx.cwd,
        &args.variables,
        Volatile::Real {
            init_time: run.init_time,
        },
        args.force,
    )?;
    let template = imgs_template::instantiate(&parsed, &invocation)?;
    let variables = imgs_template::resolve_variables(&template, &invocation)?;
    let problems = imgs_template::validate(&template, &variables, &invocation, &filter);
    if problems.has_errors() {
        return Err(Stop::Input(problems));
    }
    let name = path.display().to_string();
    let _ = run
        .lineage
        .set((BTreeMap::from([(name.clone(), Vec::new())]), cx.cwd.clone()));
    let reasons = vec!["a template built on its own is never cached".to_string()];
    run.emit(Event::Run {
        run_id: &run.id,
        images: vec![PlannedImage {
            image: &name,
            action: "build",
            reasons: reasons.clone(),
        }],
    });
    run.emit(Event::Started {
        image: &name,
        reasons: &reasons,
    });
    let rt = runtime;
    let failed = |error: NodeError| Stop::Failed {
        failures: vec![ImageFailure {
            image: name.clone(),
            error,
        }],
        not_built: Vec::new(),
        interrupted: run.cancel.is_cancelled(),
        run_errors: Vec::new(),
    };
    let started = Instant::now();
    let artifacts = rt
        .block_on(build_image(
            &name, None, &template, &variables, &filter, &cx.cwd, run,
        ))
        .map_err(|e| {
            report_failure(run, &name, &e);
            failed(e)
        })?;
    let artifact = artifacts
        .iter()
        .map(|(_, a)| a.handle())
        .collect::<Vec<_>>()
        .join(", ");
    let seconds = started.elapsed().as_secs_f64();
    run.emit(Event::Built {
        image: &name,
        artifact: &artifact,
        seconds,
    });
    run.summary(&[SummaryRow {
        image: name.clone(),
        status: "built",
        seconds: Some(seconds),
        artifact,
    }]);
    Ok(())
}

fn build_workspace(
    cx: &Context,
    args: &BuildOptions,
    run: &Run,
    runtime: &tokio::runtime::Runtime,
    warnings: &mut Diagnostics,
) -> Result<(), Stop> {
    let ws = cx.load_workspace()?;
    // Before the plan: a run that had to wait plans from what the run before it recorded.
    let mut waited = false;
    let lock = workspace_lock::acquire(
        &cache_dir(&ws),
        "imgs build",
        Some(&run.id),
        if run.no_wait {
            workspace_lock::Wait::NoWait
        } else {
            workspace_lock::Wait::Block
        },
        &run.cancel,
        |path, holder| {
            waited = true;
            run.emit(Event::Waiting {
                lock: &path.display().to_string(),
                holder,
            })
        },
    )
    .map_err(Stop::Lock)?;
    if let Some(repaired) = &lock.repaired {
        run.late_warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(
                Diagnostic::warning(repaired)
                    .hint("imgs owns the files in cache/; keep your own files elsewhere"),
            );
    }
    let _ = run.workspace_lock.set(lock);
    if waited {
        run.timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .restart();
    }
    let filter = build_filter(&args.filter);
    let PlanWithWarnings {
        plan,
        warnings: plan_warnings,
    } = plan_build(cx, &ws, args)?;
    *warnings = plan_warnings;
    // Builds Packer runs need it: a missing or too old `packer` fails the run before anything
    // is built, not half-way through.
    let for_packer: Vec<&str> = plan
        .to_build()
        .filter(|i| i.uses_packer())
        .map(|i| i.name.as_str())
        .collect();
    if !for_packer.is_empty()
        && let Err(e) = imgs_build::find_packer()
    {
        let mut d = Diagnostic::error(format!(
            "{} to be built with Packer, but {e}",
            match for_packer.as_slice() {
                [one] => format!("`{one}` is"),
                many => format!(
                    "{} are",
                    many.iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        ));
        if let Some(hint) = e.hint() {
            d = d.hint(hint);
        }
        return Err(Stop::Input(d.into()));
    }
    // Held until the run ends, so `imgs gc` on this machine leaves this run's resources alone.
    let _lock = super::gc::RunLock::acquire(&cache_dir(&ws), &run.id).map_err(Stop::Other)?;
    // For `--resume`: what this run was asked, before it builds anything.
    let selected = plan.images.iter().filter(|i| i.requested);
    let selected = selected.map(|i| i.name.clone()).collect();
    if let Err(message) = super::resume::begin(cx, &cache_dir(&ws), &run.id, args, selected) {
        run.late_warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Diagnostic::warning(message).hint(RESUME_HINT));
    }
    let parents = plan
        .images
        .iter()
        .map(|image| {
            let mut parents: Vec<String> = image.parents.iter().map(|(_, p)| p.clone()).collect();
            parents.sort();
            parents.dedup();
            (image.name.clone(), parents)
        })
        .collect();
    let _ = run.lineage.set((parents, cache_dir(&ws)));
    run.emit(Event::Run {
        run_id: &run.id,
        images: plan
            .images
            .iter()
            .map(|image| PlannedImage {
                image: &image.name,
                action: if image.action.is_build() {
                    "build"
                } else {
                    "fresh"
                },
                reasons: match &image.action {
                    Action::Build { reasons } => reasons.iter().map(ToString::to_string).collect(),
                    Action::Fresh { .. } => Vec::new(),
                },
            })
            .collect(),
    });
    let base = cx.invocation(
        &ws.root,
        &args.variables,
        Volatile::Real {
            init_time: run.init_time,
        },
        true,
    )?;
    let rt = runtime;
    let policy = if args.keep_going {
        FailurePolicy::KeepGoing
    } else {
        FailurePolicy::FailFast
    };
    let scheduled = Scheduled {
        ws: &ws,
        plan: &plan,
        base: &base,
        filter: &filter,
        run,
        cache: Cache::open(&cache_dir(&ws)),
        remote: match (&ws.remote_cache, args.offline) {
            (Some(config), false) => Some(rt.block_on(super::remote_cache::Remote::open(config))),
            _ => None,
        },
    };
    let outcomes = rt.block_on(scheduled.build_all(args, policy));
    // Two phases: publishing starts only once every image of the run is done; a failure or
    // Ctrl-C anywhere publishes nothing.
    let records: Vec<CacheRecord> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            NodeOutcome::Done(done) => Some(done.record.clone()),
            _ => None,
        })
        .collect();
    scheduled.conclude(outcomes)?;
    match &args.channel {
        Some(channel) if !run.cancel.is_cancelled() => super::publish::after_build(
            cx,
            &ws,
            &args.variables,
            &filter,
            channel,
            &records,
            &|e| run.emit(e),
        )
        .map_err(Stop::Other),
        _ => Ok(()),
    }
}

/// A workspace run: the plan's images walked as a DAG.
struct Scheduled<'a> {
    ws: &'a Workspace,
    plan: &'a Plan,
    base: &'a Invocation,
    filter: &'a BuildFilter,
    run: &'a Run,
    cache: Cache,
    /// The remote cache, unless the workspace has none or the run is `--offline`.
    remote: Option<super::remote_cache::Remote>,
}

/// An image that is done: its record (fresh or just written), what its children receive, and
/// whether it was built in this run (and how long that took).
#[derive(Clone)]
pub(super) struct Done {
    pub(super) record: CacheRecord,
    pub(super) built_in: Option<f64>,
}

impl Done {
    /// What its children receive, read from its record (the same rule for fresh and built images).
    fn handle(&self) -> String {
        record_handle(&self.record)
    }
}

impl Scheduled<'_> {
    async fn build_all(
        &self,
        args: &BuildOptions,
        policy: FailurePolicy,
    ) -> Vec<NodeOutcome<Done, NodeError>> {
        let index: BTreeMap<&str, usize> = self
            .plan
            .images
            .iter()
            .enumerate()
            .map(|(i, image)| (image.name.as_str(), i))
            .collect();
        let nodes: Vec<DagNode> = self
            .plan
            .images
            .iter()
            .map(|image| {
                let mut parents: Vec<usize> = image
                    .parents
                    .iter()
                    .filter_map(|(_, parent)| index.get(parent.as_str()).copied())
                    .collect();
                parents.sort_unstable();
                parents.dedup();
                let resources = super::limits::resources_of(self.ws, image, self.base, self.filter);
                DagNode { parents, resources }
            })
            .collect();
        let resources: Vec<Vec<String>> = nodes.iter().map(|n| n.resources.clone()).collect();
        let limits = super::limits::limits(
            args.jobs.unwrap_or(0),
            args.max_per_region.or(self.ws.limits.max_per_region),
            &super::limits::per_builder(&self.ws.limits, &args.max_per_builder),
            &resources,
        );
        schedule::walk_limited(&nodes, &limits, policy, &self.run.cancel, |i, parents| {
            let parents = parents
                .into_iter()
                .map(|(p, done): (usize, Done)| (self.plan.images[p].name.clone(), done.record))
                .collect();
            async move {
                let image = &self.plan.images[i].name;
                let result = self.build_one(&self.plan.images[i], parents).await;
                if let Err(error) = &result {
                    report_failure(self.run, image, error);
                }
                result
            }
        })
        .await
    }

    /// One image: fresh ones pass their recorded artifact on; the others are built, recorded and
    /// pass on what they made. Parents are done when this runs, so their records are known.
    async fn build_one(
        &self,
        image_plan: &ImagePlan,
        parents: BTreeMap<String, CacheRecord>,
    ) -> Result<Done, NodeError> {
        let run = self.run;
        // Fresh in the remote cache: its files fetched here, or the image built when they cannot
        // be (the remote out of reach, a copy that does not check out).
        let mut remote_refused = None;
        if let Some(remote) = image_plan
            .remote
            .as_deref()
            .filter(|_| image_plan.found_in_remote())
        {
            let fetched = match &self.remote {
                Some(store) => {
                    store
                        .fetch(&self.ws.root, &self.cache, remote, &parents, &run.id)
                        .await
                }
                None => Err("the run does not use the remote cache".to_string()),
            };
            match fetched {
                Ok(record) => {
                    self.point_current(&image_plan.name, &record);
                    let handle = record_handle(&record);
                    run.emit(Event::Fresh {
                        image: &image_plan.name,
                        artifact: &handle,
                        found_by_tag: false,
                        from_remote: true,
                    });
                    return Ok(Done {
                        record,
                        built_in: None,
                    });
                }
                Err(error) => {
                    run.late_warnings
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(
                        Diagnostic::warning(format!(
                            "the remote cache's copy of `{}` is not used: {error}",
                            image_plan.name
                        ))
                        .hint(
                            "it was built here instead, and its copy in the remote cache replaced",
                        ),
                    );
                    remote_refused = Some(vec![
                        "its copy in the remote cache could not be used".to_string(),
                    ]);
                }
            }
        }
        let not_fetched = Action::Build {
            reasons: Vec::new(),
        };
        let action = if remote_refused.is_some() {
            &not_fetched
        } else {
            &image_plan.action
        };
        let reasons = match action {
            Action::Fresh {
                record,
                found_by_tag,
            } => {
                // Found by tag only: recorded now, so `imgs cache ls` and the next plan see it
                // without asking EC2.
                if *found_by_tag {
                    self.cache.store(record).map_err(|e| {
                        NodeError::cache(
                            &image_plan.name,
                            "the cache record of its AMI found by tag",
                            &e,
                        )
                    })?;
                }
                self.point_current(&image_plan.name, record);
                let handle = record_handle(record);
                run.emit(Event::Fresh {
                    image: &image_plan.name,
                    artifact: &handle,
                    found_by_tag: *found_by_tag,
                    from_remote: false,
                });
                return Ok(Done {
                    record: (**record).clone(),
                    built_in: None,
                });
            }
            Action::Build { reasons } => reasons,
        };
        let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        let reasons = remote_refused.unwrap_or(reasons);
        run.emit(Event::Started {
            image: &image_plan.name,
            reasons: &reasons,
        });
        let started = Instant::now();
        let handles = parent_handles(self.ws, image_plan, self.base, self.filter, &parents)?;
        let (template, variables) =
            image_variables(self.ws, image_plan, self.base, &handles).map_err(NodeError::Input)?;
        // A directory of its own for what this build writes: removed if the build fails, kept once
        // its record names it.
        let version = self
            .cache
            .reserve_version(&image_plan.name, &image_plan.fingerprint, &run.id)
            .map_err(|e| {
                NodeError::in_cache(
                    format!(
                        "cannot reserve an artifact directory for `{}`: {e}",
                        image_plan.name
                    ),
                    &image_plan.name,
                    &e,
                )
            })?;
        let placement = OutputPlacement {
            image_dir: self
                .cache
                .artifacts_dir(&image_plan.name)
                .map_err(|e| NodeError::Other(e.to_string()))?,
            version_dir: version.path().to_path_buf(),
        };
        let built = build_image(
            &image_plan.name,
            Some(InWorkspace {
                fingerprint: image_plan.fingerprint.to_string(),
                outputs: placement,
                engines: self
                    .ws
                    .image(&image_plan.name)
                    .map(|i| i.engine.clone())
                    .unwrap_or_default(),
            }),
            &template,
            &variables,
            self.filter,
            &self.ws.root,
            run,
        )
        .await;
        let artifacts = match built {
            Ok(artifacts) => artifacts,
            Err(error) => {
                if run.on_error == OnError::Abort {
                    // Kept, like the failed build's other resources, for a look at what it wrote.
                    version.abandon();
                }
                return Err(error);
            }
        };
        let mut record = CacheRecord::new(
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
        // Whether the build wrote anything locally is settled before the record is written, so the
        // record is written once, and names a directory only when there is one (an AMI has none).
        let wrote = version
            .wrote()
            .map_err(|e| NodeError::cache(&image_plan.name, "its artifact directory", &e))?;
        if wrote {
            record.artifact_dir = Some(imgs_fingerprint::relative_key(
                &self.ws.root,
                version.path(),
            ));
        }
        // A record that cannot be written (a full disk) fails the image: `version` is dropped with
        // the error, taking what the build wrote with it, so nothing of this build is left.
        self.cache
            .store(&record)
            .map_err(|e| NodeError::cache(&image_plan.name, "its cache record", &e))?;
        version.keep().map_err(|e| {
            NodeError::Other(format!(
                "`{}` was built, but its artifact directory could not be finished: {e}",
                image_plan.name
            ))
        })?;
        if wrote {
            self.point_current(&image_plan.name, &record);
        }
        let handle = record_handle(&record);
        let seconds = started.elapsed().as_secs_f64();
        // Shared after the build: its files, then its record. A failed upload leaves the build
        // as good here; other machines build it again.
        if let Some(remote) = &self.remote
            && let Err(error) = remote.upload(&self.ws.root, &record).await
        {
            run.late_warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(
                    Diagnostic::warning(format!(
                        "`{}` was built, but could not be stored in the remote cache: {error}",
                        image_plan.name
                    ))
                    .hint("it is in the local cache; other machines build it again"),
                );
        }
        run.emit(Event::Built {
            image: &image_plan.name,
            artifact: &handle,
            seconds,
        });
        Ok(Done {
            record,
            built_in: Some(seconds),
        })
    }

    /// Points the image's `current` link at the version its record names. The link is for people; a
    /// failure to update it is not the build's failure.
    fn point_current(&self, image: &str, record: &CacheRecord) {
        if let Some(dir) = &record.artifact_dir {
            let dir = self.ws.root.join(dir);
            if dir.is_dir() {
                let _ = self.cache.point_current(image, &dir);
            }
        }
    }

    /// Reports what did not build and why, writes the workspace manifest, prints the summary, and
    /// turns the outcomes into the run's result.
    fn conclude(&self, outcomes: Vec<NodeOutcome<Done, NodeError>>) -> Result<(), Stop> {
        let name = |i: usize| self.plan.images[i].name.as_str();
        let mut failures = Vec::new();
        let mut not_built = Vec::new();
        let mut rows = Vec::new();
        let mut done = Vec::new();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let row = |status, seconds, artifact: &str| SummaryRow {
                image: name(i).to_string(),
                status,
                seconds,
                artifact: artifact.to_string(),
            };
            match outcome {
                NodeOutcome::Done(d) => {
                    let status = if d.built_in.is_some() {
                        "built"
                    } else {
                        "fresh"
                    };
                    rows.push(row(status, d.built_in, &d.handle()));
                    done.push(d);
                }
                NodeOutcome::Failed(error) => {
                    rows.push(row("failed", None, ""));
                    failures.push(ImageFailure {
                        image: name(i).to_string(),
                        error,
                    });
                }
                NodeOutcome::Skipped(why) => {
                    let reason = match why {
                        Skipped::ParentNotBuilt { parent } => {
                            format!("`{}` was not built", name(parent))
                        }
                        Skipped::StoppedAfterFailure { failed } => format!(
                            "not started after `{}` failed (--keep-going builds it anyway)",
                            name(failed)
                        ),
                        Skipped::Cancelled => "interrupted before it started".to_string(),
                    };
                    self.run.emit(Event::Skipped {
                        image: name(i),
                        reason: &reason,
                    });
                    rows.push(row("skipped", None, ""));
                    not_built.push(name(i).to_string());
                }
            }
        }
        let manifest = run_manifest::write(&cache_dir(self.ws), &self.run.id, &done);
        self.run.summary(&rows);
        let mut run_errors = Vec::new();
        let status = if self.run.cancel.is_cancelled() {
            super::resume::Status::Interrupted
        } else if failures.is_empty() && manifest.is_ok() {
            super::resume::Status::Succeeded
        } else {
            super::resume::Status::Failed
        };
        let finished = done.iter().map(|d| d.record.image.clone());
        if let Err(message) =
            super::resume::finish(&cache_dir(self.ws), &self.run.id, status, finished)
        {
            self.run
                .late_warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Diagnostic::warning(message).hint(RESUME_HINT));
        }
        match manifest {
            Ok(Some(damage)) => self
                .run
                .late_warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(damage),
            Ok(None) => {}
            // Reported with the images' failures, not instead of them (a full disk fails both).
            Err(message) => run_errors.push(message),
        }
        if failures.is_empty() && run_errors.is_empty() && !self.run.cancel.is_cancelled() {
            return Ok(());
        }
        if failures.is_empty() && !self.run.cancel.is_cancelled() {
            return Err(Stop::Other(run_errors.join("\n")));
        }
        Err(Stop::Failed {
            failures,
            not_built,
            interrupted: self.run.cancel.is_cancelled(),
            run_errors,
        })
    }
}

/// The `failed` event for one image, with the error as the end of the run prints it.
fn report_failure(run: &Run, image: &str, error: &NodeError) {
    let (message, hint) = match error {
        NodeError::Build(e) => (e.to_string(), e.hint()),
        NodeError::Input(d) => (
            d.0.first().map(|d| d.message.clone()).unwrap_or_default(),
            None,
        ),
        NodeError::Other(m) => (m.clone(), None),
        NodeError::Cache { message, hint } => (message.clone(), Some(hint.clone())),
    };
    run.emit(Event::Failed {
        image,
        error: &message,
        hint: hint.as_deref(),
    });
}

/// What each parent passes to this image: [`record_handle`], except that a parent's AMIs are
/// narrowed to the one in this image's build region (the region of its first cloud build).
fn parent_handles(
    ws: &Workspace,
    image_plan: &ImagePlan,
    base: &Invocation,
    filter: &BuildFilter,
    parents: &BTreeMap<String, CacheRecord>,
) -> Result<BTreeMap<String, String>, NodeError> {
    let region = build_region(ws, image_plan, base, filter);
    parents
        .iter()
        .map(|(parent, record)| {
            let id = record
                .builds
                .first()
                .map(|b| (b.files.is_empty(), &b.artifact_id));
            let handle = match (id, &region) {
                (Some((true, id)), Some(region)) => imgs_build::handle_of_id_in_region(id, region)
                    .map_err(|has| {
                        NodeError::Other(format!(
                            "parent `{parent}` has no AMI in {region} (it has AMIs in {}); add \
                             {region} to the parent's ami_regions",
                            has.join(", ")
                        ))
                    })?,
                _ => record_handle(record),
            };
            Ok((parent.clone(), handle))
        })
        .collect()
}

/// The region this image's first cloud build runs in, read as planned (parents' artifacts as
/// placeholders: a region does not depend on them). `None` for other builders, or when the
/// settings do not read (the build itself then reports why).
fn build_region(
    ws: &Workspace,
    image_plan: &ImagePlan,
    base: &Invocation,
    filter: &BuildFilter,
) -> Option<String> {
    let image = ws.image(&image_plan.name)?;
    let invocation = Invocation {
        workspace_vars: workspace_variables(ws, image),
        ..base.clone()
    };
    let template = imgs_template::instantiate(&image.template, &invocation).ok()?;
    let variables = imgs_template::resolve_variables(&template, &invocation).ok()?;
    imgs_build::cloud::build_region(&template, &variables, filter, &ws.root)
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
                .unwrap_or_else(|| imgs_build::handle_of_id(&b.artifact_id))
        })
        .unwrap_or_default()
}

/// The image's variables for a real build: as planned, but each parent variable holds the parent's
/// artifact instead of the planning placeholder.
fn image_variables<'w>(
    ws: &'w Workspace,
    image_plan: &ImagePlan,
    base: &Invocation,
    handles: &BTreeMap<String, String>,
) -> Result<(std::borrow::Cow<'w, Template>, ResolvedVariables), Diagnostics> {
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
    let template = imgs_template::instantiate(&image.template, &invocation)?;
    let variables = imgs_template::resolve_variables(&template, &invocation)?;
    Ok((template, variables))
}

/// What a build of a workspace image has that a template built on its own has not.
struct InWorkspace {
    /// Tagged on what the build creates in the cloud.
    fingerprint: String,
    /// Where its outputs go.
    outputs: OutputPlacement,
    /// Which engine Images.toml asks for its builds.
    engines: EngineChoices,
}

/// Every selected build of one template, in template order: each is prepared in full (so a mistake
/// fails it before it starts), then run. Progress lines are prefixed with the image name (and the
/// build name when the template has several builds). The outer error is a failed build, the inner
/// one bad input.
async fn build_image(
    image: &str,
    in_workspace: Option<InWorkspace>,
    template: &Template,
    variables: &ResolvedVariables,
    filter: &BuildFilter,
    working_dir: &Path,
    run: &Run,
) -> Result<Vec<(String, Artifact)>, NodeError> {
    let (fingerprint, outputs, engines) = match in_workspace {
        Some(InWorkspace {
            fingerprint,
            outputs,
            engines,
        }) => (Some(fingerprint), Some(outputs), engines),
        None => (None, None, EngineChoices::default()),
    };
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
                // A workspace build (it has a fingerprint) launches from its locked sources.
                locked_sources: match &fingerprint {
                    Some(_) => super::lock::locked_sources(working_dir, image),
                    None => Default::default(),
                },
            },
            // A workspace build writes into its version directory, which is always new; a template
            // built on its own follows Packer's `-force`.
            force: outputs.is_none() && run.force,
            outputs: outputs.clone(),
            engine: engines.of(&template.builders[builder_index].name),
        };
        match prepare_build(&input) {
            Ok(build) => prepared.push(build),
            Err(d) => problems.extend(d.0),
        }
    }
    if !problems.is_empty() {
        return Err(NodeError::Input(Diagnostics(problems)));
    }
    let several = prepared.len() > 1;
    let mut artifacts = Vec::new();
    for build in prepared {
        let name = build.name.clone();
        let prefix = if several {
            format!("{image}/{name}")
        } else {
            image.to_string()
        };
        let mut log = RunLog {
            run,
            image: &prefix,
        };
        let artifact = build
            .run(&mut log, &run.id, run.on_error, &run.cancel)
            .await
            .map_err(NodeError::Build)?;
        artifacts.push((name, artifact));
    }
    Ok(artifacts)
}

/// One build's output lines and phases, as events of the run.
struct RunLog<'a> {
    run: &'a Run,
    /// The image, or `image/build` when its template has several builds.
    image: &'a str,
}

impl imgs_build::BuildLog for RunLog<'_> {
    fn line(&mut self, line: &str) {
        self.run.emit(Event::Output {
            image: self.image,
            line,
        });
    }

    fn phase(&mut self, phase: &str) {
        self.run.emit(Event::Phase {
            image: self.image,
            phase,
        });
    }

    /// On stderr, as the run's own warnings: the build's output may be hidden (a terminal without
    /// `-v`), and the build may even have succeeded.
    fn warning(&mut self, message: &str, hint: &str) {
        self.run.events.notice(&format!(
            "warning: `{}`: {message}\n  = hint: {hint}",
            self.image
        ));
    }
}

/// Writes the `--timings` report: to `path`, or by default into the cache (one file per run and the
/// stable copy). Returns where it went; `None` when the run stopped before anything was planned.
fn write_timings(cx: &Context, run: &Run, path: Option<&Path>) -> Result<Option<PathBuf>, String> {
    let Some((parents, home)) = run.lineage.get() else {
        return Ok(None);
    };
    let report = run
        .timeline
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .to_run_timings(&run.id, parents);
    let html = imgs_report::render_timings(&report);
    let written = match path {
        Some(path) => {
            let path = super::absolute(&cx.cwd, path);
            timings::write_atomically(&path, &html)?;
            path
        }
        None => {
            let path = home.join("timings").join(timings::run_file_name(&run.id));
            let latest = home.join(timings::LATEST);
            // In a workspace's cache (a run that holds its lock), a directory where a report
            // goes is damage; a template built on its own writes into the working directory,
            // whose directories are nobody's to remove.
            if run.workspace_lock.get().is_some() {
                for report in [&path, &latest] {
                    imgs_atomic_file::remove_damage(report)
                        .map_err(|e| format!("cannot write `{}`: {e}", report.display()))?;
                }
            }
            timings::write_atomically(&path, &html)?;
            timings::write_atomically(&latest, &html)?;
            path
        }
    };
    Ok(Some(
        written
            .strip_prefix(&cx.cwd)
            .map(Path::to_path_buf)
            .unwrap_or(written),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
