//! What can go wrong talking to Docker, each with what a person can do about it.

/// A failure of the `docker` CLI, the daemon, or a registry.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DockerError {
    #[error("could not run `{program}`: {reason}")]
    NotInstalled { program: String, reason: String },
    #[error("the Docker daemon is not running or cannot be reached: {detail}")]
    DaemonDown { detail: String },
    #[error("could not {what}: {stderr}")]
    Command {
        what: String,
        status: Option<i32>,
        stderr: String,
    },
    #[error("could not {action}: {reason}")]
    Io {
        action: &'static str,
        reason: String,
    },
    #[error("cancelled")]
    Cancelled,
}

impl DockerError {
    /// The error for a CLI call that failed with `stderr`: a daemon nobody can reach is its own case
    /// (the same whatever the step), everything else says which step failed and what Docker said.
    pub(crate) fn from_stderr(what: &str, status: Option<i32>, stderr: &str) -> DockerError {
        let down = stderr.contains("Cannot connect to the Docker daemon")
            || stderr.contains("Is the docker daemon running")
            || (stderr.contains("docker.sock") && stderr.contains("connect:"));
        if down {
            return DockerError::DaemonDown {
                detail: stderr.lines().next().unwrap_or(stderr).trim().to_string(),
            };
        }
        DockerError::Command {
            what: what.to_string(),
            status,
            stderr: if stderr.is_empty() {
                format!("`docker` exited with status {}", status.unwrap_or(-1))
            } else {
                stderr.to_string()
            },
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            DockerError::NotInstalled { .. } => Some(
                "install the Docker CLI (Debian: `apt-get install docker.io`), or set IMGS_DOCKER to it"
                    .into(),
            ),
            DockerError::DaemonDown { .. } => Some(
                "start the daemon (`systemctl start docker`, or `dockerd &` as root), or point \
                 DOCKER_HOST at one that runs (`cargo xtask env up` starts one on loopback)"
                    .into(),
            ),
            DockerError::Command { stderr, .. } if is_missing_image(stderr) => Some(
                "check the image name and tag; nothing is pulled from a registry that needs a login \
                 unless `login` is set, and `pull: false` needs the image in the local engine"
                    .into(),
            ),
            DockerError::Command { stderr, .. } if is_push_refused(stderr) => Some(
                "check that the registry accepts pushes to this repository from you (`login`, \
                 `login_server`, `login_username`, `login_password`)"
                    .into(),
            ),
            _ => None,
        }
    }
}

fn is_missing_image(stderr: &str) -> bool {
    [
        "No such image",
        "not found",
        "manifest unknown",
        "pull access denied",
    ]
    .iter()
    .any(|s| stderr.contains(s))
}

fn is_push_refused(stderr: &str) -> bool {
    [
        "denied",
        "unauthorized",
        "authentication required",
        "UNAUTHORIZED",
    ]
    .iter()
    .any(|s| stderr.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_nobody_reaches_is_one_error_whatever_the_step() {
        let e = DockerError::from_stderr(
            "pull x",
            Some(1),
            "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?",
        );
        assert!(matches!(e, DockerError::DaemonDown { .. }), "{e:?}");
        assert!(e.hint().unwrap().contains("DOCKER_HOST"));
    }

    #[test]
    fn other_failures_say_the_step_and_what_docker_said() {
        let e = DockerError::from_stderr(
            "pull nope:1",
            Some(1),
            "Error response from daemon: manifest for nope:1 not found",
        );
        assert_eq!(
            e.to_string(),
            "could not pull nope:1: Error response from daemon: manifest for nope:1 not found"
        );
        assert!(e.hint().unwrap().contains("image name"));
    }
}
