//! Hashing file-system inputs in parallel, skipping files whose stat shows they have not changed.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use rayon::prelude::*;

use crate::relative::normalize;
use crate::stat_cache::{self, FileStat, Known};
use crate::walk::{self, Entry, EntryKind, with_path};

/// Key-derivation context for the hash of one file-system input (a file with its executable bit, a
/// symlink's target, an empty directory). Fixed: changing it changes every fingerprint.
const ENTRY_CONTEXT: &str = "imgs 2026-11-25 file-system input entry";

/// Files at least this big are memory-mapped and hashed on several threads; smaller ones are read into
/// memory at once, which is cheaper than setting up a mapping.
const MMAP_THRESHOLD: u64 = 128 * 1024;

/// Hashes files and remembers, per path, the stat and content hash last seen (the stat cache).
#[derive(Debug)]
pub struct FileHasher {
    cache_file: PathBuf,
    known: Mutex<HashMap<PathBuf, Known>>,
    /// Whether `known` differs from what is on disk.
    changed: AtomicBool,
    files_read: AtomicU64,
    files_reused: AtomicU64,
    /// What was wrong with the stat cache on disk, when it was damaged.
    load_problem: Option<String>,
}

/// What a [`FileHasher`] has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashStats {
    /// Files whose contents were read and hashed.
    pub files_read: u64,
    /// Files whose hash came from the stat cache without reading them.
    pub files_reused: u64,
}

impl FileHasher {
    /// A hasher whose stat cache lives in `cache_dir`. A missing or corrupt stat cache is an empty one,
    /// never an error: it only makes this run read every file.
    pub fn open(cache_dir: &Path) -> Self {
        let cache_file = cache_dir.join(stat_cache::FILE_NAME);
        let loaded = stat_cache::load(&cache_file);
        FileHasher {
            cache_file,
            known: Mutex::new(loaded.entries),
            // A damaged file is written anew even if this run learns nothing.
            changed: AtomicBool::new(loaded.problem.is_some()),
            files_read: AtomicU64::new(0),
            files_reused: AtomicU64::new(0),
            load_problem: loaded.problem,
        }
    }

    /// Why the stat cache on disk was not used, when it was there and damaged (for a warning: it is
    /// ignored, and rewritten by [`FileHasher::save`]).
    pub fn load_problem(&self) -> Option<&str> {
        self.load_problem.as_deref()
    }

    /// The stat cache's file.
    pub fn cache_file(&self) -> &Path {
        &self.cache_file
    }

    /// Writes the stat cache back (atomically), if anything was learned. Entries for files that no
    /// longer exist are dropped.
    pub fn save(&self) -> io::Result<()> {
        if !self.changed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut known = self.known();
        known.retain(|path, entry| entry.seen || fs::symlink_metadata(path).is_ok());
        stat_cache::store(&self.cache_file, &known)
            .map_err(|err| with_path(&self.cache_file, err))?;
        self.changed.store(false, Ordering::Release);
        Ok(())
    }

    pub fn stats(&self) -> HashStats {
        HashStats {
            files_read: self.files_read.load(Ordering::Relaxed),
            files_reused: self.files_reused.load(Ordering::Relaxed),
        }
    }

    /// Hashes everything under `paths` (files, and directories walked in sorted order) in parallel.
    /// Returns one hash per entry, sorted by path; the first error (naming its path) if any.
    pub fn hash_paths(&self, paths: &[PathBuf]) -> io::Result<Vec<(PathBuf, blake3::Hash)>> {
        let mut entries: Vec<Entry> = paths
            .par_iter()
            .map(|path| walk::expand(path))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        // By path alone: the same file reached directly carries its stat, reached by a walk it does not.
        entries.dedup_by(|a, b| a.path == b.path);
        let hashes = self.hash_entries(&entries);
        entries
            .into_iter()
            .zip(hashes)
            .map(|(entry, hash)| match hash {
                Ok(hash) => Ok((entry.path, hash)),
                Err(err) => Err(with_path(&entry.path, err)),
            })
            .collect()
    }

    /// Hashes each entry, keeping the order. Errors do not repeat the entry's path.
    ///
    /// Files whose stat, taken while expanding them, is in the stat cache are settled first on this
    /// thread; only the rest are handed to the thread pool. Waking the pool for a handful of lookups
    /// costs far more than the lookups (thousands of context switches over a no-op build), while
    /// reading files is what the pool is for.
    pub(crate) fn hash_entries(&self, entries: &[Entry]) -> Vec<io::Result<blake3::Hash>> {
        let mut hashes: Vec<Option<io::Result<blake3::Hash>>> = entries
            .iter()
            .map(|entry| self.remembered_entry_hash(entry).map(Ok))
            .collect();
        let unsettled: Vec<usize> = (0..entries.len())
            .filter(|&i| hashes[i].is_none())
            .collect();
        let computed: Vec<io::Result<blake3::Hash>> = if unsettled.len() > 1 {
            unsettled
                .par_iter()
                .map(|&i| self.hash_entry(&entries[i]))
                .collect()
        } else {
            unsettled
                .iter()
                .map(|&i| self.hash_entry(&entries[i]))
                .collect()
        };
        for (i, hash) in unsettled.into_iter().zip(computed) {
            hashes[i] = Some(hash);
        }
        hashes
            .into_iter()
            .map(|hash| hash.expect("every entry is settled or computed"))
            .collect()
    }

    /// The hash of a file entry whose earlier stat the stat cache knows, without touching the disk.
    fn remembered_entry_hash(&self, entry: &Entry) -> Option<blake3::Hash> {
        if entry.kind != EntryKind::File {
            return None;
        }
        let (executable, content) = self.remembered(&normalize(&entry.path), entry.stat?)?;
        Some(file_entry_hash(executable, content))
    }

    fn hash_entry(&self, entry: &Entry) -> io::Result<blake3::Hash> {
        let mut hasher = blake3::Hasher::new_derive_key(ENTRY_CONTEXT);
        match entry.kind {
            EntryKind::File => {
                let (executable, content) = self.file_contents(&entry.path, entry.stat)?;
                return Ok(file_entry_hash(executable, content));
            }
            EntryKind::Symlink => {
                let target = fs::read_link(&entry.path)?;
                hasher.update(b"symlink");
                hasher.update(os_bytes(target.as_os_str()).as_ref());
            }
            EntryKind::EmptyDir => {
                hasher.update(b"empty-dir");
            }
        }
        Ok(hasher.finalize())
    }

    /// The executable bit and content hash of the file at `path`, from the stat cache when its stat is
    /// unchanged. `earlier` is a stat of it already taken in this run, if any: enough to find it in the
    /// stat cache, but a file that must be read is stat'ed again, after the clock is read.
    fn file_contents(
        &self,
        path: &Path,
        earlier: Option<FileStat>,
    ) -> io::Result<(bool, blake3::Hash)> {
        // One entry per file however it was spelled (`images/app/../../scripts/x.sh`). Should `..` through a
        // symlink make two files share a key, the inode and device in the stat tell them apart.
        let key = normalize(path);
        let reuse = |stat: FileStat| self.remembered(&key, stat);
        if let Some(found) = earlier.and_then(reuse) {
            return Ok(found);
        }

        // Taken before the stat, so the racy check errs on the side of distrust.
        let now = SystemTime::now();
        let metadata = fs::metadata(path)?;
        let stat = FileStat::of(&metadata);
        if let Some(found) = reuse(stat) {
            return Ok(found);
        }

        let content = hash_contents(path, stat.size)?;
        self.files_read.fetch_add(1, Ordering::Relaxed);

        // Remember the hash only if the file did not change while it was read and its mtime is old
        // enough that a later change must move it.
        let unchanged = fs::metadata(path).is_ok_and(|after| FileStat::of(&after) == stat);
        let mut known = self.known();
        if unchanged && !stat.is_racy(now) {
            known.insert(
                key,
                Known {
                    stat,
                    content,
                    seen: true,
                },
            );
            self.changed.store(true, Ordering::Release);
        } else if known.remove(&key).is_some() {
            self.changed.store(true, Ordering::Release);
        }
        Ok((stat.is_executable(), content))
    }

    /// The executable bit and content hash the stat cache holds for `key` with exactly `stat`, marking
    /// the entry as seen.
    fn remembered(&self, key: &Path, stat: FileStat) -> Option<(bool, blake3::Hash)> {
        let mut known = self.known();
        let entry = known.get_mut(key).filter(|known| known.stat == stat)?;
        entry.seen = true;
        self.files_reused.fetch_add(1, Ordering::Relaxed);
        Some((stat.is_executable(), entry.content))
    }

    fn known(&self) -> MutexGuard<'_, HashMap<PathBuf, Known>> {
        // A panic elsewhere while holding the lock leaves the map consistent (every update is one insert
        // or remove), so a poisoned lock is still usable.
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The entry hash of a regular file: its executable bit and content hash.
fn file_entry_hash(executable: bool, content: blake3::Hash) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new_derive_key(ENTRY_CONTEXT);
    hasher.update(b"file");
    hasher.update(&[u8::from(executable)]);
    hasher.update(content.as_bytes());
    hasher.finalize()
}

fn hash_contents(path: &Path, size: u64) -> io::Result<blake3::Hash> {
    if size < MMAP_THRESHOLD {
        return Ok(blake3::hash(&fs::read(path)?));
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap_rayon(path)?;
    Ok(hasher.finalize())
}

#[cfg(unix)]
fn os_bytes(text: &std::ffi::OsStr) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(text.as_bytes())
}

#[cfg(not(unix))]
fn os_bytes(text: &std::ffi::OsStr) -> std::borrow::Cow<'_, [u8]> {
    std::borrow::Cow::Owned(text.to_string_lossy().into_owned().into_bytes())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;

    /// Sets a file's mtime to `age` ago, so it is well outside the racy window.
    fn age(path: &Path, age: Duration) {
        let file = fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// A small tree of settled files: two scripts, a directory with a nested file and an empty directory.
    fn tree() -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("files");
        fs::create_dir_all(files.join("etc")).unwrap();
        fs::create_dir_all(files.join("empty")).unwrap();
        for (name, text) in [
            ("a.sh", "echo a"),
            ("b.sh", "echo b"),
            ("files/etc/motd", "hello"),
        ] {
            fs::write(dir.path().join(name), text).unwrap();
            age(&dir.path().join(name), HOUR);
        }
        let paths = vec![dir.path().join("a.sh"), dir.path().join("b.sh"), files];
        (dir, paths)
    }

    fn hashes(hasher: &FileHasher, paths: &[PathBuf]) -> Vec<blake3::Hash> {
        hasher
            .hash_paths(paths)
            .unwrap()
            .into_iter()
            .map(|(_, hash)| hash)
            .collect()
    }

    #[test]
    fn an_unchanged_tree_is_hashed_from_the_stat_cache_without_reading() {
        let (dir, paths) = tree();
        let cache_dir = dir.path().join("cache");

        let first = FileHasher::open(&cache_dir);
        let before = hashes(&first, &paths);
        assert_eq!(
            first.stats(),
            HashStats {
                files_read: 3,
                files_reused: 0
            }
        );
        // Same process: remembered in memory.
        assert_eq!(hashes(&first, &paths), before);
        assert_eq!(
            first.stats(),
            HashStats {
                files_read: 3,
                files_reused: 3
            }
        );
        first.save().unwrap();

        // Next process: remembered on disk.
        let second = FileHasher::open(&cache_dir);
        assert_eq!(hashes(&second, &paths), before);
        assert_eq!(
            second.stats(),
            HashStats {
                files_read: 0,
                files_reused: 3
            }
        );
    }

    #[test]
    fn touching_only_the_mtime_rehashes_to_the_same_hash() {
        let (dir, paths) = tree();
        let cache_dir = dir.path().join("cache");
        let first = FileHasher::open(&cache_dir);
        let before = hashes(&first, &paths);
        first.save().unwrap();

        age(&paths[0], HOUR / 2);
        let second = FileHasher::open(&cache_dir);
        assert_eq!(hashes(&second, &paths), before);
        assert_eq!(
            second.stats(),
            HashStats {
                files_read: 1,
                files_reused: 2
            }
        );
    }

    #[test]
    fn a_rewrite_that_restores_size_and_mtime_is_still_noticed() {
        let (dir, paths) = tree();
        let cache_dir = dir.path().join("cache");
        let first = FileHasher::open(&cache_dir);
        let before = hashes(&first, &paths);
        first.save().unwrap();

        let mtime = fs::metadata(&paths[0]).unwrap().modified().unwrap();
        fs::write(&paths[0], "echo A").unwrap();
        fs::File::options()
            .write(true)
            .open(&paths[0])
            .unwrap()
            .set_modified(mtime)
            .unwrap();

        let second = FileHasher::open(&cache_dir);
        let after = hashes(&second, &paths);
        assert_ne!(after[0], before[0]);
        assert_eq!(after[1..], before[1..]);
    }

    #[test]
    fn recently_modified_files_are_hashed_but_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fresh.sh");
        fs::write(&script, "echo fresh").unwrap();
        let cache_dir = dir.path().join("cache");

        let first = FileHasher::open(&cache_dir);
        let before = hashes(&first, std::slice::from_ref(&script));
        first.save().unwrap();

        // Within the racy window a same-size rewrite could keep the mtime, so the stat proves nothing.
        let second = FileHasher::open(&cache_dir);
        assert_eq!(hashes(&second, std::slice::from_ref(&script)), before);
        assert_eq!(
            second.stats(),
            HashStats {
                files_read: 1,
                files_reused: 0
            }
        );
    }

    #[test]
    fn contents_executable_bit_and_symlink_targets_change_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let hasher = FileHasher::open(&dir.path().join("cache"));
        let script = dir.path().join("x.sh");
        let hash_of = |path: &Path| hashes(&hasher, &[path.to_owned()])[0];

        fs::write(&script, "echo 1").unwrap();
        let original = hash_of(&script);
        fs::write(&script, "echo 2").unwrap();
        let edited = hash_of(&script);
        assert_ne!(edited, original);

        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let executable = hash_of(&script);
        assert_ne!(executable, edited);
        // Other mode bits do not matter to what gets uploaded.
        fs::set_permissions(&script, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(hash_of(&script), executable);

        let links = dir.path().join("links");
        fs::create_dir(&links).unwrap();
        std::os::unix::fs::symlink("../x.sh", links.join("l")).unwrap();
        let to_x = hash_of(&links);
        fs::remove_file(links.join("l")).unwrap();
        std::os::unix::fs::symlink("../y.sh", links.join("l")).unwrap();
        assert_ne!(hash_of(&links), to_x);
    }

    #[test]
    fn the_hash_does_not_depend_on_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let hasher = FileHasher::open(&dir.path().join("cache"));
        fs::write(dir.path().join("a"), "same").unwrap();
        fs::write(dir.path().join("b"), "same").unwrap();
        let both = hashes(&hasher, &[dir.path().join("a"), dir.path().join("b")]);
        assert_eq!(both[0], both[1]);
    }

    #[test]
    fn big_and_small_files_hash_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        for size in [
            0,
            1,
            MMAP_THRESHOLD - 1,
            MMAP_THRESHOLD,
            3 * MMAP_THRESHOLD + 17,
        ] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let path = dir.path().join(format!("f{size}"));
            fs::write(&path, &bytes).unwrap();
            assert_eq!(
                hash_contents(&path, size).unwrap(),
                blake3::hash(&bytes),
                "size {size}"
            );
        }
    }

    #[test]
    fn a_missing_or_corrupt_stat_cache_is_empty() {
        let (dir, paths) = tree();
        let cache_dir = dir.path().join("cache");
        fs::create_dir_all(&cache_dir).unwrap();
        let cache_file = cache_dir.join(stat_cache::FILE_NAME);
        for (junk, problem) in [
            (
                "",
                Some("not valid JSON: EOF while parsing a value at line 1 column 0"),
            ),
            (
                "{",
                Some("not valid JSON: EOF while parsing an object at line 1 column 1"),
            ),
            ("[1,2]", Some("no numeric `version` field")),
            (
                r#"{"version": 2, "entries": []}"#,
                Some("not a stat cache: invalid type: sequence, expected a map"),
            ),
            (
                r#"{"version": 2, "checksum": "", "entries": {}}"#,
                Some(
                    "its checksum does not match its entries (it was changed after imgs wrote it)",
                ),
            ),
            // Another imgs's format: replaced without a word.
            (r#"{"version": 99, "entries": {}}"#, None),
        ] {
            fs::write(&cache_file, junk).unwrap();
            let hasher = FileHasher::open(&cache_dir);
            assert_eq!(hasher.load_problem(), problem, "{junk:?}");
            hashes(&hasher, &paths);
            assert_eq!(hasher.stats().files_read, 3, "{junk:?}");
        }
        // A directory in its place is replaced when the cache is saved.
        fs::remove_file(&cache_file).unwrap();
        fs::create_dir_all(cache_file.join("x")).unwrap();
        let hasher = FileHasher::open(&cache_dir);
        assert!(
            hasher
                .load_problem()
                .unwrap()
                .starts_with("cannot read it: ")
        );
        hasher.save().unwrap();
        assert_eq!(stat_cache::load(&cache_file).problem, None);
        let elsewhere = FileHasher::open(&dir.path().join("no/such/dir"));
        hashes(&elsewhere, &paths);
        assert_eq!(elsewhere.stats().files_read, 3);
        // Saving creates the directory.
        elsewhere.save().unwrap();
        assert!(
            dir.path()
                .join("no/such/dir")
                .join(stat_cache::FILE_NAME)
                .is_file()
        );
    }

    #[test]
    fn save_writes_only_when_something_was_learned_and_drops_deleted_files() {
        let (dir, paths) = tree();
        let cache_dir = dir.path().join("cache");
        let cache_file = cache_dir.join(stat_cache::FILE_NAME);
        let nothing = FileHasher::open(&cache_dir);
        nothing.save().unwrap();
        assert!(!cache_file.exists());

        let first = FileHasher::open(&cache_dir);
        hashes(&first, &paths);
        first.save().unwrap();
        assert_eq!(stat_cache::load(&cache_file).entries.len(), 3);
        let leftovers: Vec<_> = fs::read_dir(&cache_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [stat_cache::FILE_NAME]);

        // A later run that hashes only `a.sh` keeps the others, unless they are gone.
        fs::remove_file(&paths[1]).unwrap();
        age(&paths[0], HOUR / 2);
        let second = FileHasher::open(&cache_dir);
        hashes(&second, &paths[..1]);
        second.save().unwrap();
        let kept: Vec<String> = {
            let mut kept: Vec<String> = stat_cache::load(&cache_file)
                .entries
                .keys()
                .map(|p| {
                    p.strip_prefix(dir.path())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            kept.sort();
            kept
        };
        assert_eq!(kept, ["a.sh", "files/etc/motd"]);
    }

    #[test]
    fn one_file_spelled_two_ways_is_one_stat_cache_entry() {
        let (dir, paths) = tree();
        let hasher = FileHasher::open(&dir.path().join("cache"));
        let roundabout = dir.path().join("files/etc/../../a.sh");
        assert_eq!(hashes(&hasher, &[roundabout]), hashes(&hasher, &paths[..1]));
        assert_eq!(
            hasher.stats(),
            HashStats {
                files_read: 1,
                files_reused: 1
            }
        );
    }

    #[test]
    fn missing_paths_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let hasher = FileHasher::open(&dir.path().join("cache"));
        let err = hasher
            .hash_paths(&[dir.path().join("missing.sh")])
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing.sh"), "{err}");
    }
}
