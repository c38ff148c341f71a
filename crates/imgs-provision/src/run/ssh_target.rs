//! Where a tool that runs on the machine running imgs (`ansible-playbook`, InSpec) logs in to the
//! machine being built: the SSH communicator's own address, port, user and key. Packer 1.6.6 puts its
//! SSH proxy in between instead; that proxy offers only an `ssh-rsa` host key, which today's OpenSSH
//! refuses, and an SSH communicator needs no proxy, so imgs connects the tool straight to the machine.

use std::path::{Path, PathBuf};

use imgs_ssh::{AuthMethod, SshConfig};

use crate::error::ProvisionError;

/// The tool the target is for, as errors name it.
pub(super) struct Tool<'a> {
    /// The provisioner type (`ansible`).
    pub(super) provisioner: &'a str,
    /// The program that connects (`ansible-playbook`).
    pub(super) program: &'a str,
    /// How to reach a machine behind a bastion with this tool.
    pub(super) bastion_hint: &'a str,
}

pub(super) struct SshTarget {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) user: String,
    /// The communicator's private key file; `None` when it logs in with the SSH agent, which the
    /// tool then uses too (it inherits `SSH_AUTH_SOCK`).
    pub(super) key_file: Option<PathBuf>,
}

impl SshTarget {
    /// The communicator's target, as `user` when given; relative key paths resolve in `working_dir`.
    pub(super) fn of(
        ssh: Option<&SshConfig>,
        tool: &Tool<'_>,
        user: Option<&str>,
        working_dir: &Path,
    ) -> Result<SshTarget, ProvisionError> {
        let Tool {
            provisioner,
            program,
            bastion_hint,
        } = tool;
        let Some(ssh) = ssh else {
            return Err(ProvisionError::LocalCommand {
                message: format!(
                    "the {provisioner} provisioner needs an SSH communicator: imgs connects \
                     `{program}` straight to the machine over SSH"
                ),
                hint: Some(
                    "set `communicator` to `ssh`; a proxy for other communicators is not built yet"
                        .to_string(),
                ),
            });
        };
        if ssh.bastion.is_some() {
            return Err(ProvisionError::LocalCommand {
                message: format!(
                    "the {provisioner} provisioner cannot reach a machine behind \
                     `ssh_bastion_host` yet"
                ),
                hint: Some(bastion_hint.to_string()),
            });
        }
        let key_file = ssh.auth.iter().find_map(|auth| match auth {
            AuthMethod::PrivateKeyFile(path) => Some(path.clone()),
            _ => None,
        });
        if key_file.is_none() && !ssh.auth.contains(&AuthMethod::Agent) {
            return Err(ProvisionError::LocalCommand {
                message: format!(
                    "the {provisioner} provisioner cannot log in with the communicator's \
                     password: `{program}` connects by itself, with a key"
                ),
                hint: Some(
                    "give the communicator `ssh_private_key_file`, or `ssh_agent_auth` with the key \
                     in the agent"
                        .to_string(),
                ),
            });
        }
        Ok(SshTarget {
            host: ssh.host.clone(),
            port: ssh.port,
            user: user.map_or_else(|| ssh.username.clone(), str::to_string),
            key_file: key_file.map(|path| absolute(working_dir, &path)),
        })
    }
}

pub(super) fn absolute(dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}
