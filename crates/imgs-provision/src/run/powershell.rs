//! `powershell`: each script is uploaded with a file of the environment's variables and run by
//! PowerShell (through an elevated scheduled task for `elevated_user`), then a clean-up script
//! removes what was uploaded — Packer 1.6.6's steps, paths and commands.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::communicator::{Communicator, CommunicatorError, ExitStatus, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::{PowerShellSettings, ShellScript};

use super::file::io_reason;
use super::guest::{exit_code, upload_target};
use super::shell::{temporary_copy, wait_before_retry, worth_retrying};

/// How long the clean-up is tried (Packer's figure).
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) async fn run(
    comm: &dyn Communicator,
    settings: &PowerShellSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    output(Stream::Status, "Provisioning with Powershell...");
    let mut remote_path = settings.remote_path.clone();
    let mut uploaded = vec![settings.remote_env_var_path.clone()];
    for script in &settings.scripts {
        output(
            Stream::Status,
            &format!("Provisioning with powershell script: {}", script.name()),
        );
        let local = local_copy(script, None)?;
        if let (true, ShellScript::File(file)) = (remote_path.ends_with('\\'), script) {
            let name = file.path.file_name().unwrap_or_default();
            remote_path.push_str(&name.to_string_lossy());
        }
        let command = command_text(comm, settings, &remote_path, output).await?;
        let status = upload_and_run(
            comm,
            local.path(),
            &remote_path,
            &command,
            settings.start_retry_timeout,
            output,
        )
        .await
        .map_err(|err| {
            ProvisionError::communicator(
                format!("run script `{}` as `{remote_path}`", script.name()),
                err,
            )
        })?;
        uploaded.push(remote_path.clone());
        check_exit(&status, &settings.valid_exit_codes)?;
    }
    if !settings.skip_clean {
        clean_up(comm, settings, &uploaded, output).await;
    }
    Ok(())
}

/// Uploads the script to `remote` (where Packer's communicators put it) and runs `command`; both
/// again while the machine is unreachable, within `timeout`, as Packer's retry does.
pub(super) async fn upload_and_run(
    comm: &dyn Communicator,
    local: &std::path::Path,
    remote: &str,
    command: &str,
    timeout: Duration,
    output: OnLine<'_>,
) -> Result<ExitStatus, CommunicatorError> {
    let target = upload_target(remote);
    let started = Instant::now();
    loop {
        let attempt = async {
            comm.upload(local, &target).await?;
            comm.exec(command, output).await
        }
        .await;
        match attempt {
            Err(err) if worth_retrying(&err, started, timeout) => {
                wait_before_retry(&err, output).await;
            }
            result => return result,
        }
    }
}

/// The script as uploaded, in a temporary file of mode `mode`, or when `None` with Packer's modes for
/// `powershell` (which sends a file's own mode): a file's own, inline commands 0600 (its temporary
/// file's).
pub(super) fn local_copy(
    script: &ShellScript,
    mode: Option<u32>,
) -> Result<tempfile::NamedTempFile, ProvisionError> {
    let (content, mode) = match script {
        ShellScript::Inline(text) => (text.clone().into_bytes(), mode.unwrap_or(0o600)),
        ShellScript::File(file) => {
            let failed = |e: std::io::Error| ProvisionError::Local {
                action: "read the script",
                path: file.written.clone(),
                reason: io_reason(&e),
            };
            let mode = match mode {
                Some(mode) => mode,
                None => {
                    let permissions = std::fs::metadata(&file.path).map_err(failed)?.permissions();
                    std::os::unix::fs::PermissionsExt::mode(&permissions) & 0o777
                }
            };
            (std::fs::read(&file.path).map_err(failed)?, mode)
        }
    };
    temporary_copy(&content, mode).map_err(|e| ProvisionError::Local {
        action: "prepare a copy of",
        path: script.name().to_string(),
        reason: io_reason(&e),
    })
}

/// Uploads the environment file and renders the command for a script at `remote_path`; for an
/// elevated run, the wrapper that runs it as a scheduled task is uploaded and run instead.
async fn command_text(
    comm: &dyn Communicator,
    settings: &PowerShellSettings,
    remote_path: &str,
    output: OnLine<'_>,
) -> Result<String, ProvisionError> {
    let (env_vars, template) = match &settings.elevated {
        None => (&settings.env_vars, &settings.execute_command),
        Some(_) => (
            &settings.elevated_env_vars,
            &settings.elevated_execute_command,
        ),
    };
    upload_text(
        comm,
        env_vars,
        &settings.remote_env_var_path,
        settings.start_retry_timeout,
        output,
    )
    .await
    .map_err(|err| {
        ProvisionError::communicator(
            format!(
                "upload the environment variables to `{}`",
                settings.remote_env_var_path
            ),
            err,
        )
    })?;
    let command = render(settings, template, remote_path)?;
    match &settings.elevated {
        None => Ok(command),
        Some(elevated) => super::elevated::wrap(comm, &command, elevated).await,
    }
}

fn render(
    settings: &PowerShellSettings,
    template: &str,
    path: &str,
) -> Result<String, ProvisionError> {
    let data = BTreeMap::from([
        ("Path".to_string(), path.to_string()),
        ("Vars".to_string(), settings.remote_env_var_path.clone()),
    ]);
    settings
        .run
        .renderer
        .render(template, &data)
        .map_err(|why| ProvisionError::Guest {
            message: format!("Error processing command: {why}"),
            hint: Some(
                "`execute_command` may use `{{.Path}}` (the script) and `{{.Vars}}` (the file \
                 that sets the environment)"
                    .to_string(),
            ),
        })
}

/// `text` to `remote` with mode 0644 (Packer uploads it from memory), retried while the machine is
/// unreachable. Uploads to Windows send the mode with the file and nothing else: there is no
/// `chmod` to run there.
async fn upload_text(
    comm: &dyn Communicator,
    text: &str,
    remote: &str,
    timeout: Duration,
    output: OnLine<'_>,
) -> Result<(), CommunicatorError> {
    let local = temporary_copy(text.as_bytes(), 0o644).map_err(|e| CommunicatorError {
        kind: crate::communicator::CommunicatorErrorKind::Transfer,
        message: format!("cannot prepare a local copy: {}", io_reason(&e)),
        hint: None,
    })?;
    let started = Instant::now();
    loop {
        match comm.upload(local.path(), &upload_target(remote)).await {
            Err(err) if worth_retrying(&err, started, timeout) => {
                wait_before_retry(&err, output).await;
            }
            result => return result,
        }
    }
}

/// Packer's verdict on a script's exit status.
pub(super) fn check_exit(status: &ExitStatus, valid: &[i64]) -> Result<(), ProvisionError> {
    if matches!(status, ExitStatus::Exited(code) if valid.contains(&i64::from(*code))) {
        return Ok(());
    }
    let code = exit_code(status);
    let allowed: Vec<String> = valid.iter().map(i64::to_string).collect();
    Err(ProvisionError::Guest {
        message: format!(
            "Script exited with non-zero exit status: {code}.Allowed exit codes are: [{}]",
            allowed.join(" ")
        ),
        hint: Some(
            "the script's output above says why; if that status means success, add it to \
             `valid_exit_codes`"
                .to_string(),
        ),
    })
}

/// Uploads a script that removes every uploaded file and itself, and runs it with the plain
/// `execute_command`. A failure is only reported: the scripts already ran.
async fn clean_up(
    comm: &dyn Communicator,
    settings: &PowerShellSettings,
    uploaded: &[String],
    output: OnLine<'_>,
) {
    let cleanup = &settings.remote_cleanup_path;
    let script: String = uploaded
        .iter()
        .chain(std::iter::once(cleanup))
        .map(|file| format!("if (Test-Path {file}) {{Remove-Item {file}}}\n"))
        .collect();
    let result = async {
        upload_text(comm, &script, cleanup, CLEANUP_TIMEOUT, output)
            .await
            .map_err(|err| err.to_string())?;
        let command =
            render(settings, &settings.execute_command, cleanup).map_err(|e| e.to_string())?;
        comm.exec(&command, output)
            .await
            .map_err(|err| err.to_string())
    }
    .await;
    if let Err(why) = result {
        output(
            Stream::Status,
            &format!(
                "The clean-up script did not run ({why}); these files stay on the machine: {}",
                uploaded.join(", ")
            ),
        );
    }
}
