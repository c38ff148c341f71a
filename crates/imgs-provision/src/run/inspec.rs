//! The `inspec` provisioner: InSpec runs on the machine running imgs and checks the machine being
//! built against a profile, with Packer 1.6.6's command line: `inspec exec PROFILE --backend …
//! --host … --user … [--key-files …] --port … --input-file [attributes…] <build's input file>
//! [extra_arguments…]`, the environment plus `inspec_env_vars`, run in the working directory.
//!
//! Packer always puts its SSH proxy between InSpec and the communicator. imgs connects the `ssh`
//! backend straight to the machine instead, as it connects Ansible ([`super::ssh_target`]): the
//! host, port, user and key are the communicator's where Packer's would be its proxy's
//! (`127.0.0.1`, a local port, `user` or the local user, a key made for the run). The other
//! backends (`docker`, `local`, `winrm`) never used the proxy and get Packer's arguments unchanged.

use std::io::Write;

use imgs_post::PostError;
use tokio_util::sync::CancellationToken;

use crate::communicator::{Communicator, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::InspecSettings;

use super::ssh_target::{SshTarget, Tool};

const INSPEC: Tool<'static> = Tool {
    provisioner: "inspec",
    program: "inspec",
    bastion_hint: "run InSpec with the `docker` or `local` backend, or check the machine with a \
                   `shell` provisioner",
};

pub(super) async fn run(
    comm: &dyn Communicator,
    settings: &InspecSettings,
    output: OnLine<'_>,
    cancel: &CancellationToken,
) -> Result<(), ProvisionError> {
    output(Stream::Status, "Provisioning with Inspec...");
    let mut connection = vec![
        "--backend".to_string(),
        settings.backend.clone(),
        "--host".to_string(),
    ];
    if settings.backend == "ssh" {
        let target = SshTarget::of(comm.ssh_config(), &INSPEC, None, &settings.run.working_dir)?;
        output(
            Stream::Status,
            &format!(
                "Connecting InSpec straight to {}:{} (the communicator is SSH, so no proxy is needed)",
                target.host, target.port
            ),
        );
        connection.extend([target.host, "--user".to_string(), target.user]);
        if let Some(key) = target.key_file {
            connection.extend(["--key-files".to_string(), key.display().to_string()]);
        }
        connection.extend(["--port".to_string(), target.port.to_string()]);
    } else {
        let user = match settings.user.as_str() {
            "" => local_user()?,
            user => user.to_string(),
        };
        connection.extend([settings.host.clone(), "--user".to_string(), user]);
    }
    let inputs = build_inputs(settings)?;
    let mut argv = vec![settings.subcommand.clone(), settings.profile.clone()];
    argv.extend(connection);
    argv.push("--input-file".to_string());
    argv.extend(settings.attributes.iter().cloned());
    argv.push(inputs.display().to_string());
    argv.extend(settings.extra_arguments.iter().cloned());
    output(
        Stream::Status,
        &format!("Executing Inspec: {} {}", settings.command, argv.join(" ")),
    );
    let mut command = tokio::process::Command::new(&settings.command);
    command.args(&argv).current_dir(&settings.run.working_dir);
    for var in &settings.env_vars {
        let (name, value) = var.split_once('=').unwrap_or((var.as_str(), ""));
        command.env(name, value);
    }
    let mut log = |line: &str| output(Stream::Status, line);
    let code = imgs_post::local_command::run(command, &settings.command, &mut log, cancel)
        .await
        .map_err(|e| match e {
            PostError::Cancelled => ProvisionError::Cancelled,
            other => ProvisionError::LocalCommand {
                message: format!("Error executing Inspec: {other}"),
                hint: Some(format!(
                    "`{}` must be InSpec (`inspec exec` must run here)",
                    settings.command
                )),
            },
        })?;
    drop(inputs);
    if code == 0 {
        return Ok(());
    }
    let status = if code < 0 {
        "signal: killed".to_string()
    } else {
        format!("exit status {code}")
    };
    Err(ProvisionError::LocalCommand {
        message: format!("Error executing Inspec: Non-zero exit status: {status}"),
        hint: Some("InSpec's output above says which controls failed".to_string()),
    })
}

/// The input file Packer adds to every run, `packer_build_name` and `packer_builder_type`, in
/// `attributes_directory` (or the temporary directory); removed when the run ends.
fn build_inputs(settings: &InspecSettings) -> Result<tempfile::TempPath, ProvisionError> {
    let dir = settings
        .attributes_directory
        .as_ref()
        .map_or_else(std::env::temp_dir, |d| d.path.clone());
    let failed = |e: std::io::Error| ProvisionError::Local {
        action: "write InSpec's input file in",
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut file = tempfile::Builder::new()
        .prefix("packer-provisioner-inspec.")
        .suffix(".yml")
        .tempfile_in(&dir)
        .map_err(failed)?;
    write!(
        file,
        "packer_build_name: {}\npacker_builder_type: {}\n",
        settings.run.build_name, settings.run.builder_type
    )
    .map_err(failed)?;
    Ok(file.into_temp_path())
}

/// The name of the user imgs runs as, which Packer passes as `--user` when `user` is not set.
fn local_user() -> Result<String, ProvisionError> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let from_passwd = uid.and_then(|uid| {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.get(2)? == &uid.to_string()).then(|| fields[0].to_string())
        })
    });
    from_passwd
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .ok_or_else(|| ProvisionError::LocalCommand {
            message: "user: could not determine current user from environment.".to_string(),
            hint: Some("set the provisioner's `user`".to_string()),
        })
}
