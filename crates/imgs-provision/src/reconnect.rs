//! An SSH communicator that logs in again after the connection is lost.
//!
//! A script that reboots the machine (`expect_disconnect`) kills the SSH connection; Packer's
//! communicator then connects afresh, with one try, for the next command, and the provisioner's
//! `start_retry_timeout` waits for the machine by trying again.
//! A bare [`SshSession`] cannot, so builders hand provisioners this instead.

use std::path::Path;
use std::sync::Arc;

use imgs_ssh::{SshConfig, SshError, SshSession};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::communicator::{
    Communicator, CommunicatorError, CommunicatorErrorKind, ExitStatus, OnLine,
};
use crate::ssh::communicator_error;

pub struct ReconnectingSsh {
    config: SshConfig,
    cancel: CancellationToken,
    /// The live session, or none after one was lost; shared so a command in flight keeps its own.
    session: Mutex<Option<Arc<SshSession>>>,
}

impl ReconnectingSsh {
    /// Connects now (retrying until `ssh_timeout`, as [`SshSession::connect`] does), so a machine
    /// that never answers fails the build here rather than in its first provisioner.
    pub async fn connect(
        config: SshConfig,
        cancel: CancellationToken,
    ) -> Result<ReconnectingSsh, SshError> {
        let session = SshSession::connect(&config, cancel.clone()).await?;
        Ok(ReconnectingSsh {
            config,
            cancel,
            session: Mutex::new(Some(Arc::new(session))),
        })
    }

    /// The live session, logging in again if the last one was lost. That is one try, as Packer's
    /// communicator makes it: a machine still rebooting is an [`Unavailable`] error at once, which
    /// a provisioner tries again within its `start_retry_timeout` (`ssh_timeout` is for the first
    /// connection only).
    ///
    /// [`Unavailable`]: CommunicatorErrorKind::Unavailable
    async fn session(&self) -> Result<Arc<SshSession>, CommunicatorError> {
        let mut current = self.session.lock().await;
        if let Some(session) = current.as_ref().filter(|s| !s.is_closed()) {
            return Ok(Arc::clone(session));
        }
        *current = None;
        let session = SshSession::connect_once(&self.config, self.cancel.clone())
            .await
            .map(Arc::new)
            .map_err(communicator_error)?;
        *current = Some(Arc::clone(&session));
        Ok(session)
    }

    /// After `err` from `used`: drop that session if the error, or the session, says its
    /// connection is gone, so the next operation connects again.
    async fn after_error(&self, used: &Arc<SshSession>, err: &CommunicatorError) {
        let gone = used.is_closed()
            || matches!(
                err.kind,
                CommunicatorErrorKind::Unavailable | CommunicatorErrorKind::Disconnected
            );
        let mut current = self.session.lock().await;
        if gone && current.as_ref().is_some_and(|s| Arc::ptr_eq(s, used)) {
            *current = None;
        }
    }
}

#[async_trait::async_trait]
impl Communicator for ReconnectingSsh {
    async fn exec(
        &self,
        command: &str,
        on_line: OnLine<'_>,
    ) -> Result<ExitStatus, CommunicatorError> {
        let session = self.session().await?;
        let outcome = Communicator::exec(&*session, command, on_line).await;
        if let Err(err) = &outcome {
            self.after_error(&session, err).await;
        }
        outcome
    }

    async fn upload(&self, local: &Path, remote: &str) -> Result<(), CommunicatorError> {
        let session = self.session().await?;
        let outcome = Communicator::upload(&*session, local, remote).await;
        if let Err(err) = &outcome {
            self.after_error(&session, err).await;
        }
        outcome
    }

    async fn upload_file(&self, local: &Path, remote: &str) -> Result<(), CommunicatorError> {
        let session = self.session().await?;
        let outcome = Communicator::upload_file(&*session, local, remote).await;
        if let Err(err) = &outcome {
            self.after_error(&session, err).await;
        }
        outcome
    }

    async fn download(&self, remote: &str, local: &Path) -> Result<(), CommunicatorError> {
        let session = self.session().await?;
        let outcome = Communicator::download(&*session, remote, local).await;
        if let Err(err) = &outcome {
            self.after_error(&session, err).await;
        }
        outcome
    }

    fn ssh_config(&self) -> Option<&SshConfig> {
        Some(&self.config)
    }
}
