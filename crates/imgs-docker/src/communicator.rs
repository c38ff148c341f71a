//! The `docker` communicator: provisioners run inside the build's container through `docker exec`
//! and copy files with `docker cp`, as Packer 1.6.6's docker communicator does:
//!
//! - a command runs as `docker exec -i [-u exec_user] [-t] ID /bin/sh -c "(COMMAND)"`;
//! - a file travels as a one-entry tar stream to `docker cp - ID:DIR`, so it keeps its local
//!   permission bits; a directory goes by `docker cp DIR ID:DEST` (`DIR/` copies its contents, as
//!   `docker cp DIR/. …` does);
//! - with `fix_upload_owner` (the default), what was uploaded is then `chown -R`'d to the container's
//!   user (root when the image names none);
//! - a file comes back through `docker cp ID:SRC -`; directories cannot be downloaded (Packer:
//!   "DownloadDir is not implemented for docker").

use std::path::Path;
use std::process::Stdio;

use imgs_log::{ExitStatus, Stream};
use imgs_process::Lines;
use imgs_provision::{Communicator, CommunicatorError, CommunicatorErrorKind, OnLine};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

use crate::DockerCli;

/// A running build container, reached through the `docker` CLI.
pub struct DockerCommunicator {
    docker: DockerCli,
    container: String,
    /// `exec_user`: who commands run as (the image's user when empty).
    exec_user: String,
    /// The image's own user, whom uploads are given to with `fix_upload_owner`.
    container_user: String,
    fix_upload_owner: bool,
    /// Packer's `pty` setting: `docker exec -t`.
    pty: bool,
    cancel: CancellationToken,
}

/// How the communicator is set up, from the builder's settings.
#[derive(Clone, Debug, Default)]
pub struct ExecSettings {
    pub exec_user: String,
    pub fix_upload_owner: bool,
    pub pty: bool,
}

impl DockerCommunicator {
    /// The communicator of `container`; asks Docker for the container's user, as Packer does when it
    /// connects.
    pub async fn connect(
        docker: DockerCli,
        container: String,
        settings: ExecSettings,
        cancel: CancellationToken,
    ) -> Result<DockerCommunicator, crate::DockerError> {
        let container_user = docker.container_user(&container).await?;
        Ok(DockerCommunicator {
            docker,
            container,
            exec_user: settings.exec_user,
            container_user,
            fix_upload_owner: settings.fix_upload_owner,
            pty: settings.pty,
            cancel,
        })
    }

    /// Copies one local file to exactly `remote` with its permission bits.
    async fn copy_file(&self, local: &Path, remote: &str) -> Result<(), CommunicatorError> {
        let (dir, name) = split_remote(remote);
        if name.is_empty() {
            return Err(transfer(format!(
                "cannot upload {} to `{remote}`: the destination names no file",
                local.display()
            )));
        }
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| transfer(format!("could not read {}: {e}", local.display())))?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| transfer(format!("could not read {}: {e}", local.display())))?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        header
            .set_path(name)
            .map_err(|e| transfer(format!("cannot upload to `{remote}`: {e}")))?;
        header.set_cksum();
        let target = format!("{}:{dir}", self.container);
        let mut command = self.docker.cp_command("-", &target);
        command.stdin(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| transfer(format!("could not run `docker cp`: {e}")))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let write = async {
            stdin.write_all(header.as_bytes()).await?;
            let copied = tokio::io::copy(&mut file, &mut stdin).await?;
            let padding = (512 - (copied % 512) as usize) % 512;
            stdin.write_all(&vec![0u8; padding + 1024]).await?;
            stdin.shutdown().await?;
            drop(stdin);
            Ok::<_, std::io::Error>(())
        };
        let mut errors = String::new();
        let (written, _) = tokio::select! {
            both = async { tokio::join!(write, stderr.read_to_string(&mut errors)) } => both,
            () = self.cancel.cancelled() => return Err(cancelled()),
        };
        let status = child
            .wait()
            .await
            .map_err(|e| transfer(format!("`docker cp` failed: {e}")))?;
        if !status.success() || written.is_err() {
            return Err(transfer(format!(
                "Failed to upload to '{remote}' in container: {}",
                errors.trim()
            )));
        }
        self.fix_owner(remote).await
    }

    /// `docker cp SRC ID:DEST` for a directory.
    async fn copy_dir(&self, local: &Path, remote: &str) -> Result<(), CommunicatorError> {
        let mut source = local.display().to_string();
        if source.ends_with('/') {
            source.push('.');
        }
        let target = format!("{}:{remote}", self.container);
        let output = tokio::select! {
            out = self.docker.cp_command(&source, &target).output() => out,
            () = self.cancel.cancelled() => return Err(cancelled()),
        }
        .map_err(|e| transfer(format!("could not run `docker cp`: {e}")))?;
        if !output.status.success() {
            return Err(transfer(format!(
                "Failed to upload to '{remote}' in container: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        self.fix_owner(remote).await
    }

    /// Packer's `fixDestinationOwner`: `chown -R USER DEST` as root.
    async fn fix_owner(&self, remote: &str) -> Result<(), CommunicatorError> {
        if !self.fix_upload_owner {
            return Ok(());
        }
        let owner = if self.container_user.is_empty() {
            "root"
        } else {
            &self.container_user
        };
        let command = format!("chown -R {owner} {remote}");
        let output = self
            .docker
            .exec_command(&self.container, "root", false, &["/bin/sh", "-c", &command])
            .output()
            .await
            .map_err(|e| transfer(format!("could not run `docker exec`: {e}")))?;
        if output.status.success() {
            Ok(())
        } else {
            // chown (and `docker exec`) say why on stderr; Packer shows the combined output.
            let said = [&output.stdout, &output.stderr]
                .iter()
                .map(|bytes| String::from_utf8_lossy(bytes).trim().to_string())
                .filter(|text| !text.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            Err(transfer(format!(
                "Failed to set owner of the uploaded file: {said}"
            )))
        }
    }
}

#[async_trait::async_trait]
impl Communicator for DockerCommunicator {
    async fn exec(
        &self,
        command: &str,
        on_line: OnLine<'_>,
    ) -> Result<ExitStatus, CommunicatorError> {
        let wrapped = format!("({command})");
        let mut child = self
            .docker
            .exec_command(
                &self.container,
                &self.exec_user,
                self.pty,
                &["/bin/sh", "-c", &wrapped],
            )
            .spawn()
            .map_err(|e| CommunicatorError {
                kind: CommunicatorErrorKind::Unavailable,
                message: format!("could not run `docker exec`: {e}"),
                hint: None,
            })?;
        let mut out = Lines::new(child.stdout.take());
        let mut err = Lines::new(child.stderr.take());
        tokio::select! {
            () = imgs_process::read_both(&mut out, &mut err, |source, line| {
                let stream = match source {
                    imgs_process::Source::Stdout => Stream::Stdout,
                    imgs_process::Source::Stderr => Stream::Stderr,
                };
                on_line(stream, &line);
            }) => {}
            () = self.cancel.cancelled() => return Err(cancelled()),
        }
        let status = tokio::select! {
            status = child.wait() => status,
            () = self.cancel.cancelled() => return Err(cancelled()),
        }
        .map_err(|e| CommunicatorError {
            kind: CommunicatorErrorKind::Disconnected,
            message: format!("`docker exec` failed: {e}"),
            hint: None,
        })?;
        Ok(exit_status(status))
    }

    async fn upload(&self, local: &Path, remote: &str) -> Result<(), CommunicatorError> {
        let text = local.display().to_string();
        if local.is_dir() {
            return self.copy_dir(local, remote).await;
        }
        let remote = if remote.ends_with('/') {
            let name = Path::new(&text)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("{remote}{name}")
        } else {
            remote.to_string()
        };
        self.copy_file(local, &remote).await
    }

    async fn upload_file(&self, local: &Path, remote: &str) -> Result<(), CommunicatorError> {
        self.copy_file(local, remote).await
    }

    fn docker_container(&self) -> Option<imgs_provision::ContainerTarget> {
        Some(imgs_provision::ContainerTarget {
            id: self.container.clone(),
            user: self.exec_user.clone(),
        })
    }

    async fn download(&self, remote: &str, local: &Path) -> Result<(), CommunicatorError> {
        if remote.ends_with('/') {
            return Err(transfer(
                "DownloadDir is not implemented for docker: a directory cannot be downloaded from a container"
                    .to_string(),
            ));
        }
        let mut local = local.to_path_buf();
        if local.as_os_str().to_string_lossy().ends_with('/') {
            local.push(split_remote(remote).1);
        }
        if let Some(dir) = local.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| transfer(format!("could not create {}: {e}", dir.display())))?;
        }
        let source = format!("{}:{remote}", self.container);
        let output = tokio::select! {
            out = self.docker.cp_command(&source, "-").output() => out,
            () = self.cancel.cancelled() => return Err(cancelled()),
        }
        .map_err(|e| transfer(format!("could not run `docker cp`: {e}")))?;
        if !output.status.success() {
            return Err(transfer(format!(
                "Error downloading file: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let local_for_write = local.clone();
        tokio::task::spawn_blocking(move || first_entry_to(&output.stdout, &local_for_write))
            .await
            .map_err(|e| transfer(e.to_string()))?
            .map_err(|e| transfer(format!("could not write {}: {e}", local.display())))
    }
}

/// Writes the first entry of the tar stream `archive` (what `docker cp ID:FILE -` prints) to `to`.
fn first_entry_to(archive: &[u8], to: &Path) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(archive);
    let mut entries = archive.entries()?;
    let Some(entry) = entries.next() else {
        return Err(std::io::Error::other("Docker sent an empty archive"));
    };
    let mut entry = entry?;
    if entry.header().entry_type().is_dir() {
        return Err(std::io::Error::other(
            "it is a directory, which cannot be downloaded from a container",
        ));
    }
    let mut file = std::fs::File::create(to)?;
    std::io::copy(&mut entry, &mut file)?;
    Ok(())
}

/// `/a/b/c` → (`/a/b`, `c`); a bare name lies in the working directory.
fn split_remote(remote: &str) -> (&str, &str) {
    match remote.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => (".", remote),
    }
}

fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Exited(code as u32),
        (None, Some(signal)) => ExitStatus::Signaled {
            signal: signal_name(signal),
            core_dumped: status.core_dumped(),
        },
        (None, None) => ExitStatus::Exited(254),
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGKILL => "KILL".into(),
        libc::SIGTERM => "TERM".into(),
        libc::SIGINT => "INT".into(),
        libc::SIGHUP => "HUP".into(),
        other => other.to_string(),
    }
}

fn transfer(message: String) -> CommunicatorError {
    CommunicatorError {
        kind: CommunicatorErrorKind::Transfer,
        message,
        hint: None,
    }
}

fn cancelled() -> CommunicatorError {
    CommunicatorError {
        kind: CommunicatorErrorKind::Cancelled,
        message: "cancelled".into(),
        hint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_split_into_directory_and_name() {
        assert_eq!(split_remote("/tmp/a.sh"), ("/tmp", "a.sh"));
        assert_eq!(split_remote("/a.sh"), ("/", "a.sh"));
        assert_eq!(split_remote("a.sh"), (".", "a.sh"));
    }
}
