//! Images.lock before a plan or build: what is missing or stale is locked first (or, with
//! `--locked`/`--offline`, refused), as cargo settles Cargo.lock before it builds.

use imgs_ops::{Context, Failure, Outcome};

use crate::cli::Command;

/// The `Locking` lines for stderr, or the outcome of a refused lock.
pub(crate) fn settle(cx: &Context, command: &Command, name: &str) -> Result<String, Outcome> {
    let options = match command {
        Command::Plan(args) => Some(args.lock_options()),
        Command::Build(args) => args.lock_options(),
        _ => None,
    };
    let Some(options) = options else {
        return Ok(String::new());
    };
    imgs_ops::settle_lock(cx, &options).map_err(|failure| match failure {
        Failure::Input(diagnostics) => Outcome {
            code: 2,
            stdout: String::new(),
            stderr: imgs_report::render_diagnostics(&diagnostics, name),
        },
        Failure::Other(message) | Failure::Locked { message, .. } => Outcome {
            code: 1,
            stdout: String::new(),
            stderr: format!("error: {message}\n"),
        },
    })
}
