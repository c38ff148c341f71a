//! The remote cache (`[workspace.cache] remote = "s3://…"`): the second level behind the local
//! `cache/`, shared by every machine that builds the workspace.
//!
//! - Plan: an image with no usable local record is looked up in the remote by fingerprint (one
//!   GET per image, all at once); a record found there makes it fresh.
//! - Build: a remote-fresh image is fetched before its children need it: each file downloaded into
//!   a version directory reserved as for a build, its size and blake3 checked, a qcow2 layer's
//!   backing file pointed at the parent's disk on this machine, then the local record written. A
//!   crash or a bad file leaves no record, and the reserved directory goes with the failure.
//! - After a build: its files are uploaded, then its record, so a record in the remote always
//!   means its files are there.
//!
//! A remote that cannot be reached, or a copy that does not check out, is a warning; the image is
//! then built, as when the EC2 lookup fails.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use imgs_aws::{S3Settings, S3Store};
use imgs_cache::remote::{RemoteFile, RemoteRecord, artifact_key, is_workspace_path, record_key};
use imgs_cache::{Cache, CacheRecord};
use imgs_diagnostic::Diagnostic;
use imgs_fingerprint::{Fingerprint, relative_key};
use imgs_plan::{Action, CloudImages, Plan};
use imgs_workspace::{Image, RemoteCache, Workspace};

/// A connection to the workspace's remote cache.
#[derive(Clone, Debug)]
pub(crate) struct Remote {
    store: S3Store,
    prefix: String,
    bucket: String,
    url: String,
}

impl Remote {
    /// The client for `config`; nothing is called yet. Made on the runtime that uses it (its
    /// connections belong to that runtime).
    pub(crate) async fn open(config: &RemoteCache) -> Remote {
        let store = S3Store::connect(&S3Settings {
            bucket: config.bucket.clone(),
            region: config.region.clone(),
            endpoint: config.endpoint.clone(),
            static_keys: None,
        })
        .await;
        Remote {
            store,
            prefix: config.prefix.clone(),
            bucket: config.bucket.clone(),
            url: config.url(),
        }
    }

    /// The record of each `(image, fingerprint)` in the remote, `None` where there is none or it
    /// was refused; a warning per refused record, and one when the remote could not be asked.
    pub(crate) async fn find(
        &self,
        wanted: &[(String, Fingerprint)],
    ) -> (Vec<Option<RemoteRecord>>, Vec<Diagnostic>) {
        let answers = futures_util::future::join_all(wanted.iter().map(|(image, fp)| async move {
            self.store
                .get_bytes(&record_key(&self.prefix, image, fp))
                .await
        }))
        .await;
        let mut warnings = Vec::new();
        let mut unreachable = None;
        let mut found = Vec::new();
        for ((image, fp), answer) in wanted.iter().zip(answers) {
            found.push(match answer {
                Ok(None) => None,
                Ok(Some(bytes)) => match RemoteRecord::parse(&bytes, image, fp) {
                    Ok(record) => Some(record),
                    Err(why) => {
                        warnings.push(
                            Diagnostic::warning(format!(
                                "the remote cache's record of `{image}` ({}) is refused: {why}",
                                record_key(&self.prefix, image, fp)
                            ))
                            .hint(format!(
                                "`{image}` is built instead, and its record in {} replaced",
                                self.url
                            )),
                        );
                        None
                    }
                },
                Err(error) => {
                    unreachable.get_or_insert(error);
                    None
                }
            });
        }
        if let Some(error) = unreachable {
            warnings.push(
                Diagnostic::warning(format!(
                    "could not look up the remote cache {}: {error}",
                    self.url
                ))
                .hint(
                    "images are planned from the local cache (and EC2) only; check the \
                     [workspace.cache] settings and credentials, or pass `--offline` to skip it",
                ),
            );
        }
        (found, warnings)
    }

    /// Uploads what the build of `record` left (its files, then the record) from the workspace at
    /// `root`; returns how many files went up.
    pub(crate) async fn upload(&self, root: &Path, record: &CacheRecord) -> Result<usize, String> {
        if record.builds.iter().any(|b| b.builder_type == "docker") {
            // Never used from the remote (see `usable`): its image lives in this engine.
            return Ok(0);
        }
        let paths = shared_files(root, record)?;
        let mut files = Vec::new();
        for path in &paths {
            let full = root.join(path);
            let (size, blake3) = hash_file(full.clone()).await?;
            let key = artifact_key(&self.prefix, &record.image, &record.fingerprint, path);
            self.store
                .put_file(&key, &full)
                .await
                .map_err(|e| e.to_string())?;
            files.push(RemoteFile {
                path: path.clone(),
                size,
                blake3,
            });
        }
        let remote = RemoteRecord::new(record.clone(), files);
        self.store
            .put_bytes(
                &record_key(&self.prefix, &record.image, &record.fingerprint),
                remote.to_bytes(),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(paths.len())
    }

    /// Makes `remote` a local version: its files downloaded and checked into a version directory
    /// reserved in `cache` by run `run_id`, qcow2 layers pointed at their parents' disks here
    /// (`parents`: the local records of the image's parents), then its local record stored, which
    /// is returned.
    pub(crate) async fn fetch(
        &self,
        root: &Path,
        cache: &Cache,
        remote: &RemoteRecord,
        parents: &BTreeMap<String, CacheRecord>,
        run_id: &str,
    ) -> Result<CacheRecord, String> {
        let image = &remote.record.image;
        let fingerprint = &remote.record.fingerprint;
        if remote.files.is_empty() {
            // An AMI, or a build that wrote nothing: the record is all there is.
            let mut record = remote.local_record(None);
            record.artifact_dir = None;
            cache.store(&record).map_err(|e| e.to_string())?;
            return Ok(record);
        }
        let version = cache
            .reserve_version(image, fingerprint, run_id)
            .map_err(|e| e.to_string())?;
        let local_dir = relative_key(root, version.path());
        let origin_dir = remote.record.artifact_dir.as_deref();
        for file in &remote.files {
            let inside = origin_dir.and_then(|dir| {
                file.path
                    .strip_prefix(dir)
                    .and_then(|rest| rest.strip_prefix('/'))
            });
            let dest = match inside {
                Some(rest) => version.path().join(rest),
                None => root.join(&file.path),
            };
            self.fetch_file(remote, file, &dest).await?;
            repoint_backing_file(root, &dest, image, &local_dir, parents).await?;
        }
        let record = remote.local_record(Some(&local_dir));
        cache.store(&record).map_err(|e| e.to_string())?;
        version.keep().map_err(|e| e.to_string())?;
        Ok(record)
    }

    /// One file: downloaded beside `dest` under a temporary name, checked, then renamed into place.
    async fn fetch_file(
        &self,
        remote: &RemoteRecord,
        file: &RemoteFile,
        dest: &Path,
    ) -> Result<(), String> {
        let record = &remote.record;
        let key = artifact_key(&self.prefix, &record.image, &record.fingerprint, &file.path);
        let dir = dest.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = dir.join(format!(".{name}.imgs-download-{}", std::process::id()));
        let _ = tokio::fs::remove_file(&temp).await;
        self.store
            .get_file(&key, &temp)
            .await
            .map_err(|e| e.to_string())?;
        let checked = match hash_file(temp.clone()).await {
            Ok((size, blake3)) if size == file.size && blake3 == file.blake3 => Ok(()),
            Ok((size, blake3)) => Err(format!(
                "s3://{}/{key} does not match its record ({size} bytes with blake3 {blake3}; \
                 the record says {} bytes with blake3 {}), so it is refused",
                self.bucket, file.size, file.blake3
            )),
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
        tokio::fs::rename(&temp, dest).await.map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            format!("{}: {e}", dest.display())
        })
    }
}

/// The files a build of `record` left, relative to `root`: those its record lists and everything
/// else in its artifact directory (checksums, manifests). A file outside the workspace cannot be
/// shared (another machine's workspace is elsewhere).
fn shared_files(root: &Path, record: &CacheRecord) -> Result<Vec<String>, String> {
    let mut paths: Vec<String> = record
        .builds
        .iter()
        .flat_map(|b| b.files.iter().cloned())
        .collect();
    if let Some(dir) = &record.artifact_dir {
        walk(root, &root.join(dir), &mut paths)?;
    }
    paths.sort();
    paths.dedup();
    if let Some(outside) = paths.iter().find(|p| !is_workspace_path(p)) {
        return Err(format!(
            "`{outside}` is not inside the workspace, so other machines could not place it"
        ));
    }
    Ok(paths)
}

fn walk(root: &Path, dir: &Path, paths: &mut Vec<String>) -> Result<(), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        if kind.is_dir() {
            walk(root, &entry.path(), paths)?;
        } else if kind.is_file() {
            paths.push(relative_key(root, &entry.path()));
        }
    }
    Ok(())
}

/// The size and blake3 (hex) of a file, memory-mapped off the async threads: qcow2 layers are
/// large.
async fn hash_file(path: PathBuf) -> Result<(u64, String), String> {
    tokio::task::spawn_blocking(move || {
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_mmap_rayon(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        Ok((size, hasher.finalize().to_hex().to_string()))
    })
    .await
    .map_err(|e| format!("hashing was cut short: {e}"))?
}

/// A downloaded qcow2 layer names its backing file by the building machine's absolute path
/// (`…/cache/artifacts/<parent>/<version>/disk.qcow2`); when that path is not here, it is pointed
/// at the same file of the parent's local version (whose directory name may differ), or at the
/// parent's file with the same workspace path (`qemu-img rebase -u`, which rewrites only the
/// header). The file was checked against its hash before.
async fn repoint_backing_file(
    root: &Path,
    disk: &Path,
    image: &str,
    local_dir: &str,
    parents: &BTreeMap<String, CacheRecord>,
) -> Result<(), String> {
    let backing = match imgs_cache::qcow2::backing_file(disk) {
        Ok(Some(backing)) => backing,
        Ok(None) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    let parts: Vec<String> = backing
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let here = parts
        .windows(2)
        .rposition(|w| w[0] == "cache" && w[1] == imgs_cache::ARTIFACTS_DIR)
        .and_then(|at| {
            let owner = parts.get(at + 2)?;
            let rest: PathBuf = parts.get(at + 4..)?.iter().collect();
            let dir = if owner == image {
                Some(local_dir.to_string())
            } else {
                parents.get(owner)?.artifact_dir.clone()
            }?;
            Some(root.join(dir).join(rest))
        })
        .filter(|path| path.is_file())
        // A disk outside the version directories (a `file` build's target, say): the parent's
        // file with the same path relative to the workspace.
        .or_else(|| {
            parents
                .values()
                .flat_map(|record| record.builds.iter().flat_map(|b| &b.files))
                .find(|file| is_workspace_path(file) && backing.ends_with(file.as_str()))
                .map(|file| root.join(file))
                .filter(|path| path.is_file())
        });
    let here = match here {
        // Already the parent's disk here.
        Some(here) if here == backing => return Ok(()),
        Some(here) => here,
        // No parent's: a disk outside the workspace (a shared base image) stays as named, when
        // this machine has it.
        None if backing.is_file() => return Ok(()),
        None => {
            return Err(format!(
                "{} is a qcow2 layer on {}, which is not on this machine and is no parent's disk here",
                relative_key(root, disk),
                backing.display()
            ));
        }
    };
    let format = if is_qcow2(&here) { "qcow2" } else { "raw" };
    let output = tokio::process::Command::new("qemu-img")
        .args(["rebase", "-u", "-f", "qcow2", "-F", format, "-b"])
        .arg(&here)
        .arg(disk)
        .output()
        .await
        .map_err(|e| format!("cannot run qemu-img to repoint {}: {e}", disk.display()))?;
    if !output.status.success() {
        return Err(format!(
            "qemu-img rebase of {} failed: {}",
            relative_key(root, disk),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

fn is_qcow2(path: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"QFI\xfb"
}

/// Whether a remote record can stand for the image here: not while a parent is rebuilt (its
/// layers were built on the parent's old artifact), not for docker images (they live in the
/// building machine's engine), and AMIs only when EC2 was asked and still holds every one.
pub(crate) fn usable(
    remote: &RemoteRecord,
    cloud: Option<&CloudImages>,
    parent_rebuilt: bool,
) -> bool {
    if parent_rebuilt
        || remote
            .record
            .builds
            .iter()
            .any(|b| b.builder_type == "docker")
    {
        return false;
    }
    let names_amis = remote
        .record
        .builds
        .iter()
        .any(|b| !imgs_plan::ami_pairs(&b.artifact_id).is_empty());
    !names_amis || cloud.is_some_and(|c| c.gone(&remote.record).is_empty())
}

/// The plan's lookup: for each image (`None` where the local cache has a usable record), the
/// remote record of its fingerprint, when the workspace has a remote cache and the plan is online.
pub(crate) fn plan_lookup(
    ws: &Workspace,
    online: bool,
    wanted: Vec<Option<(String, Fingerprint)>>,
    warnings: &mut Vec<Diagnostic>,
) -> Vec<Option<RemoteRecord>> {
    let none = |wanted: &[Option<(String, Fingerprint)>]| wanted.iter().map(|_| None).collect();
    let Some(config) = ws.remote_cache.as_ref().filter(|_| online) else {
        return none(&wanted);
    };
    let asked: Vec<(String, Fingerprint)> = wanted.iter().flatten().cloned().collect();
    if asked.is_empty() {
        return none(&wanted);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            warnings.push(Diagnostic::warning(format!(
                "could not look up the remote cache: cannot start the async runtime: {e}"
            )));
            return none(&wanted);
        }
    };
    let (found, found_warnings) = runtime.block_on(async {
        let remote = Remote::open(config).await;
        remote.find(&asked).await
    });
    warnings.extend(found_warnings);
    let mut found = found.into_iter();
    wanted
        .iter()
        .map(|w| w.as_ref().and_then(|_| found.next().flatten()))
        .collect()
}

/// The image's action once the remote cache is heard: a build that was not forced becomes fresh
/// when the remote holds a [`usable`] record of its fingerprint.
pub(crate) fn decide(
    action: Action,
    remote: Option<RemoteRecord>,
    forced: bool,
    cloud: Option<&CloudImages>,
    image: &Image,
    plan: &Plan,
) -> (Action, Option<Box<RemoteRecord>>) {
    let building = plan.building();
    let parent_rebuilt = image
        .parents
        .iter()
        .any(|p| building.contains(p.image.as_str()));
    match (action, remote) {
        (Action::Build { .. }, Some(remote))
            if !forced && usable(&remote, cloud, parent_rebuilt) =>
        {
            (
                Action::Fresh {
                    record: Box::new(remote.record.clone()),
                    found_by_tag: false,
                },
                Some(Box::new(remote)),
            )
        }
        (action, _) => (action, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgs_fingerprint::InputSet;

    fn qemu_img(args: &[&str]) -> bool {
        std::process::Command::new("qemu-img")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn backing_of(disk: &Path) -> String {
        let out = std::process::Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(disk)
            .output()
            .unwrap();
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        info["backing-filename"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A layer built on another machine names its parent there; fetched here, it names the
    /// parent's local disk, and the chain opens.
    #[tokio::test]
    async fn a_fetched_layer_is_pointed_at_the_local_parent_disk() {
        if !qemu_img(&["--version"]) {
            eprintln!("skipped: no qemu-img");
            return;
        }
        let there = tempfile::tempdir().unwrap();
        let here = tempfile::tempdir().unwrap();
        let base_there = there.path().join("cache/artifacts/base/aaaa/base.qcow2");
        let app_there = there.path().join("cache/artifacts/app/bbbb/app.qcow2");
        for disk in [&base_there, &app_there] {
            std::fs::create_dir_all(disk.parent().unwrap()).unwrap();
        }
        assert!(qemu_img(&[
            "create",
            "-q",
            "-f",
            "qcow2",
            base_there.to_str().unwrap(),
            "1M"
        ]));
        assert!(qemu_img(&[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            base_there.to_str().unwrap(),
            "-F",
            "qcow2",
            app_there.to_str().unwrap(),
        ]));
        // Here, base was fetched into another version name, and app's disk has just arrived.
        let base_here = here.path().join("cache/artifacts/base/aaaa-2/base.qcow2");
        let app_here = here.path().join("cache/artifacts/app/bbbb/app.qcow2");
        for (from, to) in [(&base_there, &base_here), (&app_there, &app_here)] {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(from, to).unwrap();
        }
        drop(there);
        let mut base = CacheRecord::new("base", InputSet::new(), vec![], "run-1");
        base.artifact_dir = Some("cache/artifacts/base/aaaa-2".into());
        let parents = BTreeMap::from([("base".to_string(), base)]);
        repoint_backing_file(
            here.path(),
            &app_here,
            "app",
            "cache/artifacts/app/bbbb",
            &parents,
        )
        .await
        .unwrap();
        assert_eq!(backing_of(&app_here), base_here.to_str().unwrap());
        assert!(qemu_img(&["check", "-q", app_here.to_str().unwrap()]));
        // Already right: nothing to do.
        repoint_backing_file(here.path(), &app_here, "app", "x", &BTreeMap::new())
            .await
            .unwrap();
        // A layer on a disk that is no parent's here is refused.
        std::fs::remove_file(&base_here).unwrap();
        let err = repoint_backing_file(here.path(), &app_here, "app", "x", &BTreeMap::new())
            .await
            .unwrap_err();
        assert!(err.contains("is no parent's disk here"), "{err}");
    }
}
