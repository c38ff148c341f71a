//! Files over the SCP protocol, as Packer's default transfer method moves them: a remote `scp -t`
//! (sink) receives, a remote `scp -f` (source) sends, and this side speaks the protocol's records.
//!
//! The remote scp decides where things land and which mode they get, so the results are Packer's by
//! construction, including the surprising ones: a directory's contents (`dir/`) sent to a destination
//! that does not exist land *on* it, each file in turn, because a sink whose target is not a
//! directory writes every record to the target itself. Entries are sent in the order the local
//! directory lists them, as Packer sends them, since in such a case the last one wins. New files get
//! their mode less the remote umask, existing files keep theirs, new directories get exactly theirs.
//!
//! Protocol, per record: the sender writes `C<mode> <size> <name>\n` then the bytes and a zero byte,
//! or `D<mode> 0 <name>\n` … `E\n` around a directory's entries; the other side answers each step
//! with a zero byte, or with 1 (or 2, fatal) and a message line.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use russh::client::{Handle, Msg};
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connect::AcceptAnyHostKey;
use crate::error::{SshError, local_error};
use crate::remote_path;

/// Bytes read from a local file per channel write: large, so the channel always has data to send.
const CHUNK: usize = 4 * 1024 * 1024;

/// SSH's extended-data type for stderr (RFC 4254, section 5.2).
const EXTENDED_DATA_STDERR: u32 = 1;

/// The exit status a shell gives a command it cannot find.
const COMMAND_NOT_FOUND: u32 = 127;

/// Uploads `local` (a file or a directory, as `is_dir` says) to `remote` by the file provisioner's
/// rules for scp: a directory goes through `scp -rt remote`, wrapped in a record of its own unless
/// its path ends with `/`; a file goes to `remote` (or into it, when that ends with `/`) through
/// `scp -t` on its parent directory.
pub(crate) async fn upload(
    handle: &Handle<AcceptAnyHostKey>,
    address: &str,
    local: &Path,
    is_dir: bool,
    remote: &str,
) -> Result<(), SshError> {
    if is_dir {
        // Packer passes the destination to the remote shell as written.
        let mut scp = RemoteScp::start(handle, address, &format!("scp -rt {remote}")).await?;
        scp.expect_ok().await?;
        let top = if has_trailing_slash(local) {
            None
        } else {
            let mode = std::fs::metadata(local)
                .map_err(local_error("read", local))?
                .permissions()
                .mode();
            Some((local_base_name(local), mode))
        };
        send_tree(&mut scp, local, top).await?;
        return scp.finish().await;
    }
    let target = crate::transfer::file_target(local, remote);
    let mode = std::fs::metadata(local)
        .map_err(local_error("read", local))?
        .permissions()
        .mode();
    let command = format!("scp -t {}", escape_spaces(&remote_path::parent(&target)));
    let mut scp = RemoteScp::start(handle, address, &command).await?;
    scp.expect_ok().await?;
    send_file(&mut scp, local, remote_path::base_name(&target), mode).await?;
    scp.finish().await
}

/// Copies one file to exactly `remote` and then gives it exactly `mode`, whatever was there before,
/// in one remote command: what scripts need, which must be executable whatever the umask.
pub(crate) async fn upload_file_with_mode(
    handle: &Handle<AcceptAnyHostKey>,
    address: &str,
    local: &Path,
    remote: &str,
    mode: u32,
) -> Result<(), SshError> {
    let command = format!(
        "scp -t {} && chmod {:04o} {}",
        escape_spaces(&remote_path::parent(remote)),
        mode & 0o7777,
        escape_spaces(remote)
    );
    let mut scp = RemoteScp::start(handle, address, &command).await?;
    scp.expect_ok().await?;
    send_file(&mut scp, local, remote_path::base_name(remote), mode).await?;
    scp.finish().await
}

/// Downloads one remote file into `out` through `scp -f`; a directory is refused.
pub(crate) async fn download_file(
    handle: &Handle<AcceptAnyHostKey>,
    address: &str,
    remote: &str,
    out: &mut tokio::fs::File,
    local: &Path,
) -> Result<(), SshError> {
    let command = format!("scp -f {}", quote_if_spaced(remote));
    let mut scp = RemoteScp::start(handle, address, &command).await?;
    scp.send(b"\0").await?;
    let Some(record) = scp.record().await? else {
        return scp.finish().await;
    };
    match record {
        Record::File { size, .. } => {
            scp.send(b"\0").await?;
            scp.receive_into(size, out, local).await?;
            out.flush().await.map_err(local_error("write", local))?;
            scp.expect_ok().await?;
            scp.send(b"\0").await?;
            scp.finish().await
        }
        Record::Dir { .. } => Err(SshError::Scp {
            message: format!("{remote}: is a directory (name it with a trailing `/`)"),
        }),
        Record::End => Err(protocol_error("an end of directory before any file")),
    }
}

/// Downloads what `scp -rf remote` sends into `local`: a directory arrives as a directory of its
/// own name (so `dir/` lands in `local/dir`, as with Packer), files named by a wildcard each land in
/// `local`. New files and directories get the remote mode less the local umask.
pub(crate) async fn download_dir(
    handle: &Handle<AcceptAnyHostKey>,
    address: &str,
    remote: &str,
    local: &Path,
) -> Result<(), SshError> {
    // Packer hands the path to the remote shell as written, which expands its wildcards.
    let mut scp = RemoteScp::start(handle, address, &format!("scp -rf {remote}")).await?;
    let mut current = local.to_path_buf();
    let mut depth = 0usize;
    loop {
        scp.send(b"\0").await?;
        let Some(record) = scp.record().await? else {
            break;
        };
        match record {
            Record::End => {
                if depth == 0 {
                    // Closes a directory that was never opened; Packer takes it as the end, too.
                    scp.send(b"\0").await?;
                    break;
                }
                depth -= 1;
                current.pop();
            }
            Record::Dir { mode, name } => {
                current.push(name);
                depth += 1;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(mode)
                    .create(&current)
                    .map_err(local_error("create the directory", &current))?;
            }
            Record::File { mode, size, name } => {
                let path = current.join(name);
                let mut file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(mode)
                    .open(&path)
                    .await
                    .map_err(local_error("create", &path))?;
                scp.send(b"\0").await?;
                scp.receive_into(size, &mut file, &path).await?;
                file.flush().await.map_err(local_error("write", &path))?;
                scp.expect_ok().await?;
            }
        }
    }
    scp.finish().await
}

/// What a source announces.
#[derive(Debug, PartialEq, Eq)]
enum Record {
    File { mode: u32, size: u64, name: String },
    Dir { mode: u32, name: String },
    End,
}

fn parse_record(line: &str) -> Result<Record, SshError> {
    let bad = || protocol_error(&format!("an unreadable record `{line}`"));
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    if kind == "E" {
        return Ok(Record::End);
    }
    let (mode, rest) = rest.split_once(' ').ok_or_else(bad)?;
    let (size, name) = rest.split_once(' ').ok_or_else(bad)?;
    let mode = u32::from_str_radix(mode, 8).map_err(|_| bad())?;
    let size: u64 = size.parse().map_err(|_| bad())?;
    // A name that climbs out of the destination would let the machine write anywhere here.
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(protocol_error(&format!("an unsafe file name `{name}`")));
    }
    let name = name.to_string();
    match kind {
        "C" => Ok(Record::File { mode, size, name }),
        "D" => Ok(Record::Dir { mode, name }),
        _ => Err(bad()),
    }
}

/// Sends the entries of `dir`, inside a directory record named `top` when given. Subdirectories are
/// walked with an explicit stack rather than recursion: async recursion needs boxing and a deep tree
/// would grow the stack.
async fn send_tree(
    scp: &mut RemoteScp,
    dir: &Path,
    top: Option<(String, u32)>,
) -> Result<(), SshError> {
    let wrapped = top.is_some();
    if let Some((name, mode)) = top {
        scp.record_line(&format!("D{:04o} 0 {name}\n", mode & 0o777))
            .await?;
    }
    let mut stack = vec![list_dir(dir)?.into_iter()];
    while let Some(entries) = stack.last_mut() {
        let Some(path) = entries.next() else {
            stack.pop();
            if wrapped || !stack.is_empty() {
                scp.record_line("E\n").await?;
            }
            continue;
        };
        let name = local_base_name(&path);
        let own = std::fs::symlink_metadata(&path).map_err(local_error("read", &path))?;
        // A link to a directory is sent as a directory, with the link's own mode, as Packer does.
        let is_dir = own.is_dir()
            || (own.is_symlink()
                && std::fs::metadata(&path)
                    .map_err(local_error("read", &path))?
                    .is_dir());
        if is_dir {
            scp.record_line(&format!(
                "D{:04o} 0 {name}\n",
                own.permissions().mode() & 0o777
            ))
            .await?;
            stack.push(list_dir(&path)?.into_iter());
        } else {
            // Packer sends a linked file's contents with mode 0644.
            let mode = if own.is_file() {
                own.permissions().mode()
            } else {
                0o644
            };
            send_file(scp, &path, &name, mode).await?;
        }
    }
    Ok(())
}

/// A directory's entries in the order the file system lists them, which is the order Packer sends
/// them in.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, SshError> {
    let entries = std::fs::read_dir(dir).map_err(local_error("read", dir))?;
    entries
        .map(|entry| entry.map(|e| e.path()).map_err(local_error("read", dir)))
        .collect()
}

async fn send_file(
    scp: &mut RemoteScp,
    local: &Path,
    name: &str,
    mode: u32,
) -> Result<(), SshError> {
    let mut source = tokio::fs::File::open(local)
        .await
        .map_err(local_error("open", local))?;
    let size = source
        .metadata()
        .await
        .map_err(local_error("read", local))?
        .len();
    scp.record_line(&format!("C{:04o} {size} {name}\n", mode & 0o777))
        .await?;
    let mut left = size;
    while left > 0 {
        let mut chunk = vec![0; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
        let n = source
            .read(&mut chunk)
            .await
            .map_err(local_error("read", local))?;
        if n == 0 {
            return Err(SshError::Local {
                action: "read",
                path: local.to_path_buf(),
                reason: "it became shorter while it was being copied".to_string(),
            });
        }
        chunk.truncate(n);
        scp.send_owned(chunk).await?;
        left -= n as u64;
    }
    scp.send(b"\0").await?;
    scp.expect_ok().await
}

/// One remote scp process: its stdin to write records to, its stdout to read answers from, its
/// stderr and exit status kept for errors.
struct RemoteScp {
    writer: ChannelWriteHalf<Msg>,
    reader: ChannelReadHalf,
    /// Bytes of stdout received and not consumed yet, from `start`.
    received: Vec<u8>,
    start: usize,
    stderr: Vec<u8>,
    exit_status: Option<u32>,
    /// The channel is closed: nothing more will arrive.
    closed: bool,
}

impl RemoteScp {
    async fn start(
        handle: &Handle<AcceptAnyHostKey>,
        address: &str,
        command: &str,
    ) -> Result<RemoteScp, SshError> {
        let lost = |err: russh::Error| SshError::Connection {
            address: address.to_string(),
            reason: crate::connect::connection_error(&err),
        };
        let channel = handle.channel_open_session().await.map_err(lost)?;
        channel.exec(true, command).await.map_err(lost)?;
        let (reader, writer) = channel.split();
        Ok(RemoteScp {
            writer,
            reader,
            received: Vec::new(),
            start: 0,
            stderr: Vec::new(),
            exit_status: None,
            closed: false,
        })
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SshError> {
        self.send_owned(bytes.to_vec()).await
    }

    async fn send_owned(&mut self, bytes: Vec<u8>) -> Result<(), SshError> {
        match self.writer.data_bytes(bytes).await {
            Ok(()) => Ok(()),
            // The remote scp has gone: what it said on its way out explains why.
            Err(_) => Err(self.ended_early().await),
        }
    }

    /// Sends a record line and waits for the answer.
    async fn record_line(&mut self, line: &str) -> Result<(), SshError> {
        self.send(line.as_bytes()).await?;
        self.expect_ok().await
    }

    /// Waits for one more message; false once the channel is closed.
    async fn receive(&mut self) -> bool {
        if self.closed {
            return false;
        }
        match self.reader.wait().await {
            None | Some(ChannelMsg::Close) => {
                self.closed = true;
                false
            }
            Some(ChannelMsg::Data { data }) => {
                if self.start == self.received.len() {
                    self.received.clear();
                    self.start = 0;
                }
                self.received.extend_from_slice(&data);
                true
            }
            Some(ChannelMsg::ExtendedData { data, ext }) => {
                if ext == EXTENDED_DATA_STDERR {
                    self.stderr.extend_from_slice(&data);
                }
                true
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                self.exit_status = Some(exit_status);
                true
            }
            Some(_) => true,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.received[self.start..]
    }

    /// The next byte of stdout; `None` when the remote scp has ended.
    async fn byte(&mut self) -> Option<u8> {
        while self.pending().is_empty() {
            if !self.receive().await {
                return None;
            }
        }
        let byte = self.received[self.start];
        self.start += 1;
        Some(byte)
    }

    /// The next line of stdout without its newline; `None` when the remote scp has ended first.
    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.pending().iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&self.pending()[..at]).into_owned();
                self.start += at + 1;
                return Some(line);
            }
            if !self.receive().await {
                return None;
            }
        }
    }

    /// Reads the answer to what was sent: a zero byte, or an error with the remote scp's message.
    async fn expect_ok(&mut self) -> Result<(), SshError> {
        match self.byte().await {
            Some(0) => Ok(()),
            Some(1 | 2) => {
                let message = self.line().await.unwrap_or_default();
                Err(scp_error(&message))
            }
            Some(other) => {
                // Not the protocol: a login script printing text, say. Show the whole line.
                let rest = self.line().await.unwrap_or_default();
                let text = format!("{}{rest}", char::from(other));
                Err(protocol_error(&format!("`{text}` where an answer was due")))
            }
            None => Err(self.ended_without_answer().await),
        }
    }

    /// The next record a source sends; `None` when it has nothing more to send.
    async fn record(&mut self) -> Result<Option<Record>, SshError> {
        let Some(line) = self.line().await else {
            return Ok(None);
        };
        match line.as_bytes().first() {
            Some(1 | 2) => Err(scp_error(&line[1..])),
            _ => parse_record(&line).map(Some),
        }
    }

    async fn receive_into(
        &mut self,
        size: u64,
        out: &mut tokio::fs::File,
        local: &Path,
    ) -> Result<(), SshError> {
        let mut left = size;
        while left > 0 {
            if self.pending().is_empty() && !self.receive().await {
                return Err(self.ended_without_answer().await);
            }
            let available = self.pending();
            let n = available
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            out.write_all(&available[..n])
                .await
                .map_err(local_error("write", local))?;
            self.start += n;
            left -= n as u64;
        }
        Ok(())
    }

    /// Ends stdin and waits for the remote scp to exit; a failure exit is an error.
    async fn finish(mut self) -> Result<(), SshError> {
        let _ = self.writer.eof().await;
        while self.receive().await {}
        match self.exit_status {
            Some(0) => Ok(()),
            _ => Err(self.ended_without_answer().await),
        }
    }

    /// Why the remote scp stopped answering, once the channel is closed.
    async fn ended_without_answer(&mut self) -> SshError {
        while self.receive().await {}
        let stderr = String::from_utf8_lossy(&self.stderr);
        let said = stderr.lines().rev().find(|l| !l.trim().is_empty());
        match (self.exit_status, said) {
            (Some(COMMAND_NOT_FOUND), _) => SshError::ScpMissing,
            (_, Some(line)) => scp_error(line),
            (Some(status), None) => SshError::Scp {
                message: format!("it exited with status {status} without saying why"),
            },
            (None, None) => SshError::Scp {
                message: "it ended without an exit status".to_string(),
            },
        }
    }

    /// When sending fails because the remote scp has exited, the reason it gave.
    async fn ended_early(&mut self) -> SshError {
        if !self.pending().is_empty() && self.byte().await.is_some_and(|b| b == 1 || b == 2) {
            return scp_error(&self.line().await.unwrap_or_default());
        }
        self.ended_without_answer().await
    }
}

/// The remote scp's message, without the `scp: ` it starts with.
fn scp_error(message: &str) -> SshError {
    let message = message.trim_end();
    SshError::Scp {
        message: message.strip_prefix("scp: ").unwrap_or(message).to_string(),
    }
}

fn protocol_error(what: &str) -> SshError {
    SshError::Scp {
        message: format!("protocol error: got {what}"),
    }
}

fn has_trailing_slash(path: &Path) -> bool {
    path.as_os_str().as_encoded_bytes().ends_with(b"/")
}

/// The last element of a local path, as the remote side will name it.
fn local_base_name(path: &Path) -> String {
    remote_path::base_name(&path.to_string_lossy()).to_string()
}

/// Spaces escaped for the remote shell, as Packer passes a file's target directory.
fn escape_spaces(path: &str) -> String {
    path.replace(' ', "\\ ")
}

/// A path with spaces in double quotes (`"` and `\` escaped), as Packer passes a file to download;
/// others as written, so the remote shell still expands `~`.
fn quote_if_spaced(path: &str) -> String {
    if path.contains(' ') {
        format!("\"{}\"", path.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_with_names_whole() {
        assert_eq!(
            parse_record("C0644 12 notes with spaces.txt").unwrap(),
            Record::File {
                mode: 0o644,
                size: 12,
                name: "notes with spaces.txt".into()
            }
        );
        assert_eq!(
            parse_record("D0750 0 sub").unwrap(),
            Record::Dir {
                mode: 0o750,
                name: "sub".into()
            }
        );
        assert_eq!(parse_record("E").unwrap(), Record::End);
    }

    #[test]
    fn names_that_leave_the_destination_are_refused() {
        insta::assert_snapshot!(parse_record("C0644 1 ../x").unwrap_err(), @"the remote scp failed: protocol error: got an unsafe file name `../x`");
        insta::assert_snapshot!(parse_record("D0755 0 ..").unwrap_err(), @"the remote scp failed: protocol error: got an unsafe file name `..`");
        insta::assert_snapshot!(parse_record("X").unwrap_err(), @"the remote scp failed: protocol error: got an unreadable record `X`");
    }

    #[test]
    fn remote_messages_lose_their_prefix() {
        insta::assert_snapshot!(scp_error("scp: /srv/new: Not a directory\n"), @"the remote scp failed: /srv/new: Not a directory");
    }

    #[test]
    fn paths_reach_the_remote_shell_as_packer_passes_them() {
        assert_eq!(escape_spaces("/srv/my dir"), "/srv/my\\ dir");
        assert_eq!(quote_if_spaced("~/a.txt"), "~/a.txt");
        assert_eq!(quote_if_spaced("/a b/\"c\""), "\"/a b/\\\"c\\\"\"");
    }
}
