//! What can go wrong making the disk and running the machine, worded so a person knows what to do.

use std::path::PathBuf;
use std::time::Duration;

use imgs_diagnostic::Diagnostics;
use imgs_ssh::SshError;

use crate::checksum::ChecksumError;

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("the source disk `{}` does not exist", .0.display())]
    SourceMissing(PathBuf),
    #[error(transparent)]
    Checksum(#[from] ChecksumError),
    #[error("the output directory `{}` already exists", .0.display())]
    OutputExists(PathBuf),
    #[error(
        "disk_size ({requested} bytes) is smaller than the source disk ({current} bytes); disks are only grown"
    )]
    DiskShrink { requested: u64, current: u64 },
    #[error("no free port for SSH between {min} and {max} on 127.0.0.1")]
    PortsExhausted { min: u16, max: u16 },
    #[error("`{command}` failed: {reason}")]
    Command { command: String, reason: String },
    #[error("{0}")]
    QemuArgs(String),
    #[error("cannot {action} `{}`: {reason}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("qemu exited ({status}) before the guest answered SSH; {}", console_lines(.console))]
    QemuExited { status: String, console: String },
    #[error(
        "the guest did not answer SSH on {address} within {}: {last_error}; qemu process stopped; {}",
        seconds(*.timeout),
        console_lines(.console)
    )]
    SshTimeout {
        address: String,
        timeout: Duration,
        last_error: String,
        console: String,
    },
    #[error(transparent)]
    Ssh(SshError),
    #[error(
        "the guest did not power off within {} of `{command}`; qemu was killed and the disk discarded; {}",
        seconds(*.timeout),
        console_lines(.console)
    )]
    ShutdownTimeout {
        command: String,
        timeout: Duration,
        console: String,
    },
    #[error("qemu exited with {status} while shutting down; the disk was discarded")]
    ShutdownFailed { status: String },
    #[error(transparent)]
    Config(#[from] Diagnostics),
    #[error("cancelled")]
    Cancelled,
}

impl QemuError {
    /// What a person can do about it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            QemuError::SourceMissing(_) => {
                "check `iso_url`; for the example workspace run `cargo xtask base-image` first"
            }
            QemuError::Checksum(ChecksumError::Mismatch { .. }) => {
                "the source disk changed or `iso_checksum` is out of date; fix whichever is wrong"
            }
            QemuError::DiskShrink { .. } => {
                "remove `disk_size` to keep the source's size, or give a larger one"
            }
            QemuError::OutputExists(_) => {
                "remove it, set `output_directory` to another path, or force the build (`--force`, \
                 Packer's -force); in a workspace, a relative `output_directory` is managed by imgs"
            }
            QemuError::PortsExhausted { .. } => {
                "widen `host_port_min`..`host_port_max`, or stop what listens on those ports"
            }
            QemuError::SshTimeout { .. } => {
                "the console lines show how far the guest got; check that it starts sshd and that \
                 `ssh_username`/`ssh_private_key_file` can log in, or raise `ssh_timeout`"
            }
            QemuError::ShutdownTimeout { .. } => {
                "check `shutdown_command` (it must power the guest off, e.g. `sudo systemctl poweroff`), \
                 or raise `shutdown_timeout`"
            }
            QemuError::Ssh(err) => return err.hint(),
            _ => return None,
        };
        Some(hint.to_string())
    }
}

/// The console's last lines, introduced; an empty console is said in words, since an error ending in
/// "last console lines:" and nothing after it reads as if something was lost (a guest with nothing
/// to boot, or firmware that writes only to the screen, prints nothing on the serial port).
fn console_lines(console: &str) -> String {
    if console.trim().is_empty() {
        "the guest printed nothing on its serial console".to_string()
    } else {
        format!("last console lines:\n{console}")
    }
}

/// `30 s`, `1.5 s`: short and exact enough for a timeout.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(err: QemuError) -> String {
        match err.hint() {
            Some(hint) => format!("{err}\nhint: {hint}"),
            None => err.to_string(),
        }
    }

    #[test]
    fn errors_say_what_happened_and_what_to_do() {
        let texts = [
            QemuError::SourceMissing("cache/base-image/debian-bookworm.qcow2".into()),
            QemuError::Checksum(ChecksumError::Mismatch {
                path: "base.qcow2".into(),
                kind: "md5",
                expected: "900150983cd24fb0d6963f7d28e17f72".into(),
                actual: "d41d8cd98f00b204e9800998ecf8427e".into(),
            }),
            QemuError::PortsExhausted {
                min: 2222,
                max: 2223,
            },
            QemuError::SshTimeout {
                address: "127.0.0.1:2222".into(),
                timeout: Duration::from_secs(300),
                last_error: "connection refused".into(),
                console: "[  OK  ] Reached target Basic System.\nrandom: crng init done".into(),
            },
            QemuError::ShutdownTimeout {
                command: "sudo halt".into(),
                timeout: Duration::from_millis(1500),
                console: "System halted.".into(),
            },
            QemuError::SshTimeout {
                address: "127.0.0.1:3181".into(),
                timeout: Duration::from_secs(5),
                last_error: "the SSH server did not answer in time".into(),
                console: String::new(),
            },
            QemuError::QemuExited {
                status: "exit status: 1".into(),
                console: "qemu-system-x86_64: Could not set up host forwarding rule".into(),
            },
            QemuError::DiskShrink {
                requested: 1 << 30,
                current: 2 << 30,
            },
        ]
        .map(shown);
        insta::assert_snapshot!(texts.join("\n\n"));
    }
}
