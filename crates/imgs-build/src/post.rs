//! Post-processor chains, run as Packer 1.6.6 runs them (`packer/build.go`):
//!
//! - every chain starts from the builder's artifact, and each post-processor receives the artifact
//!   the one before it produced;
//! - each post-processor says whether its input is kept by default (`checksum`, `manifest` and
//!   `shell-local` keep it, and insist on it; `artifice` keeps it; `compress` does not; `vagrant`
//!   keeps AMIs and insists, and does not keep a qemu disk); `keep_input_artifact` overrides that
//!   unless the post-processor insists;
//! - an artifact carries the ID of what made it (Packer's `BuilderId`): the builder's, or that of
//!   the post-processor that replaced it (`manifest` and `shell-local` pass theirs on); `vagrant`
//!   decides its provider by it, and since a chain is known before the build starts, a box it
//!   cannot make is an error before anything runs;
//! - an input that is not kept is destroyed (its files removed) once the next artifact exists; the
//!   builder's own artifact is destroyed at the end unless the first post-processor of some chain
//!   kept it;
//! - a failing post-processor ends its chain only: the other chains still run, and the build fails
//!   at the end.
//!
//! The build's result is the first of Packer's artifacts: the builder's when kept, else the first
//! chain's last one.

mod deferred;
pub(crate) mod docker;
pub(crate) mod read;
pub(crate) mod upload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imgs_diagnostic::Diagnostic;
use imgs_post::PostError;
use imgs_post::checksum::{ChecksumOutput, ChecksumType};
use imgs_post::compress::Archive;
use imgs_post::shell_local::ShellBuild;
use imgs_template::Template;
use imgs_template::interpolate::Context;
use tokio_util::sync::CancellationToken;

use crate::builder::Log;
use crate::manifest::ManifestSettings;
use crate::outputs::placed;
use crate::settings::Settings;
use crate::{Artifact, BuildError, OutputPlacement};

pub(crate) use deferred::Renderer;

/// One chain of post-processors, read before the build starts.
#[derive(Debug)]
pub(crate) struct PostChain {
    steps: Vec<PostStep>,
}

#[derive(Debug)]
struct PostStep {
    /// `post-processors[C][I]`, for messages.
    key: String,
    /// Where the block starts in the template, for messages.
    offset: usize,
    kind: String,
    /// The block's `name` (the type when not named).
    name: String,
    keep_input_artifact: Option<bool>,
    action: PostAction,
}

#[derive(Debug)]
pub(crate) enum PostAction {
    Manifest(ManifestSettings),
    Checksum(read::ChecksumStep),
    Compress(read::CompressStep),
    ShellLocal(read::ShellLocalStep),
    Artifice(read::ArtificeStep),
    Vagrant(read::VagrantStep),
    Upload(upload::UploadStep),
    DockerImport(docker::ImportStep),
    DockerTag(docker::TagStep),
    DockerPush(docker::PushStep),
    DockerSave(docker::SaveStep),
}

impl PostAction {
    /// Packer's `BuilderId` of the artifact the step makes, or `None` when it passes its input on.
    fn replaces_with(&self) -> Option<&'static str> {
        match self {
            PostAction::Manifest(_) | PostAction::ShellLocal(_) | PostAction::Upload(_) => None,
            PostAction::Checksum(_) => Some("packer.post-processor.checksum"),
            PostAction::Compress(_) => Some("packer.post-processor.compress"),
            PostAction::Artifice(_) => Some(ARTIFICE_ID),
            PostAction::Vagrant(_) => Some("mitchellh.post-processor.vagrant"),
            PostAction::DockerImport(_) | PostAction::DockerPush(_) => {
                Some(crate::docker::IMAGE_ID)
            }
            PostAction::DockerTag(_) => Some(docker::TAG_ID),
            PostAction::DockerSave(_) => None,
        }
    }
}

pub(crate) const ARTIFICE_ID: &str = "packer.post-processor.artifice";

/// Packer's `BuilderId` of the artifacts of the builder types imgs runs.
fn builder_id(kind: &str) -> &'static str {
    match kind {
        "null" => "fnoeding.null",
        "file" => "packer.file",
        "qemu" => "transcend.qemu",
        "amazon-ebs" => "mitchellh.amazonebs",
        // Before the build, a chain is read as if the image were committed (its usual use).
        "docker" => crate::docker::IMAGE_ID,
        _ => "unknown",
    }
}

/// What a post-processor did: its artifact, and whether its input is kept by default and whether
/// it insists (Packer's `defaultKeep` and `forceOverride`).
struct Outcome {
    artifact: Artifact,
    keep_input: bool,
    force_keep: bool,
}

/// What the chains of a build know of it besides its template: whose build it is (`upload` renders
/// the image's name and fingerprint), and the values no line may show.
pub(crate) struct ChainFacts<'a> {
    pub(crate) labels: &'a crate::RunLabels,
    pub(crate) secrets: &'a imgs_provision::Secrets,
}

/// Reads the chains that apply to the build `raw_name` (the builder's name as written). Problems go
/// to `problems`, located in the template; notes Packer accepts go to `warnings`.
pub(crate) fn read_chains(
    template: &Template,
    raw_name: &str,
    ctx: &Context<'_>,
    facts: &ChainFacts<'_>,
    problems: &mut Vec<Diagnostic>,
    warnings: &mut Vec<String>,
) -> Vec<PostChain> {
    let renderer = Renderer::of(ctx);
    let mut chains = Vec::new();
    for (chain_index, chain) in template.post_processors.iter().enumerate() {
        let mut steps = Vec::new();
        for (index, post) in chain.iter().enumerate() {
            if !post.applies_to(raw_name) {
                continue;
            }
            let key = template.post_processor_key(chain_index, index);
            let Some(kind) = crate::registry::post_processor_type(&post.kind) else {
                problems.push(
                    Diagnostic::error(format!("not supported yet: post-processor {}", post.kind))
                        .at(template.location(post.span.start))
                        .key(key)
                        .hint(format!(
                            "imgs runs {} post-processors",
                            crate::listed(&crate::registry::post_processor_kinds())
                        )),
                );
                continue;
            };
            let settings = match Settings::render(template, key.clone(), &post.config, ctx) {
                Ok(s) => s,
                Err(d) => {
                    problems.extend(d.0);
                    continue;
                }
            };
            let action = (kind.read)(crate::registry::PostRead {
                settings: &settings,
                config: &post.config,
                renderer: &renderer,
                facts,
                warnings,
            });
            match action {
                Ok(action) => steps.push(PostStep {
                    key,
                    offset: post.span.start,
                    kind: post.kind.clone(),
                    name: post.name.clone(),
                    keep_input_artifact: post.keep_input_artifact,
                    action,
                }),
                Err(d) => problems.extend(d.0),
            }
        }
        if !steps.is_empty() {
            settle_vagrant_providers(template, raw_name, ctx, &mut steps, problems);
            chains.push(PostChain { steps });
        }
    }
    chains
}

/// Gives each vagrant step of a chain its provider, from the artifact it will be given (Packer's
/// table of builder IDs, or `provider_override`), or a located problem when it cannot box it —
/// Packer finds out only when the step runs ("Unknown artifact type, can't build box").
fn settle_vagrant_providers(
    template: &Template,
    raw_name: &str,
    ctx: &Context<'_>,
    steps: &mut [PostStep],
    problems: &mut Vec<Diagnostic>,
) {
    let block = template
        .builders
        .iter()
        .enumerate()
        .find(|(_, b)| b.name == raw_name);
    let Some((index, block)) = block else { return };
    let mut input = (
        builder_id(&block.kind),
        format!("the `{}` builder", block.kind),
    );
    for step in steps {
        let replaces_with = step.action.replaces_with();
        if let PostAction::Vagrant(vagrant) = &mut step.action {
            let provider = match vagrant.provider_override.as_deref() {
                Some(chosen) => chosen,
                None => match input.0 {
                    "transcend.qemu" => "libvirt",
                    "mitchellh.amazonebs" => "aws",
                    _ => "",
                },
            };
            let settled = match (provider, input.0) {
                ("libvirt", "transcend.qemu") => {
                    qemu_facts(template, index, block, ctx).map(read::VagrantProvider::Libvirt)
                }
                ("aws", "mitchellh.amazonebs") => Some(read::VagrantProvider::Aws),
                _ => None,
            };
            match settled {
                Some(provider) => vagrant.provider = Some(provider),
                None => {
                    let message = match provider {
                        "" => format!(
                            "unknown artifact type, can't build box: {} ({})",
                            input.0, input.1
                        ),
                        "libvirt" => format!(
                            "provider_override `libvirt` boxes a qemu disk, but this step is given {}'s artifact ({})",
                            input.1, input.0
                        ),
                        other => format!(
                            "provider_override `{other}` boxes AMIs, but this step is given {}'s artifact ({})",
                            input.1, input.0
                        ),
                    };
                    problems.push(
                        Diagnostic::error(message)
                            .at(template.location(step.offset))
                            .key(step.key.clone())
                            .hint("imgs makes `libvirt` boxes of qemu builds and `aws` boxes of amazon-ebs builds; put `vagrant` first in its chain, or after post-processors that pass the artifact on (`manifest`, `shell-local`)"),
                    );
                }
            }
        }
        if let Some(id) = replaces_with {
            input = (id, format!("the `{}` post-processor", step.kind));
        }
    }
}

/// The qemu build's disk as its settings say (Packer's artifact state for the libvirt provider);
/// `None` when they do not read, which the builder itself reports.
fn qemu_facts(
    template: &Template,
    index: usize,
    block: &imgs_template::BuilderBlock,
    ctx: &Context<'_>,
) -> Option<read::QemuFacts> {
    let settings =
        Settings::render(template, format!("builders[{index}]"), &block.config, ctx).ok()?;
    let build_name = Renderer::of(ctx)
        .build_data()
        .remove("BuildName")
        .unwrap_or_default();
    let config = imgs_qemu::QemuConfig::from_settings(&settings.located, &build_name).ok()?;
    let accelerator = match imgs_qemu::resolve_accelerator(config.accelerator) {
        imgs_qemu::ResolvedAccelerator::Kvm => "kvm",
        imgs_qemu::ResolvedAccelerator::Tcg => "tcg",
        imgs_qemu::ResolvedAccelerator::Unset => "none",
    };
    Some(read::QemuFacts {
        vm_name: config.vm_name,
        format: config.format.name().to_string(),
        size_mib: config.disk_size.map(|bytes| bytes >> 20),
        accelerator: accelerator.to_string(),
    })
}

/// What the chains need to know about the build they follow.
pub(crate) struct PostRun<'a> {
    pub working_dir: &'a Path,
    /// A workspace build's version directory: the outputs of `manifest`, `checksum` and `compress`
    /// go there (see [`OutputPlacement`]).
    pub outputs: Option<&'a OutputPlacement>,
    pub build_name: &'a str,
    pub run_id: &'a str,
    /// When the build finished, for manifests.
    pub build_time: i64,
    /// The image's fingerprint in a workspace build: docker-push also pushes the tag that finds it.
    pub fingerprint: Option<&'a str>,
    /// The workspace image the build is of (the template path for a template built on its own).
    pub image: &'a str,
}

/// Runs every chain on the builder's artifact and returns the build's result (see the module doc).
pub(crate) async fn run_chains(
    chains: &[PostChain],
    built: Artifact,
    run: &PostRun<'_>,
    log: Log<'_>,
    cancel: &CancellationToken,
) -> Result<Artifact, BuildError> {
    if cancel.is_cancelled() {
        // Packer skips the post-processors of a cancelled build.
        return Err(BuildError::Cancelled);
    }
    let mut keep_built = chains.is_empty();
    let mut results: Vec<Artifact> = Vec::new();
    let mut errors: Vec<BuildError> = Vec::new();
    let total: usize = chains.iter().map(|c| c.steps.len()).sum();
    let mut number = 0;
    let built_id = artifact_builder_id(&built);
    'chains: for chain in chains {
        let mut prior = built.clone();
        let mut prior_id = built_id;
        for (i, step) in chain.steps.iter().enumerate() {
            log.phase(&imgs_log::numbered(
                "post-processing",
                number,
                total,
                &step.kind,
            ));
            number += 1;
            if step.name == step.kind {
                log.line(&format!("Running post-processor: {}", step.kind));
            } else {
                log.line(&format!(
                    "Running post-processor: {} (type {})",
                    step.name, step.kind
                ));
            }
            let outcome = match step.run(&prior, prior_id, run, log, cancel).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    errors.push(error);
                    continue 'chains;
                }
            };
            let keep = match step.keep_input_artifact {
                Some(false) if outcome.keep_input && outcome.force_keep => true,
                Some(wanted) => wanted,
                None => outcome.keep_input,
            };
            if i == 0 {
                // The builder's artifact may feed other chains; it is dealt with at the end.
                keep_built |= keep;
            } else if keep {
                results.push(prior);
            } else if let Err(e) = destroy(&prior, prior_id, run.working_dir) {
                errors.push(e);
            }
            prior = outcome.artifact;
            prior_id = step.action.replaces_with().unwrap_or(prior_id);
        }
        results.push(prior);
    }
    if keep_built {
        results.insert(0, built);
    } else if let Err(e) = destroy(&built, built_id, run.working_dir) {
        errors.push(e);
    }
    let mut errors = errors.into_iter();
    if let Some(first) = errors.next() {
        for other in errors {
            log.line(&format!("Post-processor error: {other}"));
        }
        return Err(first);
    }
    for artifact in &results {
        log.line(&artifact.description);
    }
    Ok(results
        .into_iter()
        .next()
        .expect("one artifact per chain, or the builder's"))
}

impl PostStep {
    async fn run(
        &self,
        input: &Artifact,
        input_id: &'static str,
        run: &PostRun<'_>,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Outcome, BuildError> {
        let failed = |e: PostError| match e {
            PostError::Cancelled => BuildError::Cancelled,
            other => BuildError::Io {
                action: "run",
                path: format!("{} ({})", self.key, self.kind),
                reason: match other.hint() {
                    Some(hint) => format!("{other} ({hint})"),
                    None => other.to_string(),
                },
            },
        };
        match &self.action {
            PostAction::Manifest(manifest) => {
                manifest.write(
                    &placed(
                        run.outputs,
                        run.working_dir,
                        &manifest.output,
                        manifest.output_is_default,
                    ),
                    run.working_dir,
                    run.build_name,
                    input,
                    run.run_id,
                    run.build_time,
                )?;
                Ok(Outcome {
                    artifact: input.clone(),
                    keep_input: true,
                    force_keep: true,
                })
            }
            PostAction::Checksum(checksum) => {
                let outputs = checksum
                    .outputs()
                    .map_err(failed)?
                    .into_iter()
                    .map(|mut output| {
                        output.path = PathBuf::from(placed(
                            run.outputs,
                            run.working_dir,
                            &output.path.display().to_string(),
                            checksum.output_is_default,
                        ));
                        output
                    })
                    .collect::<Vec<_>>();
                let files = blocking(input, run, cancel, move |inputs, dir, cancelled| {
                    imgs_post::checksum::write_checksums(&outputs, inputs, dir, cancelled)
                })
                .await
                .map_err(failed)?;
                Ok(Outcome {
                    artifact: post_artifact(input, files, "Created artifact from files: "),
                    keep_input: true,
                    force_keep: true,
                })
            }
            PostAction::Compress(step) => {
                let target = step
                    .renderer
                    .render(&step.output, &step.renderer.build_data())
                    .map_err(|reason| {
                        failed(PostError::Render {
                            key: "output",
                            reason,
                        })
                    })?;
                let target = placed(
                    run.outputs,
                    run.working_dir,
                    &target,
                    step.output_is_default,
                );
                let format = step.compress.format;
                match (format.archive, input.files.as_slice()) {
                    (Some(Archive::Tar), _) => {
                        log.line(&format!("Tarring {target} with {}", format.compression()))
                    }
                    (Some(Archive::Zip), _) => log.line(&format!("Zipping {target}")),
                    (None, [one]) => log.line(&format!(
                        "Archiving {} with {}",
                        one.display(),
                        format.compression()
                    )),
                    (None, _) => {}
                }
                let compress = step.compress;
                let output = PathBuf::from(&target);
                let file = blocking(input, run, cancel, move |inputs, dir, cancelled| {
                    compress.write(&output, inputs, dir, cancelled)
                })
                .await
                .map_err(failed)?;
                log.line(&format!("Archive {target} completed"));
                Ok(Outcome {
                    artifact: post_artifact(input, vec![file], "compressed artifacts in: "),
                    keep_input: false,
                    force_keep: false,
                })
            }
            PostAction::Artifice(step) => {
                if !input.files.is_empty() {
                    log.line(&format!(
                        "Discarding files from artifact: {}",
                        shown_files(&input.files)
                    ));
                }
                let files =
                    imgs_post::artifice::expand(&step.files, run.working_dir).map_err(failed)?;
                log.line(&format!(
                    "Using these artifact files: {}",
                    shown_files(&files)
                ));
                Ok(Outcome {
                    artifact: post_artifact(input, files, "Created artifact from files: "),
                    keep_input: true,
                    force_keep: false,
                })
            }
            PostAction::Vagrant(step) => {
                let provider = step
                    .provider
                    .clone()
                    .expect("settled when the chain was read");
                self.vagrant(step, &provider, input, run, log, cancel)
                    .await
                    .map_err(failed)
            }
            PostAction::DockerImport(step) => step.run(input, input_id, run, log, cancel).await,
            PostAction::DockerTag(step) => step.run(input, input_id, log, cancel).await,
            PostAction::DockerPush(step) => step.run(input, input_id, run, log, cancel).await,
            PostAction::DockerSave(step) => step.run(input, input_id, run, log, cancel).await,
            PostAction::Upload(step) => step.run(input, run, log, cancel).await.map_err(failed),
            PostAction::ShellLocal(step) => {
                let build = ShellBuild {
                    build_name: run.build_name,
                    builder_type: &input.builder_type,
                    working_dir: run.working_dir,
                };
                let render =
                    |text: &str, data: &BTreeMap<String, String>| step.renderer.render(text, data);
                step.shell
                    .run(&build, &render, &mut |line: &str| log.line(line), cancel)
                    .await
                    .map_err(failed)?;
                // Packer passes the input on, kept whatever keep_input_artifact says.
                Ok(Outcome {
                    artifact: input.clone(),
                    keep_input: true,
                    force_keep: true,
                })
            }
        }
    }
}

impl PostStep {
    /// Makes the box of `input` for `provider`, as Packer's vagrant post-processor does.
    async fn vagrant(
        &self,
        step: &read::VagrantStep,
        provider: &read::VagrantProvider,
        input: &Artifact,
        run: &PostRun<'_>,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Outcome, PostError> {
        let name = match provider {
            read::VagrantProvider::Libvirt(_) => "libvirt",
            read::VagrantProvider::Aws => "aws",
        };
        let settings = step.settings_for(name);
        log.line(&format!("Creating Vagrant box for '{name}' provider"));
        // Packer's data for `output` and the Vagrantfile template.
        let data = BTreeMap::from([
            ("ArtifactId".to_string(), input.id.clone()),
            ("BuildName".to_string(), run.build_name.to_string()),
            ("Provider".to_string(), name.to_string()),
        ]);
        let render = |key: &'static str, text: &str| {
            step.renderer
                .render(text, &data)
                .map_err(|reason| PostError::Render { key, reason })
        };
        let output = render("output", &settings.output)?;
        let output = placed(
            run.outputs,
            run.working_dir,
            &output,
            settings.output_is_default,
        );
        let includes: Vec<PathBuf> = settings.include.iter().map(PathBuf::from).collect();
        for include in &includes {
            log.line(&format!("Copying from include: {}", include.display()));
        }
        let made = match provider {
            read::VagrantProvider::Libvirt(facts) => {
                let size_mib = match facts.size_mib {
                    Some(size) => size,
                    // The build kept the source's size: the disk says what it is.
                    None => {
                        let disk = input
                            .files
                            .iter()
                            .rfind(|f| {
                                f.to_string_lossy()
                                    .ends_with(&format!("/{}", facts.vm_name))
                            })
                            .map(|f| run.working_dir.join(f));
                        match disk {
                            Some(disk) => {
                                imgs_post::vagrant::disk_virtual_size(&disk)
                                    .map_err(|e| PostError::io("read the disk", &disk, e))?
                                    >> 20
                            }
                            None => 0,
                        }
                    }
                };
                let disk = imgs_post::vagrant::QemuDisk {
                    name: facts.vm_name.clone(),
                    format: facts.format.clone(),
                    size_mib,
                    accelerator: facts.accelerator.clone(),
                };
                let made = imgs_post::vagrant::libvirt(&disk, &input.files)?;
                for (_, file) in &made.files {
                    log.line(&format!("Copying from artifact: {}", file.display()));
                }
                made
            }
            read::VagrantProvider::Aws => imgs_post::vagrant::aws(&input.id)?,
        };
        let custom = if settings.vagrantfile_template.is_empty() {
            String::new()
        } else {
            log.line(&format!(
                "Using custom Vagrantfile: {}",
                settings.vagrantfile_template
            ));
            let path = run.working_dir.join(&settings.vagrantfile_template);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| PostError::io("read the Vagrantfile template", &path, e))?;
            render("vagrantfile_template", &text)?
        };
        let entries = imgs_post::vagrant::entries(
            &includes,
            &made,
            imgs_post::vagrant::vagrantfile(&made.vagrantfile, &custom),
        );
        for entry in entries.keys() {
            log.line(&format!("Compressing: {entry}"));
        }
        let level = settings.level;
        let target = PathBuf::from(&output);
        let file = blocking(input, run, cancel, move |_, dir, cancelled| {
            imgs_post::vagrant::write_box(&target, &entries, level, dir, cancelled)
        })
        .await?;
        let shown = file.display().to_string();
        Ok(Outcome {
            artifact: Artifact {
                builder_type: input.builder_type.clone(),
                id: name.to_string(),
                description: format!("'{name}' provider box: {shown}"),
                files: vec![file],
                docker_tags: Vec::new(),
            },
            // Packer keeps AMIs (a box of them is useless without them), not a qemu disk.
            keep_input: matches!(provider, read::VagrantProvider::Aws),
            force_keep: true,
        })
    }
}

/// Files as Packer lists them in a message.
fn shown_files(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs file work (hashing, compressing) on the blocking pool so other builds' tasks keep running;
/// it stops between blocks once the build is cancelled.
async fn blocking<T: Send + 'static>(
    input: &Artifact,
    run: &PostRun<'_>,
    cancel: &CancellationToken,
    work: impl FnOnce(&[PathBuf], &Path, imgs_post::Cancelled<'_>) -> Result<T, PostError>
    + Send
    + 'static,
) -> Result<T, PostError> {
    let files = input.files.clone();
    let dir = run.working_dir.to_path_buf();
    let token = cancel.clone();
    tokio::task::spawn_blocking(move || work(&files, &dir, &|| token.is_cancelled()))
        .await
        .unwrap_or(Err(PostError::Cancelled))
}

/// A post-processor's artifact: its files, the build's builder type (as Packer's manifest records
/// it), no ID.
fn post_artifact(input: &Artifact, files: Vec<PathBuf>, described: &str) -> Artifact {
    let listed: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Artifact {
        builder_type: input.builder_type.clone(),
        id: String::new(),
        description: format!("{described}{}", listed.join(", ")),
        files,
        docker_tags: Vec::new(),
    }
}

/// Packer's `BuilderId` of a builder's artifact.
fn artifact_builder_id(artifact: &Artifact) -> &'static str {
    match artifact.builder_type.as_str() {
        "docker" => docker::docker_builder_id(artifact),
        kind => builder_id(kind),
    }
}

/// Removes an artifact that is not kept: an image from the Docker engine, or its files (already
/// gone is fine).
fn destroy(artifact: &Artifact, builder_id: &str, working_dir: &Path) -> Result<(), BuildError> {
    if docker::is_engine_image(builder_id) {
        return docker::destroy_image(artifact);
    }
    for file in &artifact.files {
        let path = working_dir.join(file);
        let removed = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        removed.map_err(|e| BuildError::Io {
            action: "remove the artifact file",
            path: file.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// Checksum outputs rendered for each type, as the blocking work needs them.
impl read::ChecksumStep {
    fn outputs(&self) -> Result<Vec<ChecksumOutput>, PostError> {
        self.types
            .iter()
            .map(|&kind: &ChecksumType| {
                let mut data = self.renderer.build_data();
                data.insert("ChecksumType".into(), kind.name().into());
                let path = self
                    .renderer
                    .render(&self.output, &data)
                    .map_err(|reason| PostError::Render {
                        key: "output",
                        reason,
                    })?;
                Ok(ChecksumOutput {
                    kind,
                    path: PathBuf::from(path),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
