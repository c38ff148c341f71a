//! The shell provisioner: upload each script, run it with `execute_command`, judge its exit status,
//! remove it again.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

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
            Err(err) if err.kind == CommunicatorErrorKind::Disconnected => {
                if !settings.expect_disconnect {
                    return Err(ProvisionError::Disconnected {
                        script: script.name().to_string(),
                    });
                }
                // The connection is gone; removing the script would only wait for it in vain.
                output(
                    Stream::Status,
                    &format!(
                        "The script disconnected, as expected; it stays at {}",
                        settings.remote_path
                    ),
                );
                continue;
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
            Err(err) if worth_retrying(&err, started, settings.start_retry_timeout) => {
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

/// Upload (executable) and run: one unit, retried while the machine is unreachable, so a reboot
/// between the steps cannot leave a command pointing at a script that is gone.
async fn start_with_retry(
    comm: &dyn Communicator,
    local: &Path,
    settings: &ShellSettings,
    output: OnLine<'_>,
) -> Result<ExitStatus, CommunicatorError> {
    let started = Instant::now();
    loop {
        match start(comm, local, settings, output).await {
            Err(err) if worth_retrying(&err, started, settings.start_retry_timeout) => {
                wait_before_retry(&err, output).await;
            }
            result => return result,
        }
    }
}

async fn start(
    comm: &dyn Communicator,
    local: &Path,
    settings: &ShellSettings,
    output: OnLine<'_>,
) -> Result<ExitStatus, CommunicatorError> {
    // The copy is executable already (see `temporary_copy`).
    comm.upload_file(local, &settings.remote_path).await?;
    comm.exec(&settings.command, output).await
}

/// Whether to try again: the machine is unreachable (rebooting, say) and there is time left.
pub(super) fn worth_retrying(err: &CommunicatorError, started: Instant, timeout: Duration) -> bool {
    err.kind == CommunicatorErrorKind::Unavailable && started.elapsed() + RETRY_DELAY < timeout
}

pub(super) async fn wait_before_retry(err: &CommunicatorError, output: OnLine<'_>) {
    output(
        Stream::Status,
        &format!("The machine is not reachable ({err}); trying again"),
    );
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
    let status = loop {
        match comm.exec(&command, &mut |_, _| {}).await {
            Err(err) if worth_retrying(&err, started, settings.start_retry_timeout) => {
                wait_before_retry(&err, output).await;
            }
            result => break result,
        }
    }
    .map_err(|err| ProvisionError::communicator(format!("remove the script `{path}`"), err))?;
    match status {
        ExitStatus::Exited(0) => Ok(()),
        status => Err(ProvisionError::Cleanup {
            path: path.to_string(),
            status,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
