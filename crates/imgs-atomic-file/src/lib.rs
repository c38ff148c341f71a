//! Files written whole or not at all: a temporary file beside the target, renamed over it once
//! complete. Dropped before [`AtomicFile::commit`], the temporary file is removed. Every file imgs
//! writes for others to read (cache records, manifests, reports, post-processor outputs, the stat
//! cache) goes through here, so a crash or Ctrl-C never leaves half of one.
//!
//! The temporary file's name starts with a dot: listings of the cache skip it, and one left by a
//! killed process is never mistaken for a record.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates the target's directory if needed (as Packer does) and a temporary file in it, on the
    /// same file system so the final rename is atomic.
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        let temp = tempfile::Builder::new()
            .prefix(".imgs-partial-")
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            temp,
            target: target.to_path_buf(),
        })
    }

    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Moves the finished file into place, flushed to disk first (or a crash could publish an empty
    /// file) and readable by all as Packer's outputs are (temporary files start private).
    pub fn commit(self) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let file = self.temp.as_file();
        file.sync_all()?;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        self.temp
            .persist(&self.target)
            .map(drop)
            .map_err(|e| e.error)
    }
}

/// Writes `contents` to `path` whole or not at all, creating its directory if needed.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut out = AtomicFile::create(path)?;
    out.file().write_all(contents)?;
    out.commit()
}

/// Removes a directory standing at `path`, where imgs keeps one of its own files in `cache/` (a
/// record, the stat cache, the run manifest, the workspace lock): imgs never makes a directory
/// there, so one is damage, and a file cannot be renamed over it. Returns whether there was one.
/// Never used for paths a template names: those may be a person's own directory.
pub fn remove_damage(path: &Path) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path).map(|()| true),
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn nothing_appears_until_commit_and_nothing_stays_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/out.txt");
        let mut out = AtomicFile::create(&target).unwrap();
        out.file().write_all(b"half").unwrap();
        assert!(!target.exists());
        drop(out);
        assert!(!target.exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            0
        );

        let mut out = AtomicFile::create(&target).unwrap();
        out.file().write_all(b"whole").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "whole");
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
    }

    #[test]
    fn damage_is_a_directory_and_only_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("record.json");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        assert!(remove_damage(&target).unwrap());
        assert!(!target.exists());
        std::fs::write(&target, "a file").unwrap();
        assert!(!remove_damage(&target).unwrap());
        assert!(target.is_file(), "a file is left for the rename to replace");
        assert!(!remove_damage(&dir.path().join("absent")).unwrap());
    }
}
