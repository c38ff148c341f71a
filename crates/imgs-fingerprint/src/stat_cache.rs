//! The persisted stat cache: for each file hashed before, the stat it had and the hash of its contents.
//!
//! A file whose stat is unchanged is not read again, so a run where nothing changed costs one `stat` per
//! file. The file is a cache in the strict sense: missing, unreadable, corrupt or of another version, it
//! is treated as empty, and the worst outcome is hashing everything again. What was wrong with an
//! unreadable one is kept for the caller to report ([`Loaded::problem`]). Its entries carry a
//! checksum: a hash in it that a damaged byte turned into another valid hash would otherwise be
//! believed for as long as the file's stat does not change.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::fingerprint::parse_hash;

/// File name under the cache directory.
pub(crate) const FILE_NAME: &str = "stat-cache.json";

/// Bumped whenever the layout or the meaning of a stored hash changes. (2: the checksum.)
const FORMAT_VERSION: u32 = 2;

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
    /// blake3 of the compact JSON of `entries` (sorted by path, so the same entries always give
    /// the same text).
    #[serde(default)]
    checksum: String,
    entries: BTreeMap<String, OnDiskEntry>,
}

#[derive(Serialize, Deserialize)]
struct OnDiskEntry {
    #[serde(flatten)]
    stat: FileStat,
    hash: String,
}

/// What [`load`] found.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub entries: HashMap<PathBuf, Known>,
    /// Why the file on disk was not used, when it exists and is damaged. A missing file, or one of
    /// another format version (written by another imgs), is no problem: it is simply replaced.
    pub problem: Option<String>,
}

impl Loaded {
    fn damaged(problem: impl Into<String>) -> Loaded {
        Loaded {
            entries: HashMap::new(),
            problem: Some(problem.into()),
        }
    }
}

/// Reads the stat cache at `path`; anything unusable is an empty cache.
pub(crate) fn load(path: &Path) -> Loaded {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::default(),
        Err(e) => return Loaded::damaged(format!("cannot read it: {e}")),
    };
    // The version first, so a file of another version is replaced quietly whatever its layout.
    let value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => return Loaded::damaged(format!("not valid JSON: {e}")),
    };
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(version) if version == u64::from(FORMAT_VERSION) => {}
        Some(_) => return Loaded::default(),
        None => return Loaded::damaged("no numeric `version` field"),
    }
    let on_disk: OnDisk = match serde_json::from_value(value) {
        Ok(on_disk) => on_disk,
        Err(e) => return Loaded::damaged(format!("not a stat cache: {e}")),
    };
    if on_disk.checksum != checksum(&on_disk.entries) {
        return Loaded::damaged(
            "its checksum does not match its entries (it was changed after imgs wrote it)",
        );
    }
    let mut entries = HashMap::new();
    for (file, entry) in on_disk.entries {
        let Some(content) = parse_hash(&entry.hash) else {
            return Loaded::damaged(format!("the hash of `{file}` is not a blake3 hash"));
        };
        entries.insert(
            PathBuf::from(file),
            Known {
                stat: entry.stat,
                content,
                seen: false,
            },
        );
    }
    Loaded {
        entries,
        problem: None,
    }
}

fn checksum(entries: &BTreeMap<String, OnDiskEntry>) -> String {
    let compact = serde_json::to_vec(entries).expect("stat cache entries serialize");
    blake3::hash(&compact).to_hex().to_string()
}

/// Writes `entries` to `path` atomically (temporary file in the same directory, then rename), so a reader
/// sees the old cache or the new one and never a mix. Paths that are not UTF-8 are left out. A
/// directory standing at `path` is damage, and is removed first.
pub(crate) fn store(path: &Path, entries: &HashMap<PathBuf, Known>) -> io::Result<()> {
    let entries: BTreeMap<String, OnDiskEntry> = entries
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
        .collect();
    let on_disk = OnDisk {
        version: FORMAT_VERSION,
        checksum: checksum(&entries),
        entries,
    };
    let json = serde_json::to_vec(&on_disk).map_err(io::Error::other)?;
    imgs_atomic_file::remove_damage(path)?;
    imgs_atomic_file::write_atomically(path, &json)
}
