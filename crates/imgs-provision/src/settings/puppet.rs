//! The settings of `puppet-masterless` and `puppet-server`, with Packer 1.6.6's defaults. Both stage
//! files in a directory on the machine and run one `puppet` command there; they differ in what they
//! upload and in the command.

use std::collections::BTreeMap;

use imgs_diagnostic::Diagnostic;

use super::decode::Reader;
use super::guest::{GuestCommands, GuestOs, read_guest_os};
use super::{BuildContext, Elevated, LocalPath, LocalRun};

#[derive(Clone, Debug)]
pub struct PuppetSettings {
    pub mode: PuppetMode,
    pub guest: GuestCommands,
    /// `execute_command`, rendered when the step runs (with `.FacterVars`, `.Sudo`, ...).
    pub execute_command: String,
    /// `extra_arguments`, joined with spaces and rendered when the step runs.
    pub extra_arguments: Vec<String>,
    /// `facter`, with `packer_build_name` and `packer_builder_type` added as Packer adds them. Sorted by
    /// name: Packer's order is Go's random map order.
    pub facter: BTreeMap<String, String>,
    pub ignore_exit_codes: bool,
    pub clean_staging_directory: bool,
    pub puppet_bin_dir: String,
    pub staging_directory: String,
    /// Where the command runs; the staging directory by default.
    pub working_directory: String,
    /// With `elevated_user`, the command runs as a Windows scheduled task of that user.
    pub elevated: Option<Elevated>,
    pub run: LocalRun,
}

#[derive(Clone, Debug)]
pub enum PuppetMode {
    /// `puppet apply` of uploaded manifests.
    Masterless {
        /// A manifest file, or a directory of them.
        manifest_file: LocalPath,
        manifest_dir: Option<LocalPath>,
        module_paths: Vec<LocalPath>,
        hiera_config_path: Option<LocalPath>,
    },
    /// `puppet agent --onetime` against a server.
    Server {
        client_cert_path: Option<LocalPath>,
        client_private_key_path: Option<LocalPath>,
        puppet_node: String,
        puppet_server: String,
    },
}

impl PuppetMode {
    pub fn kind(&self) -> &'static str {
        match self {
            PuppetMode::Masterless { .. } => "puppet-masterless",
            PuppetMode::Server { .. } => "puppet-server",
        }
    }
}

const MASTERLESS_UNIX: &str = "cd {{.WorkingDir}} && \
    {{if ne .FacterVars \"\"}}{{.FacterVars}} {{end}}\
    {{if .Sudo}}sudo -E {{end}}\
    {{if ne .PuppetBinDir \"\"}}{{.PuppetBinDir}}/{{end}}\
    puppet apply --detailed-exitcodes \
    {{if .Debug}}--debug {{end}}\
    {{if ne .ModulePath \"\"}}--modulepath='{{.ModulePath}}' {{end}}\
    {{if ne .HieraConfigPath \"\"}}--hiera_config='{{.HieraConfigPath}}' {{end}}\
    {{if ne .ManifestDir \"\"}}--manifestdir='{{.ManifestDir}}' {{end}}\
    {{if ne .ExtraArguments \"\"}}{{.ExtraArguments}} {{end}}\
    {{.ManifestFile}}";

const MASTERLESS_WINDOWS: &str = "cd {{.WorkingDir}} && \
    {{if ne .FacterVars \"\"}}{{.FacterVars}} && {{end}}\
    {{if ne .PuppetBinDir \"\"}}{{.PuppetBinDir}}/{{end}}\
    puppet apply --detailed-exitcodes \
    {{if .Debug}}--debug {{end}}\
    {{if ne .ModulePath \"\"}}--modulepath='{{.ModulePath}}' {{end}}\
    {{if ne .HieraConfigPath \"\"}}--hiera_config='{{.HieraConfigPath}}' {{end}}\
    {{if ne .ManifestDir \"\"}}--manifestdir='{{.ManifestDir}}' {{end}}\
    {{if ne .ExtraArguments \"\"}}{{.ExtraArguments}} {{end}}\
    {{.ManifestFile}}";

const SERVER_UNIX: &str = "cd {{.WorkingDir}} && \
    {{if ne .FacterVars \"\"}}{{.FacterVars}} {{end}}\
    {{if .Sudo}}sudo -E {{end}}\
    {{if ne .PuppetBinDir \"\"}}{{.PuppetBinDir}}/{{end}}\
    puppet agent --onetime --no-daemonize --detailed-exitcodes \
    {{if .Debug}}--debug {{end}}\
    {{if ne .PuppetServer \"\"}}--server='{{.PuppetServer}}' {{end}}\
    {{if ne .PuppetNode \"\"}}--certname='{{.PuppetNode}}' {{end}}\
    {{if ne .ClientCertPath \"\"}}--certdir='{{.ClientCertPath}}' {{end}}\
    {{if ne .ClientPrivateKeyPath \"\"}}--privatekeydir='{{.ClientPrivateKeyPath}}' {{end}}\
    {{if ne .ExtraArguments \"\"}}{{.ExtraArguments}} {{end}}";

const SERVER_WINDOWS: &str = "cd {{.WorkingDir}} && \
    {{if ne .FacterVars \"\"}}{{.FacterVars}} && {{end}}\
    {{if ne .PuppetBinDir \"\"}}{{.PuppetBinDir}}/{{end}}\
    puppet agent --onetime --no-daemonize --detailed-exitcodes \
    {{if .Debug}}--debug {{end}}\
    {{if ne .PuppetServer \"\"}}--server='{{.PuppetServer}}' {{end}}\
    {{if ne .PuppetNode \"\"}}--certname='{{.PuppetNode}}' {{end}}\
    {{if ne .ClientCertPath \"\"}}--certdir='{{.ClientCertPath}}' {{end}}\
    {{if ne .ClientPrivateKeyPath \"\"}}--privatekeydir='{{.ClientPrivateKeyPath}}' {{end}}\
    {{if ne .ExtraArguments \"\"}}{{.ExtraArguments}} {{end}}";

/// Packer's default command for a mode and guest OS.
fn default_command(server: bool, os: GuestOs) -> &'static str {
    match (server, os) {
        (false, GuestOs::Unix) => MASTERLESS_UNIX,
        (false, GuestOs::Windows) => MASTERLESS_WINDOWS,
        (true, GuestOs::Unix) => SERVER_UNIX,
        (true, GuestOs::Windows) => SERVER_WINDOWS,
    }
}

/// Packer's default staging directory. For Windows guests Packer builds it from the `SYSTEMROOT` of
/// the machine *running* Packer (its own "FIXME"): on Linux that is `/Temp/...`; imgs does the same so
/// that a template behaves as it did.
fn default_staging_directory(os: GuestOs, name: &str) -> String {
    match os {
        GuestOs::Unix => format!("/tmp/{name}"),
        GuestOs::Windows => {
            let root = std::env::var("SYSTEMROOT").unwrap_or_default();
            format!("{}/Temp/{name}", root.replace('\\', "/"))
        }
    }
}

pub(super) fn read_masterless(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<PuppetSettings, Vec<Diagnostic>> {
    let pwd = build.ctx.pwd;
    let path = |key: &str| r.non_empty_string(key).map(|p| LocalPath::new(&p, pwd));
    let Some(manifest_file) = path("manifest_file") else {
        return Err(vec![
            r.error("manifest_file", "A manifest_file must be specified.")
                .hint("name the manifest (or a directory of manifests) `puppet apply` runs"),
        ]);
    };
    let mode = PuppetMode::Masterless {
        manifest_file,
        manifest_dir: path("manifest_dir"),
        module_paths: r
            .strings("module_paths")
            .unwrap_or_default()
            .iter()
            .map(|p| LocalPath::new(p, pwd))
            .collect(),
        hiera_config_path: path("hiera_config_path"),
    };
    read_common(r, build, mode, "staging_directory")
}

pub(super) fn read_server(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<PuppetSettings, Vec<Diagnostic>> {
    let pwd = build.ctx.pwd;
    let path = |key: &str| r.non_empty_string(key).map(|p| LocalPath::new(&p, pwd));
    let mode = PuppetMode::Server {
        client_cert_path: path("client_cert_path"),
        client_private_key_path: path("client_private_key_path"),
        puppet_node: r.string("puppet_node").unwrap_or_default(),
        puppet_server: r.string("puppet_server").unwrap_or_default(),
    };
    read_common(r, build, mode, "staging_dir")
}

fn read_common(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
    mode: PuppetMode,
    staging_key: &str,
) -> Result<PuppetSettings, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let os = read_guest_os(r).unwrap_or_else(|d| {
        problems.push(d);
        GuestOs::Unix
    });
    let mut facter: BTreeMap<String, String> = match r.map("facter") {
        Ok(entries) => entries.into_iter().collect(),
        Err(d) => {
            problems.push(d);
            BTreeMap::new()
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let run = LocalRun::of(build);
    facter.insert("packer_build_name".to_string(), run.build_name.clone());
    facter.insert("packer_builder_type".to_string(), run.builder_type.clone());
    let server = matches!(mode, PuppetMode::Server { .. });
    let staging_directory = r.non_empty_string(staging_key).unwrap_or_else(|| {
        default_staging_directory(
            os,
            if server {
                "packer-puppet-server"
            } else {
                "packer-puppet-masterless"
            },
        )
    });
    let prevent_sudo = r.bool("prevent_sudo");
    Ok(PuppetSettings {
        guest: GuestCommands {
            os,
            sudo: !prevent_sudo,
        },
        execute_command: r
            .non_empty_string("execute_command")
            .unwrap_or_else(|| default_command(server, os).to_string()),
        extra_arguments: r.strings("extra_arguments").unwrap_or_default(),
        facter,
        ignore_exit_codes: r.bool("ignore_exit_codes"),
        clean_staging_directory: r.bool("clean_staging_directory"),
        puppet_bin_dir: r.string("puppet_bin_dir").unwrap_or_default(),
        working_directory: r
            .non_empty_string("working_directory")
            .unwrap_or_else(|| staging_directory.clone()),
        staging_directory,
        mode,
        elevated: r.non_empty_string("elevated_user").map(|user| Elevated {
            user,
            password: r.string("elevated_password").unwrap_or_default(),
        }),
        run,
    })
}

impl PuppetSettings {
    /// `.FacterVars`: each fact as Packer writes it for the guest OS, joined as it joins them.
    pub fn facter_vars(&self) -> String {
        let (joiner, shown): (&str, fn(&str, &str) -> String) = match self.guest.os {
            GuestOs::Unix => (" ", |k, v| format!("FACTER_{k}='{v}'")),
            GuestOs::Windows => (" & ", |k, v| format!("SET \"FACTER_{k}={v}\"")),
        };
        self.facter
            .iter()
            .map(|(k, v)| shown(k, v))
            .collect::<Vec<_>>()
            .join(joiner)
    }

    /// How the guest joins module paths (`.ModulePathJoiner`).
    pub fn module_path_joiner(&self) -> &'static str {
        match self.guest.os {
            GuestOs::Unix => ":",
            GuestOs::Windows => ";",
        }
    }
}
