//! The `imgs` binary: run the command line, print what it produced, exit with its code.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cwd = match std::env::current_dir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: cannot read the current directory: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = imgs::run_live(std::env::args_os(), cwd);
    // A closed pipe (`imgs graph | head`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = std::io::stderr().write_all(outcome.stderr.as_bytes());
    ExitCode::from(outcome.code)
}
