//! What the cache holds on disk: every record with its status, and the state of every file a record
//! names, including the backing chains of qcow2 layers. Gathering it is the only I/O `ls` and the prune
//! decision need; [`crate::decide_prune`] then works on it alone.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{CacheRecord, FoundVersion, Scanned, Unreadable, qcow2};

/// How a record relates to the workspace as it is now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// The fingerprint the image has now: what `imgs plan` finds fresh.
    Current,
    /// An earlier fingerprint of an image still in the workspace.
    Older,
    /// The image is no longer in the workspace.
    Orphaned,
    /// The workspace could not be fingerprinted, so which records are current is not known.
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "current",
            Status::Older => "older",
            Status::Orphaned => "orphaned",
            Status::Unknown => "unknown",
        }
    }
}

/// What is at one path a record names (or a backing chain reaches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    Missing,
    /// A regular file: its length, and for a qcow2 layer the file it is built on.
    File {
        size: u64,
        backing: Option<PathBuf>,
    },
    /// A directory or special file: prune never deletes these.
    NotAFile,
    /// It could not be examined (its header is unreadable): prune keeps it and says why.
    Unreadable(String),
}

/// One file of a record: as the record writes it, and where that is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordFile {
    /// As written in the record (usually relative to the workspace root).
    pub shown: String,
    /// Absolute, symlinks resolved when the file exists, so two spellings of one file compare equal.
    pub path: PathBuf,
}

/// A record, its status and its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub record: CacheRecord,
    pub status: Status,
    /// Every file of every build, each path once.
    pub files: Vec<RecordFile>,
}

/// Everything known about the local cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inventory {
    /// The workspace root (absolute, symlinks resolved): relative record paths are relative to it, and
    /// nothing outside it is deleted.
    pub root: PathBuf,
    /// By image name, then by creation time.
    pub entries: Vec<Entry>,
    pub unreadable: Vec<Unreadable>,
    /// The state of every record file and of every file their backing chains reach.
    pub files: BTreeMap<PathBuf, FileState>,
    /// Every version directory under `cache/artifacts` (see [`Inventory::with_versions`]).
    pub versions: Vec<VersionEntry>,
}

/// One version directory on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionEntry {
    pub image: String,
    /// Absolute, symlinks resolved.
    pub path: PathBuf,
    /// Relative to the workspace root when inside it.
    pub shown: String,
    /// Bytes of the regular files in it.
    pub size: u64,
    /// The run that reserved it and has not finished it, and whether that run is still going.
    pub building: Option<(String, bool)>,
}

impl Inventory {
    /// Reads the state of every file the scanned records name, following qcow2 backing chains.
    /// `status` says how each record relates to the workspace.
    pub fn gather(
        root: &Path,
        scanned: Vec<Scanned>,
        status: impl Fn(&CacheRecord) -> Status,
    ) -> io::Result<Inventory> {
        let root = fs::canonicalize(root)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", root.display())))?;
        let mut entries = Vec::new();
        let mut unreadable = Vec::new();
        for item in scanned {
            match item {
                Scanned::Record(record) => {
                    let files = record_files(&root, &record);
                    entries.push(Entry {
                        status: status(&record),
                        record,
                        files,
                    });
                }
                Scanned::Unreadable(u) => unreadable.push(u),
            }
        }

        let mut files = BTreeMap::new();
        let mut queue: VecDeque<PathBuf> = entries
            .iter()
            .flat_map(|e| e.files.iter().map(|f| f.path.clone()))
            .collect();
        // Each path is examined once, so a chain that loops back on itself ends.
        while let Some(path) = queue.pop_front() {
            if files.contains_key(&path) {
                continue;
            }
            let state = file_state(&path)?;
            if let FileState::File {
                backing: Some(next),
                ..
            } = &state
            {
                queue.push_back(next.clone());
            }
            files.insert(path, state);
        }
        Ok(Inventory {
            root,
            entries,
            unreadable,
            files,
            versions: Vec::new(),
        })
    }

    /// Adds the version directories `found` on disk; `is_running` tells whether the run that reserved
    /// an unfinished one is still going (its directory is then not a prune's to remove).
    pub fn with_versions(
        mut self,
        found: Vec<FoundVersion>,
        is_running: impl Fn(&str) -> bool,
    ) -> io::Result<Inventory> {
        for version in found {
            let path = resolve(&version.path);
            self.versions.push(VersionEntry {
                shown: self.shown(&path),
                size: tree_size(&path)?,
                building: version.building_run.map(|run| {
                    let running = is_running(&run);
                    (run, running)
                }),
                image: version.image,
                path,
            });
        }
        Ok(self)
    }

    /// How `path` is best shown: relative to the workspace root when inside it.
    pub fn shown(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    /// Bytes of the existing files of `entry`.
    pub fn entry_size(&self, entry: &Entry) -> u64 {
        entry.files.iter().map(|f| self.size(&f.path)).sum()
    }

    /// Bytes of every existing record file, each file counted once however many records name it.
    pub fn total_size(&self) -> u64 {
        let mut named: Vec<&PathBuf> = self
            .entries
            .iter()
            .flat_map(|e| e.files.iter().map(|f| &f.path))
            .collect();
        named.sort();
        named.dedup();
        named.into_iter().map(|p| self.size(p)).sum()
    }

    /// The length of the file at `path`; 0 when it is missing or not a file.
    pub fn size(&self, path: &Path) -> u64 {
        match self.files.get(path) {
            Some(FileState::File { size, .. }) => *size,
            _ => 0,
        }
    }
}

fn record_files(root: &Path, record: &CacheRecord) -> Vec<RecordFile> {
    let mut files: Vec<RecordFile> = Vec::new();
    for shown in record.builds.iter().flat_map(|b| &b.files) {
        let path = resolve(&root.join(shown));
        if !files.iter().any(|f| f.path == path) {
            files.push(RecordFile {
                shown: shown.clone(),
                path,
            });
        }
    }
    files
}

/// `path` with symlinks resolved when it exists; otherwise with `.` and `..` removed by hand, so a
/// missing file still compares equal to another spelling of it.
pub(crate) fn resolve(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| imgs_fingerprint::normalize(path))
}

fn file_state(path: &Path) -> io::Result<FileState> {
    let metadata = match fs::metadata(path) {
        Ok(m) => m,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(err) => {
            return Err(io::Error::new(
                err.kind(),
                format!("{}: {err}", path.display()),
            ));
        }
    };
    if !metadata.is_file() {
        return Ok(FileState::NotAFile);
    }
    Ok(match qcow2::backing_file(path) {
        Ok(backing) => FileState::File {
            size: metadata.len(),
            backing: backing.map(|b| resolve(&b)),
        },
        Err(err) => FileState::Unreadable(err.to_string()),
    })
}

/// Bytes of the regular files under `dir` (symlinks are not followed).
fn tree_size(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("{}: {err}", dir.display()),
                ));
            }
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    Ok(total)
}
