//! The persisted stat cache: for each file hashed before, the stat it had and the hash of its contents.
//!
//! A file whose stat is unchanged is not read again, so a run where nothing changed costs one `stat` per
//! file. The file is a cache in the strict sense: missing, unreadable, corrupt or of another version, it
//! is treated as empty, and the worst outcome is hashing everything again.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::fingerprint::parse_hash;

/// File name under the cache directory.
pub(crate) const FILE_NAME: &str = "stat-cache.json";

/// Bumped whenever the layout or the meaning of a stored hash changes.
const FORMAT_VERSION: u32 = 1;

/// How recent a modification time must be for the stat to be untrustworthy ("racily clean", in git's
/// words): a file written within the file system's timestamp granularity of the moment it was hashed could
/// be written again without its mtime moving, so its hash is used for this run but not remembered. Two
/// seconds covers the coarsest common granularity (FAT) and small clock differences on network mounts.
pub(crate) const RACY_WINDOW: Duration = Duration::from_secs(2);

/// The parts of a file's metadata that change when its contents (or executable bit) may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct FileStat {
    pub size: u64,
    pub mtime_ns: i64,
    /// Changes on any write or metadata change, even one that restores the mtime afterwards.
    pub ctime_ns: i64,
    pub inode: u64,
    pub dev: u64,
    pub mode: u32,
}

impl FileStat {
    #[cfg(unix)]
    pub fn of(metadata: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        let ns = |secs: i64, nanos: i64| secs.saturating_mul(1_000_000_000).saturating_add(nanos);
        FileStat {
            size: metadata.size(),
            mtime_ns: ns(metadata.mtime(), metadata.mtime_nsec()),
            ctime_ns: ns(metadata.ctime(), metadata.ctime_nsec()),
            inode: metadata.ino(),
            dev: metadata.dev(),
            mode: metadata.mode(),
        }
    }

    #[cfg(not(unix))]
    pub fn of(metadata: &Metadata) -> Self {
        let mtime_ns = metadata
            .modified()
            .map_or(0, |time| nanos_since_epoch(time));
        FileStat {
            size: metadata.len(),
            mtime_ns,
            ctime_ns: 0,
            inode: 0,
            dev: 0,
            mode: u32::from(metadata.permissions().readonly()),
        }
    }

    pub fn is_executable(&self) -> bool {
        cfg!(unix) && self.mode & 0o111 != 0
    }

    /// Whether the file was modified so close to `now` that a later write might leave this stat unchanged.
    pub fn is_racy(&self, now: SystemTime) -> bool {
        let window = i64::try_from(RACY_WINDOW.as_nanos()).unwrap_or(i64::MAX);
        self.mtime_ns >= nanos_since_epoch(now).saturating_sub(window)
    }
}

pub(crate) fn nanos_since_epoch(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |ns| -ns),
    }
}

/// A remembered content hash and the stat it is valid for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Known {
    pub stat: FileStat,
    pub content: blake3::Hash,
    /// Looked up or stored during this process; entries not seen are checked for existence on save.
    pub seen: bool,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    entries: HashMap<String, OnDiskEntry>,
}

#[derive(Serialize, Deserialize)]
struct OnDiskEntry {
    #[serde(flatten)]
    stat: FileStat,
    hash: String,
}

/// Reads the stat cache at `path`; anything unusable is an empty cache.
pub(crate) fn load(path: &Path) -> HashMap<PathBuf, Known> {
    let Ok(bytes) = fs::read(path) else {
        return HashMap::new();
    };
    let Ok(on_disk) = serde_json::from_slice::<OnDisk>(&bytes) else {
        return HashMap::new();
    };
    if on_disk.version != FORMAT_VERSION {
        return HashMap::new();
    }
    on_disk
        .entries
        .into_iter()
        .filter_map(|(file, entry)| {
            let content = parse_hash(&entry.hash)?;
            Some((
                PathBuf::from(file),
                Known {
                    stat: entry.stat,
                    content,
                    seen: false,
                },
            ))
        })
        .collect()
}

/// Writes `entries` to `path` atomically (temporary file in the same directory, then rename), so a reader
/// sees the old cache or the new one and never a mix. Paths that are not UTF-8 are left out.
pub(crate) fn store(path: &Path, entries: &HashMap<PathBuf, Known>) -> io::Result<()> {
    let on_disk = OnDisk {
        version: FORMAT_VERSION,
        entries: entries
            .iter()
            .filter_map(|(file, known)| {
                let file = file.to_str()?.to_owned();
                Some((
                    file,
                    OnDiskEntry {
                        stat: known.stat,
                        hash: known.content.to_hex().to_string(),
                    },
                ))
            })
            .collect(),
    };
    let json = serde_json::to_vec(&on_disk).map_err(io::Error::other)?;
    imgs_atomic_file::write_atomically(path, &json)
}
