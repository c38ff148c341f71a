//! What can go wrong while a provisioner runs, worded so a person knows what to do next.

use std::time::Duration;

use imgs_settings::human_duration;

use crate::communicator::{CommunicatorError, ExitStatus};

/// A provisioner failure. `Display` says what happened; [`ProvisionError::hint`] says what to try.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    #[error("script `{script}` exited with {} (valid: {})", .status.short(), join_codes(.valid))]
    ScriptFailed {
        script: String,
        status: ExitStatus,
        valid: Vec<i64>,
    },
    #[error(
        "script `{script}` disconnected unexpectedly: its connection was lost before it finished"
    )]
    Disconnected { script: String },
    #[error("cannot {action}: {source}")]
    Communicator {
        /// What was being done, e.g. "upload script `install.sh` to `/tmp/script_12.sh`".
        action: String,
        source: CommunicatorError,
    },
    #[error("cannot remove the script `{path}` from the machine: `rm -f` exited with {}", .status.short())]
    Cleanup { path: String, status: ExitStatus },
    #[error("cannot {action} `{path}`: {reason}")]
    Local {
        action: &'static str,
        path: String,
        reason: String,
    },
    /// A `shell-local` command could not be prepared or run on this machine.
    #[error("{message}")]
    LocalCommand {
        message: String,
        hint: Option<String>,
    },
    /// A provisioner's own verdict on what ran on the machine, in Packer's words where it has them
    /// ("Puppet exited with a non-zero exit status: 1").
    #[error("{message}")]
    Guest {
        message: String,
        hint: Option<String>,
    },
    #[error("provisioner `{kind}` needs a communicator, but the build has none")]
    NoCommunicator { kind: &'static str },
    #[error("{what} did not finish within its timeout of {}", human_duration(*.timeout))]
    Timeout { what: String, timeout: Duration },
    #[error("cancelled")]
    Cancelled,
}

impl ProvisionError {
    /// What a person can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ProvisionError::ScriptFailed { .. } => Some(
                "the script's output above says why; if that status means success, add it to \
                 `valid_exit_codes`"
                    .to_string(),
            ),
            ProvisionError::Disconnected { .. } => Some(
                "if the script reboots the machine, set `\"expect_disconnect\": true` on this \
                 provisioner (`valid_exit_codes` cannot accept a disconnect, not even with 2300218)"
                    .to_string(),
            ),
            ProvisionError::Communicator { source, .. } => source.hint.clone(),
            ProvisionError::Cleanup { .. } => Some(
                "set `\"skip_clean\": true` to leave scripts on the machine, or make `remote_folder` \
                 one the SSH user may write to"
                    .to_string(),
            ),
            ProvisionError::Local { .. } => Some(
                "paths are relative to the directory imgs runs in; set `\"generated\": true` only for \
                 files an earlier step creates"
                    .to_string(),
            ),
            ProvisionError::LocalCommand { hint, .. } | ProvisionError::Guest { hint, .. } => {
                hint.clone()
            }
            ProvisionError::NoCommunicator { .. } => Some(
                "only `shell-local` runs without one; give the builder a communicator".to_string(),
            ),
            ProvisionError::Timeout { .. } => Some(
                "raise the provisioner's `timeout`, or find out why it hangs (a command waiting for \
                 input?)"
                    .to_string(),
            ),
            ProvisionError::Cancelled => None,
        }
    }

    pub(crate) fn communicator(action: impl Into<String>, source: CommunicatorError) -> Self {
        if source.kind == crate::communicator::CommunicatorErrorKind::Cancelled {
            return ProvisionError::Cancelled;
        }
        ProvisionError::Communicator {
            action: action.into(),
            source,
        }
    }

    /// The same error with every secret in its text masked.
    pub(crate) fn masked(self, secrets: &crate::Secrets) -> Self {
        let mask = |s: String| secrets.mask(&s);
        match self {
            ProvisionError::ScriptFailed {
                script,
                status,
                valid,
            } => ProvisionError::ScriptFailed {
                script: mask(script),
                status,
                valid,
            },
            ProvisionError::Disconnected { script } => ProvisionError::Disconnected {
                script: mask(script),
            },
            ProvisionError::Communicator { action, source } => ProvisionError::Communicator {
                action: mask(action),
                source: CommunicatorError {
                    message: mask(source.message),
                    ..source
                },
            },
            ProvisionError::Cleanup { path, status } => ProvisionError::Cleanup {
                path: mask(path),
                status,
            },
            ProvisionError::Local {
                action,
                path,
                reason,
            } => ProvisionError::Local {
                action,
                path: mask(path),
                reason: mask(reason),
            },
            ProvisionError::LocalCommand { message, hint } => ProvisionError::LocalCommand {
                message: mask(message),
                hint,
            },
            ProvisionError::Guest { message, hint } => ProvisionError::Guest {
                message: mask(message),
                hint,
            },
            ProvisionError::NoCommunicator { kind } => ProvisionError::NoCommunicator { kind },
            ProvisionError::Timeout { what, timeout } => ProvisionError::Timeout {
                what: mask(what),
                timeout,
            },
            ProvisionError::Cancelled => ProvisionError::Cancelled,
        }
    }
}

fn join_codes(codes: &[i64]) -> String {
    codes
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_script_names_status_and_valid_codes() {
        let e = ProvisionError::ScriptFailed {
            script: "images/app/install.sh".into(),
            status: ExitStatus::Exited(3),
            valid: vec![0],
        };
        insta::assert_snapshot!(e.to_string(), @"script `images/app/install.sh` exited with status 3 (valid: 0)");
        let killed = ProvisionError::ScriptFailed {
            script: "inline script".into(),
            status: ExitStatus::Signaled {
                signal: "KILL".into(),
                core_dumped: false,
            },
            valid: vec![0, 2],
        };
        insta::assert_snapshot!(killed.to_string(), @"script `inline script` exited with signal KILL (valid: 0, 2)");
    }

    #[test]
    fn timeouts_read_like_template_values() {
        let e = ProvisionError::Timeout {
            what: "provisioner `shell` (provisioners[1])".into(),
            timeout: Duration::from_millis(1500),
        };
        insta::assert_snapshot!(e.to_string(), @"provisioner `shell` (provisioners[1]) did not finish within its timeout of 1.5s");
    }
}
