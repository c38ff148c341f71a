//! Commands run on the machine running imgs (shell-local scripts, `ansible-playbook`), each in a
//! process group of its own, so that stopping one (cancelled, timed out) stops whatever it started
//! too. Output lines are logged as they come, indented, whichever stream they arrive on.

use std::process::Stdio;

use imgs_process::{Lines, ProcessGroup};
use tokio_util::sync::CancellationToken;

use crate::PostError;
use crate::shell_local::Log;

/// Runs `command` (stdin closed, stdout and stderr read line by line into `log`) until it ends or
/// `cancel` fires; returns its exit code (-1 when a signal ended it, as Go reports it). `what` names
/// it in errors.
pub async fn run(
    mut command: tokio::process::Command,
    what: &str,
    log: Log<'_>,
    cancel: &CancellationToken,
) -> Result<i64, PostError> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so that stopping it reaches what it started too.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| PostError::Io {
            action: "run",
            path: what.to_string(),
            reason: format!("{program}: {e}"),
        })?;
    // Dropped before the command ends (cancelled, timed out, failed): the whole group is killed.
    let mut group = ProcessGroup::led_by(child.id());
    let mut stdout = Lines::new(child.stdout.take());
    let mut stderr = Lines::new(child.stderr.take());
    tokio::select! {
        _ = cancel.cancelled() => return Err(PostError::Cancelled),
        () = imgs_process::read_both(&mut stdout, &mut stderr, |_, line| log(&format!("  {line}"))) => {}
    }
    let status = tokio::select! {
        _ = cancel.cancelled() => return Err(PostError::Cancelled),
        status = child.wait() => status,
    }
    .map_err(|e| PostError::Io {
        action: "wait for",
        path: what.to_string(),
        reason: e.to_string(),
    })?;
    // It ended by itself: what it left running in the background is its own business, as in Packer.
    group.ended();
    Ok(status.code().map_or(-1, i64::from))
}
