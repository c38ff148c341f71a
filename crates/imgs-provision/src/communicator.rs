//! What a provisioner needs from the machine it provisions: run a command, copy files both ways.
//!
//! Builders hand provisioners a `&dyn Communicator`; SSH is one implementation (see [`crate::ssh`]),
//! and others (a local shell for the null builder, WinRM) can plug in without touching provisioners.
//! The trait is written with `async-trait`: native `async fn` in traits cannot be used through
//! `dyn`, and the crate writes the boxed, `Send` futures we would otherwise spell out by hand.

use std::fmt;
use std::path::Path;

pub use imgs_log::{ExitStatus, Stream};

/// Why a communicator operation failed; the kind decides what a provisioner does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommunicatorErrorKind {
    /// The machine could not be reached or the command not started (it may be rebooting): worth
    /// retrying until `start_retry_timeout`.
    Unavailable,
    /// The connection broke while a command ran, so its exit status is unknown (a reboot, usually).
    Disconnected,
    /// A file could not be read, written or found; retrying will not help.
    Transfer,
    Cancelled,
}

/// A communicator failure: its kind, what happened and what a person can do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunicatorError {
    pub kind: CommunicatorErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for CommunicatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommunicatorError {}

/// The line sink a command's output goes to, line by line and without line endings.
pub type OnLine<'a> = &'a mut (dyn FnMut(Stream, &str) + Send);

/// A way to run commands on, and copy files to and from, the machine being built.
///
/// `upload` and `download` put things where Packer's file provisioner puts them, by the rules of
/// the communicator's transfer method: a local directory `dir` uploads into `remote/dir`, while
/// `dir/` uploads only its contents; a file goes to `remote`, or into it when `remote` ends with `/`
/// (see `imgs_ssh::SshSession::upload` for destinations that do not exist yet, where the methods
/// differ). `upload_file` puts one file at an exact path with its exact permission bits, which the
/// shell provisioner relies on to upload scripts executable.
#[async_trait::async_trait]
pub trait Communicator: Send + Sync {
    /// Runs `command` in the remote user's shell, streaming its output to `on_line`.
    async fn exec(
        &self,
        command: &str,
        on_line: OnLine<'_>,
    ) -> Result<ExitStatus, CommunicatorError>;

    async fn upload(&self, local: &Path, remote: &str) -> Result<(), CommunicatorError>;

    /// One file to exactly `remote`, with exactly its local permission bits.
    async fn upload_file(&self, local: &Path, remote: &str) -> Result<(), CommunicatorError>;

    async fn download(&self, remote: &str, local: &Path) -> Result<(), CommunicatorError>;

    /// How the machine is reached over SSH, for a program on this machine that connects by itself
    /// (`ansible-playbook` does); `None` when the communicator is not SSH.
    fn ssh_config(&self) -> Option<&imgs_ssh::SshConfig> {
        None
    }

    /// The container a Docker communicator runs commands in, for a program on this machine that
    /// reaches it by itself (`ansible-playbook`'s docker connection); `None` for other communicators.
    fn docker_container(&self) -> Option<ContainerTarget> {
        None
    }
}

/// A build's container as a tool on this machine reaches it: `docker exec` into `id` (through the
/// daemon `DOCKER_HOST` names), as `user` when not empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerTarget {
    pub id: String,
    pub user: String,
}
