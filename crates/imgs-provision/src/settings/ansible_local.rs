//! The `ansible-local` provisioner's settings, with Packer 1.6.6's defaults. Its `Prepare` checks (the
//! files and directories exist, one of `playbook_file`/`playbook_files`) are imgs-template's; this
//! reads what the run needs.

use imgs_diagnostic::Diagnostic;

use super::decode::Reader;
use super::{BuildContext, LocalPath};

/// Where Packer stages the playbook when `staging_directory` is unset: a new directory per run below.
const DEFAULT_STAGING_ROOT: &str = "/tmp/packer-provisioner-ansible-local";

#[derive(Clone, Debug)]
pub struct AnsibleLocalSettings {
    /// `command`: what runs the playbook on the machine, environment assignments included.
    pub command: String,
    pub extra_arguments: Vec<String>,
    pub playbooks: Playbooks,
    /// `playbook_dir`: uploaded whole as the staging directory's contents.
    pub playbook_dir: Option<LocalPath>,
    pub group_vars: Option<LocalPath>,
    pub host_vars: Option<LocalPath>,
    /// `playbook_paths`: each uploaded to `<staging>/playbooks/<name>`.
    pub playbook_paths: Vec<LocalPath>,
    /// `role_paths`: each uploaded to `<staging>/roles/<name>`.
    pub role_paths: Vec<LocalPath>,
    pub staging_directory: String,
    pub clean_staging_directory: bool,
    /// An inventory the template brings; without one, imgs writes Packer's (`127.0.0.1`, in each of
    /// `inventory_groups`).
    pub inventory_file: Option<LocalPath>,
    pub inventory_groups: Vec<String>,
    pub galaxy_file: Option<LocalPath>,
    pub galaxy_command: String,
    pub build_name: String,
    pub builder_type: String,
}

#[derive(Clone, Debug)]
pub enum Playbooks {
    /// `playbook_file`: uploaded into the staging directory by its name.
    File(LocalPath),
    /// `playbook_files`: by absolute path, each uploaded to `<staging><absolute path>` unless it lies
    /// in `playbook_dir` (then it is already there).
    Files(Vec<LocalPath>),
}

pub(super) fn read(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<AnsibleLocalSettings, Vec<Diagnostic>> {
    let pwd = build.ctx.pwd;
    let path = |key: &str| r.non_empty_string(key).map(|p| LocalPath::new(&p, pwd));
    let paths = |key: &str| {
        r.strings(key)
            .unwrap_or_default()
            .iter()
            .map(|p| LocalPath::new(p, pwd))
            .collect::<Vec<_>>()
    };
    let files = paths("playbook_files");
    let playbooks = match (path("playbook_file"), files.is_empty()) {
        (Some(file), true) => Playbooks::File(file),
        (None, false) => Playbooks::Files(files),
        (Some(_), false) => {
            return Err(vec![r.error(
                "playbook_files",
                "Either playbook_file or playbook_files can be specified, not both",
            )]);
        }
        (None, true) => {
            return Err(vec![
                r.error(
                    "playbook_file",
                    "Either playbook_file or playbook_files must be specified",
                )
                .hint("name the playbook the machine runs in `playbook_file`"),
            ]);
        }
    };
    let text = |key: &str, default: &str| {
        r.non_empty_string(key)
            .unwrap_or_else(|| default.to_string())
    };
    Ok(AnsibleLocalSettings {
        command: text(
            "command",
            "ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook",
        ),
        extra_arguments: r.strings("extra_arguments").unwrap_or_default(),
        playbooks,
        playbook_dir: path("playbook_dir"),
        group_vars: path("group_vars"),
        host_vars: path("host_vars"),
        playbook_paths: paths("playbook_paths"),
        role_paths: paths("role_paths"),
        staging_directory: r
            .non_empty_string("staging_directory")
            .unwrap_or_else(|| format!("{DEFAULT_STAGING_ROOT}/{}", uuid::Uuid::new_v4())),
        clean_staging_directory: r.bool("clean_staging_directory"),
        inventory_file: path("inventory_file"),
        inventory_groups: r.strings("inventory_groups").unwrap_or_default(),
        galaxy_file: path("galaxy_file"),
        galaxy_command: text("galaxy_command", "ansible-galaxy"),
        build_name: build.ctx.build_name.unwrap_or_default().to_string(),
        builder_type: build.ctx.build_type.unwrap_or_default().to_string(),
    })
}
