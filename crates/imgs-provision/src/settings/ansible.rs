//! The `ansible` provisioner's settings, with Packer 1.6.6's defaults. Packer's `Prepare` checks (the
//! playbook exists, `ansible-playbook --version` runs, …) are imgs-template's, made before any build
//! starts; this reads what the run needs.

use imgs_diagnostic::Diagnostic;

use super::decode::Reader;
use super::{BuildContext, LocalPath, LocalRun};

/// An ansible step and what it needs from its build when it runs.
#[derive(Clone, Debug)]
pub struct AnsibleSettings {
    /// `command`: the playbook runner, `ansible-playbook` by default.
    pub command: String,
    pub extra_arguments: Vec<String>,
    /// `ansible_env_vars`, `NAME=value` each, set for the run after the process environment.
    pub env_vars: Vec<String>,
    pub playbook: LocalPath,
    /// `ansible_ssh_extra_args`, passed as one `--ssh-extra-args` value (Packer joins them with no
    /// separator); `-o IdentitiesOnly=yes` by default.
    pub ssh_extra_args: Vec<String>,
    pub groups: Vec<String>,
    pub empty_groups: Vec<String>,
    /// `host_alias`: the machine's name in the inventory, `default` by default.
    pub host_alias: String,
    /// `user` as written (empty: the communicator's user, as Packer without its proxy).
    pub user: String,
    /// `use_proxy` as written: unset, true or false.
    pub use_proxy: Option<bool>,
    /// With `ssh_host_key_file` set Packer leaves host key checking on.
    pub check_host_key: bool,
    /// `use_sftp`: without it Ansible is told to copy with scp (`ANSIBLE_SCP_IF_SSH=True`).
    pub use_sftp: bool,
    pub skip_version_check: bool,
    /// `inventory_file`: an inventory the template brings, passed as is.
    pub inventory_file: Option<LocalPath>,
    /// Where the inventory imgs writes goes (`inventory_directory`; the temporary directory when
    /// unset).
    pub inventory_directory: Option<LocalPath>,
    /// `inventory_file_template`, rendered with `.HostAlias`, `.Host`, `.User` and `.Port`.
    pub inventory_file_template: Option<String>,
    pub keep_inventory_file: bool,
    pub galaxy_file: Option<LocalPath>,
    pub galaxy_command: String,
    pub galaxy_force_install: bool,
    pub roles_path: Option<String>,
    pub collections_path: Option<String>,
    /// `inventory_file_template` is rendered once the machine's address is known.
    pub run: LocalRun,
}

pub(super) fn read(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<AnsibleSettings, Vec<Diagnostic>> {
    let pwd = build.ctx.pwd;
    let text = |key: &str, default: &str| {
        r.non_empty_string(key)
            .unwrap_or_else(|| default.to_string())
    };
    let list = |key: &str| r.strings(key).unwrap_or_default();
    let path = |key: &str| r.non_empty_string(key).map(|p| LocalPath::new(&p, pwd));
    let Some(playbook) = path("playbook_file") else {
        return Err(vec![
            r.error("playbook_file", "playbook_file must be specified.")
                .hint("name the playbook Ansible runs, e.g. \"playbook_file\": \"site.yml\""),
        ]);
    };
    let ssh_extra_args = match r.strings("ansible_ssh_extra_args") {
        Some(args) if !args.is_empty() => args,
        _ => vec!["-o IdentitiesOnly=yes".to_string()],
    };
    Ok(AnsibleSettings {
        command: text("command", "ansible-playbook"),
        extra_arguments: list("extra_arguments"),
        env_vars: list("ansible_env_vars"),
        playbook,
        ssh_extra_args,
        groups: list("groups"),
        empty_groups: list("empty_groups"),
        host_alias: text("host_alias", "default"),
        user: text("user", ""),
        use_proxy: r.non_empty_string("use_proxy").map(|_| r.bool("use_proxy")),
        check_host_key: r.non_empty_string("ssh_host_key_file").is_some(),
        use_sftp: r.bool("use_sftp"),
        skip_version_check: r.bool("skip_version_check"),
        inventory_file: path("inventory_file"),
        inventory_directory: path("inventory_directory"),
        inventory_file_template: r.non_empty_string("inventory_file_template"),
        keep_inventory_file: r.bool("keep_inventory_file"),
        galaxy_file: path("galaxy_file"),
        galaxy_command: text("galaxy_command", "ansible-galaxy"),
        galaxy_force_install: r.bool("galaxy_force_install"),
        roles_path: r.non_empty_string("roles_path"),
        collections_path: r.non_empty_string("collections_path"),
        run: LocalRun::of(build),
    })
}
