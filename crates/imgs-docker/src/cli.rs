//! The `docker` command, run as Packer 1.6.6's docker driver runs it: one CLI call per step, with the
//! arguments Packer passes. Going through the CLI rather than the Engine API keeps what templates say
//! meaning what it means to Packer: `run_command` is a list of `docker run` arguments, `changes` are
//! `docker commit --change` instructions, and `login` stores credentials where the CLI keeps them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use imgs_log::Log;
use imgs_process::{Lines, ProcessGroup};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::DockerError;

/// The `docker` CLI on this machine, talking to whichever daemon `DOCKER_HOST` (or the CLI's
/// context) names.
#[derive(Clone, Debug)]
pub struct DockerCli {
    program: OsString,
}

impl Default for DockerCli {
    fn default() -> Self {
        DockerCli::new()
    }
}

/// What `docker run` is given, in Packer's order (`StartContainer`).
#[derive(Clone, Debug, Default)]
pub struct RunSpec {
    /// `--name` of the container (see [`crate::container_name`]), so `imgs gc` finds what a killed
    /// run left; a name, unlike a label, does not pass into the committed image.
    pub name: Option<String>,
    pub device: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub tmpfs: Vec<String>,
    /// `host:container` pairs.
    pub volumes: Vec<(String, String)>,
    /// `run_command`, rendered.
    pub run_command: Vec<String>,
}

impl RunSpec {
    /// The arguments after `docker`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["run".to_string()];
        if let Some(name) = &self.name {
            args.push("--name".into());
            args.push(name.clone());
        }
        for (flag, values) in [
            ("--device", &self.device),
            ("--cap-add", &self.cap_add),
            ("--cap-drop", &self.cap_drop),
        ] {
            for value in values {
                args.push(flag.into());
                args.push(value.clone());
            }
        }
        if self.privileged {
            args.push("--privileged".into());
        }
        for value in &self.tmpfs {
            args.push("--tmpfs".into());
            args.push(value.clone());
        }
        for (host, container) in &self.volumes {
            args.push("-v".into());
            args.push(format!("{host}:{container}"));
        }
        args.extend(self.run_command.iter().cloned());
        args
    }
}

impl DockerCli {
    /// `IMGS_DOCKER` when set (a test's or a user's choice of client), else `docker` from PATH.
    pub fn new() -> DockerCli {
        DockerCli {
            program: std::env::var_os("IMGS_DOCKER").unwrap_or_else(|| "docker".into()),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `docker ARGS` to the end (or until cancelled) and returns its standard output.
    async fn output(
        &self,
        args: &[&str],
        what: &str,
        cancel: &CancellationToken,
    ) -> Result<String, DockerError> {
        let child = self
            .command(args)
            .spawn()
            .map_err(|e| self.not_started(e))?;
        let output = tokio::select! {
            output = child.wait_with_output() => output.map_err(|e| self.not_started(e))?,
            () = cancel.cancelled() => return Err(DockerError::Cancelled),
        };
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(DockerError::from_stderr(
                what,
                output.status.code(),
                stderr.trim(),
            ))
        }
    }

    /// Runs `docker ARGS` printing its output into `log` as it comes, as Packer's `runAndStream`;
    /// `stdin` (a password) is written to it first.
    async fn streamed(
        &self,
        args: &[&str],
        what: &str,
        stdin: Option<&str>,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<(), DockerError> {
        let mut command = self.command(args);
        command.process_group(0);
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().map_err(|e| self.not_started(e))?;
        let mut group = ProcessGroup::led_by(child.id());
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .await
                .map_err(|e| DockerError::Io {
                    action: "write to `docker`",
                    reason: e.to_string(),
                })?;
        }
        let mut out = Lines::new(child.stdout.take());
        let mut err = Lines::new(child.stderr.take());
        let mut errors = Vec::new();
        tokio::select! {
            () = imgs_process::read_both(&mut out, &mut err, |source, line| {
                log.line(&line);
                if source == imgs_process::Source::Stderr {
                    errors.push(line);
                }
            }) => {}
            () = cancel.cancelled() => return Err(DockerError::Cancelled),
        }
        let status = tokio::select! {
            status = child.wait() => status.map_err(|e| self.not_started(e))?,
            () = cancel.cancelled() => return Err(DockerError::Cancelled),
        };
        group.ended();
        if status.success() {
            Ok(())
        } else {
            Err(DockerError::from_stderr(
                what,
                status.code(),
                errors.join("\n").trim(),
            ))
        }
    }

    fn not_started(&self, error: std::io::Error) -> DockerError {
        DockerError::NotInstalled {
            program: PathBuf::from(&self.program).display().to_string(),
            reason: error.to_string(),
        }
    }

    /// The daemon's version; fails with [`DockerError::DaemonDown`] when none answers.
    pub async fn server_version(&self, cancel: &CancellationToken) -> Result<String, DockerError> {
        let out = self
            .output(
                &["version", "--format", "{{.Server.Version}}"],
                "ask the Docker daemon for its version",
                cancel,
            )
            .await?;
        Ok(out.trim().to_string())
    }

    pub async fn pull(
        &self,
        image: &str,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<(), DockerError> {
        self.streamed(
            &["pull", image],
            &format!("pull {image}"),
            None,
            log,
            cancel,
        )
        .await
    }

    /// `docker login [-u USER] [--password-stdin] [SERVER]`; the password never appears in
    /// arguments or output.
    pub async fn login(
        &self,
        server: &str,
        username: &str,
        password: &str,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<(), DockerError> {
        let mut args = vec!["login"];
        if !username.is_empty() {
            args.extend(["-u", username]);
        }
        if !password.is_empty() {
            args.push("--password-stdin");
        }
        if !server.is_empty() {
            args.push(server);
        }
        let stdin = (!password.is_empty()).then_some(password);
        self.streamed(
            &args,
            &format!("log in to {}", shown_server(server)),
            stdin,
            log,
            cancel,
        )
        .await
    }

    pub async fn logout(&self, server: &str, log: Log<'_>) -> Result<(), DockerError> {
        let mut args = vec!["logout"];
        if !server.is_empty() {
            args.push(server);
        }
        // Logging out is clean-up: it runs whatever happened, so it is not cancellable.
        self.streamed(
            &args,
            &format!("log out of {}", shown_server(server)),
            None,
            log,
            &CancellationToken::new(),
        )
        .await
    }

    /// `docker run …` (detached, by Packer's default `run_command`): the new container's ID.
    pub async fn run(
        &self,
        spec: &RunSpec,
        cancel: &CancellationToken,
    ) -> Result<String, DockerError> {
        let args = spec.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.output(&args, "start the container", cancel).await?;
        let id = out.trim().lines().last().unwrap_or_default().to_string();
        if id.is_empty() {
            return Err(DockerError::Command {
                what: "start the container".into(),
                status: Some(0),
                stderr:
                    "`docker run` printed no container ID: is `-d` among run_command's arguments?"
                        .into(),
            });
        }
        Ok(id)
    }

    /// The user the container's processes run as (`Config.User`; empty means root).
    pub async fn container_user(&self, id: &str) -> Result<String, DockerError> {
        let out = self
            .output(
                &["inspect", "--format", "{{.Config.User}}", id],
                "inspect the container",
                &CancellationToken::new(),
            )
            .await?;
        Ok(out.trim().to_string())
    }

    /// Kills and removes the container (Packer's `KillContainer`); one already gone is fine. Not
    /// cancellable: it is what cancelling runs.
    pub async fn remove_container(&self, id: &str) -> Result<(), DockerError> {
        let out = self
            .output(
                &["rm", "--force", "--volumes", id],
                &format!("remove container {}", short_id(id)),
                &CancellationToken::new(),
            )
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(DockerError::Command { stderr, .. }) if stderr.contains("No such container") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// [`DockerCli::remove_container`] from code that cannot wait for a future (a builder dropped
    /// mid-build, the process about to exit, `imgs gc`): blocks until `docker rm` is done.
    pub fn remove_container_blocking(&self, id: &str) -> Result<(), DockerError> {
        self.blocking(
            &["rm", "--force", "--volumes", id],
            &format!("remove container {}", short_id(id)),
        )
    }

    /// `docker rmi` from code that cannot wait for a future (destroying an artifact that is not
    /// kept); Docker's complaint when it fails.
    pub fn remove_image_blocking(&self, image: &str) -> Result<(), DockerError> {
        self.blocking(
            &["rmi", image],
            &format!("remove image {}", short_id(image)),
        )
    }

    /// `docker ARGS`, waited for on this thread; Docker's complaint (as doing `what`) when it fails.
    fn blocking(&self, args: &[&str], what: &str) -> Result<(), DockerError> {
        let output = std::process::Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.not_started(e))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(DockerError::from_stderr(
                what,
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).trim(),
            ))
        }
    }

    /// `docker commit [--author A] [--change C]… [--message M] ID`: the new image's ID.
    pub async fn commit(
        &self,
        container: &str,
        author: &str,
        changes: &[String],
        message: &str,
        cancel: &CancellationToken,
    ) -> Result<String, DockerError> {
        let mut args = vec!["commit".to_string()];
        if !author.is_empty() {
            args.extend(["--author".into(), author.into()]);
        }
        for change in changes {
            args.extend(["--change".into(), change.clone()]);
        }
        if !message.is_empty() {
            args.extend(["--message".into(), message.into()]);
        }
        args.push(container.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.output(&args, "commit the container", cancel).await?;
        Ok(out.trim().to_string())
    }

    /// `docker export ID > path`.
    pub async fn export(
        &self,
        container: &str,
        path: &Path,
        cancel: &CancellationToken,
    ) -> Result<(), DockerError> {
        let path_text = path.display().to_string();
        self.output_file(
            &["export", "--output", &path_text, container],
            "export the container",
            path,
            cancel,
        )
        .await
    }

    /// `docker import [--change C]… - REPO < path`: the new image's ID.
    pub async fn import(
        &self,
        path: &Path,
        changes: &[String],
        repository: &str,
        cancel: &CancellationToken,
    ) -> Result<String, DockerError> {
        let mut args = vec!["import".to_string()];
        for change in changes {
            args.extend(["--change".into(), change.clone()]);
        }
        args.push(path.display().to_string());
        if !repository.is_empty() {
            args.push(repository.into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self
            .output(&args, &format!("import {}", path.display()), cancel)
            .await?;
        Ok(out.trim().to_string())
    }

    pub async fn tag(
        &self,
        image: &str,
        reference: &str,
        cancel: &CancellationToken,
    ) -> Result<(), DockerError> {
        self.output(
            &["tag", image, reference],
            &format!("tag {} as {reference}", short_id(image)),
            cancel,
        )
        .await
        .map(drop)
    }

    pub async fn push(
        &self,
        reference: &str,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<(), DockerError> {
        self.streamed(
            &["push", reference],
            &format!("push {reference}"),
            None,
            log,
            cancel,
        )
        .await
    }

    /// `docker save IMAGE > path`.
    pub async fn save(
        &self,
        image: &str,
        path: &Path,
        cancel: &CancellationToken,
    ) -> Result<(), DockerError> {
        let path_text = path.display().to_string();
        self.output_file(
            &["save", "--output", &path_text, image],
            &format!("save {}", short_id(image)),
            path,
            cancel,
        )
        .await
    }

    /// Runs `docker ARGS`, which writes `path` (`--output`), and leaves the file with the mode Packer's
    /// has: Packer creates it itself (`os.Create`: 0666 less the umask, or the mode of the file it
    /// replaces) and copies the CLI's output into it, where the CLI writes a private temporary file
    /// and renames it (0600).
    async fn output_file(
        &self,
        args: &[&str],
        what: &str,
        path: &Path,
        cancel: &CancellationToken,
    ) -> Result<(), DockerError> {
        let io_error = |e: std::io::Error| DockerError::Io {
            action: "write the output file",
            reason: format!("{}: {e}", path.display()),
        };
        let created = std::fs::File::create(path).map_err(io_error)?;
        let mode = created.metadata().map_err(io_error)?.permissions();
        drop(created);
        self.output(args, what, cancel).await?;
        std::fs::set_permissions(path, mode).map_err(io_error)
    }

    /// `docker rmi IMAGE` (Packer destroys a docker artifact that is not kept this way).
    pub async fn remove_image(&self, image: &str) -> Result<(), DockerError> {
        self.output(
            &["rmi", image],
            &format!("remove image {}", short_id(image)),
            &CancellationToken::new(),
        )
        .await
        .map(drop)
    }

    /// `docker exec [-u USER] [-t] [-i] ID ARGS…` with its output as lines; `stdin` fed when given.
    pub(crate) fn exec_command(
        &self,
        container: &str,
        user: &str,
        tty: bool,
        args: &[&str],
    ) -> Command {
        let mut command = Command::new(&self.program);
        command.arg("exec").arg("-i");
        if !user.is_empty() {
            command.args(["-u", user]);
        }
        if tty {
            command.arg("-t");
        }
        command
            .arg(container)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// `docker cp ARGS…`, with stdin/stdout as the caller sets them.
    pub(crate) fn cp_command(&self, from: &str, to: &str) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(["cp", from, to])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

/// The registry a login is for, as a person reads it (Docker Hub when none is named).
fn shown_server(server: &str) -> &str {
    if server.is_empty() {
        "Docker Hub"
    } else {
        server
    }
}

/// An image or container ID as `docker` prints it short (12 hex digits); other names as they are.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        &hex[..12]
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_arguments_come_in_packers_order() {
        let spec = RunSpec {
            name: Some("imgs-1234abcd-r1-app".into()),
            device: vec!["/dev/fuse".into()],
            cap_add: vec!["SYS_ADMIN".into()],
            cap_drop: vec!["NET_RAW".into()],
            privileged: true,
            tmpfs: vec!["/run".into()],
            volumes: vec![("/tmp/x".into(), "/packer-files".into())],
            run_command: vec![
                "-d".into(),
                "-i".into(),
                "-t".into(),
                "--".into(),
                "img".into(),
            ],
        };
        assert_eq!(
            spec.args().join(" "),
            "run --name imgs-1234abcd-r1-app --device /dev/fuse --cap-add SYS_ADMIN --cap-drop NET_RAW --privileged \
             --tmpfs /run -v /tmp/x:/packer-files -d -i -t -- img"
        );
    }

    #[test]
    fn ids_are_shown_short_and_names_whole() {
        let id = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(short_id(&id), "abababababab");
        assert_eq!(short_id("127.0.0.1:5000/app:1"), "127.0.0.1:5000/app:1");
    }
}
