//! The `salt-masterless` provisioner's settings, with Packer 1.6.6's defaults per guest OS.

use imgs_diagnostic::Diagnostic;

use super::decode::Reader;
use super::guest::{GuestCommands, GuestOs, read_guest_os};
use super::{BuildContext, LocalPath};

#[derive(Clone, Debug)]
pub struct SaltSettings {
    /// Packer's guest commands; their `sudo` (Unix, unless `disable_sudo`) also goes in front of the
    /// bootstrap, the moves and `salt-call`.
    pub guest: GuestCommands,
    pub skip_bootstrap: bool,
    pub bootstrap_args: String,
    pub local_state_tree: LocalPath,
    pub local_pillar_roots: Option<LocalPath>,
    pub minion_config: Option<LocalPath>,
    pub grains_file: Option<LocalPath>,
    /// Where the state tree and the pillar end up (Packer's defaults per OS when unset).
    pub state_tree: String,
    pub pillar_roots: String,
    /// Where files are staged before they are moved into place.
    pub temp_config_dir: String,
    /// Salt's configuration directory, for the minion config and grains.
    pub config_dir: String,
    pub no_exit_on_failure: bool,
    /// `salt_bin_dir`, in front of `salt-call`.
    pub salt_bin_dir: String,
    /// Everything after `salt-call --local`: Packer's `CmdArgs`.
    pub call_args: String,
}

pub(super) fn read(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<SaltSettings, Vec<Diagnostic>> {
    let pwd = build.ctx.pwd;
    let os = read_guest_os(r).map_err(|d| vec![d])?;
    if r.strings("formulas").is_some_and(|f| !f.is_empty()) {
        return Err(vec![
            r.error("formulas", "not supported yet: `formulas`").hint(
                "Packer clones each formula with git into the local state tree before the \
                     build; clone them there yourself (they then count in the image's \
                     fingerprint) and remove `formulas`",
            ),
        ]);
    }
    let path = |key: &str| r.non_empty_string(key).map(|p| LocalPath::new(&p, pwd));
    let Some(local_state_tree) = path("local_state_tree") else {
        return Err(vec![
            r.error("local_state_tree", "local_state_tree cannot be empty")
                .hint("name the directory of Salt states to apply"),
        ]);
    };
    let (temp_dir, state_root, pillar_root, config_dir) = match os {
        GuestOs::Unix => ("/tmp/salt", "/srv/salt", "/srv/pillar", "/etc/salt"),
        GuestOs::Windows => (
            "C:/Windows/Temp/salt/",
            "C:/salt/state",
            "C:/salt/pillar/",
            "C:/salt/conf",
        ),
    };
    let disable_sudo = r.bool("disable_sudo");
    let minion_config = path("minion_config");
    let remote_state_tree = r.non_empty_string("remote_state_tree");
    let remote_pillar_roots = r.non_empty_string("remote_pillar_roots");
    let state_tree = remote_state_tree
        .clone()
        .unwrap_or_else(|| state_root.to_string());
    let pillar_roots = remote_pillar_roots
        .clone()
        .unwrap_or_else(|| pillar_root.to_string());
    // Packer's `CmdArgs`, built in its order; each piece starts with a space.
    let mut call_args = match r.non_empty_string("custom_state") {
        None => " state.highstate".to_string(),
        Some(state) => format!(" state.sls {state}"),
    };
    if minion_config.is_none() {
        call_args.push_str(&format!(
            " --file-root={state_tree} --pillar-root={pillar_roots}"
        ));
    }
    let no_exit_on_failure = r.bool("no_exit_on_failure");
    if !no_exit_on_failure {
        call_args.push_str(" --retcode-passthrough");
    }
    let log_level = r
        .non_empty_string("log_level")
        .unwrap_or_else(|| "info".to_string());
    call_args.push_str(&format!(" -l {log_level}"));
    if let Some(extra) = r.non_empty_string("salt_call_args") {
        call_args.push_str(&format!(" {extra}"));
    }
    Ok(SaltSettings {
        guest: GuestCommands {
            os,
            sudo: !disable_sudo,
        },
        skip_bootstrap: r.bool("skip_bootstrap"),
        bootstrap_args: r.string("bootstrap_args").unwrap_or_default(),
        local_state_tree,
        local_pillar_roots: path("local_pillar_roots"),
        minion_config,
        grains_file: path("grains_file"),
        state_tree,
        pillar_roots,
        temp_config_dir: r
            .non_empty_string("temp_config_dir")
            .unwrap_or_else(|| temp_dir.to_string()),
        config_dir: config_dir.to_string(),
        no_exit_on_failure,
        salt_bin_dir: r.string("salt_bin_dir").unwrap_or_default(),
        call_args,
    })
}
