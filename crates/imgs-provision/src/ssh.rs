//! The SSH session as a [`Communicator`].

use std::path::Path;

use imgs_ssh::{SshError, SshSession};

use crate::communicator::{
    Communicator, CommunicatorError, CommunicatorErrorKind, ExitStatus, OnLine,
};

#[async_trait::async_trait]
impl Communicator for SshSession {
    async fn exec(
        &self,
        command: &str,
        on_line: OnLine<'_>,
    ) -> Result<ExitStatus, CommunicatorError> {
        SshSession::exec(self, command, |stream, line| on_line(stream, line))
            .await
            .map_err(communicator_error)
    }

    async fn upload(&self, local: &Path, remote: &str) -> Result<(), CommunicatorError> {
        SshSession::upload(self, local, remote)
            .await
            .map_err(communicator_error)
    }

    async fn upload_file(&self, local: &Path, remote: &str) -> Result<(), CommunicatorError> {
        SshSession::upload_file(self, local, remote)
            .await
            .map_err(communicator_error)
    }

    async fn download(&self, remote: &str, local: &Path) -> Result<(), CommunicatorError> {
        SshSession::download(self, remote, local)
            .await
            .map_err(communicator_error)
    }
}

pub(crate) fn communicator_error(err: SshError) -> CommunicatorError {
    let kind = match &err {
        // The session opens a channel per command: failing to do so means the machine is not (or no
        // longer) reachable, which a reboot explains.
        SshError::Timeout { .. }
        | SshError::Connection { .. }
        | SshError::Bastion { .. }
        | SshError::AuthenticationFailed { .. }
        | SshError::PrivateKey { .. }
        | SshError::Agent(_) => CommunicatorErrorKind::Unavailable,
        // The channel closed without an exit status: the connection dropped under the command.
        SshError::NoExitStatus { .. } => CommunicatorErrorKind::Disconnected,
        SshError::Remote { .. }
        | SshError::Local { .. }
        | SshError::Scp { .. }
        | SshError::ScpMissing => CommunicatorErrorKind::Transfer,
        SshError::Cancelled => CommunicatorErrorKind::Cancelled,
    };
    CommunicatorError {
        kind,
        message: err.to_string(),
        hint: err.hint(),
    }
}
