//! What the provisioners that stage files on the machine (Puppet, and the other configuration
//! management tools) do there: make a directory open to the SSH user, upload into it, run one
//! command with its output shown, remove the directory again. The commands are Packer's
//! ([`GuestCommands`]), so a machine sees what it would see from Packer.

use std::path::Path;

use imgs_ssh::remote_path;

use crate::communicator::{Communicator, ExitStatus, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::{GuestCommands, LocalPath};

pub(super) struct Guest<'a> {
    pub(super) comm: &'a dyn Communicator,
    pub(super) commands: GuestCommands,
    /// Open each directory made to everyone (`chmod 0777`), as most of Packer's provisioners do so
    /// that the SSH user can upload into a directory made with sudo (`ansible-local` does not).
    pub(super) open_directories: bool,
}

impl Guest<'_> {
    /// Runs `command`, its output shown as it comes; the exit status is the caller's to judge.
    pub(super) async fn run(
        &self,
        command: &str,
        output: OnLine<'_>,
    ) -> Result<ExitStatus, ProvisionError> {
        self.comm
            .exec(command, output)
            .await
            .map_err(|err| ProvisionError::communicator(format!("run `{command}`"), err))
    }

    /// Runs a command that must succeed; `what` names it in the error.
    async fn run_checked(
        &self,
        command: &str,
        what: &str,
        output: OnLine<'_>,
    ) -> Result<(), ProvisionError> {
        match self.run(command, output).await? {
            ExitStatus::Exited(0) => Ok(()),
            status => Err(ProvisionError::Guest {
                message: format!(
                    "{what}: `{command}` exited with {}; see its output above",
                    status.short()
                ),
                hint: Some(
                    "the SSH user must be allowed to run it (with sudo unless `prevent_sudo` is \
                     set)"
                        .to_string(),
                ),
            }),
        }
    }

    /// Makes `dir` (and its parents), opened to everyone if the provisioner does that.
    pub(super) async fn create_dir(
        &self,
        dir: &str,
        output: OnLine<'_>,
    ) -> Result<(), ProvisionError> {
        output(Stream::Status, &format!("Creating directory: {dir}"));
        let what = format!("cannot create the directory `{dir}`");
        self.run_checked(&self.commands.create_dir(dir), &what, output)
            .await?;
        if !self.open_directories {
            return Ok(());
        }
        self.run_checked(&self.commands.chmod(dir, "0777"), &what, output)
            .await
    }

    pub(super) async fn remove_dir(
        &self,
        dir: &str,
        output: OnLine<'_>,
    ) -> Result<(), ProvisionError> {
        let what = format!("cannot remove the directory `{dir}`");
        self.run_checked(&self.commands.remove_dir(dir), &what, output)
            .await
    }

    /// Makes `remote` and copies the contents of the local directory into it.
    pub(super) async fn upload_dir_contents(
        &self,
        local: &LocalPath,
        remote: &str,
        output: OnLine<'_>,
    ) -> Result<(), ProvisionError> {
        self.create_dir(remote, output).await?;
        // The trailing slash copies what is in the directory, not the directory itself.
        let mut contents = local.path.clone().into_os_string();
        if !contents.as_encoded_bytes().ends_with(b"/") {
            contents.push("/");
        }
        self.comm
            .upload(Path::new(&contents), remote)
            .await
            .map_err(|err| {
                ProvisionError::communicator(
                    format!("upload `{}` to `{remote}`", local.written),
                    err,
                )
            })
    }

    /// Copies one local file to `remote` as [`upload_bytes`] sends its content.
    pub(super) async fn upload_file(
        &self,
        local: &LocalPath,
        remote: &str,
    ) -> Result<(), ProvisionError> {
        let content = std::fs::read(&local.path).map_err(|err| ProvisionError::Local {
            action: "upload",
            path: local.written.clone(),
            reason: super::file::io_reason(&err),
        })?;
        upload_bytes(self.comm, &content, remote, &local.written).await
    }
}

/// `content` as a file of mode 0644 at `remote`: Packer uploads these files from memory or an open
/// file without their mode, which its communicators send as 0644. The mode travels with the file (no
/// `chmod` after it, which a Windows machine would not have), to where Packer's communicators write
/// it ([`upload_target`]). `what` names the content in errors.
pub(super) async fn upload_bytes(
    comm: &dyn Communicator,
    content: &[u8],
    remote: &str,
    what: &str,
) -> Result<(), ProvisionError> {
    let copy =
        super::shell::temporary_copy(content, 0o644).map_err(|err| ProvisionError::Local {
            action: "prepare",
            path: what.to_string(),
            reason: super::file::io_reason(&err),
        })?;
    comm.upload(copy.path(), &upload_target(remote))
        .await
        .map_err(|err| ProvisionError::communicator(format!("upload `{what}` to `{remote}`"), err))
}

/// Where Packer's communicators write a file uploaded to `remote`: the base name of `remote` in its
/// directory, by Go's rules, so `C:/Windows/Temp/` names the file `C:/Windows/Temp/Temp`. Uploading to
/// that exact path keeps imgs from reading a trailing slash as "into this directory".
pub(super) fn upload_target(remote: &str) -> String {
    remote_path::join(&remote_path::parent(remote), remote_path::base_name(remote))
}

/// The exit code as Packer reports it: a command killed by a signal has none, which Packer reads as -1.
pub(super) fn exit_code(status: &ExitStatus) -> i64 {
    match status {
        ExitStatus::Exited(code) => i64::from(*code),
        ExitStatus::Signaled { .. } => -1,
    }
}

/// `text` rendered with a step's `data`; the error names the setting (`key`) and what it may use.
pub(super) fn render_setting(
    renderer: &imgs_template::interpolate::OwnedContext,
    text: &str,
    data: &std::collections::BTreeMap<String, String>,
    key: &str,
    hint: Option<&str>,
) -> Result<String, ProvisionError> {
    renderer
        .render(text, data)
        .map_err(|why| ProvisionError::Guest {
            message: format!("cannot render `{key}`: {why}"),
            hint: hint.map(str::to_string),
        })
}

/// A boolean as a step's template data holds it (its values are strings): Go templates test truth,
/// and only the empty string is false, so `{{if .Sudo}}` reads it as Packer's bool field.
pub(super) fn go_truth(value: bool) -> String {
    if value { "true" } else { "" }.to_string()
}

/// `err` with Packer's prefix for the stage that failed ("Error uploading manifests: ...").
pub(super) fn stage_failed(stage: impl Into<String>, err: ProvisionError) -> ProvisionError {
    if err == ProvisionError::Cancelled {
        return err;
    }
    ProvisionError::Guest {
        message: format!("{}: {err}", stage.into()),
        hint: err.hint(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uploads_land_where_packers_do() {
        assert_eq!(
            super::upload_target("C:/Windows/Temp/"),
            "C:/Windows/Temp/Temp"
        );
        assert_eq!(super::upload_target("/tmp/x/a.pp"), "/tmp/x/a.pp");
        assert_eq!(super::upload_target("a.ps1"), "a.ps1");
    }
}
