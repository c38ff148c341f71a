//! The `shell-local` provisioner: the post-processor's runner, on the machine running imgs.

use std::collections::BTreeMap;

use imgs_post::PostError;
use imgs_post::shell_local::{Commands, ShellBuild};
use tokio_util::sync::CancellationToken;

use crate::communicator::{ExitStatus, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::ShellLocalSettings;

pub(super) async fn run(
    settings: &ShellLocalSettings,
    output: OnLine<'_>,
    cancel: &CancellationToken,
) -> Result<(), ProvisionError> {
    let build = ShellBuild {
        build_name: &settings.run.build_name,
        builder_type: &settings.run.builder_type,
        working_dir: &settings.run.working_dir,
    };
    let render =
        |text: &str, data: &BTreeMap<String, String>| settings.run.renderer.render(text, data);
    // The runner indents the script's own lines already.
    let mut log = |line: &str| output(Stream::Status, line);
    settings
        .shell
        .run(&build, &render, &mut log, cancel)
        .await
        .map_err(|e| match e {
            PostError::Cancelled => ProvisionError::Cancelled,
            PostError::ExitCode {
                script,
                code,
                allowed,
            } if code >= 0 => ProvisionError::ScriptFailed {
                // Named as the shell provisioner names it, not by its temporary file.
                script: match settings.shell.commands {
                    Commands::Inline(_) => "inline script".to_string(),
                    Commands::Scripts(_) => script,
                },
                status: ExitStatus::Exited(code as u32),
                valid: allowed,
            },
            other => ProvisionError::LocalCommand {
                hint: other.hint(),
                message: other.to_string(),
            },
        })
}
