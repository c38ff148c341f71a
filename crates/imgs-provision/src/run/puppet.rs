//! `puppet-masterless` and `puppet-server`: stage what Puppet needs in a directory on the machine and
//! run `puppet apply` (or `puppet agent --onetime`) there, step for step as Packer 1.6.6 does, with
//! its messages. Exit status 2 ("changes were applied", from `--detailed-exitcodes`) is a success.

use std::collections::BTreeMap;

use crate::communicator::{Communicator, ExitStatus, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::{LocalPath, PuppetMode, PuppetSettings};

use super::guest::{Guest, go_truth, render_setting, stage_failed};

pub(super) async fn run(
    comm: &dyn Communicator,
    settings: &PuppetSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let guest = Guest {
        comm,
        commands: settings.guest,
        open_directories: true,
    };
    let staging = settings.staging_directory.as_str();
    output(Stream::Status, "Provisioning with Puppet...");
    output(Stream::Status, "Creating Puppet staging directory...");
    guest
        .create_dir(staging, output)
        .await
        .map_err(|e| stage_failed("Error creating staging directory", e))?;
    let mut data = BTreeMap::new();
    match &settings.mode {
        PuppetMode::Masterless {
            manifest_file,
            manifest_dir,
            module_paths,
            hiera_config_path,
        } => {
            let mut remote_hiera = String::new();
            if let Some(hiera) = hiera_config_path {
                output(Stream::Status, "Uploading hiera configuration...");
                remote_hiera = format!("{staging}/hiera.yaml");
                guest
                    .upload_file(hiera, &remote_hiera)
                    .await
                    .map_err(|e| stage_failed("Error uploading hiera config", e))?;
            }
            let mut remote_manifest_dir = String::new();
            if let Some(dir) = manifest_dir {
                output(
                    Stream::Status,
                    &format!("Uploading manifest directory from: {}", dir.written),
                );
                remote_manifest_dir = format!("{staging}/manifests");
                guest
                    .upload_dir_contents(dir, &remote_manifest_dir, output)
                    .await
                    .map_err(|e| stage_failed("Error uploading manifest dir", e))?;
            }
            let mut remote_modules = Vec::new();
            for (i, path) in module_paths.iter().enumerate() {
                output(
                    Stream::Status,
                    &format!("Uploading local modules from: {}", path.written),
                );
                let target = format!("{staging}/module-{i}");
                guest
                    .upload_dir_contents(path, &target, output)
                    .await
                    .map_err(|e| stage_failed("Error uploading modules", e))?;
                remote_modules.push(target);
            }
            let remote_manifest = upload_manifests(&guest, staging, manifest_file, output)
                .await
                .map_err(|e| stage_failed("Error uploading manifests", e))?;
            data.insert(
                "ModulePath".to_string(),
                remote_modules.join(settings.module_path_joiner()),
            );
            data.insert(
                "ModulePathJoiner".to_string(),
                settings.module_path_joiner().to_string(),
            );
            data.insert("HieraConfigPath".to_string(), remote_hiera);
            data.insert("ManifestDir".to_string(), remote_manifest_dir);
            data.insert("ManifestFile".to_string(), remote_manifest);
        }
        PuppetMode::Server {
            client_cert_path,
            client_private_key_path,
            puppet_node,
            puppet_server,
        } => {
            let mut remote_certs = String::new();
            if let Some(certs) = client_cert_path {
                output(
                    Stream::Status,
                    &format!("Uploading client cert from: {}", certs.written),
                );
                remote_certs = format!("{staging}/certs");
                guest
                    .upload_dir_contents(certs, &remote_certs, output)
                    .await
                    .map_err(|e| stage_failed("Error uploading client cert", e))?;
            }
            let mut remote_keys = String::new();
            if let Some(keys) = client_private_key_path {
                output(
                    Stream::Status,
                    &format!("Uploading client private keys from: {}", keys.written),
                );
                remote_keys = format!("{staging}/private_keys");
                guest
                    .upload_dir_contents(keys, &remote_keys, output)
                    .await
                    .map_err(|e| stage_failed("Error uploading client private keys", e))?;
            }
            data.insert("ClientCertPath".to_string(), remote_certs);
            data.insert("ClientPrivateKeyPath".to_string(), remote_keys);
            data.insert("PuppetNode".to_string(), puppet_node.clone());
            data.insert("PuppetServer".to_string(), puppet_server.clone());
        }
    }
    data.insert("FacterVars".to_string(), settings.facter_vars());
    data.insert("PuppetBinDir".to_string(), settings.puppet_bin_dir.clone());
    data.insert("WorkingDir".to_string(), settings.working_directory.clone());
    // Go templates test booleans by truth: the empty string is false. Packer never sets `.Debug`.
    data.insert("Debug".to_string(), String::new());
    data.insert("Sudo".to_string(), go_truth(settings.guest.sudo));
    data.insert("ExtraArguments".to_string(), String::new());
    let extra = render(
        settings,
        &settings.extra_arguments.join(" "),
        &data,
        "extra_arguments",
    )?;
    data.insert("ExtraArguments".to_string(), extra);
    let mut command = render(
        settings,
        &settings.execute_command,
        &data,
        "execute_command",
    )?;
    if let Some(elevated) = &settings.elevated {
        command = super::elevated::wrap(comm, &command, elevated).await?;
    }
    output(Stream::Status, &format!("Running Puppet: {command}"));
    let status = guest.run(&command, output).await?;
    let applied = matches!(status, ExitStatus::Exited(0 | 2));
    if !applied && !settings.ignore_exit_codes {
        return Err(ProvisionError::Guest {
            message: match status {
                ExitStatus::Exited(code) => {
                    format!("Puppet exited with a non-zero exit status: {code}")
                }
                other => format!("Puppet did not finish: {}", other.short()),
            },
            hint: Some(
                "Puppet's output above says why; set `\"ignore_exit_codes\": true` to go on \
                 whatever it reports"
                    .to_string(),
            ),
        });
    }
    if settings.clean_staging_directory {
        guest
            .remove_dir(staging, output)
            .await
            .map_err(|e| stage_failed("Error removing staging directory", e))?;
    }
    Ok(())
}

/// Uploads `manifest_file` into `<staging>/manifests`: a directory's contents, or the one file. The
/// path `puppet apply` gets is returned.
async fn upload_manifests(
    guest: &Guest<'_>,
    staging: &str,
    manifest_file: &LocalPath,
    output: OnLine<'_>,
) -> Result<String, ProvisionError> {
    output(Stream::Status, "Uploading manifests...");
    let remote_dir = format!("{staging}/manifests");
    guest.create_dir(&remote_dir, output).await?;
    if manifest_file.path.is_dir() {
        output(
            Stream::Status,
            &format!(
                "Uploading manifest directory from: {}",
                manifest_file.written
            ),
        );
        guest
            .upload_dir_contents(manifest_file, &remote_dir, output)
            .await?;
        return Ok(remote_dir);
    }
    output(
        Stream::Status,
        &format!("Uploading manifest file from: {}", manifest_file.written),
    );
    let name = manifest_file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let remote = format!("{remote_dir}/{name}");
    guest.upload_file(manifest_file, &remote).await?;
    Ok(remote)
}

fn render(
    settings: &PuppetSettings,
    text: &str,
    data: &BTreeMap<String, String>,
    key: &str,
) -> Result<String, ProvisionError> {
    render_setting(
        &settings.run.renderer,
        text,
        data,
        key,
        Some(
            "it may use `{{.WorkingDir}}`, `{{.FacterVars}}`, `{{.Sudo}}`, `{{.ManifestFile}}` and \
             the other fields of Packer's Puppet command",
        ),
    )
}
