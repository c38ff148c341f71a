//! Running one command: its output handed over line by line as it arrives, then how it ended.

use russh::ChannelMsg;
use russh::client::Handle;
use tokio_util::sync::CancellationToken;

use crate::connect::AcceptAnyHostKey;
use crate::error::SshError;

pub use imgs_log::{ExitStatus, Stream};

/// SSH's extended-data type for stderr (RFC 4254, section 5.2).
const EXTENDED_DATA_STDERR: u32 = 1;

pub(crate) async fn exec(
    handle: &Handle<AcceptAnyHostKey>,
    address: &str,
    cancel: &CancellationToken,
    command: &str,
    on_line: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<ExitStatus, SshError> {
    let lost = |err: russh::Error| SshError::Connection {
        address: address.to_string(),
        reason: crate::connect::connection_error(&err),
    };
    let mut channel = handle.channel_open_session().await.map_err(lost)?;
    channel.exec(true, command).await.map_err(lost)?;

    let mut stdout = LineSplitter::default();
    let mut stderr = LineSplitter::default();
    let mut status = None;
    loop {
        let message = tokio::select! {
            () = cancel.cancelled() => {
                let _ = channel.close().await;
                return Err(SshError::Cancelled);
            }
            message = channel.wait() => message,
        };
        match message {
            None | Some(ChannelMsg::Close) => break,
            Some(ChannelMsg::Data { data }) => {
                stdout.feed(&data, &mut |line| on_line(Stream::Stdout, line));
            }
            Some(ChannelMsg::ExtendedData { data, ext }) if ext == EXTENDED_DATA_STDERR => {
                stderr.feed(&data, &mut |line| on_line(Stream::Stderr, line));
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                status = Some(ExitStatus::Exited(exit_status));
            }
            Some(ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                ..
            }) => {
                let signal = match signal_name {
                    russh::Sig::Custom(name) => name,
                    known => format!("{known:?}"),
                };
                status = Some(ExitStatus::Signaled {
                    signal,
                    core_dumped,
                });
            }
            Some(_) => {}
        }
    }
    stdout.finish(&mut |line| on_line(Stream::Stdout, line));
    stderr.finish(&mut |line| on_line(Stream::Stderr, line));
    status.ok_or_else(|| SshError::NoExitStatus {
        command: command.to_string(),
    })
}

/// Cuts a byte stream into lines. A line may arrive in pieces and a piece may hold many lines; a
/// multi-byte character may be split between pieces, so decoding waits for the whole line.
#[derive(Default)]
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub(crate) fn feed(&mut self, bytes: &[u8], emit: &mut dyn FnMut(&str)) {
        let mut rest = bytes;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&rest[..newline]);
            emit_line(&self.pending, emit);
            self.pending.clear();
            rest = &rest[newline + 1..];
        }
        self.pending.extend_from_slice(rest);
    }

    /// The last line, when the output did not end with a newline.
    pub(crate) fn finish(&mut self, emit: &mut dyn FnMut(&str)) {
        if !self.pending.is_empty() {
            emit_line(&self.pending, emit);
            self.pending.clear();
        }
    }
}

fn emit_line(line: &[u8], emit: &mut dyn FnMut(&str)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    emit(&String::from_utf8_lossy(line));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pieces: &[&[u8]]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut splitter = LineSplitter::default();
        for piece in pieces {
            splitter.feed(piece, &mut |l| lines.push(l.to_string()));
        }
        splitter.finish(&mut |l| lines.push(l.to_string()));
        lines
    }

    #[test]
    fn lines_are_joined_across_pieces_and_split_within_them() {
        assert_eq!(
            split(&[b"one\ntw", b"o\nthree\n\nfour"]),
            ["one", "two", "three", "", "four"]
        );
    }

    #[test]
    fn carriage_returns_before_newlines_are_dropped() {
        assert_eq!(split(&[b"a\r\nb\r\n"]), ["a", "b"]);
    }

    #[test]
    fn characters_split_between_pieces_survive() {
        let text = "caf\u{e9}\n".as_bytes();
        assert_eq!(split(&[&text[..4], &text[4..]]), ["caf\u{e9}"]);
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert!(split(&[b""]).is_empty());
    }

    #[test]
    fn exit_statuses_read_well() {
        assert_eq!(ExitStatus::Exited(3).to_string(), "exit status 3");
        let killed = ExitStatus::Signaled {
            signal: "KILL".into(),
            core_dumped: false,
        };
        assert_eq!(killed.to_string(), "killed by signal KILL");
        assert!(!killed.success());
    }
}
