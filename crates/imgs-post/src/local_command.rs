//! Commands run on the machine running imgs (shell-local scripts, `ansible-playbook`), each in a
//! process group of its own, so that stopping one (cancelled, timed out) stops whatever it started
//! too. Output lines are logged as they come, indented, whichever stream they arrive on.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
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
    let mut group = GroupGuard(child.id());
    let mut stdout = Lines::new(child.stdout.take());
    let mut stderr = Lines::new(child.stderr.take());
    while !(stdout.done && stderr.done) {
        tokio::select! {
            _ = cancel.cancelled() => return Err(PostError::Cancelled),
            line = stdout.next(), if !stdout.done => {
                if let Some(line) = line { log(&format!("  {line}")); }
            }
            line = stderr.next(), if !stderr.done => {
                if let Some(line) = line { log(&format!("  {line}")); }
            }
        }
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
    group.0 = None;
    Ok(status.code().map_or(-1, i64::from))
}

/// The process group of a running command (its leader's ID), killed when dropped.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|id| i32::try_from(id).ok()) {
            // SAFETY: kill(2) takes plain integers; a negative PID names the group the command leads.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

/// One output stream read line by line (lossily: a script may print any bytes).
struct Lines<R> {
    reader: Option<BufReader<R>>,
    /// A line read in part: kept here because `select!` may drop a read half-way, and
    /// `read_until` appends what it read to the buffer it is given.
    partial: Vec<u8>,
    done: bool,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    fn new(stream: Option<R>) -> Lines<R> {
        Lines {
            done: stream.is_none(),
            reader: stream.map(BufReader::new),
            partial: Vec::new(),
        }
    }

    /// The next line without its ending; `None` at the end (or on a read error, which ends it).
    async fn next(&mut self) -> Option<String> {
        let reader = self.reader.as_mut()?;
        let read = reader.read_until(b'\n', &mut self.partial).await;
        if matches!(read, Ok(0) | Err(_)) {
            self.done = true;
            if self.partial.is_empty() {
                return None;
            }
        }
        let mut line = std::mem::take(&mut self.partial);
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Some(String::from_utf8_lossy(&line).into_owned())
    }
}
