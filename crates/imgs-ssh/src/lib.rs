//! The SSH communicator: log in to the machine a build made (directly or through a bastion), run
//! commands with their output streamed line by line, and copy files and directories over scp or SFTP.
//!
//! [`SshConfig::from_settings`] reads a template's `ssh_*` settings as Packer 1.6.6 does;
//! [`SshSession::connect`] retries until the machine answers or `ssh_timeout` passes;
//! [`SshSession::connect_once`] tries once, to connect again after a reboot. Errors say what to
//! do next ([`SshError::hint`]) and never contain a password or key.

mod config;
mod connect;
mod error;
mod exec;
pub mod remote_path;
mod scp;
mod sftp;
mod transfer;

use std::path::Path;

use russh::client::Handle;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

pub use config::{AuthMethod, Bastion, FileTransfer, Password, SshConfig};
pub use error::SshError;
pub use exec::{ExitStatus, Stream};

use connect::AcceptAnyHostKey;

/// How often a transfer looks whether its connection is gone.
const LOST_CONNECTION_POLL: std::time::Duration = std::time::Duration::from_millis(50);
/// How many polls a failed transfer waits for its connection to count as closed, if it is going.
const LOST_CONNECTION_GRACE: u32 = 4;

/// A logged-in SSH connection to one machine.
pub struct SshSession {
    handle: Handle<AcceptAnyHostKey>,
    /// The bastion connection the session's traffic flows through; dropping it would cut the session.
    _bastion: Option<Handle<AcceptAnyHostKey>>,
    address: String,
    cancel: CancellationToken,
    file_transfer: FileTransfer,
    /// Opened on the first SFTP transfer and reused for the rest.
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
            file_transfer: config.file_transfer,
            sftp: OnceCell::new(),
        })
    }

    /// Connects and logs in with one try (see [`SshSession::connect`] for `cancel`): how Packer's
    /// communicator connects again when it finds its connection gone, say after a reboot. A machine
    /// that does not answer now is an error at once ([`SshError::Connection`]); whether and how
    /// long to try again is the caller's (a provisioner's `start_retry_timeout`), and `ssh_timeout`
    /// plays no part.
    pub async fn connect_once(
        config: &SshConfig,
        cancel: CancellationToken,
    ) -> Result<SshSession, SshError> {
        let connection = connect::connect_once(config, &cancel).await?;
        Ok(SshSession {
            handle: connection.handle,
            _bastion: connection.bastion,
            address: config.address(),
            cancel,
            file_transfer: config.file_transfer,
            sftp: OnceCell::new(),
        })
    }

    /// Whether the connection is gone (the server closed it, or it broke): nothing more can be
    /// done with this session.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
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

    /// Copies a local file or directory to the machine where Packer 1.6.6's file provisioner puts it
    /// with the session's [`FileTransfer`] method. Both methods agree on the common cases:
    ///
    /// - a file goes to `remote`, or into it when `remote` ends with `/`; its directory must exist;
    /// - a directory `dir` goes into an existing `remote` as `remote/dir`, and `dir/` copies only its
    ///   contents into an existing `remote`.
    ///
    /// Where the destination does not exist they differ, as in Packer. With scp the remote `scp -t`
    /// decides: `dir` is copied *as* a new `remote` (its parent must exist); `dir/` writes each of
    /// its files to `remote` itself (the last one wins), fails if it holds a subdirectory as well,
    /// and copies a lone subdirectory's contents *as* `remote`; a file sent to `missing/name` is
    /// written *as* `missing`. With SFTP the destination is never created, except that `dir/` to
    /// `remote/` (trailing slash) creates `remote`.
    ///
    /// Modes: SFTP gives everything exactly its local permission bits; scp gives new files theirs
    /// less the remote umask, leaves existing files' modes alone, and gives new directories exactly
    /// theirs.
    pub async fn upload(&self, local: &Path, remote: &str) -> Result<(), SshError> {
        self.cancellable(transfer::upload(self, local, remote))
            .await
    }

    /// Copies one local file to exactly `remote`, replacing what is there, with exactly the local
    /// file's permission bits whatever the remote umask or an earlier file's mode: what a script
    /// uploaded to run needs.
    pub async fn upload_file(&self, local: &Path, remote: &str) -> Result<(), SshError> {
        self.cancellable(transfer::upload_file_with_mode(self, local, remote))
            .await
    }

    /// Copies a remote file or directory here where Packer 1.6.6's file provisioner puts it:
    ///
    /// - a file goes to `local` (its directory is created), or into `local` when that ends with `/`;
    ///   it gets the usual mode for new files, not the remote one; `local` must not be a directory;
    /// - a directory must be named with a trailing `/`, and lands *with its name* in `local`
    ///   (`dir/` to `out` makes `out/dir`); a wildcard copies what it matches into `local`. Both
    ///   travel over scp whatever the method, as in Packer, so the machine needs `scp`.
    ///
    /// A directory named without the trailing `/` is an error, with either method.
    pub async fn download(&self, remote: &str, local: &Path) -> Result<(), SshError> {
        self.cancellable(transfer::download(self, remote, local))
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
            .get_or_try_init(|| sftp::open_sftp(&self.handle, &self.address))
            .await
    }

    /// `work` (a transfer), ended early by cancelling or by the loss of the connection: a transfer
    /// waiting for the server to open its window again would otherwise wait for ever once the
    /// connection is gone (the SSH library does not wake it). A transfer that failed because the
    /// connection went (its remote scp ended without a word, say) fails as [`SshError::Connection`],
    /// whichever part noticed first.
    async fn cancellable<T>(
        &self,
        work: impl Future<Output = Result<T, SshError>>,
    ) -> Result<T, SshError> {
        let lost = async {
            while !self.handle.is_closed() {
                tokio::time::sleep(LOST_CONNECTION_POLL).await;
            }
        };
        let connection_lost = || SshError::Connection {
            address: self.address.clone(),
            reason: connect::connection_error(&russh::Error::Disconnect),
        };
        let result = tokio::select! {
            () = self.cancel.cancelled() => return Err(SshError::Cancelled),
            result = work => result,
            () = lost => return Err(connection_lost()),
        };
        match result {
            Err(SshError::Cancelled | SshError::Connection { .. }) | Ok(_) => result,
            // The channel may close a moment before the connection counts as closed.
            Err(err) => {
                for _ in 0..LOST_CONNECTION_GRACE {
                    if self.handle.is_closed() {
                        return Err(connection_lost());
                    }
                    tokio::time::sleep(LOST_CONNECTION_POLL).await;
                }
                Err(err)
            }
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
        assert_send(&SshSession::connect_once(config, CancellationToken::new()));
        assert_send(&session.exec("true", |_, _| {}));
        assert_send(&session.upload(Path::new("a"), "b"));
        assert_send(&session.upload_file(Path::new("a"), "b"));
        assert_send(&session.download("b", Path::new("a")));
    }
}
