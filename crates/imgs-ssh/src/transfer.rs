//! Where the file provisioner's copies land: Packer 1.6.6's rules, which depend on trailing slashes
//! and on the transfer method (see [`crate::SshSession::upload`] and [`crate::SshSession::download`]).
//! The rules common to both methods are here; the rest is the remote scp's doing ([`crate::scp`]) or
//! follows Packer's SFTP walk ([`crate::sftp`]).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::error::{SshError, local_error};
use crate::{FileTransfer, SshSession, remote_path, scp, sftp};

pub(crate) async fn upload(
    session: &SshSession,
    local: &Path,
    remote: &str,
) -> Result<(), SshError> {
    let metadata = std::fs::metadata(local).map_err(local_error("read", local))?;
    match session.file_transfer {
        FileTransfer::Scp => {
            scp::upload(
                &session.handle,
                &session.address,
                local,
                metadata.is_dir(),
                remote,
            )
            .await
        }
        FileTransfer::Sftp if metadata.is_dir() => {
            sftp::upload_dir(session.sftp().await?, local, remote).await
        }
        FileTransfer::Sftp => {
            let mode = metadata.permissions().mode() & 0o777;
            let target = file_target(local, remote);
            sftp::upload_file(session.sftp().await?, local, &target, Some(mode)).await
        }
    }
}

/// Where a file uploaded to `remote` goes: `remote`, or into it when that ends with `/` (the
/// destination's directory is not created either way).
pub(crate) fn file_target(local: &Path, remote: &str) -> String {
    if remote.ends_with('/') {
        let name = local.to_string_lossy();
        format!("{remote}{}", remote_path::base_name(&name))
    } else {
        remote.to_string()
    }
}

pub(crate) async fn upload_file_with_mode(
    session: &SshSession,
    local: &Path,
    remote: &str,
) -> Result<(), SshError> {
    let mode = std::fs::metadata(local)
        .map_err(local_error("read", local))?
        .permissions()
        .mode()
        & 0o7777;
    match session.file_transfer {
        FileTransfer::Scp => {
            scp::upload_file_with_mode(&session.handle, &session.address, local, remote, mode).await
        }
        FileTransfer::Sftp => {
            sftp::upload_file(session.sftp().await?, local, remote, Some(mode)).await
        }
    }
}

pub(crate) async fn download(
    session: &SshSession,
    remote: &str,
    local: &Path,
) -> Result<(), SshError> {
    // The directory created for the copy: `local` itself when it ends with `/` (a file then goes
    // into it under its own name, unless a trailing `/` or `*` says the source is several), else
    // the directory `local` is in.
    let (dir, target) = if !local.as_os_str().as_encoded_bytes().ends_with(b"/") {
        (local.parent(), local.to_path_buf())
    } else if !remote.ends_with('/') && !remote.ends_with('*') {
        (Some(local), local.join(remote_path::base_name(remote)))
    } else {
        (Some(local), local.to_path_buf())
    };
    if let Some(dir) = dir.filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(local_error("create the directory", dir))?;
    }
    // A directory (`dir/`) or a wildcard travels over scp whatever the method, as in Packer; the
    // remote shell expands the wildcard.
    if remote.ends_with('/') || remote.contains(['*', '?', '[']) {
        return scp::download_dir(&session.handle, &session.address, remote, &target).await;
    }
    // Opened before the copy starts, so a failed copy leaves it empty, as Packer does. It gets the
    // usual mode for new files, not the remote one.
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&target)
        .await
        .map_err(local_error("create", &target))?;
    match session.file_transfer {
        FileTransfer::Scp => {
            scp::download_file(&session.handle, &session.address, remote, &mut out, &target).await
        }
        FileTransfer::Sftp => {
            sftp::download_file(session.sftp().await?, remote, &mut out, &target).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_goes_inside_the_destination_when_that_ends_with_a_slash() {
        assert_eq!(
            file_target(Path::new("scripts/run.sh"), "/opt/run"),
            "/opt/run"
        );
        assert_eq!(
            file_target(Path::new("scripts/run.sh"), "/opt/"),
            "/opt/run.sh"
        );
    }
}
