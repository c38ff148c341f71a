//! The `ansible` provisioner: `ansible-playbook` runs on the machine running imgs and connects to the
//! machine being built over SSH itself, with the communicator's address, user and key.
//!
//! Packer 1.6.6 puts a local SSH server (its "proxy adapter") between Ansible and the communicator
//! unless `use_proxy` is `false`. That proxy offers only an `ssh-rsa` host key, which today's OpenSSH
//! refuses, so a default Packer template with an ansible block fails on a current Debian. imgs needs no
//! proxy for an SSH communicator: it always connects Ansible straight to the machine, which is what
//! Packer does with `use_proxy: false`. A docker build's container is reached with Ansible's own
//! docker connection (`community.docker.docker`: `docker exec` and `docker cp`, as the communicator
//! does), where Packer would put its proxy in front of `docker exec`; any other communicator that is
//! not SSH gets a clear error (a proxy on russh's server side is what it would need). The command line, the inventory and
//! the environment are Packer's for a run without its proxy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imgs_post::PostError;
use imgs_ssh::SshConfig;
use tokio_util::sync::CancellationToken;

use crate::communicator::{Communicator, OnLine, Stream};
use crate::error::ProvisionError;
use crate::settings::AnsibleSettings;

use super::ssh_target::{SshTarget, Tool, absolute};

pub(super) async fn run(
    comm: &dyn Communicator,
    settings: &AnsibleSettings,
    output: OnLine<'_>,
    cancel: &CancellationToken,
) -> Result<(), ProvisionError> {
    output(Stream::Status, "Provisioning with Ansible...");
    let container = comm
        .docker_container()
        .filter(|_| comm.ssh_config().is_none());
    let target = match &container {
        // A container is reached with Ansible's docker connection (`docker exec`, as the
        // communicator itself does) where Packer puts its SSH proxy in front of the communicator.
        Some(container) => {
            output(
                Stream::Status,
                &format!(
                    "Connecting Ansible to container {} with its docker connection (docker exec)",
                    &container.id[..container.id.len().min(12)]
                ),
            );
            SshTarget {
                host: container.id.clone(),
                port: 0,
                user: if settings.user.is_empty() {
                    container.user.clone()
                } else {
                    settings.user.clone()
                },
                key_file: None,
            }
        }
        None => target_of(comm.ssh_config(), settings)?,
    };
    if container.is_none() {
        if settings.use_proxy == Some(false) {
            output(
                Stream::Status,
                "Not using Proxy adapter for Ansible run: using ssh keys from the communicator",
            );
        } else {
            output(
                Stream::Status,
                &format!(
                    "Connecting Ansible straight to {}:{} (the communicator is SSH, so no proxy is needed)",
                    target.host, target.port
                ),
            );
        }
    }
    let major = if settings.skip_version_check {
        // As in Packer: an unknown version reads as 0, which picks the old inventory keys.
        0
    } else {
        ansible_major_version(&settings.command).await?
    };
    if let Some(galaxy_file) = &settings.galaxy_file {
        install_galaxy_requirements(settings, &galaxy_file.path, output, cancel).await?;
    }
    let inventory = Inventory::write(settings, &target, major, container.is_some())?;
    let argv = arguments(settings, &target, inventory.path());
    output(
        Stream::Status,
        &format!("Executing Ansible: {} {}", settings.command, argv.join(" ")),
    );
    let mut command = tokio::process::Command::new(&settings.command);
    command.args(&argv).current_dir(&settings.run.working_dir);
    for (name, value) in environment(settings) {
        command.env(name, value);
    }
    let mut log = |line: &str| output(Stream::Status, line);
    let code = imgs_post::local_command::run(command, &settings.command, &mut log, cancel)
        .await
        .map_err(|e| command_error(e, &settings.command))?;
    inventory.finish();
    if code == 0 {
        Ok(())
    } else {
        Err(ProvisionError::LocalCommand {
            message: format!(
                "Error executing Ansible: Non-zero exit status: {}",
                exit(code)
            ),
            hint: Some("Ansible's output above says which task failed and why".to_string()),
        })
    }
}

const ANSIBLE: Tool<'static> = Tool {
    provisioner: "ansible",
    program: "ansible-playbook",
    bastion_hint: "pass the jump host to Ansible yourself (`ansible_ssh_extra_args`: \
                   [\"-o ProxyJump=user@bastion\"]), or provision with `shell`",
};

/// Where and as whom Ansible logs in: Packer without its proxy logs in as `user` when set, else as
/// the communicator's user; through its proxy the machine always sees the communicator's user,
/// whatever `user` says.
fn target_of(
    ssh: Option<&SshConfig>,
    settings: &AnsibleSettings,
) -> Result<SshTarget, ProvisionError> {
    let user = (settings.use_proxy == Some(false) && !settings.user.is_empty())
        .then_some(settings.user.as_str());
    SshTarget::of(ssh, &ANSIBLE, user, &settings.run.working_dir)
}

/// The inventory the run reads: the template's `inventory_file`, or one imgs writes for the run.
enum Inventory {
    Given(PathBuf),
    Written(tempfile::TempPath),
    Kept(PathBuf),
}

impl Inventory {
    fn write(
        settings: &AnsibleSettings,
        target: &SshTarget,
        major_version: u64,
        in_container: bool,
    ) -> Result<Inventory, ProvisionError> {
        if let Some(given) = &settings.inventory_file {
            return Ok(Inventory::Given(given.path.clone()));
        }
        let host_line = host_line(settings, target, major_version, in_container)?;
        let mut text = host_line.clone();
        for group in &settings.groups {
            text.push_str(&format!("[{group}]\n{host_line}"));
        }
        for group in &settings.empty_groups {
            text.push_str(&format!("[{group}]\n"));
        }
        let dir = settings
            .inventory_directory
            .as_ref()
            .map_or_else(std::env::temp_dir, |d| d.path.clone());
        let failed = |e: std::io::Error| ProvisionError::Local {
            action: "write the inventory in",
            path: dir.display().to_string(),
            reason: e.to_string(),
        };
        let mut file = tempfile::Builder::new()
            .prefix("packer-provisioner-ansible")
            .tempfile_in(&dir)
            .map_err(failed)?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(failed)?;
        let path = file.into_temp_path();
        if settings.keep_inventory_file {
            let kept = path.keep().map_err(|e| failed(e.error))?;
            Ok(Inventory::Kept(kept))
        } else {
            Ok(Inventory::Written(path))
        }
    }

    fn path(&self) -> &Path {
        match self {
            Inventory::Given(path) | Inventory::Kept(path) => path,
            Inventory::Written(path) => path,
        }
    }

    /// The run is over: an inventory imgs wrote goes unless it is to be kept (dropping it removes it).
    fn finish(self) {}
}

/// The machine's line in the inventory, as Packer writes it (`inventory_file_template` when given).
fn host_line(
    settings: &AnsibleSettings,
    target: &SshTarget,
    major_version: u64,
    in_container: bool,
) -> Result<String, ProvisionError> {
    let data = BTreeMap::from([
        ("HostAlias".to_string(), settings.host_alias.clone()),
        ("Host".to_string(), target.host.clone()),
        ("User".to_string(), target.user.clone()),
        ("Port".to_string(), target.port.to_string()),
    ]);
    let template = match &settings.inventory_file_template {
        Some(template) => template.as_str(),
        // `.Host` is the container's ID; an empty `.User` leaves the image's own user.
        None if in_container && target.user.is_empty() => {
            "{{ .HostAlias }} ansible_host={{ .Host }} ansible_connection=community.docker.docker\n"
        }
        None if in_container => {
            "{{ .HostAlias }} ansible_host={{ .Host }} ansible_connection=community.docker.docker ansible_user={{ .User }}\n"
        }
        // Ansible before 2.0 (and an unknown version) reads the `ansible_ssh_*` names.
        None if major_version < 2 => {
            "{{ .HostAlias }} ansible_ssh_host={{ .Host }} ansible_ssh_user={{ .User }} ansible_ssh_port={{ .Port }}\n"
        }
        None => {
            "{{ .HostAlias }} ansible_host={{ .Host }} ansible_user={{ .User }} ansible_port={{ .Port }}\n"
        }
    };
    settings
        .run
        .renderer
        .render(template, &data)
        .map_err(|reason| {
            ProvisionError::LocalCommand {
            message: format!("Error generating inventory file from template: {reason}"),
            hint: Some(
                "`inventory_file_template` may read {{ .HostAlias }}, {{ .Host }}, {{ .User }} and \
                 {{ .Port }}"
                    .to_string(),
            ),
        }
        })
}

/// `ansible-playbook`'s arguments in Packer's order: the build's variables, the SSH options, the
/// template's own arguments, the key, then the inventory and the playbook.
fn arguments(settings: &AnsibleSettings, target: &SshTarget, inventory: &Path) -> Vec<String> {
    let mut args = Vec::new();
    if !settings.run.build_name.is_empty() {
        args.push("-e".to_string());
        args.push(format!(
            "packer_build_name={}",
            go_quoted(&settings.run.build_name)
        ));
    }
    args.push("-e".to_string());
    args.push(format!("packer_builder_type={}", settings.run.builder_type));
    if target.key_file.is_some() {
        // Packer puts the quotes inside the argument; Ansible splits the value as a shell would.
        args.push("--ssh-extra-args".to_string());
        args.push(format!("'{}'", settings.ssh_extra_args.concat()));
    }
    args.extend(settings.extra_arguments.iter().cloned());
    let gives_password = names(&args, "ansible_password");
    if let Some(key) = &target.key_file
        && !gives_password
    {
        args.push("-e".to_string());
        args.push(format!("ansible_ssh_private_key_file={}", key.display()));
    }
    if gives_password
        && !names(&args, "ansible_host_key_checking")
        && !names(&settings.env_vars, "ANSIBLE_HOST_KEY_CHECKING")
    {
        args.push("-e".to_string());
        args.push("ansible_host_key_checking=False".to_string());
    }
    args.push("-i".to_string());
    args.push(inventory.display().to_string());
    args.push(
        absolute(&settings.run.working_dir, &settings.playbook.path)
            .display()
            .to_string(),
    );
    args
}

/// Whether one of `args`, split at `=`, has a piece that is exactly `name` (Packer's test for a
/// variable the template passes itself).
fn names(args: &[String], name: &str) -> bool {
    args.iter()
        .any(|arg| arg.split('=').any(|piece| piece == name))
}

/// A string as Go's `%q` writes it (for the build name, which Packer passes quoted).
fn go_quoted(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\x{:02x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The environment `ansible-playbook` gets on top of imgs's own: `ansible_env_vars`, then Packer's
/// two defaults, which win over the template's values of the same names as in Packer.
fn environment(settings: &AnsibleSettings) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = settings
        .env_vars
        .iter()
        .filter_map(|var| var.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    if !settings.check_host_key {
        env.push(("ANSIBLE_HOST_KEY_CHECKING".into(), "False".into()));
    }
    if !settings.use_sftp {
        env.push(("ANSIBLE_SCP_IF_SSH".into(), "True".into()));
    }
    env
}

/// The major version `command --version` reports, found as Packer finds it: the first version
/// number after a word and a space (`ansible-playbook [core 2.14.3]` is 2).
async fn ansible_major_version(command: &str) -> Result<u64, ProvisionError> {
    let failed = |message: String| ProvisionError::LocalCommand {
        message,
        hint: Some(
            "install Debian's `ansible` package (apt-get install ansible), set `command` to \
             ansible-playbook's path, or set \"skip_version_check\": true"
                .to_string(),
        ),
    };
    let out = tokio::process::Command::new(command)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| failed(format!("Error running \"{command} --version\": {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(version) = version_in(&stdout) else {
        return Err(failed(format!(
            "Could not find {command} version in output:\n{stdout}"
        )));
    };
    let major = version.split('.').next().unwrap_or_default();
    major
        .parse()
        .map_err(|_| failed(format!("Could not parse major version from \"{version}\".")))
}

/// The first match of Packer's `\w (\d+\.\d+[.\d+]*)`: the version after a word character and a
/// space.
fn version_in(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    (1..bytes.len()).find_map(|space| {
        let word = bytes[space - 1];
        if bytes[space] != b' ' || !(word.is_ascii_alphanumeric() || word == b'_') {
            return None;
        }
        let start = space + 1;
        let digits = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let major = digits(start);
        if major == 0 || bytes.get(start + major) != Some(&b'.') {
            return None;
        }
        let minor = digits(start + major + 1);
        if minor == 0 {
            return None;
        }
        let mut end = start + major + 1 + minor;
        end += bytes[end..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.' || **b == b'+')
            .count();
        Some(&text[start..end])
    })
}

/// `galaxy_file`'s roles and collections installed with `galaxy_command`, as Packer does before each
/// run: roles when the file lists `roles:` or no `collections:`, collections when it lists them.
async fn install_galaxy_requirements(
    settings: &AnsibleSettings,
    galaxy_file: &Path,
    output: OnLine<'_>,
    cancel: &CancellationToken,
) -> Result<(), ProvisionError> {
    let text = std::fs::read_to_string(galaxy_file).map_err(|e| ProvisionError::Local {
        action: "read",
        path: galaxy_file.display().to_string(),
        reason: e.to_string(),
    })?;
    let at_line_start = |word: &str| text.lines().any(|line| line.starts_with(word));
    let (roles, collections) = (at_line_start("roles:"), at_line_start("collections:"));
    let mut runs: Vec<(Vec<&str>, &Option<String>)> = Vec::new();
    if roles || !collections {
        runs.push((vec!["install"], &settings.roles_path));
    }
    if collections {
        runs.push((vec!["collection", "install"], &settings.collections_path));
    }
    for (subcommand, install_path) in runs {
        output(Stream::Status, "Executing Ansible Galaxy");
        let mut command = tokio::process::Command::new(&settings.galaxy_command);
        command
            .args(subcommand)
            .arg("-r")
            .arg(galaxy_file)
            .current_dir(&settings.run.working_dir);
        if settings.galaxy_force_install {
            command.arg("-f");
        }
        if let Some(path) = install_path {
            command.arg("-p").arg(path);
        }
        let mut log = |line: &str| output(Stream::Status, line);
        let code =
            imgs_post::local_command::run(command, &settings.galaxy_command, &mut log, cancel)
                .await
                .map_err(|e| command_error(e, &settings.galaxy_command))?;
        if code != 0 {
            return Err(ProvisionError::LocalCommand {
                message: format!(
                    "Error executing Ansible: Error executing Ansible Galaxy: Non-zero exit status: {}",
                    exit(code)
                ),
                hint: Some("ansible-galaxy's output above says why".to_string()),
            });
        }
    }
    Ok(())
}

/// How Go's `*exec.ExitError` shows a status.
fn exit(code: i64) -> String {
    if code < 0 {
        "signal: killed".to_string()
    } else {
        format!("exit status {code}")
    }
}

fn command_error(e: PostError, program: &str) -> ProvisionError {
    match e {
        PostError::Cancelled => ProvisionError::Cancelled,
        other => ProvisionError::LocalCommand {
            message: format!("Error executing Ansible: {other}"),
            hint: Some(format!(
                "install Debian's `ansible` package (apt-get install ansible), or set the \
                 provisioner's command to the path of `{program}`"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_found_as_packer_finds_them() {
        assert_eq!(
            version_in("ansible-playbook [core 2.14.3]\n  config file = None"),
            Some("2.14.3")
        );
        assert_eq!(version_in("ansible-playbook 2.9.27\n"), Some("2.9.27"));
        assert_eq!(version_in("ansible 1.9.6+dfsg"), Some("1.9.6+"));
        assert_eq!(version_in("no version here 2."), None);
    }

    #[test]
    fn build_names_are_quoted_as_go_quotes_them() {
        assert_eq!(go_quoted("app"), "\"app\"");
        assert_eq!(go_quoted("a \"b\"\\c"), "\"a \\\"b\\\"\\\\c\"");
    }
}
