//! The record directory: lookup, listing, atomic writes, removal.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use imgs_fingerprint::Fingerprint;

use crate::{CacheRecord, RECORD_SCHEMA};

/// One record file as [`Cache::scan`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scanned {
    Record(CacheRecord),
    Unreadable(Unreadable),
}

/// A record file that could not be read or is corrupt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// The image directory it is filed under.
    pub image: String,
    pub path: PathBuf,
    /// Why, with the path and what to do.
    pub error: String,
}

const RECORDS_DIR: &str = "records";
const RECORD_EXTENSION: &str = "json";

/// The local cache under one cache directory (the workspace's `cache/`).
#[derive(Clone, Debug)]
pub struct Cache {
    records: PathBuf,
}

impl Cache {
    /// Opens the cache in `cache_dir`. Touches nothing on disk: a cache that does not exist yet is empty.
    pub fn open(cache_dir: &Path) -> Cache {
        Cache {
            records: cache_dir.join(RECORDS_DIR),
        }
    }

    /// Where the record of `image` with `fingerprint` lives (whether or not it exists).
    pub fn record_path(&self, image: &str, fingerprint: &Fingerprint) -> io::Result<PathBuf> {
        Ok(self.image_dir(image)?.join(record_file_name(fingerprint)))
    }

    /// The record of `image` built with exactly `fingerprint`, if any.
    pub fn lookup(
        &self,
        image: &str,
        fingerprint: &Fingerprint,
    ) -> io::Result<Option<CacheRecord>> {
        let path = self.record_path(image, fingerprint)?;
        match fs::read(&path) {
            Ok(bytes) => parse_record(&path, &bytes, image, Some(fingerprint)).map(Some),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(unreadable(&path, err)),
        }
    }

    /// The most recently created record of `image`: what the last successful build used, for explaining
    /// why the next one is needed.
    pub fn latest(&self, image: &str) -> io::Result<Option<CacheRecord>> {
        let records = self.image_records(image)?;
        Ok(records.into_iter().max_by(|a, b| {
            a.created()
                .cmp(&b.created())
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        }))
    }

    /// [`Cache::latest`] among the records that can be read; those that cannot (or the image's
    /// directory, when it cannot be listed) are returned beside it, for the caller to report.
    pub fn latest_readable(
        &self,
        image: &str,
    ) -> io::Result<(Option<CacheRecord>, Vec<Unreadable>)> {
        let dir = self.image_dir(image)?;
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        let files = match record_files(&dir) {
            Ok(files) => files,
            // The image's directory itself is damaged (a file in its place): no record to read.
            Err(err) => {
                unreadable.push(Unreadable {
                    image: image.to_owned(),
                    error: format!("cache records of `{image}` cannot be listed: {err}"),
                    path: dir,
                });
                return Ok((None, unreadable));
            }
        };
        for path in files {
            match read_record(&path, image) {
                Ok(record) => records.extend(record),
                Err(err) => unreadable.push(Unreadable {
                    image: image.to_owned(),
                    path,
                    error: err.to_string(),
                }),
            }
        }
        sort_by_creation(&mut records);
        Ok((records.pop(), unreadable))
    }

    /// Writes `record` atomically, replacing a record with the same image and fingerprint (and a
    /// directory standing at its path, which can only be damage).
    pub fn store(&self, record: &CacheRecord) -> io::Result<()> {
        let dir = self.image_dir(&record.image)?;
        let path = dir.join(record_file_name(&record.fingerprint));
        fs::create_dir_all(&dir).map_err(|err| with_path(&dir, err))?;

        let json = record_file(record)?;
        imgs_atomic_file::remove_damage(&path).map_err(|err| with_path(&path, err))?;
        // The temporary file is dot-prefixed, so listings skip one left behind by a crash.
        imgs_atomic_file::write_atomically(&path, &json).map_err(|err| with_path(&path, err))
    }

    /// Every record, ordered by image name, then by creation time. The first unreadable record is an error.
    pub fn list(&self) -> io::Result<Vec<CacheRecord>> {
        let mut all = Vec::new();
        for image in self.image_names()? {
            all.extend(self.image_records(&image)?);
        }
        Ok(all)
    }

    /// Every record file, read or not: what `imgs cache ls` shows and `prune` must account for. Unlike
    /// [`Cache::list`], one corrupt record does not hide the others. Errors are about the directories.
    pub fn scan(&self) -> io::Result<Vec<Scanned>> {
        let mut all = Vec::new();
        for image in self.image_names()? {
            let dir = self.image_dir(&image)?;
            let mut records = Vec::new();
            for path in record_files(&dir)? {
                match read_record(&path, &image) {
                    Ok(Some(record)) => records.push(record),
                    Ok(None) => {}
                    Err(err) => all.push(Scanned::Unreadable(Unreadable {
                        image: image.clone(),
                        path,
                        error: err.to_string(),
                    })),
                }
            }
            sort_by_creation(&mut records);
            all.extend(records.into_iter().map(Scanned::Record));
        }
        Ok(all)
    }

    /// The cache directory this cache was opened in.
    pub fn dir(&self) -> &Path {
        self.records.parent().unwrap_or(&self.records)
    }

    /// Deletes the record of `image` with `fingerprint`; `false` if there was none.
    pub fn remove(&self, image: &str, fingerprint: &Fingerprint) -> io::Result<bool> {
        let path = self.record_path(image, fingerprint)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(with_path(&path, err)),
        }
    }

    /// Names of the image directories under `records/`, sorted.
    fn image_names(&self) -> io::Result<Vec<String>> {
        let mut images = Vec::new();
        for entry in read_dir_if_exists(&self.records)? {
            let entry = entry.map_err(|err| with_path(&self.records, err))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with('.')
                && entry
                    .file_type()
                    .map_err(|err| with_path(&entry.path(), err))?
                    .is_dir()
            {
                images.push(name.to_owned());
            }
        }
        images.sort();
        Ok(images)
    }

    /// Records of one image, oldest first.
    fn image_records(&self, image: &str) -> io::Result<Vec<CacheRecord>> {
        let dir = self.image_dir(image)?;
        let mut records = Vec::new();
        for path in record_files(&dir)? {
            records.extend(read_record(&path, image)?);
        }
        sort_by_creation(&mut records);
        Ok(records)
    }

    fn image_dir(&self, image: &str) -> io::Result<PathBuf> {
        check_image_name(image)?;
        Ok(self.records.join(image))
    }
}

/// Paths of the record files in one image directory (temporary and foreign files left out).
fn record_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in read_dir_if_exists(dir)? {
        let path = entry.map_err(|err| with_path(dir, err))?.path();
        let is_record = path.extension() == Some(OsStr::new(RECORD_EXTENSION))
            && path
                .file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|name| !name.starts_with('.'));
        if is_record {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// One record file; `None` if it was removed since the directory was listed.
fn read_record(path: &Path, image: &str) -> io::Result<Option<CacheRecord>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        // Removed by a concurrent `remove` or cache clean-up since the listing.
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(unreadable(path, err)),
    };
    parse_record(path, &bytes, image, None).map(Some)
}

fn sort_by_creation(records: &mut [CacheRecord]) {
    records.sort_by(|a, b| {
        a.created()
            .cmp(&b.created())
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
}

/// The record as its file holds it: pretty JSON with, last, `checksum`, the blake3 hash of the
/// compact JSON of every other field. A record is trusted only whole: bytes changed after imgs
/// wrote it (a disk error, a stray edit) that still parse as a record would otherwise make a wrong
/// one, with another artifact or another version directory, and a wrong "fresh".
fn record_file(record: &CacheRecord) -> io::Result<Vec<u8>> {
    let mut value = serde_json::to_value(record).map_err(io::Error::other)?;
    let sum = checksum(&value);
    if let Some(fields) = value.as_object_mut() {
        fields.insert(CHECKSUM_FIELD.to_owned(), sum.into());
    }
    let mut json = serde_json::to_vec_pretty(&value).map_err(io::Error::other)?;
    json.push(b'\n');
    Ok(json)
}

const CHECKSUM_FIELD: &str = "checksum";

/// The checksum of a record's fields (without `checksum`): over their compact JSON, in the order the
/// file has them, which is the order imgs wrote them in.
fn checksum(fields: &serde_json::Value) -> String {
    let compact = serde_json::to_vec(fields).expect("JSON values serialize");
    blake3::hash(&compact).to_hex().to_string()
}

fn record_file_name(fingerprint: &Fingerprint) -> String {
    format!("{fingerprint}.{RECORD_EXTENSION}")
}

/// Image names become directory names; refuse anything that would escape the records directory.
pub(crate) fn check_image_name(image: &str) -> io::Result<()> {
    let bad = image.is_empty()
        || image == "."
        || image == ".."
        || image.starts_with('.')
        || image.contains(['/', '\\', '\0']);
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{image}` cannot name a cache record directory (image names must not be empty, start with `.`, or contain `/` or `\\`)"
            ),
        ));
    }
    Ok(())
}

/// Parses and checks one record file; everything wrong with it is reported with its path.
fn parse_record(
    path: &Path,
    bytes: &[u8],
    image: &str,
    fingerprint: Option<&Fingerprint>,
) -> io::Result<CacheRecord> {
    let corrupt = |what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cache record {} is corrupt: {what}", path.display()),
        )
    };

    // Look at the schema before the full layout so a newer record says so rather than "missing field".
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|err| corrupt(format!("not valid JSON: {err}")))?;
    match value.get("schema").and_then(serde_json::Value::as_u64) {
        Some(schema) if schema == u64::from(RECORD_SCHEMA) => {}
        Some(schema) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "cache record {} has schema {schema}, but this imgs reads schema {RECORD_SCHEMA} \
                     (it was written by another imgs version)",
                    path.display()
                ),
            ));
        }
        None => return Err(corrupt("no numeric `schema` field".to_owned())),
    }
    // Records written before imgs wrote checksums have none, and are read as they are.
    let stated = value
        .as_object_mut()
        .and_then(|fields| fields.shift_remove(CHECKSUM_FIELD));
    let intact = match &stated {
        None => true,
        Some(stated) => stated.as_str() == Some(checksum(&value).as_str()),
    };
    let record: CacheRecord =
        serde_json::from_value(value).map_err(|err| corrupt(err.to_string()))?;

    if record.image != image {
        return Err(corrupt(format!(
            "it is filed under image `{image}` but records image `{}`",
            record.image
        )));
    }
    let named = path
        .file_stem()
        .and_then(OsStr::to_str)
        .and_then(|stem| stem.parse::<Fingerprint>().ok());
    if named != Some(record.fingerprint)
        || fingerprint.is_some_and(|expected| *expected != record.fingerprint)
    {
        return Err(corrupt(format!(
            "its file name does not match its fingerprint {}",
            record.fingerprint
        )));
    }
    if record.created().is_none() {
        return Err(corrupt(format!(
            "`created_at` is `{}`, not an RFC 3339 time",
            record.created_at
        )));
    }
    // Last, so a record that is wrong in a way that can be named says so.
    if !intact {
        return Err(corrupt(
            "its checksum does not match its contents (it was changed after imgs wrote it)"
                .to_owned(),
        ));
    }
    Ok(record)
}

fn read_dir_if_exists(dir: &Path) -> io::Result<impl Iterator<Item = io::Result<fs::DirEntry>>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => Some(entries),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(with_path(dir, err)),
    };
    Ok(entries.into_iter().flatten())
}

/// A record file that could not be read at all (a directory in its place, no permission).
fn unreadable(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("cache record {} cannot be read: {err}", path.display()),
    )
}

/// std's I/O errors do not say which file; ours do.
pub(crate) fn with_path(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}
