//! Running the commands a task is made of, so that a failure says which command failed, how, and why.
//!
//! A command's stderr is passed through to ours as it comes and its last lines are kept: when the
//! command fails, the error names it, its exit status and those lines, and main prints that in a
//! line or two. Commands that draw on the terminal (cargo's progress, imgs' build bars) keep it
//! instead, and their error says the output is above.

use std::collections::VecDeque;
use std::fmt;
use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Output, Stdio};

use anyhow::{Context, Result};

/// How many of a failed command's last stderr lines its error quotes.
const TAIL_LINES: usize = 10;

/// A command that ran and failed.
#[derive(Debug)]
pub struct CommandFailed {
    pub command: String,
    pub status: ExitStatus,
    /// Its last stderr lines, or none when its output went to the terminal.
    pub stderr_tail: Option<Vec<String>>,
}

impl fmt::Display for CommandFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` failed with {}", self.command, self.status)?;
        match self.stderr_tail.as_deref() {
            None => write!(f, " (its output is above)"),
            Some([]) => write!(f, " and printed nothing on stderr"),
            Some([line]) => write!(f, ": {line}"),
            Some(lines) => {
                write!(f, "; its stderr ended with:")?;
                for line in lines {
                    write!(f, "\n    {line}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CommandFailed {}

/// The command as a shell would show it.
pub fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd`, echoing it; its stderr goes through to ours and a failure quotes its last lines.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", display(cmd));
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let mut tail = Tail::new(TAIL_LINES);
    let mut buf = [0u8; 8192];
    loop {
        match stderr.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // Chunks, not lines: progress output that rewrites a line with `\r` shows as it comes.
                let mut out = std::io::stderr().lock();
                let _ = out.write_all(&buf[..n]);
                let _ = out.flush();
                tail.push(&buf[..n]);
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err)
                    .with_context(|| format!("cannot read `{}`'s stderr", display(cmd)));
            }
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("cannot wait for `{}`", display(cmd)))?;
    if !status.success() {
        return Err(CommandFailed {
            command: display(cmd),
            status,
            stderr_tail: Some(tail.lines()),
        }
        .into());
    }
    Ok(())
}

/// Runs `cmd` with the terminal inherited, echoing it: for commands that draw progress or colour
/// when they see a terminal. A failure says the command's output is above.
pub fn run_on_terminal(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    check_on_terminal(cmd, status)
}

/// The error for a command that ran with the terminal inherited, when it failed.
pub fn check_on_terminal(cmd: &Command, status: ExitStatus) -> Result<()> {
    if status.success() {
        return Ok(());
    }
    Err(CommandFailed {
        command: display(cmd),
        status,
        stderr_tail: None,
    }
    .into())
}

/// The error for a command run with its stderr captured (`Command::output`), when it failed.
pub fn check_output(cmd: &Command, output: &Output) -> Result<()> {
    if output.status.success() {
        return Ok(());
    }
    let mut tail = Tail::new(TAIL_LINES);
    tail.push(&output.stderr);
    Err(CommandFailed {
        command: display(cmd),
        status: output.status,
        stderr_tail: Some(tail.lines()),
    }
    .into())
}

/// The last lines of a byte stream, fed in chunks.
struct Tail {
    keep: usize,
    lines: VecDeque<String>,
    partial: Vec<u8>,
}

impl Tail {
    fn new(keep: usize) -> Self {
        Tail {
            keep,
            lines: VecDeque::with_capacity(keep + 1),
            partial: Vec::new(),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.partial);
                self.add(&line);
            } else {
                self.partial.push(byte);
            }
        }
    }

    fn add(&mut self, line: &[u8]) {
        // A line rewritten with `\r` (a progress bar) ends as its last rewrite.
        let line = line.rsplit(|&b| b == b'\r').find(|part| !part.is_empty());
        let Some(line) = line else { return };
        let text = String::from_utf8_lossy(line).trim_end().to_string();
        if text.is_empty() {
            return;
        }
        self.lines.push_back(text);
        if self.lines.len() > self.keep {
            self.lines.pop_front();
        }
    }

    fn lines(mut self) -> Vec<String> {
        let partial = std::mem::take(&mut self.partial);
        self.add(&partial);
        self.lines.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    fn failure(result: Result<()>) -> CommandFailed {
        result
            .unwrap_err()
            .downcast::<CommandFailed>()
            .expect("a CommandFailed")
    }

    #[test]
    fn a_failure_names_the_command_its_status_and_its_last_stderr_line() {
        let err = failure(run(&mut sh(
            "echo working; echo 'no space left' >&2; exit 3",
        )));
        assert_eq!(
            err.to_string(),
            "`sh -c echo working; echo 'no space left' >&2; exit 3` failed with exit status: 3: no space left"
        );
    }

    #[test]
    fn a_failure_quotes_only_the_last_lines_of_a_long_stderr() {
        let err = failure(run(&mut sh(
            "i=0; while [ $i -lt 25 ]; do echo line $i >&2; i=$((i+1)); done; printf 'last' >&2; exit 1",
        )));
        let tail = err.stderr_tail.clone().unwrap();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[0], "line 16");
        assert_eq!(tail.last().unwrap(), "last");
        let message = err.to_string();
        assert!(
            message.contains("failed with exit status: 1; its stderr ended with:\n    line 16\n")
        );
    }

    #[test]
    fn success_and_a_silent_failure() {
        run(&mut sh("echo fine >&2")).unwrap();
        let err = failure(run(&mut sh("exit 4")));
        assert!(
            err.to_string()
                .ends_with("exit status: 4 and printed nothing on stderr")
        );
    }

    #[test]
    fn a_failure_on_the_terminal_points_above() {
        let err = failure(run_on_terminal(&mut sh("exit 2")));
        assert_eq!(
            err.to_string(),
            "`sh -c exit 2` failed with exit status: 2 (its output is above)"
        );
    }

    #[test]
    fn a_command_that_cannot_start_says_so_with_the_reason() {
        let err = run(&mut Command::new("/nonexistent/tool")).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "cannot start `/nonexistent/tool`: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn captured_output_of_a_failure_gives_the_same_error() {
        let mut cmd = sh("echo 'first' >&2; echo 'permission denied' >&2; exit 1");
        let output = cmd.output().unwrap();
        let err = failure(check_output(&cmd, &output));
        assert_eq!(err.stderr_tail.unwrap(), ["first", "permission denied"]);
        check_output(&sh("true"), &sh("true").output().unwrap()).unwrap();
    }

    #[test]
    fn progress_rewrites_keep_their_last_state() {
        let mut tail = Tail::new(3);
        tail.push(b"10%\r50%\r100%\nerror: disk ");
        tail.push(b"full\n\n");
        assert_eq!(tail.lines(), ["100%", "error: disk full"]);
    }
}
