//! The `docker-import`, `docker-tag`, `docker-push` and `docker-save` post-processors, as Packer
//! 1.6.6 runs them, with its artifact rules: each accepts only the artifacts (by `BuilderId`) Packer's
//! accepts, and fails with Packer's words otherwise.
//!
//! imgs adds two things: an image `docker-import` makes carries the same `imgs.*` labels as a
//! committed one, and `docker-push` in a workspace build also pushes the tag `imgs-<fingerprint>`
//! to the pushed repository, the one tag the plan looks up to find the image in the registry.

use imgs_diagnostic::Diagnostics;
use imgs_docker::DockerCli;
use tokio_util::sync::CancellationToken;

use super::{Outcome, PostRun};
use crate::builder::Log;
use crate::docker::{EXPORT_ID, IMAGE_ID};
use crate::outputs::placed;
use crate::settings::Settings;
use crate::{Artifact, BuildError};

/// `docker-tag`'s `BuilderId`.
pub(crate) const TAG_ID: &str = "packer.post-processor.docker-tag";
const ARTIFICE_ID: &str = super::ARTIFICE_ID;

const PACKER_PREFIX: &[&str] = &["packer_"];

#[derive(Debug)]
pub(crate) struct ImportStep {
    repository: String,
    tag: String,
    changes: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct TagStep {
    repository: String,
    /// `tags` then `tag` (Packer appends the deprecated one).
    tags: Vec<String>,
    deprecated_tag_used: bool,
}

#[derive(Debug)]
pub(crate) struct PushStep {
    login: Option<(String, String, String)>,
}

#[derive(Debug)]
pub(crate) struct SaveStep {
    path: String,
}

fn strings(settings: &Settings<'_>, key: &str) -> Vec<String> {
    settings
        .located
        .decode(|d| d.strings(key))
        .unwrap_or_default()
}

pub(crate) fn read_import(settings: &Settings<'_>) -> Result<ImportStep, Diagnostics> {
    let problems = settings.unknown_keys(
        "post-processor `docker-import`",
        &["repository", "tag", "changes", "keep_input_artifact"],
        PACKER_PREFIX,
    );
    Diagnostics::check(problems)?;
    Ok(ImportStep {
        repository: settings.text("repository").unwrap_or_default(),
        tag: settings.text("tag").unwrap_or_default(),
        changes: strings(settings, "changes"),
    })
}

pub(crate) fn read_tag(settings: &Settings<'_>) -> Result<TagStep, Diagnostics> {
    let problems = settings.unknown_keys(
        "post-processor `docker-tag`",
        &["repository", "tag", "tags", "force", "keep_input_artifact"],
        PACKER_PREFIX,
    );
    Diagnostics::check(problems)?;
    let deprecated = strings(settings, "tag");
    let mut tags = strings(settings, "tags");
    let deprecated_tag_used = !deprecated.is_empty();
    tags.extend(deprecated);
    Ok(TagStep {
        repository: settings.text("repository").unwrap_or_default(),
        tags,
        deprecated_tag_used,
    })
}

pub(crate) fn read_push(settings: &Settings<'_>) -> Result<PushStep, Diagnostics> {
    let mut problems = settings.unknown_keys(
        "post-processor `docker-push`",
        &[
            "login",
            "login_username",
            "login_password",
            "login_server",
            "ecr_login",
            "aws_access_key",
            "aws_secret_key",
            "aws_token",
            "aws_profile",
            "keep_input_artifact",
        ],
        PACKER_PREFIX,
    );
    let flag = |key: &str| settings.located.decode(|d| d.flag(key)).unwrap_or_default();
    if flag("ecr_login") {
        problems.push(
            settings
                .error("ecr_login", "not supported: ecr_login")
                .hint(
                    "imgs does not call ECR for a login token; pass one with `login: true`, \
             `login_username: \"AWS\"` and `login_password` from `aws ecr get-login-password` (a \
             sensitive variable), or set `engine = \"packer\"`",
                ),
        );
    }
    Diagnostics::check(problems)?;
    let text = |key: &str| settings.text(key).unwrap_or_default();
    Ok(PushStep {
        login: flag("login").then(|| {
            (
                text("login_server"),
                text("login_username"),
                text("login_password"),
            )
        }),
    })
}

pub(crate) fn read_save(settings: &Settings<'_>) -> Result<SaveStep, Diagnostics> {
    let mut problems = settings.unknown_keys(
        "post-processor `docker-save`",
        &["path", "keep_input_artifact"],
        PACKER_PREFIX,
    );
    let path = settings.text("path").unwrap_or_default();
    if path.is_empty() {
        // Packer finds out when it runs ("Error creating output file: open : no such file").
        problems.push(
            settings
                .error(
                    "path",
                    "`path` is required: the tar file `docker save` writes",
                )
                .hint("e.g. `\"path\": \"out/app.tar\"`"),
        );
    }
    Diagnostics::check(problems)?;
    Ok(SaveStep { path })
}

/// Packer's check that a step is given an artifact it takes (by its `BuilderId`).
fn accepts(input_id: &str, accepted: &[&str], what: &str) -> Result<(), BuildError> {
    if accepted.contains(&input_id) {
        Ok(())
    } else {
        Err(unknown_artifact(input_id, what))
    }
}

/// The Packer error for an artifact a step cannot take.
fn unknown_artifact(input_id: &str, what: &str) -> BuildError {
    BuildError::Docker(imgs_docker::DockerError::Command {
        what: "post-process".into(),
        status: None,
        stderr: format!("Unknown artifact type: {input_id}\n{what}"),
    })
}

fn image_artifact(builder_type: &str, id: String, tags: Vec<String>) -> Artifact {
    let description = if tags.is_empty() {
        format!("Imported Docker image: {id}")
    } else {
        format!("Imported Docker image: {id} with tags {}", tags.join(" "))
    };
    Artifact {
        builder_type: builder_type.into(),
        id,
        description,
        files: Vec::new(),
        docker_tags: tags,
    }
}

impl ImportStep {
    pub(super) async fn run(
        &self,
        input: &Artifact,
        input_id: &str,
        run: &PostRun<'_>,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Outcome, BuildError> {
        accepts(
            input_id,
            &[EXPORT_ID, ARTIFICE_ID],
            "Can only import from Docker builder and Artifice post-processor artifacts. If you \
                 are getting this error after having run the docker builder, it may be because you \
                 set commit: true in your Docker builder, so the image is already imported. ",
        )?;
        let mut repository = self.repository.clone();
        if !self.tag.is_empty() {
            repository = format!("{repository}:{}", self.tag);
        }
        let Some(file) = input.files.first() else {
            return Err(unknown_artifact(
                input_id,
                "the artifact has no file to import",
            ));
        };
        log.line(&format!("Importing image: {}", input.id));
        log.line(&format!("Repository: {repository}"));
        let mut changes = self.changes.clone();
        if let Some(fingerprint) = run.fingerprint {
            changes.push(format!(
                "LABEL {}=\"{fingerprint}\" {}=\"{}\" {}=\"{}\"",
                imgs_docker::LABEL_FINGERPRINT,
                imgs_docker::LABEL_IMAGE,
                run.image,
                imgs_docker::LABEL_RUN,
                run.run_id
            ));
        }
        let id = DockerCli::new()
            .import(&run.working_dir.join(file), &changes, &repository, cancel)
            .await?;
        log.line(&format!("Imported ID: {id}"));
        Ok(Outcome {
            artifact: image_artifact("docker-import", repository, Vec::new()),
            keep_input: false,
            force_keep: false,
        })
    }
}

impl TagStep {
    pub(super) async fn run(
        &self,
        input: &Artifact,
        input_id: &str,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Outcome, BuildError> {
        if self.deprecated_tag_used {
            log.line(
                "Deprecation warning: \"tag\" option has been replaced with \"tags\". In future \
                 versions of Packer, this configuration may not work. Please call `packer fix` on \
                 your template to update.",
            );
        }
        accepts(
            input_id,
            &[TAG_ID, IMAGE_ID],
            "Can only tag from Docker builder artifacts.",
        )?;
        let docker = DockerCli::new();
        let mut last = self.repository.clone();
        let mut tagged = Vec::new();
        if self.tags.is_empty() {
            log.line(&format!("Tagging image: {}", input.id));
            log.line(&format!("Repository: {}", self.repository));
            docker.tag(&input.id, &self.repository, cancel).await?;
        }
        for tag in &self.tags {
            let local = format!("{}:{tag}", self.repository);
            log.line(&format!("Tagging image: {}", input.id));
            log.line(&format!("Repository: {local}"));
            docker.tag(&input.id, &local, cancel).await?;
            tagged.push(local.clone());
            last = local;
        }
        Ok(Outcome {
            artifact: image_artifact("docker-tag", last, tagged),
            keep_input: true,
            force_keep: true,
        })
    }
}

impl PushStep {
    pub(super) async fn run(
        &self,
        input: &Artifact,
        input_id: &str,
        run: &PostRun<'_>,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Outcome, BuildError> {
        accepts(
            input_id,
            &[IMAGE_ID, TAG_ID],
            "Can only import from docker-import and docker-tag artifacts.",
        )?;
        let docker = DockerCli::new();
        if let Some((server, username, password)) = &self.login {
            log.line("Logging in...");
            docker
                .login(server, username, password, log, cancel)
                .await
                .map_err(|e| match e {
                    imgs_docker::DockerError::Command { stderr, status, .. } => {
                        BuildError::Docker(imgs_docker::DockerError::Command {
                            what: "log in to Docker".into(),
                            status,
                            stderr,
                        })
                    }
                    other => other.into(),
                })?;
        }
        let pushed = self.push_all(&docker, input, run, log, cancel).await;
        if let Some((server, ..)) = &self.login {
            log.line("Logging out...");
            if let Err(e) = docker.logout(server, log).await {
                log.line(&format!("Error logging out: {e}"));
            }
        }
        pushed?;
        Ok(Outcome {
            artifact: image_artifact("docker-push", input.id.clone(), input.docker_tags.clone()),
            keep_input: true,
            force_keep: false,
        })
    }

    async fn push_all(
        &self,
        docker: &DockerCli,
        input: &Artifact,
        run: &PostRun<'_>,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<(), BuildError> {
        let mut names = vec![input.id.clone()];
        names.extend(input.docker_tags.iter().cloned());
        for name in &names {
            log.line(&format!("Pushing: {name}"));
            docker.push(name, log, cancel).await?;
        }
        if let Some(fingerprint) = run.fingerprint {
            let repository = imgs_docker::lookup::strip_tag(&input.id);
            let by_fingerprint =
                format!("{repository}:{}", imgs_docker::fingerprint_tag(fingerprint));
            log.line(&format!(
                "Pushing: {by_fingerprint} (the tag imgs finds this image by)"
            ));
            docker.tag(&input.id, &by_fingerprint, cancel).await?;
            docker.push(&by_fingerprint, log, cancel).await?;
        }
        Ok(())
    }
}

impl SaveStep {
    pub(super) async fn run(
        &self,
        input: &Artifact,
        input_id: &str,
        run: &PostRun<'_>,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Outcome, BuildError> {
        accepts(
            input_id,
            &[IMAGE_ID, TAG_ID],
            "Can only save Docker builder artifacts.",
        )?;
        let path = placed(run.outputs, run.working_dir, &self.path, false);
        let target = run.working_dir.join(&path);
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| BuildError::Io {
                action: "create the directory",
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        log.line(&format!("Saving image: {}", input.id));
        if let Err(e) = DockerCli::new().save(&input.id, &target, cancel).await {
            let _ = std::fs::remove_file(&target);
            return Err(e.into());
        }
        log.line(&format!("Saved to: {path}"));
        Ok(Outcome {
            artifact: input.clone(),
            keep_input: true,
            force_keep: false,
        })
    }
}

/// The `BuilderId` of what the builder of type `kind` made: the docker builder's depends on
/// whether it committed an image or exported a tar.
pub(crate) fn docker_builder_id(artifact: &Artifact) -> &'static str {
    if artifact.files.is_empty() && artifact.id != "Container" {
        IMAGE_ID
    } else {
        EXPORT_ID
    }
}

/// Whether an artifact of `builder_id` is an image in the Docker engine (destroyed with `docker
/// rmi`, as Packer's `ImportArtifact.Destroy`).
pub(crate) fn is_engine_image(builder_id: &str) -> bool {
    builder_id == IMAGE_ID || builder_id == TAG_ID
}

/// `docker rmi`, for an image artifact that is not kept.
pub(crate) fn destroy_image(artifact: &Artifact) -> Result<(), BuildError> {
    DockerCli::new()
        .remove_image_blocking(&artifact.id)
        .map_err(BuildError::from)
}
