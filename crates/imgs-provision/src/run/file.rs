//! The file provisioner: copy files and directories to or from the machine.

use crate::communicator::{Communicator, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::{Direction, FileSettings};

pub(super) async fn run(
    comm: &dyn Communicator,
    settings: &FileSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    match settings.direction {
        Direction::Upload => upload(comm, settings, output).await,
        Direction::Download => download(comm, settings, output).await,
    }
}

async fn upload(
    comm: &dyn Communicator,
    settings: &FileSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let destination = &settings.destination;
    for source in &settings.local_sources {
        if let Err(err) = std::fs::metadata(&source.path) {
            return Err(ProvisionError::Local {
                action: "upload",
                path: source.written.clone(),
                reason: io_reason(&err),
            });
        }
        output(
            Stream::Status,
            &format!("Uploading {} => {destination}", source.written),
        );
        comm.upload(&source.path, destination)
            .await
            .map_err(|err| {
                ProvisionError::communicator(
                    format!("upload `{}` to `{destination}`", source.written),
                    err,
                )
            })?;
    }
    Ok(())
}

async fn download(
    comm: &dyn Communicator,
    settings: &FileSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    // The communicator creates the destination's directory, as Packer does for each source.
    let local = &settings.local_destination;
    for source in &settings.sources {
        output(
            Stream::Status,
            &format!("Downloading {source} => {}", local.written),
        );
        comm.download(source, &local.path).await.map_err(|err| {
            ProvisionError::communicator(format!("download `{source}` to `{}`", local.written), err)
        })?;
    }
    Ok(())
}

/// An I/O error in words, without the OS error number.
pub(super) fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "it does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let text = err.to_string();
            match text.find(" (os error") {
                Some(end) => text[..end].to_string(),
                None => text,
            }
        }
    }
}
