//! Turning a referenced path into the entries that count as inputs.
//!
//! A referenced file is one entry. A referenced directory is every file under it, in sorted order, plus
//! every empty directory (a file provisioner uploads those too, so adding one changes the image). Symlinks
//! inside a directory are entries of their own, hashed by target and not followed, because that is what
//! gets copied; a referenced path that is itself a symlink is followed, because the tool using it reads
//! through it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::stat_cache::FileStat;

/// What kind of thing an input entry is; each is hashed differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Contents and executable bit.
    File,
    /// The link's target path, not what it points to.
    Symlink,
    /// Only its existence.
    EmptyDir,
}

/// One file-system input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub path: PathBuf,
    pub kind: EntryKind,
    /// The stat taken while expanding a referenced file, so hashing it need not take another when the
    /// stat cache already knows it.
    pub stat: Option<FileStat>,
}

/// An I/O error and the path it happened at (which may be inside the directory being walked).
#[derive(Debug)]
pub struct PathError {
    pub path: PathBuf,
    pub error: io::Error,
}

impl PathError {
    fn new(path: &Path, error: io::Error) -> Self {
        PathError {
            path: path.to_owned(),
            error,
        }
    }
}

impl From<PathError> for io::Error {
    fn from(err: PathError) -> io::Error {
        with_path(&err.path, err.error)
    }
}

/// The entries a referenced `path` stands for, sorted by path. A missing path is an `io::ErrorKind::NotFound`
/// error; a special file (socket, FIFO, device) is an `InvalidInput` error, since reading one could block
/// or never end.
pub fn expand(path: &Path) -> Result<Vec<Entry>, PathError> {
    let metadata = fs::metadata(path).map_err(|error| PathError::new(path, error))?;
    expand_known(path, &metadata)
}

/// [`expand`] for a path whose metadata (symlinks followed) the caller has already read.
pub fn expand_known(path: &Path, metadata: &fs::Metadata) -> Result<Vec<Entry>, PathError> {
    if metadata.is_file() {
        return Ok(vec![Entry {
            path: path.to_owned(),
            kind: EntryKind::File,
            stat: Some(FileStat::of(metadata)),
        }]);
    }
    if !metadata.is_dir() {
        return Err(PathError::new(path, special_file()));
    }

    let mut entries = Vec::new();
    // A directory is empty exactly when the walk's next entry is not one level below it.
    let mut open_dir: Option<(PathBuf, usize)> = None;
    for item in WalkDir::new(path).follow_links(false).sort_by_file_name() {
        let item = item.map_err(|err| {
            let path = err.path().unwrap_or(path).to_owned();
            PathError {
                path,
                error: io::Error::from(err),
            }
        })?;
        if let Some((dir, depth)) = open_dir.take()
            && item.depth() <= depth
        {
            entries.push(Entry {
                path: dir,
                kind: EntryKind::EmptyDir,
                stat: None,
            });
        }
        let file_type = item.file_type();
        // The root is known to be a directory even when reached through a symlink, which walkdir follows
        // but still reports as a symlink.
        let kind = if item.depth() == 0 || file_type.is_dir() {
            open_dir = Some((item.path().to_owned(), item.depth()));
            continue;
        } else if file_type.is_file() {
            EntryKind::File
        } else if file_type.is_symlink() {
            EntryKind::Symlink
        } else {
            return Err(PathError::new(item.path(), special_file()));
        };
        entries.push(Entry {
            path: item.into_path(),
            kind,
            stat: None,
        });
    }
    if let Some((dir, _)) = open_dir {
        entries.push(Entry {
            path: dir,
            kind: EntryKind::EmptyDir,
            stat: None,
        });
    }
    Ok(entries)
}

fn special_file() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "not a regular file, directory or symlink",
    )
}

/// std's I/O errors do not say which file; ours do.
pub(crate) fn with_path(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relative(root: &Path, entries: &[Entry]) -> Vec<(String, EntryKind)> {
        entries
            .iter()
            .map(|e| {
                (
                    e.path
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    e.kind,
                )
            })
            .collect()
    }

    #[test]
    fn a_file_is_itself() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("setup.sh");
        fs::write(&file, "echo").unwrap();
        assert_eq!(
            expand(&file).unwrap(),
            [Entry {
                stat: Some(FileStat::of(&fs::metadata(&file).unwrap())),
                path: file,
                kind: EntryKind::File,
            }]
        );
    }

    #[test]
    fn a_directory_is_its_files_symlinks_and_empty_directories_in_sorted_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        fs::create_dir_all(root.join("etc/motd.d")).unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        fs::create_dir_all(root.join("nested/deeper/empty-too")).unwrap();
        fs::write(root.join("etc/hosts"), "127.0.0.1").unwrap();
        fs::write(root.join("b.txt"), "b").unwrap();
        fs::write(root.join("a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("../a.txt", root.join("etc/link")).unwrap();
        // A symlink to a directory is not followed.
        std::os::unix::fs::symlink("../etc", root.join("nested/to-etc")).unwrap();

        let shown = relative(dir.path(), &expand(&root).unwrap());
        let expected = [
            ("files/a.txt", EntryKind::File),
            ("files/b.txt", EntryKind::File),
            ("files/empty", EntryKind::EmptyDir),
            ("files/etc/hosts", EntryKind::File),
            ("files/etc/link", EntryKind::Symlink),
            ("files/etc/motd.d", EntryKind::EmptyDir),
            ("files/nested/deeper/empty-too", EntryKind::EmptyDir),
            ("files/nested/to-etc", EntryKind::Symlink),
        ];
        let expected: Vec<(String, EntryKind)> =
            expected.iter().map(|(p, k)| (p.to_string(), *k)).collect();
        assert_eq!(shown, expected);
    }

    #[test]
    fn an_empty_referenced_directory_still_counts() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            expand(dir.path()).unwrap(),
            [Entry {
                path: dir.path().to_owned(),
                kind: EntryKind::EmptyDir,
                stat: None,
            }]
        );
    }

    #[test]
    fn a_referenced_symlink_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        fs::write(dir.path().join("real/x"), "x").unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("alias")).unwrap();
        let shown = relative(dir.path(), &expand(&dir.path().join("alias")).unwrap());
        assert_eq!(shown, [("alias/x".to_owned(), EntryKind::File)]);
    }

    #[test]
    fn missing_and_special_paths_are_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.sh");
        let err = expand(&missing).unwrap_err();
        assert_eq!(err.error.kind(), io::ErrorKind::NotFound);
        assert_eq!(err.path, missing);

        let socket_path = dir.path().join("sock");
        let _socket = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
        let err = expand(dir.path()).unwrap_err();
        assert_eq!(err.error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(err.path, socket_path);
        let err = io::Error::from(err);
        assert!(
            err.to_string()
                .ends_with("sock: not a regular file, directory or symlink"),
            "{err}"
        );
    }
}
