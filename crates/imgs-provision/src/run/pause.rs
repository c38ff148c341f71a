//! `sleep` and `breakpoint`: waiting, for a time or for a person at the terminal.

use std::io::BufRead as _;
use std::time::Duration;

use crate::communicator::{OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::BreakpointSettings;

/// Waits `duration`; the step's cancellation stops the wait, as everything else.
pub(super) async fn sleep(duration: Duration) -> Result<(), ProvisionError> {
    tokio::time::sleep(duration).await;
    Ok(())
}

/// Says that the build pauses, with the note, and waits for enter on the controlling terminal. Packer
/// asks on the terminal too, not on standard input, so a build whose input is a pipe still pauses.
pub(super) async fn breakpoint(
    settings: &BreakpointSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let with_note = if settings.note.is_empty() {
        String::new()
    } else {
        format!(" with note \"{}\"", settings.note)
    };
    if settings.disable {
        output(
            Stream::Status,
            &format!("Breakpoint provisioner{with_note} disabled; continuing..."),
        );
        return Ok(());
    }
    output(
        Stream::Status,
        &format!("Pausing at breakpoint provisioner{with_note}."),
    );
    let terminal = std::fs::File::open("/dev/tty").map_err(|_| no_terminal())?;
    output(Stream::Status, "Press enter to continue.");
    // A blocking read on a thread of its own: cancelling the step drops the wait, and the thread
    // ends with the process (or when enter is pressed).
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(terminal)
            .read_line(&mut line)
            .map(|_| line)
    });
    match line.await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(no_terminal()),
    }
}

fn no_terminal() -> ProvisionError {
    ProvisionError::LocalCommand {
        message: "Error asking for input: no available tty".to_string(),
        hint: Some(
            "a breakpoint waits for enter on the terminal imgs runs in; run the build from a \
             terminal, or set `\"disable\": true` on the breakpoint"
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_a_terminal_the_breakpoint_fails_with_packers_words() {
        let err = super::no_terminal();
        insta::assert_snapshot!(format!("{err}\n{}", err.hint().unwrap()), @r#"
        Error asking for input: no available tty
        a breakpoint waits for enter on the terminal imgs runs in; run the build from a terminal, or set `"disable": true` on the breakpoint
        "#);
    }
}
