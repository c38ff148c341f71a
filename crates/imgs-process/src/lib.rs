//! Commands imgs runs on its own machine (shell-local scripts, `ansible-playbook`, `packer`): each
//! leads a process group of its own, so stopping it reaches whatever it started, and its output is
//! read line by line as it comes.

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};

/// The process group a running command leads (its leader's ID), killed when dropped: a command whose
/// caller gives up on it (cancelled, timed out, failed) does not outlive it, nor do its children.
pub struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    /// The group led by the process `pid` (a command spawned with `process_group(0)`).
    pub fn led_by(pid: Option<u32>) -> ProcessGroup {
        ProcessGroup(pid)
    }

    /// The command ended by itself: what it left running in the background is its own business.
    pub fn ended(&mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|id| i32::try_from(id).ok()) {
            // SAFETY: kill(2) takes plain integers; a negative PID names the group the command leads.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

/// One output stream read line by line (lossily: a command may print any bytes).
pub struct Lines<R> {
    reader: Option<BufReader<R>>,
    /// A line read in part: kept here because `select!` may drop a read half-way, and
    /// `read_until` appends what it read to the buffer it is given.
    partial: Vec<u8>,
    /// The stream ended (or failed to read, which ends it too).
    pub done: bool,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    pub fn new(stream: Option<R>) -> Lines<R> {
        Lines {
            done: stream.is_none(),
            reader: stream.map(BufReader::new),
            partial: Vec::new(),
        }
    }

    /// The next line without its ending; `None` at the end.
    pub async fn next(&mut self) -> Option<String> {
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

/// Which of a command's output streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Stdout,
    Stderr,
}

/// Reads a command's standard output and error to their ends, handing each line to `on_line` as it
/// comes. Cancel-safe: a caller may drop it in a `select!` (a line read in part stays in its
/// [`Lines`]). A stream's end is not a line, so an ended stream never stops the other being read.
pub async fn read_both<O, E>(
    out: &mut Lines<O>,
    err: &mut Lines<E>,
    mut on_line: impl FnMut(Source, String),
) where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    while !(out.done && err.done) {
        tokio::select! {
            line = out.next(), if !out.done => {
                if let Some(line) = line {
                    on_line(Source::Stdout, line);
                }
            }
            line = err.next(), if !err.done => {
                if let Some(line) = line {
                    on_line(Source::Stderr, line);
                }
            }
        }
    }
}
