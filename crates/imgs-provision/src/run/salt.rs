//! `salt-masterless`: bootstrap Salt (unless skipped), upload the state tree, pillar, minion config
//! and grains next to the SSH user's home and move them into place with sudo, then `salt-call
//! --local` — Packer 1.6.6's commands and messages, its quirks kept: the moves run as `sudo sudo mv`,
//! a state tree already on the machine is kept (the new one is moved into it), and the bootstrap's
//! exit status is not checked.

use imgs_ssh::remote_path;

use crate::communicator::{Communicator, ExitStatus, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::{GuestOs, LocalPath, SaltSettings};

use super::guest::{Guest, exit_code, stage_failed};

pub(super) async fn run(
    comm: &dyn Communicator,
    settings: &SaltSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let salt = Salt {
        guest: Guest {
            comm,
            commands: settings.guest,
            open_directories: false,
        },
        settings,
    };
    output(Stream::Status, "Provisioning with Salt...");
    if !settings.skip_bootstrap {
        let (fetch, install) = match settings.guest.os {
            GuestOs::Unix => (
                "curl -L https://bootstrap.saltstack.com -o /tmp/install_salt.sh || wget -O \
                 /tmp/install_salt.sh https://bootstrap.saltstack.com",
                "sh /tmp/install_salt.sh",
            ),
            GuestOs::Windows => (
                "powershell Invoke-WebRequest -Uri \
                 'https://raw.githubusercontent.com/saltstack/salt-bootstrap/stable/bootstrap-salt.ps1' \
                 -OutFile 'C:/Windows/Temp/bootstrap-salt.ps1'",
                "Powershell C:/Windows/Temp/bootstrap-salt.ps1",
            ),
        };
        output(
            Stream::Status,
            "Downloading saltstack bootstrap to /tmp/install_salt.sh",
        );
        salt.guest
            .run(fetch, output)
            .await
            .map_err(|e| stage_failed("Unable to download Salt", e))?;
        let install = format!("{} {}", salt.sudo(install), settings.bootstrap_args);
        output(
            Stream::Status,
            &format!("Installing Salt with command {install}"),
        );
        salt.guest
            .run(&install, output)
            .await
            .map_err(|e| stage_failed("Unable to install Salt", e))?;
    }
    let temp = settings.temp_config_dir.as_str();
    output(
        Stream::Status,
        &format!("Creating remote temporary directory: {temp}"),
    );
    salt.guest
        .create_dir(temp, output)
        .await
        .map_err(|e| stage_failed("Error creating remote temporary directory", e))?;
    for (file, name, what) in [
        (&settings.minion_config, "minion", "minion config"),
        (&settings.grains_file, "grains", "grains file"),
    ] {
        let Some(file) = file else { continue };
        output(
            Stream::Status,
            &format!("Uploading {what}: {}", file.written),
        );
        let staged = remote_path::join(temp, name);
        salt.upload_file_and_move(file, name, &staged, output)
            .await
            .map_err(|e| stage_failed(format!("Error uploading local {what} to remote"), e))?;
        let config_dir = settings.config_dir.as_str();
        output(
            Stream::Status,
            &format!("Make sure directory {config_dir} exists"),
        );
        salt.guest
            .create_dir(config_dir, output)
            .await
            .map_err(|e| stage_failed("Error creating remote salt configuration directory", e))?;
        salt.move_path(&staged, &remote_path::join(config_dir, name), output)
            .await?;
    }
    output(
        Stream::Status,
        &format!(
            "Uploading local state tree: {}",
            settings.local_state_tree.written
        ),
    );
    salt.put_tree(
        &settings.local_state_tree,
        "states",
        &settings.state_tree,
        "Unable to clear salt tree",
        output,
    )
    .await
    .map_err(|e| stage_failed("Error uploading local state tree to remote", e))?;
    if let Some(pillar) = &settings.local_pillar_roots {
        output(
            Stream::Status,
            &format!("Uploading local pillar roots: {}", pillar.written),
        );
        salt.put_tree(
            pillar,
            "pillar",
            &settings.pillar_roots,
            "Unable to clear pillar root",
            output,
        )
        .await
        .map_err(|e| stage_failed("Error uploading local pillar roots to remote", e))?;
    }
    let salt_call = if settings.salt_bin_dir.is_empty() {
        "salt-call".to_string()
    } else {
        remote_path::join(&settings.salt_bin_dir, "salt-call")
    };
    if settings.guest.os == GuestOs::Windows {
        salt.windows_git(&salt_call, output).await?;
    }
    output(
        Stream::Status,
        &format!("Running: salt-call --local {}", settings.call_args),
    );
    let command = salt.sudo(&format!("{salt_call} --local {}", settings.call_args));
    let status = salt.guest.run(&command, output).await?;
    if status != ExitStatus::Exited(0) && !settings.no_exit_on_failure {
        return Err(ProvisionError::Guest {
            message: format!("Error executing salt-call: {}", bad_exit(&status)),
            hint: Some(
                "Salt's output above says why; `no_exit_on_failure` goes on whatever it \
                 reports"
                    .to_string(),
            ),
        });
    }
    Ok(())
}

struct Salt<'a> {
    guest: Guest<'a>,
    settings: &'a SaltSettings,
}

impl Salt<'_> {
    /// `sudo ` in front on Unix unless `disable_sudo`.
    fn sudo(&self, command: &str) -> String {
        self.settings.guest.with_sudo(command)
    }

    /// Packer's move: the guest's `mv` (which carries its own `sudo`), with `sudo` in front again.
    async fn move_path(
        &self,
        from: &str,
        to: &str,
        output: OnLine<'_>,
    ) -> Result<(), ProvisionError> {
        output(Stream::Status, &format!("Moving {from} to {to}"));
        let mv = self.settings.guest.move_path(from, to);
        let status = self.guest.run(&self.sudo(&mv), output).await;
        match status {
            Ok(ExitStatus::Exited(0)) => Ok(()),
            Ok(status) => Err(ProvisionError::Guest {
                message: format!("Unable to move {from} to {to}: {}", bad_exit(&status)),
                hint: None,
            }),
            Err(err) => Err(stage_failed(format!("Unable to move {from} to {to}"), err)),
        }
    }

    /// A file uploaded by its name next to the user's home, then moved to `staged`.
    async fn upload_file_and_move(
        &self,
        file: &LocalPath,
        name: &str,
        staged: &str,
        output: OnLine<'_>,
    ) -> Result<(), ProvisionError> {
        self.guest.upload_file(file, name).await?;
        self.move_path(name, staged, output)
            .await
            .map_err(|e| stage_failed("Error moving file to destination", e))
    }

    /// A local tree uploaded as `name` next to the user's home, moved into the temporary directory,
    /// then to `target` (removed first only when `stat` says it is not there, as in Packer).
    async fn put_tree(
        &self,
        local: &LocalPath,
        name: &str,
        target: &str,
        clear_failed: &str,
        output: OnLine<'_>,
    ) -> Result<(), ProvisionError> {
        let temp = &self.settings.temp_config_dir;
        let staged = remote_path::join(temp, name);
        self.guest
            .comm
            .upload(&local.path, name)
            .await
            .map_err(|err| {
                ProvisionError::communicator(format!("upload `{}` to `{name}`", local.written), err)
            })?;
        self.move_path(name, &staged, output).await?;
        output(Stream::Status, &format!("Verifying Path: {target}"));
        let stat = self.settings.guest.stat_path(target);
        let exists = matches!(
            self.guest.run(&stat, output).await,
            Ok(ExitStatus::Exited(0))
        );
        if !exists {
            output(Stream::Status, &format!("Removing directory: {target}"));
            self.guest
                .remove_dir(target, output)
                .await
                .map_err(|e| stage_failed(clear_failed, e))?;
        }
        self.move_path(&staged, target, output).await
    }

    /// What Packer runs on Windows before `salt-call`: Git for Windows, then Salt's package repos.
    async fn windows_git(&self, salt_call: &str, output: OnLine<'_>) -> Result<(), ProvisionError> {
        let steps = [
            (
                "Downloading Git for Windows",
                "powershell [Net.ServicePointManager]::SecurityProtocol = \
                 [Net.SecurityProtocolType]::Tls12; Invoke-WebRequest -Uri \
                 https://github.com/git-for-windows/git/releases/download/v2.28.0.windows.1/Git-2.28.0-64-bit.exe \
                 -OutFile $env:TEMP/Git.exe"
                    .to_string(),
                "Unable to Download Git for Windows",
            ),
            (
                "Installing Git for Windows",
                "powershell Start-Process -FilePath $env:TEMP/Git.exe /SILENT -Wait".to_string(),
                "Unable to Install Git for Windows",
            ),
            (
                "Cleaning Up After Git for Windows",
                "powershell Remove-Item $env:TEMP/Git.exe".to_string(),
                "Unable to Clean-up After Git for Windows",
            ),
            (
                "Running salt-call --local winrepo.update_git_repos",
                format!("{salt_call} --local winrepo.update_git_repos"),
                "Error executing salt-call --local winrepo.update_git_repos",
            ),
            (
                "Running salt-call --local pkg.refresh_db",
                format!("{salt_call} --local pkg.refresh_db"),
                "Error executing salt-call --local pkg.refresh_db",
            ),
        ];
        for (message, command, failed) in steps {
            output(Stream::Status, message);
            let status = self.guest.run(&command, output).await;
            let ok = matches!(status, Ok(ExitStatus::Exited(0)));
            if !ok && !self.settings.no_exit_on_failure {
                return Err(match status {
                    Ok(status) => ProvisionError::Guest {
                        message: format!("{failed}: {}", bad_exit(&status)),
                        hint: None,
                    },
                    Err(err) => stage_failed(failed, err),
                });
            }
        }
        Ok(())
    }
}

fn bad_exit(status: &ExitStatus) -> String {
    format!("Bad exit status: {}", exit_code(status))
}
