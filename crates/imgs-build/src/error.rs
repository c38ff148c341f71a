//! What can make a build fail, worded for the person running it.

use imgs_diagnostic::Diagnostics;
use imgs_provision::ProvisionError;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The template asks for something this build cannot do; found before anything started.
    #[error("{0}")]
    Settings(Diagnostics),
    #[error("{key} failed: {error}")]
    Provisioner { key: String, error: ProvisionError },
    #[error("cannot connect over SSH: {0}")]
    Ssh(#[from] imgs_ssh::SshError),
    #[error("{0}")]
    Qemu(#[from] imgs_qemu::QemuError),
    #[error("{0}")]
    Aws(#[from] imgs_aws::AwsError),
    #[error("cannot {action} `{path}`: {reason}")]
    Io {
        action: &'static str,
        path: String,
        reason: String,
    },
    #[error("{0}")]
    Packer(imgs_packer::PackerError),
    #[error("{0}")]
    Docker(imgs_docker::DockerError),
    #[error("cancelled")]
    Cancelled,
}

impl BuildError {
    /// What a person can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            BuildError::Provisioner { error, .. } => error.hint(),
            BuildError::Ssh(e) => e.hint(),
            BuildError::Qemu(e) => e.hint(),
            BuildError::Aws(e) => e.hint(),
            BuildError::Packer(e) => e.hint(),
            BuildError::Docker(e) => e.hint(),
            BuildError::Io { reason, .. } if is_disk_full(reason) => Some(DISK_FULL_HINT.into()),
            _ => None,
        }
    }
}

/// What to do when a build could not write for want of space.
const DISK_FULL_HINT: &str = "a file system is full: free some space (or write the output \
     elsewhere) and build again; nothing of this build was recorded, so the next run builds it";

/// Whether an I/O error's text (as std and the post-processors word it) is ENOSPC or EDQUOT. The
/// text, because an `Io` error keeps the reason only as words (they reach it through several
/// layers of messages).
fn is_disk_full(reason: &str) -> bool {
    reason.contains("No space left on device") || reason.contains("Disk quota exceeded")
}

impl From<imgs_docker::DockerError> for BuildError {
    fn from(e: imgs_docker::DockerError) -> Self {
        match e {
            imgs_docker::DockerError::Cancelled => BuildError::Cancelled,
            other => BuildError::Docker(other),
        }
    }
}

impl From<Diagnostics> for BuildError {
    fn from(d: Diagnostics) -> Self {
        BuildError::Settings(d)
    }
}
