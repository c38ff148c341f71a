//! `converge`: bootstrap it (when asked), upload the module directories, `converge apply --local`
//! — Packer 1.6.6's steps and messages. Its output is collected and shown afterwards, as Packer
//! shows it.

use std::collections::BTreeMap;

use crate::communicator::{Communicator, ExitStatus, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::ConvergeSettings;

use super::guest::{exit_code, go_truth};

pub(super) async fn run(
    comm: &dyn Communicator,
    settings: &ConvergeSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    output(Stream::Status, "Provisioning with Converge");
    if settings.bootstrap {
        output(Stream::Status, "bootstrapping converge");
        let data = BTreeMap::from([
            ("Version".to_string(), settings.version.clone()),
            (
                "Sudo".to_string(),
                go_truth(!settings.prevent_bootstrap_sudo),
            ),
        ]);
        let command = settings
            .run
            .renderer
            .render(&settings.bootstrap_command, &data)
            .map_err(|why| {
                guest_error(format!("Could not interpolate bootstrap command: {why}"))
            })?;
        let (status, stdout, stderr) = collected(comm, &command).await?;
        if status != ExitStatus::Exited(0) {
            output(Stream::Stderr, &stdout);
            output(Stream::Stderr, &stderr);
            return Err(guest_error("Error bootstrapping converge".to_string()));
        }
        output(Stream::Status, stdout.trim());
    }
    for (source, destination) in &settings.module_dirs {
        comm.upload(&source.path, destination)
            .await
            .map_err(|err| {
                guest_error(format!(
                    "Could not upload {}: {err}",
                    go_quote(&source.written)
                ))
            })?;
        output(
            Stream::Status,
            &format!(
                "transferred {} to {}",
                go_quote(&source.written),
                go_quote(destination)
            ),
        );
    }
    let data = BTreeMap::from([
        ("ParamsJSON".to_string(), settings.params_json.clone()),
        (
            "WorkingDirectory".to_string(),
            settings.working_directory.clone(),
        ),
        ("Module".to_string(), settings.module.clone()),
        ("Sudo".to_string(), go_truth(!settings.prevent_sudo)),
    ]);
    let command = settings
        .run
        .renderer
        .render(&settings.execute_command, &data)
        .map_err(|why| guest_error(format!("Could not interpolate execute command: {why}")))?;
    let (status, stdout, stderr) = collected(comm, &command).await?;
    match status {
        ExitStatus::Exited(0) => {
            output(Stream::Status, stdout.trim());
            Ok(())
        }
        ExitStatus::Exited(127) => {
            output(
                Stream::Stderr,
                "Could not find Converge. Is it installed and in PATH?",
            );
            if !settings.bootstrap {
                output(
                    Stream::Stderr,
                    "Bootstrapping was disabled for this run. That might be why Converge isn't present.",
                );
            }
            Err(ProvisionError::Guest {
                message: "Could not find Converge".to_string(),
                hint: Some(
                    "install Converge on the machine, or set `\"bootstrap\": true`".to_string(),
                ),
            })
        }
        status => {
            output(Stream::Stderr, stdout.trim());
            output(Stream::Stderr, stderr.trim());
            let code = exit_code(&status);
            output(Stream::Stderr, &format!("Exited with error code {code}."));
            Err(guest_error(format!(
                "Error applying {}",
                go_quote(&settings.module)
            )))
        }
    }
}

/// Runs `command` and returns its status with everything it printed, stdout and stderr apart.
async fn collected(
    comm: &dyn Communicator,
    command: &str,
) -> Result<(ExitStatus, String, String), ProvisionError> {
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let mut sink = |stream: Stream, line: &str| {
        let to = if stream == Stream::Stderr {
            &mut stderr
        } else {
            &mut stdout
        };
        to.push_str(line);
        to.push('\n');
    };
    let status = comm
        .exec(command, &mut sink)
        .await
        .map_err(|err| ProvisionError::communicator(format!("run `{command}`"), err))?;
    Ok((status, stdout, stderr))
}

fn guest_error(message: String) -> ProvisionError {
    ProvisionError::Guest {
        message,
        hint: None,
    }
}

/// Go's `%q` for the strings Converge's messages quote.
fn go_quote(text: &str) -> String {
    format!("{text:?}")
}
