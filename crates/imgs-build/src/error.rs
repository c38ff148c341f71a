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
            _ => None,
        }
    }
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
