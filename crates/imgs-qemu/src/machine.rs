//! A running guest: qemu started on the staged disk, reached over SSH, shut down cleanly or killed.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use imgs_log::Log;
use imgs_ssh::{SshConfig, SshError, SshSession};
use tokio_util::sync::CancellationToken;

use crate::accel::{self, Resolved};
use crate::args::{Launch, qemu_args};
use crate::config::QemuConfig;
use crate::console;
use crate::disk::StagedDisk;
use crate::error::QemuError;
use crate::ports;

/// How often qemu is checked for having exited.
const POLL: Duration = Duration::from_millis(200);
/// Console lines shown in errors.
const CONSOLE_LINES: usize = 25;
/// Tries with another port when someone else bound the picked one before qemu did.
const PORT_TRIES: usize = 3;

/// A qemu process, killed by its PID when dropped.
struct QemuProcess(Child);

impl Drop for QemuProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// A booted guest with a logged-in SSH session. Dropping it kills qemu and discards the disk.
pub struct QemuMachine {
    // Field order is drop order: the session, then qemu, then the disk's directory.
    session: Option<SshSession>,
    qemu: QemuProcess,
    disk: StagedDisk,
    console: PathBuf,
    ssh: SshConfig,
    accelerator: Resolved,
    shutdown_command: Option<String>,
    shutdown_timeout: Duration,
}

impl QemuMachine {
    /// Makes the disk, starts qemu and waits until the guest answers SSH (up to `ssh_timeout`).
    /// Cancelling `cancel` stops the wait, and later any command of the session.
    pub async fn start(
        config: &QemuConfig,
        cancel: CancellationToken,
    ) -> Result<QemuMachine, QemuError> {
        Self::start_logged(config, cancel, &mut |_: &str| {}).await
    }

    /// [`QemuMachine::start`], saying in `log` which phase it is in: making the disk, booting (until
    /// `boot_wait` has passed), waiting for SSH.
    pub async fn start_logged(
        config: &QemuConfig,
        cancel: CancellationToken,
        log: Log<'_>,
    ) -> Result<QemuMachine, QemuError> {
        log.phase("creating disk");
        let accelerator = accel::resolve(config.accelerator);
        // Hashing a large source and running qemu-img block; other builds' tasks keep running meanwhile.
        let staging = config.clone();
        let disk = tokio::task::spawn_blocking(move || StagedDisk::create(&staging))
            .await
            .map_err(|err| QemuError::Io {
                action: "make the disk for",
                path: config.output_disk(),
                reason: err.to_string(),
            })??;
        let console = disk.dir().join("console.log");
        let mut tried = Vec::new();
        loop {
            let port =
                ports::pick(&config.host_ports, &tried).ok_or(QemuError::PortsExhausted {
                    min: *config.host_ports.start(),
                    max: *config.host_ports.end(),
                })?;
            tried.push(port);
            let ssh = config.ssh_config(port)?;
            let mut qemu = spawn(config, disk.path.as_path(), accelerator, port, &console)?;
            match wait_for_ssh(&mut qemu, &ssh, config.boot_wait, &console, &cancel, log).await {
                Ok(session) => {
                    return Ok(QemuMachine {
                        session: Some(session),
                        qemu,
                        disk,
                        console,
                        ssh,
                        accelerator,
                        shutdown_command: config.shutdown_command.clone(),
                        shutdown_timeout: config.shutdown_timeout,
                    });
                }
                Err(QemuError::QemuExited { console: tail, .. })
                    if tail.contains("host forwarding") && tried.len() < PORT_TRIES => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// The logged-in session, for provisioners.
    pub fn session(&self) -> &SshSession {
        self.session.as_ref().expect("present until shutdown")
    }

    /// How to reach the guest (`127.0.0.1` and the forwarded port).
    pub fn ssh_config(&self) -> &SshConfig {
        &self.ssh
    }

    pub fn accelerator(&self) -> Resolved {
        self.accelerator
    }

    /// Powers the guest off with `shutdown_command` and waits up to `shutdown_timeout` for qemu to exit;
    /// without a command, the guest's disks are synced and qemu is asked to quit (SIGTERM, on which it
    /// flushes its disk caches). Then the disk moves into `output_directory`; its path is returned.
    pub async fn shutdown(mut self) -> Result<PathBuf, QemuError> {
        let session = self.session.take().expect("present until shutdown");
        let command = match &self.shutdown_command {
            Some(command) => {
                // The connection drops as the guest goes down, so the result says little; a command
                // that does not power off shows as the timeout below.
                let _ = session.exec(command, |_, _| {}).await;
                command.clone()
            }
            None => {
                let _ = session.exec("sync", |_, _| {}).await;
                // SAFETY: kill(2) on the PID of a child not yet reaped.
                unsafe { libc::kill(self.qemu.0.id() as libc::pid_t, libc::SIGTERM) };
                "SIGTERM to qemu".to_string()
            }
        };
        drop(session);
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        loop {
            match self.qemu.0.try_wait() {
                Ok(Some(status)) if status.success() => break,
                Ok(Some(status)) => {
                    return Err(QemuError::ShutdownFailed {
                        status: status.to_string(),
                    });
                }
                Ok(None) if tokio::time::Instant::now() >= deadline => {
                    return Err(QemuError::ShutdownTimeout {
                        command,
                        timeout: self.shutdown_timeout,
                        console: console::tail(&self.console, CONSOLE_LINES),
                    });
                }
                Ok(None) => tokio::time::sleep(POLL).await,
                Err(err) => return Err(io("wait for", Path::new("qemu"), err)),
            }
        }
        let disk_path = self.disk.path.clone();
        let QemuMachine { disk, qemu, .. } = self;
        drop(qemu);
        disk.publish(&disk_path)
    }
}

fn io(action: &'static str, path: &Path, err: std::io::Error) -> QemuError {
    QemuError::Io {
        action,
        path: path.to_path_buf(),
        reason: err.to_string(),
    }
}

fn spawn(
    config: &QemuConfig,
    disk: &Path,
    accelerator: Resolved,
    port: u16,
    console: &Path,
) -> Result<QemuProcess, QemuError> {
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let launch = Launch {
        disk,
        accelerator,
        ssh_port: port,
        has_display,
    };
    let args = qemu_args(config, &launch).map_err(QemuError::QemuArgs)?;
    let log = File::create(console).map_err(|e| io("create", console, e))?;
    let log2 = log.try_clone().map_err(|e| io("open", console, e))?;
    let mut cmd = Command::new(&config.qemu_binary);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: prctl is async-signal-safe. The signal comes when the *thread* that spawned qemu ends, so
    // qemu must be started from a thread that lives as long as the build (an async task's worker
    // thread, not a short-lived blocking-pool thread); it also covers imgs being killed outright.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|err| QemuError::Command {
        command: config.qemu_binary.clone(),
        reason: format!("cannot start it: {err} (install qemu-system-x86)"),
    })?;
    Ok(QemuProcess(child))
}

/// Connects while watching qemu: a qemu that exits ends the wait at once, with the console's last lines.
async fn wait_for_ssh(
    qemu: &mut QemuProcess,
    ssh: &SshConfig,
    boot_wait: Duration,
    console: &Path,
    cancel: &CancellationToken,
    log: Log<'_>,
) -> Result<SshSession, QemuError> {
    let exited = async {
        loop {
            match qemu.0.try_wait() {
                Ok(Some(status)) => break status.to_string(),
                Ok(None) => tokio::time::sleep(POLL).await,
                Err(err) => break format!("unknown status: {err}"),
            }
        }
    };
    let connect = async {
        log.phase("booting");
        tokio::time::sleep(boot_wait).await;
        log.phase("waiting for SSH");
        SshSession::connect(ssh, cancel.child_token()).await
    };
    let result = tokio::select! {
        () = cancel.cancelled() => Err(QemuError::Cancelled),
        status = exited => Err(QemuError::QemuExited {
            status,
            console: console::tail(console, CONSOLE_LINES),
        }),
        session = connect => session.map_err(|err| match err {
            SshError::Timeout { address, timeout, last_error, .. } => QemuError::SshTimeout {
                address,
                timeout,
                last_error,
                console: String::new(),
            },
            SshError::Cancelled => QemuError::Cancelled,
            other => QemuError::Ssh(other),
        }),
    };
    match result {
        Err(QemuError::SshTimeout {
            address,
            timeout,
            last_error,
            ..
        }) => {
            // Stopped before the console is read, so its last lines are final.
            let _ = qemu.0.kill();
            let _ = qemu.0.wait();
            Err(QemuError::SshTimeout {
                address,
                timeout,
                last_error,
                console: console::tail(console, CONSOLE_LINES),
            })
        }
        other => other,
    }
}
