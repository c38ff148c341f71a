//! `chef-solo` and `chef-client`: install Chef (unless `skip_install`), stage what the tool reads,
//! write its config file and JSON attributes, and run it — Packer 1.6.6's steps, commands and
//! messages. `chef-solo` stages cookbooks, roles, data bags and environments; `chef-client` uploads
//! the keys it registers with and afterwards deletes its node and client from the server with
//! `knife` on the machine.

use std::collections::BTreeMap;

use imgs_ssh::remote_path;

use crate::communicator::{Communicator, ExitStatus, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::{
    ChefClientSettings, ChefSettings, ChefSoloSettings, DEFAULT_CLIENT_RB, DEFAULT_KNIFE_RB,
    DEFAULT_SOLO_RB, LocalPath,
};

use super::file::io_reason;
use super::guest::{Guest, exit_code, go_truth, render_setting, stage_failed, upload_bytes};

pub(super) async fn solo(
    comm: &dyn Communicator,
    settings: &ChefSoloSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let chef = &settings.chef;
    let guest = guest_of(comm, chef);
    let staging = chef.staging_directory.as_str();
    output(Stream::Status, "Provisioning with chef-solo");
    install(&guest, chef, output).await?;
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
    if let Some(file) = &chef.encrypted_data_bag_secret_path {
        secret = upload_secret(&guest, chef, file).await?;
    }
    let environments =
        upload_dir(&settings.environments_path, "environments", "environments").await?;

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
        ("ChefEnvironment".to_string(), chef.chef_environment.clone()),
        ("ChefLicense".to_string(), chef.chef_license.clone()),
    ]);
    let config_path = write_config(comm, chef, DEFAULT_SOLO_RB, &data, "solo.rb", output).await?;
    let json_path = write_json(comm, chef, "node.json", output).await?;
    execute(&guest, chef, None, config_path, json_path, output).await
}

pub(super) async fn client(
    comm: &dyn Communicator,
    settings: &ChefClientSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let chef = &settings.chef;
    let guest = guest_of(comm, chef);
    let staging = chef.staging_directory.as_str();
    output(Stream::Status, "Provisioning with chef-client");
    let node_name = match settings.node_name.as_str() {
        "" => format!("packer-{}", time_ordered_id()),
        name => name.to_string(),
    };
    install(&guest, chef, output).await?;
    guest
        .create_dir(staging, output)
        .await
        .map_err(|e| stage_failed("Error creating staging directory", e))?;
    let client_key = match settings.client_key.as_str() {
        "" => format!("{staging}/client.pem"),
        key => key.to_string(),
    };
    let mut secret = String::new();
    if let Some(file) = &chef.encrypted_data_bag_secret_path {
        output(Stream::Status, &format!("Uploading {}...", file.written));
        secret = upload_secret(&guest, chef, file).await?;
    }
    let mut validation_key = String::new();
    if let Some(file) = &settings.validation_key_path {
        validation_key = format!("{staging}/validation.pem");
        output(Stream::Status, &format!("Uploading {}...", file.written));
        guest
            .upload_file(file, &validation_key)
            .await
            .map_err(|e| stage_failed("Error copying validation key", e))?;
    }
    let server = BTreeMap::from([
        ("NodeName".to_string(), node_name.clone()),
        ("ServerUrl".to_string(), settings.server_url.clone()),
        ("ClientKey".to_string(), client_key),
        (
            "SslVerifyMode".to_string(),
            settings.ssl_verify_mode.clone(),
        ),
        (
            "TrustedCertsDir".to_string(),
            settings.trusted_certs_dir.clone(),
        ),
    ]);
    let mut data = server.clone();
    data.extend([
        ("ChefLicense".to_string(), chef.chef_license.clone()),
        ("EncryptedDataBagSecretPath".to_string(), secret),
        ("ValidationKeyPath".to_string(), validation_key),
        (
            "ValidationClientName".to_string(),
            settings.validation_client_name.clone(),
        ),
        ("ChefEnvironment".to_string(), chef.chef_environment.clone()),
        ("PolicyGroup".to_string(), settings.policy_group.clone()),
        ("PolicyName".to_string(), settings.policy_name.clone()),
    ]);
    let config_path =
        write_config(comm, chef, DEFAULT_CLIENT_RB, &data, "client.rb", output).await?;
    let json_path = write_json(comm, chef, "first-boot.json", output).await?;
    let converged = execute(
        &guest,
        chef,
        settings.elevated.as_ref(),
        config_path,
        json_path,
        output,
    )
    .await;
    if converged == Err(ProvisionError::Cancelled) {
        return converged;
    }
    // The node and client are deleted from the server whether or not Chef succeeded, as Packer does:
    // a failed build must not leave them registered.
    if !(settings.skip_clean_node && settings.skip_clean_client) {
        output(Stream::Status, "Creating configuration file 'knife.rb'");
        let knife_rb = render(chef, DEFAULT_KNIFE_RB, &server, "knife.rb")
            .map_err(|e| stage_failed("Error creating knife config on node", e))?;
        let knife_config = remote_path::join(staging, "knife.rb");
        upload_bytes(comm, knife_rb.as_bytes(), &knife_config, "knife.rb")
            .await
            .map_err(|e| stage_failed("Error creating knife config on node", e))?;
        for (skip, what) in [
            (settings.skip_clean_node, "node"),
            (settings.skip_clean_client, "client"),
        ] {
            if !skip {
                output(Stream::Status, &format!("Cleaning up chef {what}..."));
                knife(&guest, settings, &node_name, &knife_config, what, output).await?;
            }
        }
    }
    converged?;
    if !settings.skip_clean_staging_directory {
        output(Stream::Status, &format!("Removing directory: {staging}"));
        // Packer does not look at how the removal ended.
        guest.run(&chef.guest.remove_dir(staging), output).await?;
    }
    Ok(())
}

/// Runs `knife <what> delete <node>` with the knife config on the machine.
async fn knife(
    guest: &Guest<'_>,
    settings: &ChefClientSettings,
    node_name: &str,
    knife_config: &str,
    what: &str,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let data = BTreeMap::from([
        ("Sudo".to_string(), go_truth(settings.chef.guest.sudo)),
        ("Flags".to_string(), format!("-y -c {knife_config}")),
        ("Args".to_string(), format!("{what} delete {node_name}")),
    ]);
    let command = render(
        &settings.chef,
        &settings.knife_command,
        &data,
        "knife_command",
    )?;
    let status = guest.run(&command, output).await?;
    if status == ExitStatus::Exited(0) {
        return Ok(());
    }
    Err(ProvisionError::Guest {
        message: format!(
            "Error cleaning up chef {what}: Failed to cleanup {what}: Non-zero exit status {} from \
             `{command}`; see its output above",
            exit_code(&status)
        ),
        hint: Some(format!(
            "the node's key must be allowed to delete its {what} on the Chef server; set \
             `\"skip_clean_{what}\": true` to leave it"
        )),
    })
}

fn guest_of<'a>(comm: &'a dyn Communicator, chef: &ChefSettings) -> Guest<'a> {
    Guest {
        comm,
        commands: chef.guest,
        open_directories: true,
    }
}

/// Packer's `packer-<id>` node names: the time in seconds, then random hex, shaped like a UUID.
fn time_ordered_id() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as u32;
    // A v4 UUID's bytes 0–5 and 10–15 are all random (6 and 8 carry its version and variant).
    let random = uuid::Uuid::new_v4();
    let b = random.as_bytes();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    format!(
        "{seconds:08x}-{}-{}-{}-{}",
        hex(&b[0..2]),
        hex(&b[2..4]),
        hex(&b[4..6]),
        hex(&b[10..16])
    )
}

/// Installs Chef with `install_command`, unless `skip_install`.
async fn install(
    guest: &Guest<'_>,
    chef: &ChefSettings,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    if chef.skip_install {
        return Ok(());
    }
    output(Stream::Status, "Installing Chef...");
    let data = BTreeMap::from([
        ("Sudo".to_string(), go_truth(chef.guest.sudo)),
        ("Version".to_string(), chef.version.clone()),
    ]);
    let command = render(chef, &chef.install_command, &data, "install_command")?;
    let status = guest.run(&command, output).await?;
    if status == ExitStatus::Exited(0) {
        return Ok(());
    }
    Err(ProvisionError::Guest {
        message: format!(
            "Error installing Chef: Install script exited with non-zero exit status {}",
            exit_code(&status)
        ),
        hint: Some(
            "the installer's output above says why; with Chef already on the machine set \
             `\"skip_install\": true`"
                .to_string(),
        ),
    })
}

/// Uploads the data bag secret into the staging directory and returns where it is.
async fn upload_secret(
    guest: &Guest<'_>,
    chef: &ChefSettings,
    file: &LocalPath,
) -> Result<String, ProvisionError> {
    let secret = format!("{}/encrypted_data_bag_secret", chef.staging_directory);
    guest
        .upload_file(file, &secret)
        .await
        .map_err(|e| stage_failed("Error uploading encrypted data bag secret", e))?;
    Ok(secret)
}

/// Renders the config file (`config_template`, or Packer's `default`) with `data` and uploads it
/// into the staging directory as `name`; returns its path there.
async fn write_config(
    comm: &dyn Communicator,
    chef: &ChefSettings,
    default: &str,
    data: &BTreeMap<String, String>,
    name: &str,
    output: OnLine<'_>,
) -> Result<String, ProvisionError> {
    output(
        Stream::Status,
        &format!("Creating configuration file '{name}'"),
    );
    let template = match &chef.config_template {
        None => default.to_string(),
        Some(file) => std::fs::read_to_string(&file.path).map_err(|e| ProvisionError::Guest {
            message: format!(
                "Error creating Chef config file: cannot read `{}`: {}",
                file.written,
                io_reason(&e)
            ),
            hint: None,
        })?,
    };
    let config = render(chef, &template, data, "config_template")
        .map_err(|e| stage_failed("Error creating Chef config file", e))?;
    // Packer joins this path (cleaning it), where it formats the others.
    let path = remote_path::join(&chef.staging_directory, name);
    upload_bytes(comm, config.as_bytes(), &path, name)
        .await
        .map_err(|e| stage_failed("Error creating Chef config file", e))?;
    Ok(path)
}

/// Uploads the JSON attributes into the staging directory as `name`; returns their path there.
async fn write_json(
    comm: &dyn Communicator,
    chef: &ChefSettings,
    name: &str,
    output: OnLine<'_>,
) -> Result<String, ProvisionError> {
    output(Stream::Status, "Creating JSON attribute file");
    let path = remote_path::join(&chef.staging_directory, name);
    upload_bytes(comm, chef.node_json.as_bytes(), &path, name)
        .await
        .map_err(|e| stage_failed("Error creating JSON attributes", e))?;
    Ok(path)
}

/// Runs Chef with `execute_command` (through the elevated wrapper for `elevated_user`).
async fn execute(
    guest: &Guest<'_>,
    chef: &ChefSettings,
    elevated: Option<&crate::settings::Elevated>,
    config_path: String,
    json_path: String,
    output: OnLine<'_>,
) -> Result<(), ProvisionError> {
    let data = BTreeMap::from([
        ("ConfigPath".to_string(), config_path),
        ("JsonPath".to_string(), json_path),
        ("Sudo".to_string(), go_truth(chef.guest.sudo)),
    ]);
    let mut command = render(chef, &chef.execute_command, &data, "execute_command")?;
    if let Some(elevated) = elevated {
        command = super::elevated::wrap(guest.comm, &command, elevated).await?;
    }
    output(Stream::Status, &format!("Executing Chef: {command}"));
    let status = guest.run(&command, output).await?;
    if status == ExitStatus::Exited(0) {
        return Ok(());
    }
    Err(ProvisionError::Guest {
        message: format!(
            "Error executing Chef: Non-zero exit status: {}",
            exit_code(&status)
        ),
        hint: Some("Chef's output above says why".to_string()),
    })
}

fn render(
    settings: &ChefSettings,
    text: &str,
    data: &BTreeMap<String, String>,
    key: &str,
) -> Result<String, ProvisionError> {
    render_setting(&settings.run.renderer, text, data, key, None)
}
