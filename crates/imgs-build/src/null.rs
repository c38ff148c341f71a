//! The `null` builder: no machine of its own. With `communicator: ssh` (the default) it provisions an
//! existing host; with `communicator: none` it does nothing at all. Its artifact is Packer's: ID
//! `Null`, nothing exported.

use std::path::Path;

use imgs_diagnostic::Diagnostics;
use imgs_provision::{Communicator, ReconnectingSsh};
use imgs_ssh::SshConfig;
use tokio_util::sync::CancellationToken;

use crate::builder::{Builder, Log};
use crate::settings::Settings as RenderedSettings;
use crate::{Artifact, BuildError};
use imgs_settings::Settings;

pub struct NullBuilder {
    ssh: Option<SshConfig>,
}

/// Reads the settings Packer 1.6.6's null builder takes: the communicator and its `ssh_*` keys.
pub fn read(
    settings: &RenderedSettings<'_>,
    working_dir: &Path,
) -> Result<NullBuilder, Diagnostics> {
    let communicator = settings.text("communicator").unwrap_or_default();
    // The `winrm_*` keys are Packer's; with a winrm communicator the one error below says it all.
    let prefixes: &[&str] = if communicator == "winrm" {
        &["ssh_", "winrm_"]
    } else {
        &["ssh_"]
    };
    let mut problems = settings.unknown_keys("builder `null`", &["communicator"], prefixes);
    let ssh = match communicator.as_str() {
        "" | "ssh" => {
            match SshConfig::read(&rooted_key_files(settings.located.clone(), working_dir)) {
                Ok(config) => Some(config),
                Err(d) => {
                    problems.extend(d.0);
                    None
                }
            }
        }
        "none" => None,
        "winrm" => {
            problems.push(
                settings
                    .error("communicator", "not supported yet: communicator `winrm`")
                    .hint(
                        "imgs reaches Windows machines over SSH (Windows' own OpenSSH server, which \
                         Packer 1.6.6 supports too): set `communicator` to `ssh` with the `ssh_*` \
                         settings; powershell, windows-shell and windows-restart run over it",
                    ),
            );
            None
        }
        other => {
            problems.push(
                settings
                    .error(
                        "communicator",
                        format!("not supported yet: communicator `{other}`"),
                    )
                    .hint("imgs connects with `ssh`, or not at all with `none`"),
            );
            None
        }
    };
    Diagnostics::check(problems)?;
    Ok(NullBuilder { ssh })
}

#[async_trait::async_trait]
impl Builder for NullBuilder {
    fn builder_type(&self) -> &'static str {
        "null"
    }

    fn has_communicator(&self) -> bool {
        self.ssh.is_some()
    }

    async fn start(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Option<Box<dyn Communicator>>, BuildError> {
        let Some(config) = &self.ssh else {
            return Ok(None);
        };
        log.phase("connecting over SSH");
        log.line(&format!(
            "Using SSH communicator to connect: {}",
            config.address()
        ));
        let ssh = ReconnectingSsh::connect(config.clone(), cancel.clone()).await?;
        log.line("Connected to SSH!");
        Ok(Some(Box::new(ssh)))
    }

    async fn finish(
        &mut self,
        _log: Log<'_>,
        _cancel: &CancellationToken,
    ) -> Result<Artifact, BuildError> {
        Ok(Artifact {
            builder_type: "null".into(),
            id: "Null".into(),
            description: "Did not export anything. This is the null builder".into(),
            files: Vec::new(),
            docker_tags: Vec::new(),
        })
    }
}

/// The SSH key files of `settings` rooted at `working_dir`: relative paths in a template mean the
/// directory imgs runs in, wherever the process is (`~/` paths are the SSH reader's to expand).
pub fn rooted_key_files(mut settings: Settings, working_dir: &Path) -> Settings {
    for key in ["ssh_private_key_file", "ssh_bastion_private_key_file"] {
        let Some(setting) = settings.object.get(key) else {
            continue;
        };
        if let imgs_settings::Value::String(value) = &setting.value
            && !value.is_empty()
            && Path::new(value.as_str()).is_relative()
            && !value.starts_with('~')
        {
            let rooted = imgs_settings::Setting {
                value: imgs_settings::Value::String(
                    working_dir.join(value.as_str()).display().to_string(),
                ),
                at: setting.at.clone(),
            };
            settings.object.set(key, rooted);
        }
    }
    settings
}
