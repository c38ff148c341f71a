//! Where local artifacts live: one directory per built version of an image, named by its fingerprint.
//!
//! `<cache_dir>/artifacts/<image>/<fingerprint>/` holds everything one build of the image wrote (a qcow2
//! disk, a manifest, checksum files). A build never writes into another version's directory, so:
//! - a qcow2 child, which names its parent's disk by absolute path, keeps standing on the exact layer
//!   it was built on when the parent is rebuilt;
//! - reverting a change finds the older version's record *and* its files, and builds nothing;
//! - a failed build removes only its own directory.
//!
//! A directory is reserved before the build starts by creating `.<name>.building` beside it (with
//! `O_EXCL`, so two runs never get the same name); the marker holds the run ID and is removed when the
//! build's record is stored, or with the directory when the build fails. A marker left behind names a
//! killed run: `imgs cache prune` removes its directory once that run's lock is free. The directory's
//! name is the fingerprint's short form; a second build of the same fingerprint (`--force`, or a
//! directory a killed run left) takes `<fingerprint>-2`, `-3`, …: the record names the directory it
//! used, and nothing else relies on the name.
//!
//! The build writes straight into the final directory rather than into a staging one renamed at the
//! end: what it writes names its own paths (a manifest lists the disk's path, a qcow2 child its
//! backing file), and a rename would leave those pointing at the staging name. The record, written
//! atomically after the build succeeded, is what makes a version real.
//!
//! `<cache_dir>/artifacts/<image>/current` is a relative symlink to the version of the image's current
//! fingerprint, updated when a build finishes or finds the image fresh: a stable path for people and
//! scripts. Nothing in imgs reads it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use imgs_fingerprint::Fingerprint;

use crate::Cache;
use crate::store::{check_image_name, with_path};

/// The directory under the cache directory that holds every image's versions.
pub const ARTIFACTS_DIR: &str = "artifacts";
/// The link to an image's current version, inside its artifacts directory.
pub const CURRENT_LINK: &str = "current";
const MARKER_SUFFIX: &str = ".building";

/// A version directory reserved for one build: removed with everything in it when dropped, unless
/// [`VersionDir::keep`] was called after the build's record was stored.
#[derive(Debug)]
pub struct VersionDir {
    path: PathBuf,
    marker: PathBuf,
    kept: bool,
}

impl VersionDir {
    /// Where the build writes; it does not exist until the build writes something there.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the build wrote anything here: what decides whether its record names the directory.
    pub fn wrote(&self) -> io::Result<bool> {
        match fs::read_dir(&self.path) {
            Ok(mut entries) => Ok(entries.next().is_some()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(with_path(&self.path, err)),
        }
    }

    /// The build succeeded and its record names this directory: it stays. Returns whether the build
    /// wrote anything (an empty directory is removed, and the record should not name it).
    pub fn keep(mut self) -> io::Result<bool> {
        self.kept = true;
        let wrote = self.wrote()?;
        if !wrote {
            let _ = fs::remove_dir(&self.path);
        }
        remove_if_exists(&self.marker)?;
        if !wrote {
            self.remove_image_dir_if_empty();
        }
        Ok(wrote)
    }
}

impl VersionDir {
    /// Leaves the directory and its marker as they are, for a failed build whose resources are kept
    /// for debugging (`--on-error abort`); `imgs cache prune` removes them later.
    pub fn abandon(mut self) {
        self.kept = true;
    }
}

impl Drop for VersionDir {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // The directory first: a marker without its directory is harmless, a directory without its
        // marker would look like a finished version to a reader that does not check records.
        let _ = fs::remove_dir_all(&self.path);
        let _ = fs::remove_file(&self.marker);
        self.remove_image_dir_if_empty();
    }
}

impl VersionDir {
    /// An image whose first build failed leaves no `cache/artifacts/<image>` behind (removing a
    /// directory that holds anything fails, as wanted).
    fn remove_image_dir_if_empty(&self) {
        if let Some(dir) = self.marker.parent() {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// A version directory found on disk, for listings and prune.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundVersion {
    pub image: String,
    /// Absolute.
    pub path: PathBuf,
    /// The run that reserved it and has not finished it: still building, or killed.
    pub building_run: Option<String>,
}

impl Cache {
    /// `<cache_dir>/artifacts/<image>`: the image's versions and its `current` link.
    pub fn artifacts_dir(&self, image: &str) -> io::Result<PathBuf> {
        check_image_name(image)?;
        Ok(self.dir().join(ARTIFACTS_DIR).join(image))
    }

    /// Reserves a new version directory for a build of `image` at `fingerprint` by run `run_id`: the
    /// first of `<short fingerprint>`, `<short fingerprint>-2`, … that neither exists nor is reserved.
    pub fn reserve_version(
        &self,
        image: &str,
        fingerprint: &Fingerprint,
        run_id: &str,
    ) -> io::Result<VersionDir> {
        let dir = self.artifacts_dir(image)?;
        fs::create_dir_all(&dir).map_err(|err| with_path(&dir, err))?;
        let short = fingerprint.short();
        for n in 1u32.. {
            let name = if n == 1 {
                short.clone()
            } else {
                format!("{short}-{n}")
            };
            let path = dir.join(&name);
            if fs::symlink_metadata(&path).is_ok() {
                continue;
            }
            let marker = dir.join(marker_name(&name));
            let create = || {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&marker)
            };
            // Another build of the image that just failed may have removed the (empty) directory.
            let created = match create() {
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir_all(&dir).map_err(|err| with_path(&dir, err))?;
                    create()
                }
                other => other,
            };
            match created {
                Ok(file) => {
                    use std::io::Write as _;
                    if let Err(err) = (&file).write_all(run_id.as_bytes()) {
                        // A full disk: no marker naming no run is left, nor an empty image
                        // directory.
                        let _ = fs::remove_file(&marker);
                        let _ = fs::remove_dir(&dir);
                        return Err(with_path(&marker, err));
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(with_path(&marker, err)),
            }
            // Another process may have made the directory between the check and the marker.
            if fs::symlink_metadata(&path).is_ok() {
                let _ = fs::remove_file(&marker);
                continue;
            }
            return Ok(VersionDir {
                path,
                marker,
                kept: false,
            });
        }
        unreachable!("some version name is always free")
    }

    /// Points `<cache_dir>/artifacts/<image>/current` at `version` (a directory inside it), replacing
    /// the link atomically so a reader never finds it missing.
    pub fn point_current(&self, image: &str, version: &Path) -> io::Result<()> {
        let dir = self.artifacts_dir(image)?;
        let Some(name) = version
            .strip_prefix(&dir)
            .ok()
            .filter(|rest| rest.components().count() == 1)
        else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is not a version directory of `{image}`",
                    version.display()
                ),
            ));
        };
        let link = dir.join(CURRENT_LINK);
        if fs::read_link(&link).is_ok_and(|target| target == name) {
            return Ok(());
        }
        let temp = dir.join(format!(".{CURRENT_LINK}.{}", std::process::id()));
        let _ = fs::remove_file(&temp);
        std::os::unix::fs::symlink(name, &temp).map_err(|err| with_path(&temp, err))?;
        fs::rename(&temp, &link).map_err(|err| {
            let _ = fs::remove_file(&temp);
            with_path(&link, err)
        })
    }

    /// Every version directory under `<cache_dir>/artifacts`, by image then name, with the run that
    /// reserved it when that run never finished it.
    pub fn versions(&self) -> io::Result<Vec<FoundVersion>> {
        let root = self.dir().join(ARTIFACTS_DIR);
        let mut found = Vec::new();
        for image in sorted_names(&root)? {
            if image.starts_with('.') || check_image_name(&image).is_err() {
                continue;
            }
            let dir = root.join(&image);
            if !dir.is_dir() {
                continue;
            }
            for name in sorted_names(&dir)? {
                if name.starts_with('.') || name == CURRENT_LINK {
                    continue;
                }
                let path = dir.join(&name);
                let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
                if !is_dir {
                    continue;
                }
                // A damaged marker (garbage, a directory) still says an unfinished build reserved
                // the directory; its run is then no run that can be running.
                let building_run = match fs::read(dir.join(marker_name(&name))) {
                    Ok(run) => Some(String::from_utf8_lossy(&run).trim().to_owned()),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => None,
                    Err(_) => Some(String::new()),
                };
                found.push(FoundVersion {
                    image: image.clone(),
                    path,
                    building_run,
                });
            }
        }
        Ok(found)
    }

    /// Removes a version directory and its marker (prune).
    pub fn remove_version(&self, version: &Path) -> io::Result<()> {
        match fs::remove_dir_all(version) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(with_path(version, err)),
        }
        if let (Some(dir), Some(name)) = (version.parent(), version.file_name()) {
            let marker = dir.join(marker_name(&name.to_string_lossy()));
            imgs_atomic_file::remove_damage(&marker).map_err(|err| with_path(&marker, err))?;
            remove_if_exists(&marker)?;
            // A `current` link to the removed version would dangle.
            let link = dir.join(CURRENT_LINK);
            if fs::read_link(&link).is_ok_and(|target| target.as_os_str() == name) {
                remove_if_exists(&link)?;
            }
        }
        Ok(())
    }
}

fn marker_name(version: &str) -> String {
    format!(".{version}{MARKER_SUFFIX}")
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(with_path(path, err)),
    }
}

/// Names in `dir`, sorted; none when it does not exist.
fn sorted_names(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(with_path(dir, err)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| with_path(dir, err))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(seed: &str) -> Fingerprint {
        blake3::hash(seed.as_bytes()).into()
    }

    #[test]
    fn a_version_is_named_by_fingerprint_and_a_second_build_takes_the_next_name() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path());
        let fp = fingerprint("a");
        let first = cache.reserve_version("base", &fp, "run-1").unwrap();
        let dir = tmp.path().join("artifacts/base");
        assert_eq!(first.path(), dir.join(fp.short()));
        assert!(!first.path().exists(), "made by whatever the build writes");
        let marker = dir.join(format!(".{}.building", fp.short()));
        assert_eq!(fs::read_to_string(&marker).unwrap(), "run-1");
        // Reserved but not yet written: a concurrent build of the same fingerprint goes elsewhere.
        let second = cache.reserve_version("base", &fp, "run-2").unwrap();
        assert_eq!(second.path(), dir.join(format!("{}-2", fp.short())));
        fs::create_dir_all(first.path()).unwrap();
        fs::write(first.path().join("disk.qcow2"), "disk").unwrap();
        assert!(first.keep().unwrap());
        assert!(!marker.exists(), "a kept version is finished");
        assert!(dir.join(fp.short()).join("disk.qcow2").is_file());
        drop(second);
        // A finished version is never handed out again.
        let third = cache.reserve_version("base", &fp, "run-3").unwrap();
        assert_eq!(third.path(), dir.join(format!("{}-2", fp.short())));
    }

    #[test]
    fn a_dropped_version_leaves_nothing_and_an_empty_kept_one_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path());
        let fp = fingerprint("b");
        let failed = cache.reserve_version("app", &fp, "run-1").unwrap();
        let path = failed.path().to_path_buf();
        fs::create_dir_all(path.join("sub")).unwrap();
        fs::write(path.join("sub/half-written"), "x").unwrap();
        drop(failed);
        assert!(!path.exists());
        assert_eq!(cache.versions().unwrap(), []);
        let nothing_written = cache.reserve_version("app", &fp, "run-2").unwrap();
        assert_eq!(nothing_written.path(), path, "the name is free again");
        assert!(!nothing_written.keep().unwrap());
        assert!(!path.exists());
        assert!(
            !tmp.path().join("artifacts/app").exists(),
            "an image with no version has no directory"
        );
    }

    #[test]
    fn versions_lists_directories_with_the_run_of_an_unfinished_one() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path());
        let done = cache
            .reserve_version("base", &fingerprint("1"), "run-1")
            .unwrap();
        fs::create_dir_all(done.path()).unwrap();
        fs::write(done.path().join("f"), "").unwrap();
        let done_path = done.path().to_path_buf();
        done.keep().unwrap();
        let killed = cache
            .reserve_version("base", &fingerprint("2"), "run-2")
            .unwrap();
        fs::create_dir_all(killed.path()).unwrap();
        let killed_path = killed.path().to_path_buf();
        std::mem::forget(killed); // as a killed process leaves it
        cache.point_current("base", &done_path).unwrap();
        let mut found = cache.versions().unwrap();
        found.sort_by(|a, b| a.building_run.cmp(&b.building_run));
        assert_eq!(
            found,
            [
                FoundVersion {
                    image: "base".into(),
                    path: done_path.clone(),
                    building_run: None,
                },
                FoundVersion {
                    image: "base".into(),
                    path: killed_path.clone(),
                    building_run: Some("run-2".into()),
                },
            ]
        );
        cache.remove_version(&killed_path).unwrap();
        assert_eq!(cache.versions().unwrap().len(), 1);
        cache.remove_version(&done_path).unwrap();
        assert!(
            fs::symlink_metadata(tmp.path().join("artifacts/base/current")).is_err(),
            "the link to a removed version goes with it"
        );
    }

    #[test]
    fn current_points_at_a_version_by_relative_name() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path());
        let dir = cache.artifacts_dir("web").unwrap();
        for name in ["aaaa", "bbbb"] {
            fs::create_dir_all(dir.join(name)).unwrap();
            fs::write(dir.join(name).join("disk"), name).unwrap();
        }
        cache.point_current("web", &dir.join("aaaa")).unwrap();
        assert_eq!(
            fs::read_link(dir.join("current")).unwrap(),
            Path::new("aaaa")
        );
        cache.point_current("web", &dir.join("bbbb")).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("current/disk")).unwrap(),
            "bbbb"
        );
        assert!(cache.point_current("web", tmp.path()).is_err());
        assert!(cache.point_current("web", &dir.join("aaaa/disk")).is_err());
    }
}
