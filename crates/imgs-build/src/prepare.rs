//! One build, read in full before it starts, then run: builder start → provisioners → builder
//! finish → post-processors.

use std::path::{Path, PathBuf};

use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_provision::{BuildContext, ProvisionerStep, Secrets, Stream, run_provisioner};
use imgs_template::interpolate::{Context, RenderScope, Volatile};
use imgs_template::{BuilderBlock, Engine, EngineChoice, ResolvedVariables, Template};
use tokio_util::sync::CancellationToken;

use crate::builder::{Builder, Log};
use crate::engine::{EngineDecision, decide_located};
use crate::packer_engine::{self, PackerBuild, PackerInput};
use crate::post::{self, PostChain, PostRun};
use crate::registry::{self, BuilderRead};
use crate::settings::Settings;
use crate::{Artifact, BuildError, OutputPlacement};

/// What one build is made from.
pub struct BuildInput<'a> {
    pub template: &'a Template,
    /// Index of the build's block in `template.builders`.
    pub builder_index: usize,
    /// The template's user variables for this run (parents' artifacts included).
    pub variables: &'a ResolvedVariables,
    /// Where relative paths resolve (Packer: the directory it runs in).
    pub working_dir: &'a Path,
    /// The run's one instant for `{{timestamp}}` and friends.
    pub init_time: chrono::DateTime<chrono::Utc>,
    /// Whose build this is: what the cloud resources it creates are tagged with.
    pub labels: RunLabels,
    /// Where a workspace build's outputs go (its version directory); `None` for a template built on
    /// its own, whose output paths mean what they say.
    pub outputs: Option<OutputPlacement>,
    /// Packer's `-force`: an existing output directory outside any placement is replaced rather than
    /// refused.
    pub force: bool,
    /// What Images.toml asks of the engine that runs the build.
    pub engine: EngineChoice,
}

/// Who a build belongs to. Cloud builders tag everything they create with these, so a cache lookup
/// finds an image by its fingerprint and `imgs gc` finds what a run left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunLabels {
    pub run_id: String,
    /// The workspace image (the template path for a template built on its own).
    pub image: String,
    /// The image's fingerprint; `None` outside a workspace, where nothing is cached.
    pub fingerprint: Option<String>,
    /// Images.lock's source AMIs of this image, by build name: an amazon-ebs build launches from
    /// the locked AMI instead of running its filter again.
    pub locked_sources: std::collections::BTreeMap<String, crate::lock_inputs::LockedSource>,
}

/// Packer's `-on-error`: what happens to a failed build's resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Remove them (Packer's default).
    #[default]
    Cleanup,
    /// Leave them for debugging, and say what they are.
    Abort,
}

/// A build whose settings, provisioners and post-processors were all read without error.
pub struct PreparedBuild {
    /// The build's name (rendered), as in the manifest and in messages.
    pub name: String,
    pub builder_type: String,
    /// Who runs it.
    pub engine: EngineDecision,
    /// Notes about settings Packer accepts with a warning.
    pub warnings: Vec<String>,
    work: Work,
}

/// What runs the build.
enum Work {
    Native(Box<NativeBuild>),
    Packer(Box<PackerBuild>),
}

/// A build imgs runs itself: its builder, provisioner steps and post-processor chains.
struct NativeBuild {
    builder: Box<dyn Builder>,
    steps: Vec<ProvisionerStep>,
    error_cleanup: Option<ProvisionerStep>,
    chains: Vec<PostChain>,
    working_dir: PathBuf,
    outputs: Option<OutputPlacement>,
    /// Whose build this is: post-processors that publish (docker-push) label what they publish.
    labels: RunLabels,
    /// The values of sensitive variables: masked in every line the build logs (a builder's too: a
    /// docker `run_command` may pass one in an `-e`).
    secrets: Secrets,
}

impl std::fmt::Debug for PreparedBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut f = f.debug_struct("PreparedBuild");
        f.field("name", &self.name)
            .field("builder_type", &self.builder_type)
            .field("engine", &self.engine);
        match &self.work {
            Work::Native(native) => f
                .field("steps", &native.steps)
                .field("chains", &native.chains),
            Work::Packer(packer) => f.field("packer", packer),
        }
        .finish_non_exhaustive()
    }
}

/// Reads everything the build will do. Every problem is reported, each located in the template.
pub fn prepare_build(input: &BuildInput<'_>) -> Result<PreparedBuild, Diagnostics> {
    let template = input.template;
    let Some(block) = template.builders.get(input.builder_index) else {
        return Err(Diagnostic::error(format!(
            "the template has no builder number {}",
            input.builder_index
        ))
        .in_file(&template.path)
        .into());
    };
    let scope = RenderScope::new(
        template,
        input.working_dir,
        &input.variables.values,
        Volatile::Real {
            init_time: input.init_time,
        },
    );
    let name = scope.build_name(block);
    let ctx = scope.build_context(&name, &block.kind);
    let engine = decide_located(template, block, &name, input.engine)?;
    if engine.engine == Engine::Packer {
        let packer = packer_engine::prepare(&PackerInput {
            template,
            builder_index: input.builder_index,
            build_name: &name,
            variables: input.variables,
            ctx: &ctx,
            working_dir: input.working_dir,
            outputs: input.outputs.as_ref(),
            labels: &input.labels,
            reason: engine.reason.clone().unwrap_or_default(),
        })?;
        return Ok(PreparedBuild {
            name,
            builder_type: block.kind.clone(),
            engine,
            warnings: Vec::new(),
            work: Work::Packer(Box::new(packer)),
        });
    }
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    let builder = read_builder(template, input, block, &name, &ctx, &mut warnings)
        .map_err(|d| problems.extend(d.0))
        .ok();

    let secrets = Secrets::of_sensitive_variables(input.variables);
    let build = BuildContext {
        template,
        raw_build_name: &block.name,
        ctx: &ctx,
        secrets: &secrets,
    };
    let mut steps = Vec::new();
    let mut error_cleanup = None;
    for (key, provisioner) in template.provisioners_for(&block.name) {
        match ProvisionerStep::from_block(&build, &key, provisioner) {
            Ok(step) if key == "error-cleanup-provisioner" => error_cleanup = Some(step),
            Ok(step) => steps.push(step),
            Err(d) => problems.extend(d.0),
        }
    }
    if let Some(builder) = &builder
        && !builder.has_communicator()
    {
        // shell-local runs on the machine running imgs, as Packer runs it for these builders too.
        for step in steps
            .iter()
            .chain(&error_cleanup)
            .filter(|s| s.needs_communicator())
        {
            problems.push(
                Diagnostic::error(format!(
                    "`{}` needs a communicator, but build `{name}` has none",
                    step.key
                ))
                .at(template.location(block.span.start))
                .key(step.key.clone())
                .hint(match block.kind.as_str() {
                    "null" => "set `communicator` to `ssh` with the host's `ssh_*` settings, or remove the provisioner",
                    _ => "this builder makes no machine to provision; remove the provisioner or limit it with `only`/`except`",
                }),
            );
        }
    }

    let facts = post::ChainFacts {
        labels: &input.labels,
        secrets: &secrets,
    };
    let chains = post::read_chains(
        template,
        &block.name,
        &ctx,
        &facts,
        &mut problems,
        &mut warnings,
    );

    match builder {
        Some(builder) if problems.is_empty() => Ok(PreparedBuild {
            name,
            builder_type: block.kind.clone(),
            engine,
            warnings,
            work: Work::Native(Box::new(NativeBuild {
                builder,
                steps,
                error_cleanup,
                chains,
                working_dir: input.working_dir.to_path_buf(),
                outputs: input.outputs.clone(),
                labels: input.labels.clone(),
                secrets: secrets.clone(),
            })),
        }),
        _ => Err(Diagnostics(problems)),
    }
}

fn read_builder(
    template: &Template,
    input: &BuildInput<'_>,
    block: &BuilderBlock,
    name: &str,
    ctx: &Context<'_>,
    warnings: &mut Vec<String>,
) -> Result<Box<dyn Builder>, Diagnostics> {
    let key = format!("builders[{}]", input.builder_index);
    let Some(builder) = registry::builder_type(&block.kind) else {
        return Err(
            Diagnostic::error(format!("not supported yet: builder {}", block.kind))
                .at(template.location(block.span.start))
                .key(key)
                .hint(format!(
                    "imgs builds with {} builders",
                    crate::listed(&registry::builder_kinds())
                ))
                .into(),
        );
    };
    let deferred = registry::deferred_keys(&block.kind);
    let settings = Settings::render_deferring(template, key, &block.config, ctx, deferred)?;
    (builder.read)(BuilderRead {
        input,
        name,
        ctx,
        settings: &settings,
        warnings,
    })
}

impl PreparedBuild {
    /// Runs the build; `run_id` goes into manifests. Progress lines go to `log`. The builder cleans
    /// up after success, failure and cancellation alike, before the post-processors run (as in Packer);
    /// with [`OnError::Abort`] a failed build leaves its resources and lists them in the log.
    pub async fn run(
        self,
        log: Log<'_>,
        run_id: &str,
        on_error: OnError,
        cancel: &CancellationToken,
    ) -> Result<Artifact, BuildError> {
        log.phase("starting");
        for warning in &self.warnings {
            log.line(&format!("Warning: {warning}"));
        }
        match self.work {
            Work::Native(native) => native.run(&self.name, log, run_id, on_error, cancel).await,
            Work::Packer(packer) => packer.run(log, on_error, cancel).await,
        }
    }
}

/// A log that masks the build's secrets in every line it passes on.
struct Masked<'a, 'l> {
    inner: &'a mut Log<'l>,
    secrets: &'a Secrets,
}

impl imgs_log::BuildLog for Masked<'_, '_> {
    fn line(&mut self, line: &str) {
        self.inner.line(&self.secrets.mask(line));
    }

    fn phase(&mut self, phase: &str) {
        self.inner.phase(phase);
    }

    fn warning(&mut self, message: &str, hint: &str) {
        self.inner
            .warning(&self.secrets.mask(message), &self.secrets.mask(hint));
    }
}

impl NativeBuild {
    async fn run(
        mut self,
        name: &str,
        mut log: Log<'_>,
        run_id: &str,
        on_error: OnError,
        cancel: &CancellationToken,
    ) -> Result<Artifact, BuildError> {
        let secrets = std::mem::take(&mut self.secrets);
        let mut masked = Masked {
            inner: &mut log,
            secrets: &secrets,
        };
        let log: Log<'_> = &mut masked;
        let built = self.build_artifact(log, cancel).await;
        match (&built, on_error) {
            (Err(_), OnError::Abort) => {
                let left = self.builder.leftovers();
                if !left.is_empty() {
                    log.line("Leaving the build's resources in place (--on-error=abort):");
                    for resource in left {
                        log.line(&format!("  {resource}"));
                    }
                }
                self.builder.keep_leftovers();
            }
            _ => {
                log.phase("cleaning up");
                if let Err(e) = self.builder.cleanup(log).await {
                    // The build's own result stands: a finished image is not undone because, say, a
                    // security group could not be deleted; what is left is said loudly instead.
                    log.line(&format!("Error cleaning up: {e}"));
                    for resource in self.builder.leftovers() {
                        log.line(&format!("  left behind: {resource}"));
                    }
                    let hint = match self.builder.builder_type() {
                        "amazon-ebs" => format!(
                            "what it left carries the tag imgs:run={run_id}; `imgs gc --run \
                             {run_id}` removes it"
                        ),
                        "docker" => format!("`imgs gc --run {run_id}` removes its container"),
                        _ => "remove what it left by hand".to_string(),
                    };
                    log.warning(&format!("its clean-up failed: {e}"), &hint);
                }
            }
        }
        let artifact = built?;
        let run = PostRun {
            working_dir: &self.working_dir,
            outputs: self.outputs.as_ref(),
            build_name: name,
            run_id,
            build_time: chrono::Utc::now().timestamp(),
            fingerprint: self.labels.fingerprint.as_deref(),
            image: &self.labels.image,
        };
        post::run_chains(&self.chains, artifact, &run, log, cancel).await
    }

    /// The builder's part: start, provision, finish.
    async fn build_artifact(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Artifact, BuildError> {
        let comm = self.builder.start(log, cancel).await?;
        let mut failed = None;
        for (index, step) in self.steps.iter().enumerate() {
            log.phase(&imgs_log::numbered(
                "provisioning",
                index,
                self.steps.len(),
                step.kind(),
            ));
            if let Err(error) = provision(comm.as_deref(), step, log, cancel).await {
                failed = Some(BuildError::Provisioner {
                    key: step.key.clone(),
                    error,
                });
                break;
            }
        }
        if let Some(error) = failed {
            if let Some(cleanup) = &self.error_cleanup {
                log.phase("error-cleanup provisioner");
                log.line(
                    "Provisioning step had errors: Running the cleanup provisioner, if present...",
                );
                if let Err(e) = provision(comm.as_deref(), cleanup, log, cancel).await {
                    log.line(&format!("The error-cleanup provisioner failed too: {e}"));
                }
            }
            return Err(error);
        }
        drop(comm);
        self.builder.finish(log, cancel).await
    }
}

/// Runs one provisioner; `comm` is `None` only for builds whose provisioners all need none
/// (checked when prepared).
async fn provision(
    comm: Option<&dyn imgs_provision::Communicator>,
    step: &ProvisionerStep,
    log: Log<'_>,
    cancel: &CancellationToken,
) -> Result<(), imgs_provision::ProvisionError> {
    log.line(&format!("Provisioning with {}...", step.key));
    let mut lines = |stream: Stream, line: &str| match stream {
        Stream::Status => log.line(line),
        Stream::Stdout | Stream::Stderr => log.line(&format!("  {line}")),
    };
    run_provisioner(comm, step, &mut lines, cancel).await
}
