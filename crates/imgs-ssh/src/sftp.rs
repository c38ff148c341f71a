//! Files over SFTP, in large pipelined chunks, as Packer moves them with `ssh_file_transfer_method`
//! `sftp`: here this side does the file system work, so Packer's rules are followed step by step.
//!
//! A directory upload creates every directory of the copied tree, but never the destination a
//! directory's contents (`dir/`) are copied into, unless it is written with a trailing slash (Packer
//! compares the cleaned path of each directory with the destination as written, and only an exact
//! match is skipped). Every file and directory copied gets exactly its local permission bits.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use russh::client::Handle;
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connect::AcceptAnyHostKey;
use crate::error::{SshError, io_reason, local_error};
use crate::remote_path;

/// Bytes moved per read: large, so the SFTP client always has several write requests in flight.
const CHUNK: usize = 4 * 1024 * 1024;

pub(crate) async fn open_sftp(
    handle: &Handle<AcceptAnyHostKey>,
    address: &str,
) -> Result<SftpSession, SshError> {
    let failed = |reason: String| SshError::Connection {
        address: address.to_string(),
        reason: format!("cannot start SFTP: {reason}"),
    };
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| failed(e.to_string()))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| failed(e.to_string()))?;
    SftpSession::new(channel.into_stream())
        .await
        .map_err(|e| failed(e.to_string()))
}

/// An SFTP status reads "No such file: No such file" when shown whole; say it once.
fn sftp_reason(err: &russh_sftp::client::error::Error) -> String {
    match err {
        russh_sftp::client::error::Error::Status(status) if !status.error_message.is_empty() => {
            lowercase_first(&status.error_message)
        }
        russh_sftp::client::error::Error::Status(status) => {
            lowercase_first(&status.status_code.to_string())
        }
        other => other.to_string(),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn remote_error(
    action: &'static str,
    path: &str,
) -> impl FnOnce(russh_sftp::client::error::Error) -> SshError {
    let path = path.to_string();
    move |err| SshError::Remote {
        action,
        path,
        reason: sftp_reason(&err),
    }
}

fn io_remote(action: &'static str, path: &str) -> impl FnOnce(std::io::Error) -> SshError {
    let path = path.to_string();
    move |err| SshError::Remote {
        action,
        path,
        reason: io_reason(&err),
    }
}

/// Uploads the directory `local` to `remote`: into `remote/<name of local>`, or, when `local` ends
/// with `/`, into `remote` itself (which must then exist, unless `remote` ends with `/` too).
pub(crate) async fn upload_dir(
    sftp: &SftpSession,
    local: &Path,
    remote: &str,
) -> Result<(), SshError> {
    let local_text = local.to_string_lossy();
    let root = if local_text.ends_with('/') {
        remote.to_string()
    } else {
        remote_path::join(remote, remote_path::base_name(&local_text))
    };
    // Links are not followed, as Packer walks: a link is copied as the file it points to.
    let walk = walkdir::WalkDir::new(local)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walk {
        let entry = entry.map_err(|err| SshError::Local {
            action: "read",
            path: err.path().unwrap_or(local).to_path_buf(),
            reason: err.io_error().map_or_else(|| err.to_string(), io_reason),
        })?;
        let relative = entry.path().strip_prefix(local).unwrap_or(entry.path());
        let target = remote_path::join(&root, &relative.to_string_lossy());
        if target == remote {
            continue;
        }
        let own = entry.metadata().map_err(|err| SshError::Local {
            action: "read",
            path: entry.path().to_path_buf(),
            reason: err.io_error().map_or_else(|| err.to_string(), io_reason),
        })?;
        let mode = own.permissions().mode() & 0o777;
        if own.is_dir() {
            make_dir(sftp, &target, mode).await?;
        } else {
            // A link's target keeps the mode the server gives new files, as with Packer.
            let mode = own.is_file().then_some(mode);
            upload_file(sftp, entry.path(), &target, mode).await?;
        }
    }
    Ok(())
}

/// Creates `path` unless a directory is already there (a link to one does not count), then gives
/// it `mode`.
async fn make_dir(sftp: &SftpSession, path: &str, mode: u32) -> Result<(), SshError> {
    if let Err(err) = sftp.create_dir(path).await {
        let is_dir = sftp
            .symlink_metadata(path)
            .await
            .is_ok_and(|existing| existing.is_dir());
        if !is_dir {
            return Err(remote_error("create the directory", path)(err));
        }
    }
    set_mode(sftp, path, mode).await
}

async fn set_mode(sftp: &SftpSession, path: &str, mode: u32) -> Result<(), SshError> {
    let attributes = FileAttributes {
        permissions: Some(mode),
        ..FileAttributes::empty()
    };
    sftp.set_metadata(path, attributes)
        .await
        .map_err(remote_error("set the mode of", path))
}

/// Copies `local` to exactly `remote`, replacing what is there, then gives it `mode` if one is given.
pub(crate) async fn upload_file(
    sftp: &SftpSession,
    local: &Path,
    remote: &str,
    mode: Option<u32>,
) -> Result<(), SshError> {
    let mut source = tokio::fs::File::open(local)
        .await
        .map_err(local_error("open", local))?;
    let flags = OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE;
    let mut target = sftp
        .open_with_flags(remote, flags)
        .await
        .map_err(remote_error("create", remote))?;
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = source
            .read(&mut buffer)
            .await
            .map_err(local_error("read", local))?;
        if n == 0 {
            break;
        }
        target
            .write_all(&buffer[..n])
            .await
            .map_err(io_remote("write", remote))?;
    }
    // Waits for the server to acknowledge every write still in flight.
    target
        .shutdown()
        .await
        .map_err(io_remote("write", remote))?;
    match mode {
        Some(mode) => set_mode(sftp, remote, mode).await,
        None => Ok(()),
    }
}

/// Copies the remote file `remote` into `out`.
pub(crate) async fn download_file(
    sftp: &SftpSession,
    remote: &str,
    out: &mut tokio::fs::File,
    local: &Path,
) -> Result<(), SshError> {
    let mut source = sftp
        .open(remote)
        .await
        .map_err(remote_error("open", remote))?;
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = source
            .read(&mut buffer)
            .await
            .map_err(io_remote("read", remote))?;
        if n == 0 {
            break;
        }
        out.write_all(&buffer[..n])
            .await
            .map_err(local_error("write", local))?;
    }
    out.flush().await.map_err(local_error("write", local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_numbers_are_left_out() {
        let err = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&err), "no such file or directory");
    }
}
