//! A provisioner block turned into the settings a run needs, read the way Packer 1.6.6 reads them.
//!
//! Input is the block's configuration as a located [`Node`] (after the build's `override`). Every
//! string in it is rendered with the build's template [`Context`] first — user variables, `{{build_name}}`
//! and the rest — except the keys Packer renders only at run time (`execute_command`, rendered here with
//! `{{.Vars}}` and `{{.Path}}`). The rendered values are then decoded weakly, as Packer's decoder does
//! (a number for a string, `"a,b"` for a list). Problems come back as diagnostics located in the template.

// Diagnostics are large, but they are made only on the way out and gathered into a list; boxing
// each one would buy nothing.
#![allow(clippy::result_large_err)]

mod ansible;
mod ansible_local;
mod chef;
mod converge;
mod decode;
mod file;
mod guest;
mod inspec;
mod pause;
mod powershell;
mod puppet;
mod salt;
mod shell;
mod shell_local;
mod windows;

use std::path::{Path, PathBuf};
use std::time::Duration;

use imgs_diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use imgs_template::interpolate::{self, Context};
use imgs_template::schema::{self, Section};
use imgs_template::{ProvisionerBlock, Template};

use crate::Secrets;

pub use ansible::AnsibleSettings;
pub use ansible_local::{AnsibleLocalSettings, Playbooks};
pub use chef::{
    ChefClientSettings, ChefSettings, ChefSoloSettings, DEFAULT_CLIENT_RB, DEFAULT_KNIFE_RB,
    DEFAULT_SOLO_RB,
};
pub use converge::ConvergeSettings;
pub use file::{Direction, FileSettings};
pub use guest::{GuestCommands, GuestOs};
pub use inspec::InspecSettings;
pub use pause::BreakpointSettings;
pub use powershell::{Elevated, PowerShellSettings, powershell_escape};
pub use puppet::{PuppetMode, PuppetSettings};
pub use salt::SaltSettings;
pub use shell::{EnvVarFile, ShellScript, ShellSettings};
pub use shell_local::ShellLocalSettings;
pub use windows::{
    WindowsRestartSettings, WindowsShellSettings, encoded_powershell, restart_check_command,
};

/// Everything about the build a provisioner runs in that its settings depend on.
#[derive(Clone, Copy)]
pub struct BuildContext<'a> {
    pub template: &'a Template,
    /// The build's name as written in `builders[].name` (overrides are keyed by it).
    pub raw_build_name: &'a str,
    /// User variables, build name and type (`PACKER_BUILD_NAME`, `PACKER_BUILDER_TYPE`), and `pwd`,
    /// against which relative local paths resolve, as in Packer.
    pub ctx: &'a Context<'a>,
    /// Values never to print.
    pub secrets: &'a Secrets,
}

/// What a provisioner that runs a program on the machine running imgs needs from its build.
#[derive(Clone, Debug)]
pub struct LocalRun {
    pub build_name: String,
    pub builder_type: String,
    /// Where the program runs and relative paths resolve (Packer: the directory it runs in).
    pub working_dir: PathBuf,
    /// Renders the settings Packer renders only when the step runs, with the data it has then.
    pub(crate) renderer: interpolate::OwnedContext,
}

impl LocalRun {
    pub(crate) fn of(build: &BuildContext<'_>) -> LocalRun {
        LocalRun {
            build_name: build.ctx.build_name.unwrap_or_default().to_string(),
            builder_type: build.ctx.build_type.unwrap_or_default().to_string(),
            working_dir: PathBuf::from(build.ctx.pwd),
            renderer: interpolate::OwnedContext::of(build.ctx),
        }
    }
}

/// One provisioner of a build, ready to run.
#[derive(Clone)]
pub struct ProvisionerStep {
    /// Where it is in the template, e.g. `provisioners[2]`, for messages.
    pub key: String,
    pub settings: Settings,
    pub pause_before: Option<Duration>,
    /// How often to run it again after it failed.
    pub max_retries: u64,
    /// How long one run may take.
    pub timeout: Option<Duration>,
    pub secrets: Secrets,
}

/// Debug output ends up in logs, and the settings hold secrets (in `{{.Vars}}`, say): they are
/// masked here as in all other output.
impl std::fmt::Debug for ProvisionerStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = format!(
            "ProvisionerStep {{ key: {:?}, settings: {:?}, pause_before: {:?}, max_retries: {}, \
             timeout: {:?}, secrets: {:?} }}",
            self.key,
            self.settings,
            self.pause_before,
            self.max_retries,
            self.timeout,
            self.secrets
        );
        f.write_str(&self.secrets.mask(&shown))
    }
}

#[derive(Clone, Debug)]
pub enum Settings {
    Shell(ShellSettings),
    File(FileSettings),
    /// Runs on the machine running imgs, so it needs no communicator. Boxed: it is the largest by
    /// far, and steps are moved around in lists.
    ShellLocal(Box<ShellLocalSettings>),
    /// Runs `ansible-playbook` on the machine running imgs, connecting to the machine itself.
    Ansible(Box<AnsibleSettings>),
    /// Runs `ansible-playbook` on the machine itself, from a staging directory there.
    AnsibleLocal(Box<AnsibleLocalSettings>),
    /// Runs `chef-client` on the machine against a Chef server, then deletes the node with `knife`.
    ChefClient(Box<ChefClientSettings>),
    /// Runs `chef-solo` on the machine, from a staging directory there.
    ChefSolo(Box<ChefSoloSettings>),
    /// Uploads module directories and runs `converge apply --local` on the machine.
    Converge(Box<ConvergeSettings>),
    /// Runs InSpec on the machine running imgs, checking the machine itself.
    Inspec(Box<InspecSettings>),
    /// Runs PowerShell scripts on a Windows machine.
    PowerShell(Box<PowerShellSettings>),
    /// Runs `puppet apply` or `puppet agent` on the machine, from a staging directory there.
    Puppet(Box<PuppetSettings>),
    /// Runs `salt-call --local` on the machine, after moving the state tree into place.
    Salt(Box<SaltSettings>),
    /// Runs batch scripts with `cmd` on a Windows machine.
    WindowsShell(Box<WindowsShellSettings>),
    /// Restarts a Windows machine and waits until it is back.
    WindowsRestart(Box<WindowsRestartSettings>),
    /// Waits this long, on no machine.
    Sleep(Duration),
    /// Waits for a person to press enter on the terminal imgs runs in.
    Breakpoint(BreakpointSettings),
}

impl ProvisionerStep {
    /// Reads `block` (found under `key`, e.g. `provisioners[0]`) for the build in `build`.
    pub fn from_block(
        build: &BuildContext<'_>,
        key: &str,
        block: &ProvisionerBlock,
    ) -> Result<ProvisionerStep, Diagnostics> {
        let locate = Locator {
            template: build.template,
            key,
        };
        let found = PROVISIONERS.iter().find(|p| p.kind == block.kind);
        let Some((provisioner, schema)) = found.and_then(|provisioner| {
            schema::lookup(Section::Provisioner, provisioner.kind).map(|s| (provisioner, s))
        }) else {
            let kinds: Vec<String> = PROVISIONERS
                .iter()
                .map(|p| format!("`{}`", p.kind))
                .collect();
            if let Some((_, why)) = VALIDATED_ONLY.iter().find(|(kind, _)| *kind == block.kind) {
                return Err(locate
                    .error(
                        block.span.start,
                        None,
                        format!(
                            "provisioner type `{}` is checked by imgs as Packer checks it, but not \
                             run: {why}",
                            block.kind
                        ),
                    )
                    .hint(format!(
                        "build this template with Packer; imgs runs the {} provisioners",
                        listed(&kinds)
                    ))
                    .into());
            }
            return Err(locate
                .error(
                    block.span.start,
                    None,
                    format!("provisioner type `{}` is not supported yet", block.kind),
                )
                .hint(format!("imgs runs the {} provisioners", listed(&kinds)))
                .into());
        };
        let config = block.config_for(build.raw_build_name);
        let mut problems = Vec::new();
        for member in config.members() {
            if schema::is_ignored_key(&member.key) || schema.find_key(&member.key).is_some() {
                continue;
            }
            let known = schema.all_keys().map(|(k, _)| k);
            let mut d = locate.error(
                member.key_span.start,
                Some(&member.key),
                format!(
                    "unknown key `{}` in provisioner `{}`",
                    member.key, block.kind
                ),
            );
            if let Some(close) = did_you_mean(&member.key, known) {
                d = d.hint(format!("did you mean `{close}`?"));
            }
            problems.push(d);
        }
        let rendered = decode::render_strings(&config, build.ctx, schema.deferred)
            .map_err(|(message, offset)| vec![locate.error(offset, None, message)]);
        let settings = rendered.and_then(|config| {
            let reader = decode::Reader {
                config: &config,
                locate: &locate,
            };
            (provisioner.read)(&reader, build)
        });
        let max_retries = max_retries(block, build.ctx, &locate);
        match (settings, max_retries) {
            (Ok(settings), Ok(max_retries)) if problems.is_empty() => Ok(ProvisionerStep {
                key: key.to_string(),
                settings,
                pause_before: block.pause_before_duration(),
                max_retries,
                timeout: block.timeout_duration(),
                secrets: build.secrets.clone(),
            }),
            (settings, max_retries) => {
                problems.extend(settings.err().unwrap_or_default());
                problems.extend(max_retries.err());
                Err(Diagnostics(problems))
            }
        }
    }

    /// The provisioner's type as written in templates.
    pub fn kind(&self) -> &'static str {
        match &self.settings {
            Settings::Shell(_) => "shell",
            Settings::File(_) => "file",
            Settings::ShellLocal(_) => "shell-local",
            Settings::Ansible(_) => "ansible",
            Settings::AnsibleLocal(_) => "ansible-local",
            Settings::ChefClient(_) => "chef-client",
            Settings::ChefSolo(_) => "chef-solo",
            Settings::Converge(_) => "converge",
            Settings::Inspec(_) => "inspec",
            Settings::PowerShell(_) => "powershell",
            Settings::Puppet(settings) => settings.mode.kind(),
            Settings::Salt(_) => "salt-masterless",
            Settings::WindowsShell(_) => "windows-shell",
            Settings::WindowsRestart(_) => "windows-restart",
            Settings::Sleep(_) => "sleep",
            Settings::Breakpoint(_) => "breakpoint",
        }
    }

    /// Whether it runs through the build's communicator (`shell-local` runs where imgs runs; `sleep`
    /// and `breakpoint` only wait).
    pub fn needs_communicator(&self) -> bool {
        !matches!(
            self.settings,
            Settings::ShellLocal(_) | Settings::Sleep(_) | Settings::Breakpoint(_)
        )
    }
}

/// A provisioner type imgs runs: how its rendered settings are read.
struct ProvisionerType {
    kind: &'static str,
    read: fn(&decode::Reader<'_>, &BuildContext<'_>) -> Result<Settings, Vec<Diagnostic>>,
}

/// Provisioner types imgs validates (they have a spec line) but does not run, and why.
const VALIDATED_ONLY: &[(&str, &str)] = &[(
    "azure-dtlartifact",
    "it installs Azure DevTest Labs artifacts through Azure's API, and no builder imgs runs makes \
     an Azure machine",
)];

/// Every provisioner type imgs runs, in the order messages list them. (Their keys, Packer's checks
/// and the files they read are declared in imgs-template's spec table.) A new type is its module,
/// its `Settings` variant and one line here.
static PROVISIONERS: &[ProvisionerType] = &[
    ProvisionerType {
        kind: "shell",
        read: |r, build| shell::read(r, build).map(Settings::Shell),
    },
    ProvisionerType {
        kind: "file",
        read: |r, build| file::read(r, build.ctx).map(Settings::File),
    },
    ProvisionerType {
        kind: "shell-local",
        read: |r, build| shell_local::read(r, build).map(|s| Settings::ShellLocal(Box::new(s))),
    },
    ProvisionerType {
        kind: "ansible",
        read: |r, build| ansible::read(r, build).map(|s| Settings::Ansible(Box::new(s))),
    },
    ProvisionerType {
        kind: "ansible-local",
        read: |r, build| ansible_local::read(r, build).map(|s| Settings::AnsibleLocal(Box::new(s))),
    },
    ProvisionerType {
        kind: "breakpoint",
        read: |r, _| pause::read_breakpoint(r).map(Settings::Breakpoint),
    },
    ProvisionerType {
        kind: "chef-client",
        read: |r, build| chef::read_client(r, build).map(|s| Settings::ChefClient(Box::new(s))),
    },
    ProvisionerType {
        kind: "chef-solo",
        read: |r, build| chef::read_solo(r, build).map(|s| Settings::ChefSolo(Box::new(s))),
    },
    ProvisionerType {
        kind: "converge",
        read: |r, build| converge::read(r, build).map(|s| Settings::Converge(Box::new(s))),
    },
    ProvisionerType {
        kind: "inspec",
        read: |r, build| inspec::read(r, build).map(|s| Settings::Inspec(Box::new(s))),
    },
    ProvisionerType {
        kind: "powershell",
        read: |r, build| powershell::read(r, build).map(|s| Settings::PowerShell(Box::new(s))),
    },
    ProvisionerType {
        kind: "puppet-masterless",
        read: |r, build| puppet::read_masterless(r, build).map(|s| Settings::Puppet(Box::new(s))),
    },
    ProvisionerType {
        kind: "puppet-server",
        read: |r, build| puppet::read_server(r, build).map(|s| Settings::Puppet(Box::new(s))),
    },
    ProvisionerType {
        kind: "salt-masterless",
        read: |r, build| salt::read(r, build).map(|s| Settings::Salt(Box::new(s))),
    },
    ProvisionerType {
        kind: "sleep",
        read: |r, _| pause::read_sleep(r).map(Settings::Sleep),
    },
    ProvisionerType {
        kind: "windows-restart",
        read: |r, _| windows::read_restart(r).map(|s| Settings::WindowsRestart(Box::new(s))),
    },
    ProvisionerType {
        kind: "windows-shell",
        read: |r, build| windows::read_shell(r, build).map(|s| Settings::WindowsShell(Box::new(s))),
    },
];

/// Whether imgs runs provisioners of type `kind` itself (the others go to the `packer` engine).
pub fn runs_natively(kind: &str) -> bool {
    PROVISIONERS.iter().any(|p| p.kind == kind)
}

/// "the `a`, `b` and `c`".
fn listed(kinds: &[String]) -> String {
    match kinds.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// `max_retries`: Packer renders it and then wants an integer.
fn max_retries(
    block: &ProvisionerBlock,
    ctx: &Context<'_>,
    locate: &Locator<'_>,
) -> Result<u64, Diagnostic> {
    if let Some(n) = block.max_retries {
        return Ok(n);
    }
    let Some(text) = &block.max_retries_text else {
        return Ok(0);
    };
    let at = block.span.start;
    let rendered = interpolate::render_until_stable(text, ctx)
        .map_err(|e| locate.error(at, Some("max_retries"), e.message))?;
    match rendered.text.trim().parse::<i64>() {
        Ok(n) => Ok(u64::try_from(n).unwrap_or(0)),
        Err(_) => Err(locate
            .error(
                at,
                Some("max_retries"),
                format!("`max_retries` must be an integer, not `{}`", rendered.text),
            )
            .hint("write a whole number of retries, e.g. \"max_retries\": 3")),
    }
}

/// Turns positions in the template into located diagnostics for one provisioner.
pub(crate) struct Locator<'a> {
    template: &'a Template,
    key: &'a str,
}

impl Locator<'_> {
    pub(crate) fn error(
        &self,
        offset: usize,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let key = match field {
            Some(field) => format!("{}.{field}", self.key),
            None => self.key.to_string(),
        };
        Diagnostic::error(message)
            .at(self.template.location(offset))
            .key(key)
    }
}

/// A local path as written and where it is: relative paths resolve against the working directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPath {
    pub written: String,
    pub path: PathBuf,
}

impl LocalPath {
    pub(crate) fn new(written: &str, pwd: &str) -> Self {
        let path = Path::new(written);
        let path = if path.is_absolute() || pwd.is_empty() {
            path.to_path_buf()
        } else {
            Path::new(pwd).join(path)
        };
        Self {
            written: written.to_string(),
            path,
        }
    }
}

#[cfg(test)]
mod tests {
    /// A provisioner imgs runs is one it validates (a line here without a spec line would be refused
    /// as "not supported" at build time).
    #[test]
    fn every_provisioner_imgs_runs_has_a_spec() {
        for provisioner in super::PROVISIONERS {
            assert!(
                super::schema::lookup(super::Section::Provisioner, provisioner.kind).is_some(),
                "provisioner `{}` has no spec",
                provisioner.kind
            );
        }
    }
}
