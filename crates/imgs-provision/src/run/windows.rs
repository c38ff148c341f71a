//! `windows-shell` and `windows-restart`, with Packer 1.6.6's commands, paths and waits.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::communicator::{Communicator, ExitStatus, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::{
    WindowsRestartSettings, WindowsShellSettings, encoded_powershell, restart_check_command,
};

use super::guest::exit_code;
use super::shell::{wait_before_retry, worth_retrying};

/// `windows-shell`: each script is uploaded to the one remote path and run by `execute_command`
/// (`cmd` runs a `.bat` by its name), its exit status judged by `valid_exit_codes`.
pub(super) async fn shell(
    comm: &dyn Communicator,
    settings: &WindowsShellSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    output(Stream::Status, "Provisioning with windows-shell...");
    let data = BTreeMap::from([
        ("Vars".to_string(), settings.vars.clone()),
        ("Path".to_string(), settings.remote_path.clone()),
    ]);
    let command = settings
        .run
        .renderer
        .render(&settings.execute_command, &data)
        .map_err(|why| ProvisionError::Guest {
            message: format!("Error processing command: {why}"),
            hint: Some("`execute_command` may use `{{.Vars}}` and `{{.Path}}`".to_string()),
        })?;
    for script in &settings.scripts {
        output(
            Stream::Status,
            &format!("Provisioning with shell script: {}", script.name()),
        );
        // Packer uploads the script from an open file without its mode: 0644 on the machine.
        let local = super::powershell::local_copy(script, Some(0o644))?;
        let status = super::powershell::upload_and_run(
            comm,
            local.path(),
            &settings.remote_path,
            &command,
            settings.start_retry_timeout,
            output,
        )
        .await
        .map_err(|err| {
            ProvisionError::communicator(format!("run script `{}`", script.name()), err)
        })?;
        super::powershell::check_exit(&status, &settings.valid_exit_codes)?;
    }
    Ok(())
}

/// Exit statuses of `shutdown` that mean a shutdown is already under way.
const SHUTDOWN_IN_PROGRESS: [u32; 3] = [1115, 1190, 1717];
/// How often the machine is asked whether it is back (Packer's figure).
const CHECK_INTERVAL: Duration = Duration::from_secs(5);
const SCHEDULE_TEST_RESTART: &str = "shutdown /r /f /t 60 /c \"packer restart test\"";
const ABORT_RESTART: &str = "shutdown /a";

/// `windows-restart`: restart the machine, make sure it is really going down, wait until it answers
/// again (and, with `check_registry`, until no reboot is pending).
pub(super) async fn restart(
    comm: &dyn Communicator,
    settings: &WindowsRestartSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    output(Stream::Status, "Restarting Machine");
    let started = Instant::now();
    let status = loop {
        match comm.exec(&settings.restart_command, output).await {
            Err(err) if worth_retrying(&err, started, settings.restart_timeout) => {
                wait_before_retry(&err, output).await;
            }
            result => break result,
        }
    }
    .map_err(|err| ProvisionError::communicator("run the restart command", err))?;
    match status {
        ExitStatus::Exited(0 | 1115 | 1190) => {}
        other => {
            return Err(ProvisionError::Guest {
                message: format!(
                    "Restart script exited with non-zero exit status: {}",
                    exit_code(&other)
                ),
                hint: Some(
                    "the restart command's output above says why; `restart_command` replaces \
                     Packer's `shutdown /r /f /t 0`"
                        .to_string(),
                ),
            });
        }
    }
    output(Stream::Status, "Waiting for machine to restart...");
    let waited = tokio::time::timeout(settings.restart_timeout, async {
        confirm_going_down(comm, output).await;
        wait_until_back(comm, settings, output).await;
    })
    .await;
    if waited.is_err() {
        return Err(ProvisionError::Guest {
            message: "Timeout waiting for machine to restart.".to_string(),
            hint: Some(format!(
                "raise `restart_timeout` ({} now) if the machine takes longer to come back",
                imgs_settings::human_duration(settings.restart_timeout)
            )),
        });
    }
    output(Stream::Status, "Machine successfully restarted, moving on");
    Ok(())
}

/// Packer's probe that the restart is under way: scheduling another restart fails while one is
/// pending (or the connection is gone); if it succeeds, nothing was happening, so that test restart
/// is cancelled and the wait goes on as Packer's does.
async fn confirm_going_down(comm: &dyn Communicator, output: OnLine<'_>) {
    loop {
        match comm.exec(SCHEDULE_TEST_RESTART, output).await {
            Err(_) | Ok(ExitStatus::Exited(1)) => return,
            Ok(ExitStatus::Exited(code)) if SHUTDOWN_IN_PROGRESS.contains(&code) => {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            Ok(ExitStatus::Exited(0)) => {
                let _ = comm.exec(ABORT_RESTART, output).await;
                return;
            }
            Ok(_) => {}
        }
    }
}

/// Every few seconds: the template's own check once (it must run), then Packer's check, whose output
/// must say "restarted.", then the registry keys (none may exist).
async fn wait_until_back(
    comm: &dyn Communicator,
    settings: &WindowsRestartSettings,
    output: OnLine<'_>,
) {
    let packer_check = restart_check_command();
    let mut custom_check = settings.restart_check_command.as_deref();
    loop {
        tokio::time::sleep(CHECK_INTERVAL).await;
        if let Some(check) = custom_check {
            if comm.exec(check, output).await.is_err() {
                continue;
            }
            custom_check = None;
        }
        if !captured(comm, &packer_check, output)
            .await
            .contains("restarted.")
        {
            continue;
        }
        if settings.check_registry {
            let mut pending = false;
            for key in &settings.registry_keys {
                let test = encoded_powershell(&format!("Test-Path \"{key}\""));
                if captured(comm, &test, output).await.contains("True") {
                    pending = true;
                }
            }
            if pending {
                continue;
            }
        }
        return;
    }
}

/// Runs `command`, showing its output as usual, and returns what it printed on standard output.
async fn captured(comm: &dyn Communicator, command: &str, output: OnLine<'_>) -> String {
    let mut stdout = String::new();
    let mut sink = |stream: Stream, line: &str| {
        if stream == Stream::Stdout {
            stdout.push_str(line);
            stdout.push('\n');
        }
        output(stream, line);
    };
    let _ = comm.exec(command, &mut sink).await;
    stdout
}
