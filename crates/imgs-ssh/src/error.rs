//! What can go wrong talking to a machine, worded so a person knows what to do next.

use std::path::PathBuf;
use std::time::Duration;

use imgs_settings::human_duration;

/// An SSH failure. `Display` says what happened; [`SshError::hint`] says what to try.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {address} within {}: {last_error} ({attempts} attempts)", human_duration(*.timeout))]
    Timeout {
        address: String,
        timeout: Duration,
        last_error: String,
        attempts: u32,
    },
    #[error("authentication failed for user `{user}` on {address} with {methods}")]
    AuthenticationFailed {
        address: String,
        user: String,
        /// The methods tried, e.g. "key `keys/id_ed25519`" or "password".
        methods: String,
    },
    #[error("cannot read the private key `{}`: {reason}", .path.display())]
    PrivateKey { path: PathBuf, reason: String },
    #[error("cannot use the SSH agent: {0}")]
    Agent(String),
    #[error("cannot reach {target} through the bastion {bastion}: {reason}")]
    Bastion {
        bastion: String,
        target: String,
        reason: String,
    },
    #[error("the SSH connection to {address} failed: {reason}")]
    Connection { address: String, reason: String },
    #[error("the remote command ended without an exit status: `{command}`")]
    NoExitStatus { command: String },
    #[error("cannot {action} `{path}` on the remote machine: {reason}")]
    Remote {
        action: &'static str,
        path: String,
        reason: String,
    },
    #[error("cannot {action} `{}`: {reason}", .path.display())]
    Local {
        action: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// The remote scp refused a record, or stopped; `message` is its own, without `scp: `.
    #[error("the remote scp failed: {message}")]
    Scp { message: String },
    #[error("scp is not installed on the remote machine")]
    ScpMissing,
    #[error("cancelled")]
    Cancelled,
}

impl SshError {
    /// What a person can do about it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            SshError::Timeout { .. } => {
                "check that the machine is up, that `ssh_host`/`ssh_port` point at its SSH server and that \
                 no firewall is in the way; raise `ssh_timeout` if it boots slowly"
            }
            SshError::AuthenticationFailed { .. } => {
                "check `ssh_username` and that the machine's authorized_keys holds the public half of the key \
                 (or that the password is right); `ssh_handshake_attempts` says how often to retry"
            }
            SshError::PrivateKey { .. } => {
                "`ssh_private_key_file` must name an unencrypted OpenSSH or PEM private key"
            }
            SshError::Agent(_) => {
                "start an agent and add a key (`ssh-add`), or set `ssh_private_key_file` instead of `ssh_agent_auth`"
            }
            SshError::Bastion { .. } => {
                "the bastion must be able to reach the target and allow TCP forwarding (`AllowTcpForwarding yes`)"
            }
            SshError::Connection { .. } => {
                "the machine stopped answering or closed the connection (a reboot, a crash, the \
                 network): `max_retries` runs a failed provisioner again, and `pause_before` or a \
                 shell provisioner's `start_retry_timeout` give a rebooting machine time to come back"
            }
            SshError::Remote { .. } => {
                "check that the remote directory exists and that the SSH user may write there"
            }
            SshError::Scp { .. } => {
                "check that the destination's directory exists and that the SSH user may write there; \
                 with scp, a directory's contents (`dir/`) go into the destination only when that is \
                 an existing directory"
            }
            SshError::ScpMissing => {
                "install scp (OpenSSH's client) on the machine, or set `ssh_file_transfer_method` to \
                 `sftp`"
            }
            _ => return None,
        };
        Some(hint.to_string())
    }
}

/// "no such file or directory" rather than "No such file or directory (os error 2)".
/// Turns an I/O error on the local `path` while doing `action` into an [`SshError::Local`].
pub(crate) fn local_error(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> SshError {
    let path = path.to_path_buf();
    move |err| SshError::Local {
        action,
        path,
        reason: io_reason(&err),
    }
}

pub(crate) fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_reads_as_one_sentence() {
        let e = SshError::Timeout {
            address: "127.0.0.1:2222".into(),
            timeout: Duration::from_secs(30),
            last_error: "connection refused".into(),
            attempts: 12,
        };
        insta::assert_snapshot!(e.to_string(), @"cannot connect to 127.0.0.1:2222 within 30s: connection refused (12 attempts)");
    }
}
