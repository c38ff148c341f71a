//! The shell provisioner: upload each script, run it with `execute_command`, judge its exit status,
//! remove it again.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use crate::communicator::{
    Communicator, CommunicatorError, CommunicatorErrorKind, ExitStatus, OnLine, Stream,
};
use crate::error::ProvisionError;
use crate::settings::{EnvVarFile, ShellScript, ShellSettings};
use imgs_settings::human_duration;

use super::file::io_reason;

/// How long to wait between tries while the machine is unreachable (Packer's retry delay).
const RETRY_DELAY: Duration = Duration::from_secs(2);

pub(super) async fn run(
    comm: &dyn Communicator,
    settings: &ShellSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    if let Some(file) = &settings.env_var_file {
        upload_env_var_file(comm, file, settings, output).await?;
    }
    for script in &settings.scripts {
        output(
            Stream::Status,
            &format!("Provisioning with shell script: {}", script.name()),
        );
        let local = local_copy(script, settings.binary)?;
        let status = start_with_retry(comm, local.path(), settings, output).await;
        match status {
            // Whatever `valid_exit_codes` says: Packer judges a disconnect before exit codes.
            Err(err) if err.kind == CommunicatorErrorKind::Disconnected => {
                if !settings.expect_disconnect {
                    return Err(ProvisionError::Disconnected {
                        script: script.name().to_string(),
                    });
                }
                // Removing the script below waits for the machine to answer again, within
                // `start_retry_timeout`: that is where a reboot is waited for, as in Packer.
                output(Stream::Status, "The script disconnected, as expected");
            }
            Err(err) => {
                return Err(ProvisionError::communicator(
                    format!(
                        "run script `{}` as `{}`",
                        script.name(),
                        settings.remote_path
                    ),
                    err,
                ));
            }
            Ok(status) => check_status(script, &status, &settings.valid_exit_codes)?,
        }
        if !settings.skip_clean {
            remove(comm, &settings.remote_path, settings, output).await?;
        }
    }
    if let Some(file) = settings
        .env_var_file
        .as_ref()
        .filter(|_| !settings.skip_clean)
    {
        remove(comm, &file.remote_path, settings, output).await?;
    }
    if let Some(pause) = settings.pause_after {
        output(
            Stream::Status,
            &format!(
                "Pausing {} after this provisioner...",
                human_duration(pause)
            ),
        );
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

/// Uploads the variables for `use_env_var_file`, readable only by the SSH user (they may be
/// secrets), retried while the machine is unreachable.
async fn upload_env_var_file(
    comm: &dyn Communicator,
    file: &EnvVarFile,
    settings: &ShellSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let local =
        temporary_copy(file.content.as_bytes(), 0o600).map_err(|e| ProvisionError::Local {
            action: "prepare",
            path: "the environment variable file".to_string(),
            reason: io_reason(&e),
        })?;
    let started = Instant::now();
    loop {
        match comm.upload_file(local.path(), &file.remote_path).await {
            Ok(_) => return Ok(()),
            Err(err) if failure_worth_retrying(&err, started, settings.start_retry_timeout) => {
                wait_before_retry(&err, output).await;
            }
            Err(err) => {
                return Err(ProvisionError::communicator(
                    format!("upload the environment variables to `{}`", file.remote_path),
                    err,
                ));
            }
        }
    }
}

/// `content` in a temporary file with permissions `mode`, which `upload_file` gives the remote copy
/// too (Packer sets them with a `chmod` of its own after uploading).
pub(super) fn temporary_copy(
    content: &[u8],
    mode: u32,
) -> std::io::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new()
        .prefix("imgs-upload-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile()?;
    file.write_all(content)?;
    file.flush()?;
    Ok(file)
}

/// The script as it will be uploaded, in a temporary file: CRLF line endings become LF unless
/// `binary` is set, as Packer does, so scripts written on Windows still run.
fn local_copy(
    script: &ShellScript,
    binary: bool,
) -> Result<tempfile::NamedTempFile, ProvisionError> {
    let local_error = |action, reason| ProvisionError::Local {
        action,
        path: script.name().to_string(),
        reason,
    };
    let content = match script {
        ShellScript::Inline(text) => text.clone().into_bytes(),
        ShellScript::File(path) => {
            std::fs::read(&path.path).map_err(|e| local_error("read the script", io_reason(&e)))?
        }
    };
    let content = if binary {
        content
    } else {
        unix_line_endings(&content)
    };
    temporary_copy(&content, 0o755).map_err(|e| local_error("prepare a copy of", io_reason(&e)))
}

fn unix_line_endings(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len());
    let mut bytes = content.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// Upload (executable) and run: one unit, tried again within `start_retry_timeout` as Packer
/// does, so a reboot between the steps cannot leave a command pointing at a script that is gone.
/// Any failed upload is tried again (Packer retries whatever went wrong: a connection cut halfway,
/// a machine still down); the command only when it could not be started. A command whose
/// connection broke while it ran is not run again: that is its outcome ([`Disconnected`]).
///
/// [`Disconnected`]: CommunicatorErrorKind::Disconnected
async fn start_with_retry(
    comm: &dyn Communicator,
    local: &Path,
    settings: &ShellSettings,
    output: OnLine<'_>,
) -> Result<ExitStatus, CommunicatorError> {
    let started = Instant::now();
    let timeout = settings.start_retry_timeout;
    loop {
        // The copy is executable already (see `temporary_copy`).
        match comm.upload_file(local, &settings.remote_path).await {
            Err(err) if failure_worth_retrying(&err, started, timeout) => {
                wait_before_retry(&err, output).await;
                continue;
            }
            Err(err) => return Err(err),
            Ok(()) => {}
        }
        match comm.exec(&settings.command, output).await {
            Err(err) if worth_retrying(&err, started, timeout) => {
                wait_before_retry(&err, output).await;
            }
            result => return result,
        }
    }
}

/// Whether there is time left to try again: Packer's retry tries again after a failure as long as
/// `timeout` has not passed since the first try began (so a try may start up to one
/// [`RETRY_DELAY`] after it).
fn time_left(started: Instant, timeout: Duration) -> bool {
    started.elapsed() < timeout
}

/// Whether to try a command again: it could not be started (the machine is unreachable,
/// rebooting say) and there is time left.
pub(super) fn worth_retrying(err: &CommunicatorError, started: Instant, timeout: Duration) -> bool {
    err.kind == CommunicatorErrorKind::Unavailable && time_left(started, timeout)
}

/// Whether to try an upload or a clean-up again: whatever went wrong, as Packer's retry does, but
/// cancelling.
fn failure_worth_retrying(err: &CommunicatorError, started: Instant, timeout: Duration) -> bool {
    err.kind != CommunicatorErrorKind::Cancelled && time_left(started, timeout)
}

pub(super) async fn wait_before_retry(err: &CommunicatorError, output: OnLine<'_>) {
    let line = if err.kind == CommunicatorErrorKind::Unavailable {
        format!("The machine is not reachable ({err}); trying again")
    } else {
        format!("{err}; trying again")
    };
    output(Stream::Status, &line);
    tokio::time::sleep(RETRY_DELAY).await;
}

fn check_status(
    script: &ShellScript,
    status: &ExitStatus,
    valid: &[i64],
) -> Result<(), ProvisionError> {
    let ok = matches!(status, ExitStatus::Exited(code) if valid.contains(&i64::from(*code)));
    if ok {
        Ok(())
    } else {
        Err(ProvisionError::ScriptFailed {
            script: script.name().to_string(),
            status: status.clone(),
            valid: valid.to_vec(),
        })
    }
}

async fn remove(
    comm: &dyn Communicator,
    path: &str,
    settings: &ShellSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let command = format!("rm -f {path}");
    let started = Instant::now();
    let timeout = settings.start_retry_timeout;
    // As Packer, tried again whatever went wrong (the machine down, the connection lost, `rm`
    // failing) until `start_retry_timeout`: after a reboot, this is what waits for the machine.
    loop {
        match comm.exec(&command, &mut |_, _| {}).await {
            Ok(ExitStatus::Exited(0)) => return Ok(()),
            Ok(status) if time_left(started, timeout) => {
                let line = format!("`{command}` exited with {}; trying again", status.short());
                output(Stream::Status, &line);
                tokio::time::sleep(RETRY_DELAY).await;
            }
            Ok(status) => {
                return Err(ProvisionError::Cleanup {
                    path: path.to_string(),
                    status,
                });
            }
            Err(err) if failure_worth_retrying(&err, started, timeout) => {
                wait_before_retry(&err, output).await;
            }
            Err(err) => {
                return Err(ProvisionError::communicator(
                    format!("remove the script `{path}`"),
                    err,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A machine whose answers a test scripts: each upload and each command takes the next
    /// answer of its kind (success once they run out), and every call is written down.
    #[derive(Default)]
    struct Scripted {
        uploads: Mutex<VecDeque<Result<(), CommunicatorError>>>,
        commands: Mutex<VecDeque<Result<ExitStatus, CommunicatorError>>>,
        calls: Mutex<Vec<String>>,
        /// Every upload fails as unavailable.
        down: bool,
    }

    fn failure(kind: CommunicatorErrorKind, message: &str) -> CommunicatorError {
        CommunicatorError {
            kind,
            message: message.to_string(),
            hint: None,
        }
    }

    #[async_trait::async_trait]
    impl Communicator for Scripted {
        async fn exec(
            &self,
            command: &str,
            _on_line: OnLine<'_>,
        ) -> Result<ExitStatus, CommunicatorError> {
            let word = command.split_whitespace().next().unwrap_or_default();
            self.calls.lock().unwrap().push(word.to_string());
            let next = self.commands.lock().unwrap().pop_front();
            next.unwrap_or(Ok(ExitStatus::Exited(0)))
        }

        async fn upload(&self, _: &Path, _: &str) -> Result<(), CommunicatorError> {
            unreachable!("the shell provisioner uploads scripts with upload_file")
        }

        async fn upload_file(&self, _: &Path, _: &str) -> Result<(), CommunicatorError> {
            self.calls.lock().unwrap().push("upload".to_string());
            if self.down {
                return Err(failure(CommunicatorErrorKind::Unavailable, "refused"));
            }
            let next = self.uploads.lock().unwrap().pop_front();
            next.unwrap_or(Ok(()))
        }

        async fn download(&self, _: &str, _: &Path) -> Result<(), CommunicatorError> {
            unreachable!()
        }
    }

    fn settings(expect_disconnect: bool, start_retry_timeout: Duration) -> ShellSettings {
        ShellSettings {
            scripts: vec![ShellScript::Inline("#!/bin/sh\ntrue\n".into())],
            command: "run /tmp/script_1.sh".into(),
            remote_path: "/tmp/script_1.sh".into(),
            binary: false,
            valid_exit_codes: vec![0],
            skip_clean: false,
            expect_disconnect,
            start_retry_timeout,
            pause_after: None,
            env_var_file: None,
        }
    }

    async fn provision(machine: &Scripted, settings: &ShellSettings) -> Result<(), ProvisionError> {
        run(machine, settings, &mut |_, _| {}).await
    }

    fn calls(machine: &Scripted) -> Vec<String> {
        machine.calls.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn an_upload_failing_in_any_way_is_tried_again_as_packer_does() {
        let machine = Scripted::default();
        machine.uploads.lock().unwrap().extend([
            Err(failure(CommunicatorErrorKind::Transfer, "scp: cut halfway")),
            Err(failure(
                CommunicatorErrorKind::Disconnected,
                "no exit status",
            )),
        ]);
        provision(&machine, &settings(false, Duration::from_secs(300)))
            .await
            .unwrap();
        assert_eq!(calls(&machine), ["upload", "upload", "upload", "run", "rm"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_command_cut_while_it_ran_is_not_run_again_whatever_the_exit_codes() {
        let machine = Scripted::default();
        machine.commands.lock().unwrap().push_back(Err(failure(
            CommunicatorErrorKind::Disconnected,
            "no exit status",
        )));
        let mut settings = settings(false, Duration::from_secs(300));
        settings.valid_exit_codes = vec![0, 2_300_218];
        let err = provision(&machine, &settings).await.unwrap_err();
        assert!(matches!(err, ProvisionError::Disconnected { .. }), "{err}");
        assert_eq!(calls(&machine), ["upload", "run"]);
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_expected_disconnect_the_script_is_removed_once_the_machine_answers() {
        let machine = Scripted::default();
        machine.commands.lock().unwrap().extend([
            Err(failure(CommunicatorErrorKind::Disconnected, "rebooting")),
            Err(failure(CommunicatorErrorKind::Unavailable, "refused")),
            Err(failure(CommunicatorErrorKind::Unavailable, "refused")),
            Ok(ExitStatus::Exited(1)),
        ]);
        provision(&machine, &settings(true, Duration::from_secs(300)))
            .await
            .unwrap();
        assert_eq!(calls(&machine), ["upload", "run", "rm", "rm", "rm", "rm"]);
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_expected_disconnect_a_machine_down_too_long_fails_the_removal() {
        let machine = Scripted::default();
        machine.commands.lock().unwrap().extend(
            std::iter::once(failure(CommunicatorErrorKind::Disconnected, "rebooting"))
                .chain(std::iter::repeat_with(|| {
                    failure(CommunicatorErrorKind::Unavailable, "refused")
                }))
                .take(100)
                .map(Err),
        );
        let err = provision(&machine, &settings(true, Duration::from_secs(1)))
            .await
            .unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"cannot remove the script `/tmp/script_1.sh`: refused");
        // Tried at once and once more two seconds later, as Packer's retry does.
        assert_eq!(calls(&machine), ["upload", "run", "rm", "rm"]);
    }

    #[tokio::test(start_paused = true)]
    async fn tries_go_on_until_start_retry_timeout_has_passed_since_the_first() {
        // Packer tries again after a failure as long as the timeout has not passed since the first
        // try began, every two seconds: at 0, 2 and 4 s for 5 s; at 0 and 2 s for 1 s.
        for (timeout, tries) in [(5, 4), (1, 2), (4, 3)] {
            let machine = Scripted {
                down: true,
                ..Scripted::default()
            };
            let err = provision(&machine, &settings(false, Duration::from_secs(timeout)))
                .await
                .unwrap_err();
            assert!(matches!(err, ProvisionError::Communicator { .. }), "{err}");
            assert_eq!(
                calls(&machine).len(),
                tries,
                "start_retry_timeout {timeout}s"
            );
        }
    }

    #[test]
    fn only_crlf_pairs_lose_their_carriage_return() {
        assert_eq!(unix_line_endings(b"a\r\nb\rc\n\r\n"), b"a\nb\rc\n\n");
    }

    #[test]
    fn only_listed_exit_codes_pass() {
        let script = ShellScript::Inline(String::new());
        assert!(check_status(&script, &ExitStatus::Exited(3), &[0, 3]).is_ok());
        let err = check_status(&script, &ExitStatus::Exited(1), &[0]).unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"script `inline script` exited with status 1 (valid: 0)");
        assert!(
            check_status(
                &script,
                &ExitStatus::Signaled {
                    signal: "KILL".into(),
                    core_dumped: false,
                },
                &[0]
            )
            .is_err()
        );
    }
}
