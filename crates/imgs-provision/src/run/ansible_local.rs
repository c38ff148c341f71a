//! `ansible-local`: the playbook, its directories and an inventory are uploaded to a staging
//! directory on the machine, and `ansible-playbook -c local` runs there, step for step and message for
//! message as in Packer 1.6.6 (which makes its directories without sudo and leaves their modes alone).

use std::io::Write as _;

use imgs_ssh::remote_path;

use crate::communicator::{Communicator, ExitStatus, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::{AnsibleLocalSettings, GuestCommands, GuestOs, LocalPath, Playbooks};

use super::file::io_reason;
use super::guest::{Guest, stage_failed};

/// What Packer passes as `packer_http_addr` when the builder serves no files over HTTP (imgs' builders
/// do not).
const HTTP_ADDR_NOT_IMPLEMENTED: &str = "ERR_HTTP_ADDR_NOT_IMPLEMENTED_BY_BUILDER";

pub(super) async fn run(
    comm: &dyn Communicator,
    settings: &AnsibleLocalSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let guest = Guest {
        comm,
        commands: GuestCommands {
            os: GuestOs::Unix,
            sudo: false,
        },
        open_directories: false,
    };
    let staging = settings.staging_directory.as_str();
    output(Stream::Status, "Provisioning with Ansible...");
    if let Some(dir) = &settings.playbook_dir {
        output(
            Stream::Status,
            "Uploading Playbook directory to Ansible staging directory...",
        );
        guest
            .upload_dir_contents(dir, staging, output)
            .await
            .map_err(|e| stage_failed("Error uploading playbook_dir directory", e))?;
    } else {
        output(Stream::Status, "Creating Ansible staging directory...");
        guest
            .create_dir(staging, output)
            .await
            .map_err(|e| stage_failed("Error creating staging directory", e))?;
    }
    let remote_playbooks = match &settings.playbooks {
        Playbooks::File(file) => {
            output(Stream::Status, "Uploading main Playbook file...");
            let remote = remote_path::join(staging, &base_name(file));
            guest
                .upload_file(file, &remote)
                .await
                .map_err(|e| stage_failed("Error uploading main playbook", e))?;
            vec![remote]
        }
        Playbooks::Files(files) => upload_playbook_files(&guest, settings, files, output).await?,
    };
    // Packer's own inventory when the template brings none: the machine itself, in each group.
    let written_inventory;
    let inventory = match &settings.inventory_file {
        Some(file) => file.clone(),
        None => {
            written_inventory = write_inventory(&settings.inventory_groups)?;
            let path = written_inventory.path().to_path_buf();
            LocalPath {
                written: path.display().to_string(),
                path,
            }
        }
    };
    if let Some(galaxy) = &settings.galaxy_file {
        output(Stream::Status, "Uploading galaxy file...");
        let remote = remote_path::join(staging, &base_name(galaxy));
        guest
            .upload_file(galaxy, &remote)
            .await
            .map_err(|e| stage_failed("Error uploading galaxy file", e))?;
    }
    output(Stream::Status, "Uploading inventory file...");
    let remote_inventory = remote_path::join(staging, &base_name(&inventory));
    guest
        .upload_file(&inventory, &remote_inventory)
        .await
        .map_err(|e| stage_failed("Error uploading inventory file", e))?;
    for (dir, name, what) in [
        (&settings.group_vars, "group_vars", "group_vars"),
        (&settings.host_vars, "host_vars", "host_vars"),
    ] {
        if let Some(dir) = dir {
            output(Stream::Status, &format!("Uploading {what} directory..."));
            guest
                .upload_dir_contents(dir, &remote_path::join(staging, name), output)
                .await
                .map_err(|e| stage_failed(format!("Error uploading {what} directory"), e))?;
        }
    }
    if !settings.role_paths.is_empty() {
        output(Stream::Status, "Uploading role directories...");
        for dir in &settings.role_paths {
            let remote = remote_path::join(&remote_path::join(staging, "roles"), &base_name(dir));
            guest
                .upload_dir_contents(dir, &remote, output)
                .await
                .map_err(|e| stage_failed("Error uploading roles", e))?;
        }
    }
    if !settings.playbook_paths.is_empty() {
        output(Stream::Status, "Uploading additional Playbooks...");
        let playbooks = remote_path::join(staging, "playbooks");
        guest
            .create_dir(&playbooks, output)
            .await
            .map_err(|e| stage_failed("Error creating playbooks directory", e))?;
        for dir in &settings.playbook_paths {
            let remote = remote_path::join(&playbooks, &base_name(dir));
            guest
                .upload_dir_contents(dir, &remote, output)
                .await
                .map_err(|e| stage_failed("Error uploading playbooks", e))?;
        }
    }
    execute(
        &guest,
        settings,
        &remote_playbooks,
        &remote_inventory,
        output,
    )
    .await
    .map_err(|e| stage_failed("Error executing Ansible", e))?;
    if settings.clean_staging_directory {
        output(Stream::Status, "Removing staging directory...");
        output(Stream::Status, &format!("Removing directory: {staging}"));
        guest
            .remove_dir(staging, output)
            .await
            .map_err(|e| stage_failed("Error removing staging directory", e))?;
    }
    Ok(())
}

/// Uploads each of `playbook_files` to the staging directory under its absolute local path, except
/// those inside `playbook_dir`, which are there already; returns where each is on the machine.
async fn upload_playbook_files(
    guest: &Guest<'_>,
    settings: &AnsibleLocalSettings,
    files: &[LocalPath],
    output: OnLine<'_>,
) -> Result<Vec<String>, ProvisionError> {
    let staging = settings.staging_directory.as_str();
    let playbook_dir = settings
        .playbook_dir
        .as_ref()
        .map(|d| remote_path::clean(&d.path.to_string_lossy()));
    let mut remote = Vec::new();
    for file in files {
        let absolute = remote_path::clean(&file.path.to_string_lossy());
        // Packer compares the strings, so `dir` also claims `dir2/x.yml`; kept for agreement.
        if let Some(inside) = playbook_dir
            .as_deref()
            .and_then(|dir| absolute.strip_prefix(dir))
        {
            remote.push(remote_path::join(staging, inside));
            continue;
        }
        output(
            Stream::Status,
            &format!("Uploading playbook file: {absolute}"),
        );
        let remote_dir = remote_path::join(staging, &remote_path::parent(&absolute));
        let remote_file = remote_path::join(staging, &absolute);
        guest
            .create_dir(&remote_dir, output)
            .await
            .map_err(|e| stage_failed(format!("Error uploading playbook file: {absolute}"), e))?;
        guest
            .upload_file(file, &remote_file)
            .await
            .map_err(|e| stage_failed(format!("Error uploading playbook: {absolute}"), e))?;
        remote.push(remote_file);
    }
    Ok(remote)
}

/// Packer's inventory: `127.0.0.1`, or a section per group holding it.
fn write_inventory(groups: &[String]) -> Result<tempfile::NamedTempFile, ProvisionError> {
    let content = if groups.is_empty() {
        "127.0.0.1".to_string()
    } else {
        groups
            .iter()
            .map(|group| format!("[{group}]\n127.0.0.1\n"))
            .collect()
    };
    let failed = |err: std::io::Error| ProvisionError::Local {
        action: "write",
        path: "the inventory file".to_string(),
        reason: io_reason(&err),
    };
    let mut file = tempfile::Builder::new()
        .prefix("packer-provisioner-ansible-local")
        .tempfile()
        .map_err(failed)?;
    file.write_all(content.as_bytes()).map_err(failed)?;
    Ok(file)
}

async fn execute(
    guest: &Guest<'_>,
    settings: &AnsibleLocalSettings,
    playbooks: &[String],
    inventory: &str,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let staging = &settings.staging_directory;
    // Packer's text, `-o IdentitiesOnly=yes` inside the quotes included.
    let mut extra_args = format!(
        " --extra-vars \"packer_build_name={} packer_builder_type={} packer_http_addr={HTTP_ADDR_NOT_IMPLEMENTED} -o IdentitiesOnly=yes\" ",
        settings.build_name, settings.builder_type
    );
    extra_args.push_str(&settings.extra_arguments.join(" "));
    if let Some(galaxy) = &settings.galaxy_file {
        let roles = remote_path::join(staging, "roles");
        let file = remote_path::join(staging, &base_name(galaxy));
        let command = format!(
            "cd {staging} && {} install -r {file} -p {roles}",
            settings.galaxy_command
        );
        output(
            Stream::Status,
            &format!("Executing Ansible Galaxy: {command}"),
        );
        let status = guest.run(&command, output).await?;
        if status != ExitStatus::Exited(0) {
            return Err(ProvisionError::Guest {
                message: format!("Error executing Ansible Galaxy: {}", non_zero(&status)),
                hint: Some("ansible-galaxy's output above says why".to_string()),
            });
        }
    }
    for playbook in playbooks {
        let command = format!(
            "cd {staging} && {} {playbook}{extra_args} -c local -i {inventory}",
            settings.command
        );
        output(Stream::Status, &format!("Executing Ansible: {command}"));
        let status = guest.run(&command, output).await?;
        match status {
            ExitStatus::Exited(0) => {}
            ExitStatus::Exited(127) => {
                return Err(ProvisionError::Guest {
                    message: format!(
                        "{} could not be found. Verify that it is available on the\nPATH after \
                         connecting to the machine.",
                        settings.command
                    ),
                    hint: Some(
                        "install Ansible on the machine first (a shell provisioner before this \
                         one), or point `command` at it"
                            .to_string(),
                    ),
                });
            }
            status => {
                return Err(ProvisionError::Guest {
                    message: non_zero(&status),
                    hint: Some("ansible-playbook's output above says why".to_string()),
                });
            }
        }
    }
    Ok(())
}

fn non_zero(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Exited(code) => format!("Non-zero exit status: {code}"),
        other => format!("it did not finish: {}", other.short()),
    }
}

fn base_name(path: &LocalPath) -> String {
    remote_path::base_name(&path.path.to_string_lossy()).to_string()
}
