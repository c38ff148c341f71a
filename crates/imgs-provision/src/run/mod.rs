//! Running one provisioner step: pause, time limit, retries and cancellation around the
//! provisioner itself ([`shell`], [`file`], [`shell_local`]).

mod ansible;
mod ansible_local;
mod chef;
mod converge;
mod elevated;
mod file;
mod guest;
mod inspec;
mod pause;
mod powershell;
mod puppet;
mod salt;
mod shell;
mod shell_local;
mod ssh_target;
mod windows;

use tokio_util::sync::CancellationToken;

use crate::communicator::{Communicator, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::{ProvisionerStep, Settings};
use imgs_settings::human_duration;

/// Runs `step` on the machine behind `comm` (`None` for a build without one, which only
/// `shell-local` accepts: it runs on the machine running imgs), sending its output and imgs' own status lines to
/// `output` with every secret masked. Each try waits `pause_before` first and may take up to
/// `timeout`; a failed try is repeated up to `max_retries` times (as Packer does), the last error is
/// returned. Cancelling `cancel` stops the step at once.
///
/// `output` must be `Send` so a whole build can run in a task of its own.
pub async fn run_provisioner(
    comm: Option<&dyn Communicator>,
    step: &ProvisionerStep,
    output: OnLine<'_>,
    cancel: &CancellationToken,
) -> Result<(), ProvisionError> {
    let secrets = &step.secrets;
    let mut masked = |stream: Stream, line: &str| output(stream, &secrets.mask(line));
    let mut retries_left = step.max_retries;
    loop {
        let attempt = attempt(comm, step, &mut masked, cancel);
        let result = tokio::select! {
            () = cancel.cancelled() => Err(ProvisionError::Cancelled),
            result = attempt => result,
        };
        match result {
            Ok(()) => return Ok(()),
            Err(ProvisionError::Cancelled) => return Err(ProvisionError::Cancelled),
            Err(err) if retries_left > 0 => {
                let err = err.masked(secrets);
                masked(
                    Stream::Status,
                    &format!(
                        "provisioner failed: {err}; retrying ({retries_left} {} left)",
                        if retries_left == 1 { "try" } else { "tries" }
                    ),
                );
                retries_left -= 1;
            }
            Err(err) => return Err(err.masked(secrets)),
        }
    }
}

async fn attempt(
    comm: Option<&dyn Communicator>,
    step: &ProvisionerStep,
    output: OnLine<'_>,
    cancel: &CancellationToken,
) -> Result<(), ProvisionError> {
    if let Some(pause) = step.pause_before {
        output(
            Stream::Status,
            &format!(
                "Pausing {} before the next provisioner...",
                human_duration(pause)
            ),
        );
        tokio::time::sleep(pause).await;
    }
    let work = async {
        let needs = || comm.ok_or(ProvisionError::NoCommunicator { kind: step.kind() });
        match &step.settings {
            Settings::Shell(settings) => shell::run(needs()?, settings, output).await,
            Settings::File(settings) => file::run(needs()?, settings, output).await,
            Settings::ShellLocal(settings) => shell_local::run(settings, output, cancel).await,
            Settings::Ansible(settings) => ansible::run(needs()?, settings, output, cancel).await,
            Settings::AnsibleLocal(settings) => {
                ansible_local::run(needs()?, settings, output).await
            }
            Settings::ChefClient(settings) => chef::client(needs()?, settings, output).await,
            Settings::ChefSolo(settings) => chef::solo(needs()?, settings, output).await,
            Settings::Converge(settings) => converge::run(needs()?, settings, output).await,
            Settings::Inspec(settings) => inspec::run(needs()?, settings, output, cancel).await,
            Settings::PowerShell(settings) => powershell::run(needs()?, settings, output).await,
            Settings::Puppet(settings) => puppet::run(needs()?, settings, output).await,
            Settings::Salt(settings) => salt::run(needs()?, settings, output).await,
            Settings::WindowsShell(settings) => windows::shell(needs()?, settings, output).await,
            Settings::WindowsRestart(settings) => {
                windows::restart(needs()?, settings, output).await
            }
            Settings::Sleep(duration) => pause::sleep(*duration).await,
            Settings::Breakpoint(settings) => pause::breakpoint(settings, output).await,
        }
    };
    match step.timeout {
        None => work.await,
        Some(timeout) => tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(ProvisionError::Timeout {
                    what: format!("provisioner `{}` ({})", step.kind(), step.key),
                    timeout,
                })
            }),
    }
}
