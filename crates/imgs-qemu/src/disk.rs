//! The build's disk, made in a temporary directory beside `output_directory` and renamed into place only
//! after a clean shutdown: a failed or interrupted build leaves no partial output, and the rename is
//! atomic because both directories share a parent (and so a filesystem).
//!
//! With `use_backing_file` the disk is a qcow2 layer whose backing file is the source by its absolute
//! path (`qemu-img create -b ABS -F FORMAT`; the `-F` Packer 1.6.6 leaves out and current qemu-img
//! requires). Absolute rather than relative to the output: the layer keeps working when the output
//! directory is renamed or copied elsewhere on the machine, which relative paths would break; moving
//! the whole cache to another machine needs a rebase either way. Without it the disk is a full copy
//! (`qemu-img convert`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::config::QemuConfig;
use crate::error::QemuError;

/// A disk being built: removed with its directory when dropped, unless [`StagedDisk::publish`] ran.
pub struct StagedDisk {
    dir: TempDir,
    pub path: PathBuf,
    output_directory: PathBuf,
    /// Packer's `-force`: an existing output directory is replaced on publish.
    replace: bool,
}

impl StagedDisk {
    /// Checks the source and makes the disk. Reads the whole source when a checksum is given.
    pub fn create(config: &QemuConfig) -> Result<StagedDisk, QemuError> {
        let source = &config.source;
        if !source.is_file() {
            return Err(QemuError::SourceMissing(source.clone()));
        }
        config.checksum.verify(source)?;
        let output = &config.output_directory;
        if output.exists() && !config.force {
            return Err(QemuError::OutputExists(output.clone()));
        }
        let parent = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|err| io("create", &parent, err))?;
        let name = output
            .file_name()
            .map_or("output".into(), |n| n.to_string_lossy().into_owned());
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}.partial-"))
            .tempdir_in(&parent)
            .map_err(|err| io("create a temporary directory in", &parent, err))?;
        let path = dir.path().join(&config.vm_name);
        let format = config.format.name();

        if config.use_backing_file {
            let backing = fs::canonicalize(source).map_err(|err| io("resolve", source, err))?;
            let backing_format = image_format(&backing)?;
            qemu_img(
                Command::new("qemu-img")
                    .args(["create", "-q", "-f", "qcow2", "-b"])
                    .arg(&backing)
                    .args(["-F", &backing_format])
                    .arg(&path),
            )?;
        } else {
            qemu_img(
                Command::new("qemu-img")
                    .args(["convert", "-O", format])
                    .arg(source)
                    .arg(&path),
            )?;
        }
        if let Some(size) = config.disk_size {
            let current = virtual_size(&path)?;
            if size < current {
                return Err(QemuError::DiskShrink {
                    requested: size,
                    current,
                });
            }
        }
        if let Some(size) = config.disk_size
            && size > virtual_size(&path)?
        {
            qemu_img(
                Command::new("qemu-img")
                    .args(["resize", "-q", "-f", format])
                    .arg(&path)
                    .arg(size.to_string()),
            )?;
        }
        Ok(StagedDisk {
            dir,
            path,
            output_directory: output.clone(),
            replace: config.force,
        })
    }

    /// The temporary directory, for files that must vanish with the disk (the console log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Moves the disk's directory to `output_directory`, keeping only the disk; returns the disk's path.
    pub fn publish(self, keep: &Path) -> Result<PathBuf, QemuError> {
        for entry in fs::read_dir(self.dir.path()).map_err(|e| io("read", self.dir.path(), e))? {
            let entry = entry.map_err(|e| io("read", self.dir.path(), e))?;
            if entry.path() != keep {
                let _ = fs::remove_file(entry.path());
            }
        }
        let name = self
            .path
            .file_name()
            .expect("the disk has a name")
            .to_owned();
        let dir = self.dir.keep();
        // Replaced only now, once the new disk is complete: a failed forced build keeps the old one
        // (Packer removes it before building).
        if self.replace
            && self.output_directory.exists()
            && let Err(err) = fs::remove_dir_all(&self.output_directory)
        {
            let _ = fs::remove_dir_all(&dir);
            return Err(io("replace", &self.output_directory, err));
        }
        if let Err(err) = fs::rename(&dir, &self.output_directory) {
            let _ = fs::remove_dir_all(&dir);
            return Err(io("move the disk to", &self.output_directory, err));
        }
        Ok(self.output_directory.join(name))
    }
}

fn io(action: &'static str, path: &Path, err: std::io::Error) -> QemuError {
    QemuError::Io {
        action,
        path: path.to_path_buf(),
        reason: err.to_string(),
    }
}

/// Runs qemu-img; its stderr is the reason when it fails.
fn qemu_img(cmd: &mut Command) -> Result<String, QemuError> {
    let shown = format!(
        "qemu-img {}",
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output = cmd.output().map_err(|err| QemuError::Command {
        command: shown.clone(),
        reason: format!("cannot start it: {err} (install qemu-utils)"),
    })?;
    if !output.status.success() {
        return Err(QemuError::Command {
            command: shown,
            reason: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `qemu-img info --output=json` of a disk.
pub fn image_info(path: &Path) -> Result<serde_json::Value, QemuError> {
    let text = qemu_img(
        Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(path),
    )?;
    serde_json::from_str(&text).map_err(|err| QemuError::Command {
        command: format!("qemu-img info --output=json {}", path.display()),
        reason: format!("unreadable output: {err}"),
    })
}

fn image_format(path: &Path) -> Result<String, QemuError> {
    Ok(image_info(path)?["format"]
        .as_str()
        .unwrap_or("qcow2")
        .to_string())
}

fn virtual_size(path: &Path) -> Result<u64, QemuError> {
    Ok(image_info(path)?["virtual-size"].as_u64().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn config(dir: &Path, extra: serde_json::Value) -> QemuConfig {
        let source = dir.join("src/parent.qcow2");
        fs::create_dir_all(source.parent().unwrap()).unwrap();
        if !source.exists() {
            qemu_img(
                Command::new("qemu-img")
                    .args(["create", "-q", "-f", "qcow2"])
                    .arg(&source)
                    .arg("64M"),
            )
            .unwrap();
        }
        let mut settings: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "iso_url": source,
                "iso_checksum": "none",
                "disk_image": true,
                "output_directory": dir.join("out"),
                "vm_name": "disk",
                "ssh_username": "imgs",
                "ssh_password": "unused",
            }))
            .unwrap();
        settings.extend(serde_json::from_value::<BTreeMap<_, _>>(extra).unwrap());
        QemuConfig::from_settings(&imgs_settings::Settings::from_json_map(&settings), "t").unwrap()
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_layer_names_its_parent_by_absolute_path_and_format() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), serde_json::json!({ "use_backing_file": true }));
        let disk = StagedDisk::create(&config).unwrap();
        let info = image_info(&disk.path).unwrap();
        assert_eq!(
            info["backing-filename"].as_str().map(PathBuf::from),
            Some(fs::canonicalize(&config.source).unwrap())
        );
        assert_eq!(info["backing-filename-format"], "qcow2");
        assert_eq!(info["virtual-size"], 64 << 20);
    }

    #[test]
    fn a_copy_converts_and_grows_but_never_shrinks() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(
            dir.path(),
            serde_json::json!({ "format": "raw", "disk_size": "128M" }),
        );
        let disk = StagedDisk::create(&config).unwrap();
        let info = image_info(&disk.path).unwrap();
        assert_eq!(info["format"], "raw");
        assert_eq!(info["virtual-size"], 128 << 20);
        assert!(info.get("backing-filename").is_none());
        drop(disk);

        let small = self::config(dir.path(), serde_json::json!({ "disk_size": "32M" }));
        assert!(matches!(
            StagedDisk::create(&small),
            Err(QemuError::DiskShrink { .. })
        ));
        assert_eq!(entries(dir.path()), ["src"], "no partial directory is left");
    }

    #[test]
    fn publishing_keeps_only_the_disk_and_dropping_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), serde_json::json!({}));
        let disk = StagedDisk::create(&config).unwrap();
        assert_eq!(
            entries(dir.path()).len(),
            2,
            "src and the partial directory"
        );
        drop(disk);
        assert_eq!(entries(dir.path()), ["src"]);

        let disk = StagedDisk::create(&config).unwrap();
        fs::write(disk.dir().join("console.log"), "boot messages").unwrap();
        let keep = disk.path.clone();
        let published = disk.publish(&keep).unwrap();
        assert_eq!(published, dir.path().join("out/disk"));
        assert_eq!(entries(&dir.path().join("out")), ["disk"]);
        assert_eq!(entries(dir.path()), ["out", "src"]);
        assert!(matches!(
            StagedDisk::create(&config),
            Err(QemuError::OutputExists(_))
        ));
    }
}
