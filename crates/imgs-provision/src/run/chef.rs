//! `chef-solo`: install Chef (unless `skip_install`), stage cookbooks, roles, data bags and
//! environments, write `solo.rb` and `node.json`, and run `chef-solo` — Packer 1.6.6's steps,
//! commands and messages.

use std::collections::BTreeMap;

use imgs_ssh::remote_path;

use crate::communicator::{Communicator, ExitStatus, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::{ChefSoloSettings, DEFAULT_SOLO_RB, LocalPath};

use super::file::io_reason;
use super::guest::{Guest, exit_code, go_truth, render_setting, stage_failed, upload_bytes};

pub(super) async fn solo(
    comm: &dyn Communicator,
    settings: &ChefSoloSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let guest = Guest {
        comm,
        commands: settings.guest,
        open_directories: true,
    };
    let staging = settings.staging_directory.as_str();
    let sudo = go_truth(settings.guest.sudo);
    output(Stream::Status, "Provisioning with chef-solo");
    if !settings.skip_install {
        output(Stream::Status, "Installing Chef...");
        let data = BTreeMap::from([
            ("Sudo".to_string(), sudo.clone()),
            ("Version".to_string(), settings.version.clone()),
        ]);
        let command = render(
            settings,
            &settings.install_command,
            &data,
            "install_command",
        )?;
        let status = guest.run(&command, output).await?;
        if status != ExitStatus::Exited(0) {
            return Err(ProvisionError::Guest {
                message: format!(
                    "Error installing Chef: Install script exited with non-zero exit status {}",
                    exit_code(&status)
                ),
                hint: Some(
                    "the installer's output above says why; with Chef already on the machine set \
                     `\"skip_install\": true`"
                        .to_string(),
                ),
            });
        }
    }
    guest
        .create_dir(staging, output)
        .await
        .map_err(|e| stage_failed("Error creating staging directory", e))?;
    let mut cookbooks = Vec::new();
    for (i, path) in settings.cookbook_paths.iter().enumerate() {
        let target = format!("{staging}/cookbooks-{i}");
        guest
            .upload_dir_contents(path, &target, output)
            .await
            .map_err(|e| stage_failed("Error uploading cookbooks", e))?;
        cookbooks.push(target);
    }
    let staged = |name: &str| format!("{staging}/{name}");
    let mut upload_dir = async |dir: &Option<LocalPath>, name: &str, what: &str| {
        let Some(dir) = dir else {
            return Ok(String::new());
        };
        let target = staged(name);
        guest
            .upload_dir_contents(dir, &target, output)
            .await
            .map_err(|e| stage_failed(format!("Error uploading {what}"), e))?;
        Ok::<_, ProvisionError>(target)
    };
    let roles = upload_dir(&settings.roles_path, "roles", "roles").await?;
    let data_bags = upload_dir(&settings.data_bags_path, "data_bags", "data bags").await?;
    let mut secret = String::new();
    if let Some(file) = &settings.encrypted_data_bag_secret_path {
        secret = format!("{staging}/encrypted_data_bag_secret");
        guest
            .upload_file(file, &secret)
            .await
            .map_err(|e| stage_failed("Error uploading encrypted data bag secret", e))?;
    }
    let environments =
        upload_dir(&settings.environments_path, "environments", "environments").await?;

    output(Stream::Status, "Creating configuration file 'solo.rb'");
    let template = match &settings.config_template {
        None => DEFAULT_SOLO_RB.to_string(),
        Some(file) => std::fs::read_to_string(&file.path).map_err(|e| ProvisionError::Guest {
            message: format!(
                "Error creating Chef config file: cannot read `{}`: {}",
                file.written,
                io_reason(&e)
            ),
            hint: None,
        })?,
    };
    let cookbook_paths: Vec<String> = settings
        .remote_cookbook_paths
        .iter()
        .chain(&cookbooks)
        .map(|path| format!("\"{path}\""))
        .collect();
    let has = |value: &str| go_truth(!value.is_empty());
    let data = BTreeMap::from([
        ("CookbookPaths".to_string(), cookbook_paths.join(",")),
        ("RolesPath".to_string(), roles.clone()),
        ("DataBagsPath".to_string(), data_bags.clone()),
        ("EncryptedDataBagSecretPath".to_string(), secret.clone()),
        ("EnvironmentsPath".to_string(), environments.clone()),
        ("HasRolesPath".to_string(), has(&roles)),
        ("HasDataBagsPath".to_string(), has(&data_bags)),
        ("HasEncryptedDataBagSecretPath".to_string(), has(&secret)),
        ("HasEnvironmentsPath".to_string(), has(&environments)),
        (
            "ChefEnvironment".to_string(),
            settings.chef_environment.clone(),
        ),
        ("ChefLicense".to_string(), settings.chef_license.clone()),
    ]);
    let solo_rb = render(settings, &template, &data, "config_template")
        .map_err(|e| stage_failed("Error creating Chef config file", e))?;
    // Packer joins these two (a cleaned path), the others it formats.
    let config_path = remote_path::join(staging, "solo.rb");
    upload_bytes(comm, solo_rb.as_bytes(), &config_path, "solo.rb")
        .await
        .map_err(|e| stage_failed("Error creating Chef config file", e))?;
    output(Stream::Status, "Creating JSON attribute file");
    let json_path = remote_path::join(staging, "node.json");
    upload_bytes(comm, settings.node_json.as_bytes(), &json_path, "node.json")
        .await
        .map_err(|e| stage_failed("Error creating JSON attributes", e))?;

    let data = BTreeMap::from([
        ("ConfigPath".to_string(), config_path),
        ("JsonPath".to_string(), json_path),
        ("Sudo".to_string(), sudo.clone()),
    ]);
    let command = render(
        settings,
        &settings.execute_command,
        &data,
        "execute_command",
    )?;
    output(Stream::Status, &format!("Executing Chef: {command}"));
    let status = guest.run(&command, output).await?;
    if status != ExitStatus::Exited(0) {
        return Err(ProvisionError::Guest {
            message: format!(
                "Error executing Chef: Non-zero exit status: {}",
                exit_code(&status)
            ),
            hint: Some("Chef's output above says why".to_string()),
        });
    }
    Ok(())
}

fn render(
    settings: &ChefSoloSettings,
    text: &str,
    data: &BTreeMap<String, String>,
    key: &str,
) -> Result<String, ProvisionError> {
    render_setting(&settings.run.renderer, text, data, key, None)
}
