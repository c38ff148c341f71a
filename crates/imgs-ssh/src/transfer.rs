//! Files over SFTP, in large pipelined chunks, with their permission bits.
//!
//! Where things land follows Packer's file provisioner (see [`crate::SshSession::upload`]); the
//! destination directory of a copy must exist, as with Packer, but directories inside the copied tree
//! are created.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use russh::client::Handle;
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connect::AcceptAnyHostKey;
use crate::error::SshError;

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

/// The last component of a `/`-separated path, ignoring trailing slashes.
fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

fn has_trailing_slash(path: &Path) -> bool {
    path.as_os_str().as_encoded_bytes().ends_with(b"/")
}

/// `dir` + `/` + `name`, without doubling the slash.
fn remote_join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn local_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SshError {
    let path = path.to_path_buf();
    move |err| SshError::Local {
        action,
        path,
        reason: io_reason(&err),
    }
}

/// "no such file or directory" rather than "No such file or directory (os error 2)".
fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    lowercase_first(text)
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

/// Where an upload of `local` to `remote` puts the file or the top directory, and whether that top
/// directory is created (it is not when only the contents of `local/` are copied).
pub(crate) fn upload_root(local: &Path, is_dir: bool, remote: &str) -> (String, bool) {
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_dir {
        if has_trailing_slash(local) || name.is_empty() {
            (remote.to_string(), false)
        } else {
            (remote_join(remote, &name), true)
        }
    } else if remote.ends_with('/') {
        (remote_join(remote, &name), false)
    } else {
        (remote.to_string(), false)
    }
}

pub(crate) async fn upload(sftp: &SftpSession, local: &Path, remote: &str) -> Result<(), SshError> {
    let metadata = std::fs::metadata(local).map_err(local_error("read", local))?;
    let (root, create_root) = upload_root(local, metadata.is_dir(), remote);
    if !metadata.is_dir() {
        return upload_file(sftp, local, &root, metadata.permissions().mode()).await;
    }
    if create_root {
        make_remote_dir(sftp, &root, metadata.permissions().mode()).await?;
    }
    let walk = walkdir::WalkDir::new(local)
        .min_depth(1)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walk {
        let entry = entry.map_err(|err| SshError::Local {
            action: "read",
            path: err.path().unwrap_or(local).to_path_buf(),
            reason: err.io_error().map_or_else(|| err.to_string(), io_reason),
        })?;
        let relative = entry.path().strip_prefix(local).unwrap_or(entry.path());
        let relative = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let target = remote_join(&root, &relative);
        let metadata = entry.metadata().map_err(|err| SshError::Local {
            action: "read",
            path: entry.path().to_path_buf(),
            reason: err.io_error().map_or_else(|| err.to_string(), io_reason),
        })?;
        let mode = metadata.permissions().mode();
        if metadata.is_dir() {
            make_remote_dir(sftp, &target, mode).await?;
        } else {
            upload_file(sftp, entry.path(), &target, mode).await?;
        }
    }
    Ok(())
}

/// Creates `path` unless a directory is already there, then gives it `mode` (as Packer does).
async fn make_remote_dir(sftp: &SftpSession, path: &str, mode: u32) -> Result<(), SshError> {
    if let Err(err) = sftp.create_dir(path).await {
        let is_dir = sftp
            .metadata(path)
            .await
            .is_ok_and(|existing| existing.is_dir());
        if !is_dir {
            return Err(remote_error("create the directory", path)(err));
        }
    }
    set_remote_mode(sftp, path, mode).await
}

async fn set_remote_mode(sftp: &SftpSession, path: &str, mode: u32) -> Result<(), SshError> {
    let attributes = FileAttributes {
        permissions: Some(mode & 0o7777),
        ..FileAttributes::empty()
    };
    sftp.set_metadata(path, attributes)
        .await
        .map_err(remote_error("set the mode of", path))
}

async fn upload_file(
    sftp: &SftpSession,
    local: &Path,
    remote: &str,
    mode: u32,
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
    set_remote_mode(sftp, remote, mode).await
}

fn io_remote(action: &'static str, path: &str) -> impl FnOnce(std::io::Error) -> SshError {
    let path = path.to_string();
    move |err| SshError::Remote {
        action,
        path,
        reason: io_reason(&err),
    }
}

pub(crate) async fn download(
    sftp: &SftpSession,
    remote: &str,
    local: &Path,
) -> Result<(), SshError> {
    let metadata = sftp
        .metadata(remote)
        .await
        .map_err(remote_error("read", remote))?;
    let name = base_name(remote);
    if !metadata.is_dir() {
        let target = if has_trailing_slash(local) || local.is_dir() {
            local.join(name)
        } else {
            local.to_path_buf()
        };
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(local_error("create the directory", parent))?;
        }
        return download_file(sftp, remote, &target, metadata.permissions.unwrap_or(0o644)).await;
    }

    let root = if remote.ends_with('/') || name.is_empty() {
        local.to_path_buf()
    } else {
        local.join(name)
    };
    // Directories are walked with an explicit list rather than recursion: async recursion needs boxing
    // and a deep tree would grow the stack.
    let mut pending: Vec<(String, PathBuf, u32)> = vec![(
        remote.to_string(),
        root,
        metadata.permissions.unwrap_or(0o755),
    )];
    while let Some((remote_dir, local_dir, mode)) = pending.pop() {
        std::fs::create_dir_all(&local_dir)
            .map_err(local_error("create the directory", &local_dir))?;
        let entries = sftp
            .read_dir(remote_dir.as_str())
            .await
            .map_err(remote_error("list", &remote_dir))?;
        for entry in entries {
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let remote_path = remote_join(&remote_dir, &name);
            let local_path = local_dir.join(&name);
            let mut attributes = entry.metadata();
            if attributes.is_symlink() {
                attributes = sftp
                    .metadata(remote_path.as_str())
                    .await
                    .map_err(remote_error("read", &remote_path))?;
            }
            let entry_mode = attributes.permissions.unwrap_or(0o644);
            if attributes.is_dir() {
                pending.push((remote_path, local_path, entry_mode));
            } else {
                download_file(sftp, &remote_path, &local_path, entry_mode).await?;
            }
        }
        // After the files, so a directory without write permission can still be filled.
        set_local_mode(&local_dir, mode)?;
    }
    Ok(())
}

async fn download_file(
    sftp: &SftpSession,
    remote: &str,
    local: &Path,
    mode: u32,
) -> Result<(), SshError> {
    let mut source = sftp
        .open(remote)
        .await
        .map_err(remote_error("open", remote))?;
    let mut target = tokio::fs::File::create(local)
        .await
        .map_err(local_error("create", local))?;
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = source
            .read(&mut buffer)
            .await
            .map_err(io_remote("read", remote))?;
        if n == 0 {
            break;
        }
        target
            .write_all(&buffer[..n])
            .await
            .map_err(local_error("write", local))?;
    }
    target.flush().await.map_err(local_error("write", local))?;
    drop(target);
    set_local_mode(local, mode)
}

fn set_local_mode(path: &Path, mode: u32) -> Result<(), SshError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
        .map_err(local_error("set the mode of", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_goes_inside_the_destination_unless_its_name_ends_with_a_slash() {
        assert_eq!(
            upload_root(Path::new("files/etc"), true, "/tmp"),
            ("/tmp/etc".to_string(), true)
        );
        assert_eq!(
            upload_root(Path::new("files/etc/"), true, "/tmp"),
            ("/tmp".to_string(), false)
        );
        assert_eq!(
            upload_root(Path::new("files/etc"), true, "/tmp/"),
            ("/tmp/etc".to_string(), true)
        );
    }

    #[test]
    fn a_file_goes_inside_the_destination_when_that_ends_with_a_slash() {
        assert_eq!(
            upload_root(Path::new("scripts/run.sh"), false, "/opt/run"),
            ("/opt/run".to_string(), false)
        );
        assert_eq!(
            upload_root(Path::new("scripts/run.sh"), false, "/opt/"),
            ("/opt/run.sh".to_string(), false)
        );
    }

    #[test]
    fn os_error_numbers_are_left_out() {
        let err = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&err), "no such file or directory");
    }

    #[test]
    fn base_names_ignore_trailing_slashes() {
        assert_eq!(base_name("/var/log/"), "log");
        assert_eq!(base_name("notes.txt"), "notes.txt");
        assert_eq!(remote_join("/a/", "b"), "/a/b");
        assert_eq!(remote_join("/a", "b/c"), "/a/b/c");
    }
}
