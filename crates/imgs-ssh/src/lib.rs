//! The SSH communicator: log in to the machine a build made (directly or through a bastion), run
//! commands with their output streamed line by line, and copy files and directories over SFTP.
//!
//! [`SshConfig::from_settings`] reads a template's `ssh_*` settings as Packer 1.6.6 does;
//! [`SshSession::connect`] retries until the machine answers or `ssh_timeout` passes. Errors say what to
//! do next ([`SshError::hint`]) and never contain a password or key.

mod config;
mod connect;
mod error;
mod exec;
pub mod test_sshd;
mod transfer;

use std::path::Path;

use russh::client::Handle;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

pub use config::{AuthMethod, Bastion, Password, SshConfig};
pub use error::SshError;
pub use exec::{ExitStatus, Stream};

use connect::AcceptAnyHostKey;

/// A logged-in SSH connection to one machine.
pub struct SshSession {
    handle: Handle<AcceptAnyHostKey>,
    /// The bastion connection the session's traffic flows through; dropping it would cut the session.
    _bastion: Option<Handle<AcceptAnyHostKey>>,
    address: String,
    cancel: CancellationToken,
    /// Opened on the first transfer and reused for the rest.
    sftp: OnceCell<russh_sftp::client::SftpSession>,
}

impl SshSession {
    /// Connects and logs in, retrying until `config.timeout`. Cancelling `cancel` stops the attempt, and
    /// later stops any command or transfer of this session.
    pub async fn connect(
        config: &SshConfig,
        cancel: CancellationToken,
    ) -> Result<SshSession, SshError> {
        let connection = connect::connect(config, &cancel).await?;
        Ok(SshSession {
            handle: connection.handle,
            _bastion: connection.bastion,
            address: config.address(),
            cancel,
            sftp: OnceCell::new(),
        })
    }

    /// Runs `command` in the login user's shell. Each line of stdout and stderr goes to `on_line` as it
    /// arrives, without its line ending. A command killed by a signal is an [`ExitStatus::Signaled`],
    /// not an error; a connection that breaks is.
    pub async fn exec(
        &self,
        command: &str,
        mut on_line: impl FnMut(Stream, &str) + Send,
    ) -> Result<ExitStatus, SshError> {
        exec::exec(
            &self.handle,
            &self.address,
            &self.cancel,
            command,
            &mut on_line,
        )
        .await
    }

    /// Copies a local file or directory to the machine, with the rules of Packer's file provisioner:
    /// a file goes to `remote`, or into it when `remote` ends with `/`; a directory `dir` is copied into
    /// `remote` as `remote/dir`, while `dir/` copies only its contents into `remote`. Permission bits
    /// (the executable bit above all) are kept.
    pub async fn upload(&self, local: &Path, remote: &str) -> Result<(), SshError> {
        let sftp = self.sftp().await?;
        self.cancellable(transfer::upload(sftp, local, remote))
            .await
    }

    /// Copies a remote file or directory here, by the same rules as [`SshSession::upload`] with the
    /// roles swapped: a trailing `/` on a remote directory copies its contents, and a file goes into
    /// `local` when that is a directory or ends with `/`.
    pub async fn download(&self, remote: &str, local: &Path) -> Result<(), SshError> {
        let sftp = self.sftp().await?;
        self.cancellable(transfer::download(sftp, remote, local))
            .await
    }

    /// Closes the connection politely (dropping the session closes it too, less politely).
    pub async fn close(self) -> Result<(), SshError> {
        if let Some(sftp) = self.sftp.get() {
            let _ = sftp.close().await;
        }
        self.handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await
            .map_err(|err| SshError::Connection {
                address: self.address.clone(),
                reason: connect::connection_error(&err),
            })
    }

    async fn sftp(&self) -> Result<&russh_sftp::client::SftpSession, SshError> {
        self.sftp
            .get_or_try_init(|| transfer::open_sftp(&self.handle, &self.address))
            .await
    }

    async fn cancellable<T>(
        &self,
        work: impl Future<Output = Result<T, SshError>>,
    ) -> Result<T, SshError> {
        tokio::select! {
            () = self.cancel.cancelled() => Err(SshError::Cancelled),
            result = work => result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The scheduler runs every build in a task of its own, so the session and its futures must be
    /// `Send`; this fails to compile otherwise.
    #[allow(
        dead_code,
        unreachable_code,
        unused_variables,
        clippy::diverging_sub_expression
    )]
    fn futures_are_send(session: &SshSession, config: &SshConfig) {
        assert_send(session);
        assert_send(&SshSession::connect(config, CancellationToken::new()));
        assert_send(&session.exec("true", |_, _| {}));
        assert_send(&session.upload(Path::new("a"), "b"));
        assert_send(&session.download("b", Path::new("a")));
    }
}
