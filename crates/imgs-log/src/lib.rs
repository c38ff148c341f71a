//! Where a running build reports to: the lines it prints, and the phase it is in ("launching
//! instance", "provisioning 2/3 (shell)"). Phases let a terminal show one status per build while its
//! output stays behind `-v`, and let a timings report say where a build's time went.
//!
//! A plain closure `FnMut(&str)` is a log too: it receives the lines and drops the phases, which is
//! all a test collecting output needs.

/// A build's log: lines of output and phase changes, in the order they happen.
pub trait BuildLog: Send {
    /// One line of output, without its line ending.
    fn line(&mut self, line: &str);

    /// The build entered `phase`; it lasts until the next phase or the end of the build.
    fn phase(&mut self, phase: &str);

    /// Something the person running the build must know even when its output is hidden (what a
    /// failed clean-up left behind), with what to do about it. A log that has no better place for
    /// it prints it as a line.
    fn warning(&mut self, message: &str, hint: &str) {
        self.line(&format!("Warning: {message} ({hint})"));
    }
}

impl<F: FnMut(&str) + Send> BuildLog for F {
    fn line(&mut self, line: &str) {
        self(line)
    }

    fn phase(&mut self, _phase: &str) {}
}

/// How a log is passed around: borrowed for the length of one call.
pub type Log<'a> = &'a mut dyn BuildLog;

/// Numbered phases ("provisioning 2/3 (shell)") count from 1, as a person reads them.
pub fn numbered(what: &str, index: usize, total: usize, kind: &str) -> String {
    if kind.is_empty() {
        format!("{what} {}/{total}", index + 1)
    } else {
        format!("{what} {}/{total} ({kind})", index + 1)
    }
}

/// Where a line a build prints came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// A command's standard output.
    Stdout,
    /// A command's standard error.
    Stderr,
    /// imgs itself, saying what a step does ("Uploading a => b"); a command never produces these.
    Status,
}

/// How a command ended, on whichever machine and through whichever communicator it ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(u32),
    /// Killed by a signal, named without the `SIG` prefix (`TERM`, `KILL`).
    Signaled {
        signal: String,
        core_dumped: bool,
    },
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
    }

    /// `status 3`, `signal KILL`: what follows "exited with" in a message.
    pub fn short(&self) -> String {
        match self {
            ExitStatus::Exited(code) => format!("status {code}"),
            ExitStatus::Signaled { signal, .. } => format!("signal {signal}"),
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exit status {code}"),
            ExitStatus::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by signal {signal}")?;
                if *core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closure_takes_lines_and_drops_phases() {
        let mut lines = Vec::new();
        {
            let mut collect = |l: &str| lines.push(l.to_string());
            let log: Log<'_> = &mut collect;
            log.phase("booting");
            log.line("hello");
        }
        assert_eq!(lines, ["hello"]);
    }

    #[test]
    fn numbered_phases_count_from_one() {
        assert_eq!(
            numbered("provisioning", 1, 3, "shell"),
            "provisioning 2/3 (shell)"
        );
        assert_eq!(numbered("post-processing", 0, 1, ""), "post-processing 1/1");
    }
}
