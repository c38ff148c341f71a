//! The `qemu` builder over `imgs-qemu`: a layer (or copy) of the source disk booted under qemu,
//! provisioned over SSH, shut down, and published into `output_directory`. Its artifact is Packer's:
//! ID `VM`, the published disk as its one file.

use std::path::{Path, PathBuf};

use imgs_diagnostic::Diagnostics;
use imgs_provision::{Communicator, ReconnectingSsh};
use imgs_qemu::{QemuConfig, QemuMachine};
use tokio_util::sync::CancellationToken;

use crate::builder::{Builder, Log};
use crate::null::rooted_key_files;
use crate::settings::Settings;
use crate::{Artifact, BuildError, OutputPlacement};

pub struct QemuBuilder {
    config: QemuConfig,
    working_dir: PathBuf,
    machine: Option<QemuMachine>,
}

pub fn read(
    settings: &Settings<'_>,
    build_name: &str,
    working_dir: &Path,
    outputs: Option<&OutputPlacement>,
    force: bool,
) -> Result<QemuBuilder, Diagnostics> {
    let mut config = QemuConfig::from_settings(&settings.located, build_name)?;
    // The process may run anywhere; the template's relative paths mean the working directory.
    config.source = rooted(working_dir, &config.source);
    if let Some(outputs) = outputs {
        config.output_directory = if settings.values.contains_key("output_directory") {
            outputs.place(working_dir, &config.output_directory)
        } else {
            // Packer's default `output-<build>`: imgs chooses, so the version directory.
            outputs.default_output(working_dir, Path::new(""))
        };
    }
    config.output_directory = rooted(working_dir, &config.output_directory);
    config.force = force;
    config.ssh_settings = rooted_key_files(config.ssh_settings, working_dir);
    // qemu runs in the process's directory, which need not be the working directory; the files it
    // is handed to boot from are rooted here so relative ones still mean the working directory.
    for arg in &mut config.qemuargs {
        if let [flag, path] = arg.as_mut_slice()
            && matches!(flag.as_str(), "-kernel" | "-initrd" | "-dtb")
        {
            *path = rooted(working_dir, Path::new(path.as_str()))
                .display()
                .to_string();
        }
    }
    Ok(QemuBuilder {
        config,
        working_dir: working_dir.to_path_buf(),
        machine: None,
    })
}

/// `path` as the template means it: relative paths are relative to the working directory.
pub(crate) fn rooted(working_dir: &Path, path: &Path) -> PathBuf {
    if path.is_relative() {
        working_dir.join(path)
    } else {
        path.to_path_buf()
    }
}

#[async_trait::async_trait]
impl Builder for QemuBuilder {
    fn builder_type(&self) -> &'static str {
        "qemu"
    }

    fn has_communicator(&self) -> bool {
        true
    }

    async fn start(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Option<Box<dyn Communicator>>, BuildError> {
        log.line(&format!(
            "Starting qemu from {}",
            shown(&self.working_dir, &self.config.source)
        ));
        let machine = QemuMachine::start_logged(&self.config, cancel.clone(), log).await?;
        log.line(&format!(
            "Connected to SSH on {} (accelerator: {})",
            machine.ssh_config().address(),
            machine.accelerator().name()
        ));
        let ssh = ReconnectingSsh::connect(machine.ssh_config().clone(), cancel.clone()).await?;
        self.machine = Some(machine);
        Ok(Some(Box::new(ssh)))
    }

    async fn finish(
        &mut self,
        log: Log<'_>,
        _cancel: &CancellationToken,
    ) -> Result<Artifact, BuildError> {
        let Some(machine) = self.machine.take() else {
            return Err(BuildError::Io {
                action: "finish a qemu build that never started:",
                path: self.config.output_disk().display().to_string(),
                reason: "no machine".into(),
            });
        };
        log.phase("shutting down");
        log.line("Gracefully halting virtual machine...");
        let disk = machine.shutdown().await?;
        let disk = PathBuf::from(shown(&self.working_dir, &disk));
        Ok(Artifact {
            builder_type: "qemu".into(),
            id: "VM".into(),
            description: format!(
                "VM files in directory: {}",
                disk.parent().unwrap_or(Path::new("")).display()
            ),
            files: vec![disk],
            docker_tags: Vec::new(),
        })
    }
}

/// `path` relative to the working directory when it is inside it.
fn shown(working_dir: &Path, path: &Path) -> String {
    path.strip_prefix(working_dir)
        .unwrap_or(path)
        .display()
        .to_string()
}
