//! The `docker` builder, as Packer 1.6.6's: a temporary directory shared with the container at
//! `container_dir`, the image pulled (with `login*` when asked), a container started with
//! `run_command`, provisioners run inside it through the docker communicator, then the container
//! committed (`commit`), exported to a tar (`export_path`) or thrown away (`discard`), and killed and
//! removed whatever happened.
//!
//! What imgs adds: a committed image carries the labels `imgs.fingerprint`, `imgs.image` and
//! `imgs.run` (one more `LABEL` change), so the plan finds it by fingerprint in the engine or in a
//! registry it was pushed to; and the container never outlives imgs (removed on failure, on
//! Ctrl-C, and when the build is dropped).

use std::path::{Path, PathBuf};

use imgs_diagnostic::Diagnostics;
use imgs_docker::{DockerCli, DockerCommunicator, ExecSettings, RunSpec};
use imgs_provision::Communicator;
use imgs_settings::KeyRules;
use imgs_template::interpolate::{Context, OwnedContext};
use tokio_util::sync::CancellationToken;

use crate::builder::{Builder, Log};
use crate::outputs::placed;
use crate::settings::Settings;
use crate::{Artifact, BuildError, OutputPlacement, RunLabels};

/// Packer's `BuilderId`s of the docker builder's two artifacts: a committed image is an "import"
/// artifact (as `docker-import` makes), an exported tar the builder's own.
pub(crate) const IMAGE_ID: &str = "packer.post-processor.docker-import";
pub(crate) const EXPORT_ID: &str = "packer.docker";

/// What happens to the container at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Commit,
    /// The tar's path, placed (relative to the working directory when written relative).
    Export(String),
    Discard,
}

#[derive(Clone, Debug, Default)]
struct Login {
    server: String,
    username: String,
    password: String,
}

pub struct DockerBuilder {
    image: String,
    pull: bool,
    login: Option<Login>,
    run: RunSpec,
    container_dir: String,
    exec: ExecSettings,
    /// `communicator: none`: nothing is provisioned.
    no_communicator: bool,
    changes: Vec<String>,
    author: String,
    message: String,
    outcome: Outcome,
    labels: RunLabels,
    working_dir: PathBuf,
    docker: DockerCli,
    container: Option<String>,
    shared_dir: Option<tempfile::TempDir>,
}

const KNOWN: &[&str] = &[
    "author",
    "changes",
    "commit",
    "container_dir",
    "device",
    "discard",
    "cap_add",
    "cap_drop",
    "exec_user",
    "export_path",
    "image",
    "message",
    "privileged",
    "pty",
    "pull",
    "run_command",
    "tmpfs",
    "volumes",
    "fix_upload_owner",
    "windows_container",
    "login",
    "login_password",
    "login_server",
    "login_username",
    "ecr_login",
    "communicator",
    "pause_before_connecting",
];

/// Packer's default `run_command`.
const DEFAULT_RUN_COMMAND: &[&str] =
    &["-d", "-i", "-t", "--entrypoint=/bin/sh", "--", "{{.Image}}"];

/// The settings as decoded, before the checks that combine them.
struct Decoded {
    image: String,
    commit: bool,
    discard: bool,
    export_path: Option<String>,
    pull: bool,
    login: Option<Login>,
    volumes: Vec<(String, String)>,
    exec: ExecSettings,
    run_command: Option<Vec<String>>,
    no_communicator: bool,
    run: RunSpec,
    changes: Vec<String>,
    author: String,
    message: String,
    container_dir: String,
}

pub fn read(
    settings: &Settings<'_>,
    build_name: &str,
    working_dir: &Path,
    outputs: Option<&OutputPlacement>,
    ctx: &Context<'_>,
    labels: &RunLabels,
) -> Result<DockerBuilder, Diagnostics> {
    let read = settings.located.decode(|d| {
        d.check_keys(&KeyRules {
            what: "builder `docker`",
            known: KNOWN,
            not_supported: &[],
            // The communicator's settings (read by Packer, unused by the docker communicator) and
            // the AWS credentials only `ecr_login` reads.
            other_prefixes: &["ssh_", "winrm_", "aws_", "temporary_key_pair_"],
            only_prefix: None,
        });
        if d.flag("windows_container") {
            d.problem(
                "windows_container",
                "not supported: windows_container",
                "Windows containers need a Docker daemon on Windows, which imgs cannot reach or test \
                 against; build them with `engine = \"packer\"` in Images.toml",
            );
        }
        if d.flag("ecr_login") {
            d.problem(
                "ecr_login",
                "not supported: ecr_login",
                "imgs does not call ECR for a login token; pass one with `login: true`, \
                 `login_username: \"AWS\"` and `login_password` from `aws ecr get-login-password` (a \
                 sensitive variable), or set `engine = \"packer\"`",
            );
        }
        let communicator = d.string("communicator").unwrap_or_default();
        let no_communicator = match communicator.as_str() {
            "" | "docker" => false,
            "none" => true,
            other => {
                d.problem(
                    "communicator",
                    format!("not supported: communicator `{other}` with the docker builder"),
                    "imgs runs provisioners in the container with `docker exec` (communicator \
                     `docker`, the default), or not at all with `none`",
                );
                false
            }
        };
        let image = d.required("image", "the image the container starts from");
        let commit = d.flag("commit");
        let discard = d.flag("discard");
        let export_path = d.string("export_path");
        let pull = if d.is_set("pull") { d.flag("pull") } else { true };
        let fix_upload_owner = if d.is_set("fix_upload_owner") {
            d.flag("fix_upload_owner")
        } else {
            true
        };
        let login = d.flag("login").then(|| Login {
            server: d.string("login_server").unwrap_or_default(),
            username: d.string("login_username").unwrap_or_default(),
            password: d.string("login_password").unwrap_or_default(),
        });
        let mut volumes: Vec<(String, String)> = d.map("volumes").into_iter().collect();
        // Packer walks a Go map (in random order); sorted, the command line is the same every run.
        volumes.sort();
        let exec = ExecSettings {
            exec_user: d.string("exec_user").unwrap_or_default(),
            fix_upload_owner,
            pty: d.flag("pty"),
        };
        Decoded {
            run_command: d.strings_if_set("run_command").filter(|c| !c.is_empty()),
            image,
            commit,
            discard,
            export_path,
            pull,
            login,
            volumes,
            exec,
            no_communicator,
            run: RunSpec {
                name: None,
                device: d.strings("device"),
                cap_add: d.strings("cap_add"),
                cap_drop: d.strings("cap_drop"),
                privileged: d.flag("privileged"),
                tmpfs: d.strings("tmpfs"),
                volumes: Vec::new(),
                run_command: Vec::new(),
            },
            changes: d.strings("changes"),
            author: d.string("author").unwrap_or_default(),
            message: d.string("message").unwrap_or_default(),
            container_dir: d
                .string("container_dir")
                .unwrap_or_else(|| "/packer-files".to_string()),
        }
    })?;
    let Decoded {
        image,
        commit,
        discard,
        export_path,
        pull,
        login,
        volumes,
        exec,
        run_command,
        no_communicator,
        mut run,
        changes,
        author,
        message,
        container_dir,
    } = read;
    // A workspace build starts from the image Images.lock pinned its tag to. One that was never in
    // a registry is pinned by its ID, which only this engine has: there is nothing to pull.
    let image =
        crate::lock_inputs::locked_image(&image, build_name, &labels.locked_sources).to_string();
    let pull = pull && !image.starts_with("sha256:");
    let mut problems = Vec::new();
    let outcome = match (commit, discard, export_path) {
        (true, false, None) => Outcome::Commit,
        (false, true, None) => Outcome::Discard,
        (false, false, Some(path)) => {
            if working_dir.join(&path).is_dir() {
                problems.push(
                    settings
                        .error("export_path", "export_path must be a file, not a directory")
                        .hint(
                            "name the tar file to write, e.g. `\"export_path\": \"out/image.tar\"`",
                        ),
                );
            }
            Outcome::Export(placed(outputs, working_dir, &path, false))
        }
        (false, false, None) => {
            problems.push(
                settings
                    .error(
                        "commit",
                        "No instructions given for handling the artifact; expected commit, discard, or export_path",
                    )
                    .hint("add `\"commit\": true` to make an image of the container"),
            );
            Outcome::Discard
        }
        _ => {
            problems.push(
                settings
                    .error(
                        "commit",
                        "Cannot specify more than one of commit, discard, and export_path",
                    )
                    .hint(
                        "keep one: `commit` makes an image, `export_path` a tar, `discard` nothing",
                    ),
            );
            Outcome::Discard
        }
    };
    // `run_command` is rendered as the container starts, with the image in `{{.Image}}`.
    let deferred = OwnedContext::of(ctx);
    let data = std::collections::BTreeMap::from([("Image".to_string(), image.clone())]);
    let written: Vec<String> =
        run_command.unwrap_or_else(|| DEFAULT_RUN_COMMAND.iter().map(|s| s.to_string()).collect());
    for arg in written {
        match deferred.render(&arg, &data) {
            Ok(rendered) => run.run_command.push(rendered),
            Err(reason) => problems.push(
                settings
                    .error("run_command", format!("cannot render `{arg}`: {reason}"))
                    .hint("run_command may use `{{.Image}}` and the template's variables"),
            ),
        }
    }
    run.volumes = volumes
        .into_iter()
        .map(|(host, container)| {
            // A bare name is a named volume of the daemon, which Packer passes to `docker run -v`
            // as written; a relative path means the working directory's.
            let host = if Path::new(&host).is_relative() && !is_volume_name(&host) {
                working_dir.join(&host).display().to_string()
            } else {
                host
            };
            (host, container)
        })
        .collect();
    // A workspace build's container is named after the run, so what a killed run leaves can be
    // found and removed (`imgs gc`).
    if labels.fingerprint.is_some() {
        run.name = Some(imgs_docker::container_name(
            &workspace_key(working_dir),
            &labels.run_id,
            &labels.image,
            &uuid::Uuid::new_v4().simple().to_string()[..6],
        ));
    }
    Diagnostics::check(problems)?;
    Ok(DockerBuilder {
        image,
        pull,
        login,
        run,
        container_dir,
        exec,
        no_communicator,
        changes,
        author,
        message,
        outcome,
        labels: labels.clone(),
        working_dir: working_dir.to_path_buf(),
        docker: DockerCli::new(),
        container: None,
        shared_dir: None,
    })
}

/// The key of a workspace in its containers' names: 8 hex digits of the root's path.
/// What the name of every directory a build shares with its container starts with (in the
/// temporary directory).
pub(crate) const SHARED_DIR_PREFIX: &str = "imgs-docker-";

pub(crate) fn workspace_key(root: &Path) -> String {
    blake3::hash(root.as_os_str().as_encoded_bytes()).to_hex()[..8].to_string()
}

/// Whether a `volumes` key names a volume rather than a host path: what `docker run -v NAME:…`
/// takes as one (no `/`, and not `.` or `..`).
fn is_volume_name(host: &str) -> bool {
    !host.is_empty() && !host.contains('/') && !host.starts_with('.')
}

impl DockerBuilder {
    /// The `LABEL` change that names the build, when it is a workspace build.
    fn label_change(&self) -> Option<String> {
        let fingerprint = self.labels.fingerprint.as_deref()?;
        Some(format!(
            "LABEL {}=\"{fingerprint}\" {}=\"{}\" {}=\"{}\"",
            imgs_docker::LABEL_FINGERPRINT,
            imgs_docker::LABEL_IMAGE,
            self.labels.image,
            imgs_docker::LABEL_RUN,
            self.labels.run_id,
        ))
    }

    async fn pull(&self, log: Log<'_>, cancel: &CancellationToken) -> Result<(), BuildError> {
        log.line(&format!("Pulling Docker image: {}", self.image));
        if let Some(login) = &self.login {
            log.line("Logging in...");
            self.docker
                .login(&login.server, &login.username, &login.password, log, cancel)
                .await?;
        }
        let pulled = self.docker.pull(&self.image, log, cancel).await;
        if let Some(login) = &self.login {
            log.line("Logging out...");
            if let Err(e) = self.docker.logout(&login.server, log).await {
                log.line(&format!("Error logging out: {e}"));
            }
        }
        pulled.map_err(BuildError::from)
    }
}

#[async_trait::async_trait]
impl Builder for DockerBuilder {
    fn builder_type(&self) -> &'static str {
        "docker"
    }

    fn has_communicator(&self) -> bool {
        !self.no_communicator
    }

    async fn start(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Option<Box<dyn Communicator>>, BuildError> {
        log.phase("starting container");
        log.line("Creating a temporary directory for sharing data...");
        // Named after the container in a workspace build, so `imgs gc` can tell a dead run's
        // directory (a killed imgs cannot remove it) from a live one's.
        let prefix = match &self.run.name {
            Some(container) => format!("{SHARED_DIR_PREFIX}{container}-"),
            None => SHARED_DIR_PREFIX.to_string(),
        };
        let shared = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir()
            .map_err(|e| BuildError::Io {
                action: "create the directory shared with the container",
                path: std::env::temp_dir().display().to_string(),
                reason: e.to_string(),
            })?;
        let version = self.docker.server_version(cancel).await?;
        log.line(&format!("Docker daemon version {version}"));
        if self.pull {
            self.pull(log, cancel).await?;
        }
        let mut run = self.run.clone();
        run.volumes.push((
            shared.path().display().to_string(),
            self.container_dir.clone(),
        ));
        self.shared_dir = Some(shared);
        log.line("Starting docker container...");
        log.line(&format!("Run command: docker {}", run.args().join(" ")));
        // Not cancellable: a `docker run` killed after its request reached the daemon leaves a
        // container whose ID nobody learns (found by the chaos tests: Ctrl-C in this step left
        // one). It takes a fraction of a second once the image is there (pulling is the step
        // before); as in Packer, Ctrl-C takes effect when it ends, and the container is removed.
        let id = self.docker.run(&run, &CancellationToken::new()).await?;
        log.line(&format!("Container ID: {id}"));
        self.container = Some(id.clone());
        if cancel.is_cancelled() {
            return Err(BuildError::Cancelled);
        }
        if self.no_communicator {
            return Ok(None);
        }
        let communicator =
            DockerCommunicator::connect(self.docker.clone(), id, self.exec.clone(), cancel.clone())
                .await?;
        Ok(Some(Box::new(communicator)))
    }

    async fn finish(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Artifact, BuildError> {
        let Some(container) = self.container.clone() else {
            return Err(BuildError::Io {
                action: "finish a docker build that never started:",
                path: self.image.clone(),
                reason: "no container".into(),
            });
        };
        match &self.outcome {
            Outcome::Commit => {
                log.phase("committing");
                log.line("Committing the container");
                let mut changes = self.changes.clone();
                changes.extend(self.label_change());
                let id = self
                    .docker
                    .commit(&container, &self.author, &changes, &self.message, cancel)
                    .await?;
                log.line(&format!("Image ID: {id}"));
                Ok(Artifact {
                    builder_type: "docker".into(),
                    description: format!("Imported Docker image: {id}"),
                    id,
                    files: Vec::new(),
                    docker_tags: Vec::new(),
                })
            }
            Outcome::Export(path) => {
                log.phase("exporting");
                let target = self.working_dir.join(path);
                if let Some(dir) = target.parent() {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|e| BuildError::Io {
                            action: "create the directory",
                            path: dir.display().to_string(),
                            reason: e.to_string(),
                        })?;
                }
                log.line("Exporting the container");
                if let Err(e) = self.docker.export(&container, &target, cancel).await {
                    let _ = std::fs::remove_file(&target);
                    return Err(e.into());
                }
                Ok(Artifact {
                    builder_type: "docker".into(),
                    id: "Container".into(),
                    description: format!("Exported Docker file: {path}"),
                    files: vec![PathBuf::from(path)],
                    docker_tags: Vec::new(),
                })
            }
            Outcome::Discard => Ok(Artifact {
                builder_type: "docker".into(),
                id: "Container".into(),
                description: "Exported Docker file: ".into(),
                files: Vec::new(),
                docker_tags: Vec::new(),
            }),
        }
    }

    async fn cleanup(&mut self, log: Log<'_>) -> Result<(), BuildError> {
        if let Some(container) = self.container.take() {
            log.line(&format!("Killing the container: {container}"));
            if let Err(e) = self.docker.remove_container(&container).await {
                self.container = Some(container);
                return Err(e.into());
            }
        }
        self.shared_dir = None;
        Ok(())
    }

    fn keep_leftovers(&mut self) {
        self.container = None;
        if let Some(dir) = self.shared_dir.take() {
            let _ = dir.keep();
        }
    }

    fn leftovers(&self) -> Vec<String> {
        self.container
            .iter()
            .map(|id| format!("container {}", imgs_docker::short_id(id)))
            .collect()
    }
}

impl Drop for DockerBuilder {
    fn drop(&mut self) {
        // A build dropped mid-way (cancelled, or the process ending) must not leave its container.
        if let Some(container) = self.container.take() {
            // Nothing to tell from a drop: a container left is named by `imgs gc`'s next run.
            let _ = self.docker.remove_container_blocking(&container);
        }
    }
}
