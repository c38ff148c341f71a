//! The workspace lock: one imgs command at a time changes a workspace's `cache/`.
//!
//! Two `imgs build` runs in one workspace would otherwise plan from the same records and both build
//! every image (and, in a cloud, make twice the AMIs). A command that writes the cache takes an
//! exclusive advisory lock (`flock`, through std's `File::lock`) on `cache/imgs.lock` before it
//! plans, and holds it until it ends; a second one waits for it and then plans afresh, finding what
//! the first one built. Who takes it, and why:
//!
//! - `imgs build` of a workspace: writes records, version directories, `current` links, the run
//!   manifest, timings. Waits, or fails at once with `--no-wait`. A template built on its own
//!   (`imgs build FILE`) has no workspace cache and takes no lock; `--dry-run` only plans.
//! - `imgs cache prune` (not `--dry-run`): deletes records and the files they name, which a build
//!   may be writing or standing on. Waits, or `--no-wait`.
//! - `imgs gc` never waits: it exists to run beside builds (it skips the runs whose own run lock is
//!   held, see `gc.rs`). Its one write to `cache/`, removing dead runs' lock files, is made only when
//!   it gets this lock at once (see there).
//! - `imgs plan`, `graph`, `validate`, `inspect` and `cache ls` only read records, and never block:
//!   records are written whole to a temporary file and renamed into place, so a reader sees a
//!   record entirely or not at all, and a plan made while a build runs is simply that moment's
//!   truth. They (and a build's plan) also rewrite the stat cache, the same atomic way, with no lock:
//!   it is a cache whose every entry is checked against the file's stat before use, so when two
//!   commands write it at once the last one wins, and what the other learned costs only hashing a
//!   file again.
//!
//! The lock dies with its process, however that ends (Ctrl-C, a panic, SIGKILL): the kernel drops a
//! `flock` when the last descriptor of the open file goes, and files std opens are close-on-exec, so
//! no child a build started (a script, qemu, Packer) keeps it after imgs is gone. The file itself is
//! never removed: a waiter holding a descriptor of a removed file would lock a file nobody else sees.
//!
//! The holder writes who it is into the file (PID, command, run, since when) so a waiter can say whom
//! it waits for. That text is for people: the lock is the `flock`, never the text, and a garbled or
//! empty holder text only makes the message vaguer. The command is `imgs build` or `imgs cache
//! prune`, never the command line, which may carry `--var` secrets.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The lock file, in the cache directory.
pub const LOCK_FILE: &str = "imgs.lock";

/// How often a waiting command tries the lock again. Polling (rather than a blocking `flock`) lets
/// Ctrl-C stop the wait at once.
const RETRY: Duration = Duration::from_millis(100);

/// Who holds the lock, as the holder wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// `imgs build` or `imgs cache prune`.
    pub command: String,
    /// A build's run ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// When it took the lock, RFC 3339.
    pub since: String,
}

impl Holder {
    /// `` `imgs build` (PID 4242, run …, since …) ``.
    pub fn describe(&self) -> String {
        let run = self
            .run_id
            .as_ref()
            .map(|r| format!(", run {r}"))
            .unwrap_or_default();
        format!(
            "`{}` (PID {}{run}, since {})",
            self.command, self.pid, self.since
        )
    }
}

/// Whether to wait for a lock another command holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    Block,
    /// `--no-wait`.
    NoWait,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// `--no-wait`, and another command holds it.
    Busy {
        path: PathBuf,
        holder: Option<Holder>,
    },
    /// Ctrl-C while waiting.
    Interrupted,
    /// The lock file could not be made or locked.
    Io(String),
}

impl LockError {
    pub fn message(&self) -> String {
        match self {
            LockError::Busy { path, holder } => format!(
                "another imgs command holds the workspace lock `{}`: {}",
                path.display(),
                held_by(holder.as_ref())
            ),
            LockError::Interrupted => "interrupted while waiting for the workspace lock".into(),
            LockError::Io(message) => message.clone(),
        }
    }

    pub fn hint(&self) -> Option<&'static str> {
        match self {
            LockError::Busy { .. } => Some(
                "run it again once that command has ended, or without --no-wait to wait for it; a \
                 command that was killed releases the lock with its process",
            ),
            LockError::Interrupted => None,
            LockError::Io(_) => Some(
                "the workspace's cache/ directory must be writable; remove whatever stands at that path",
            ),
        }
    }
}

/// The holder's description, or why there is none.
pub fn held_by(holder: Option<&Holder>) -> String {
    match holder {
        Some(holder) => holder.describe(),
        // Between another command's lock and its write of who it is, or a file someone damaged.
        None => "an imgs command that has not said who it is".to_string(),
    }
}

/// The held lock: released when dropped (and by the kernel when the process ends).
#[derive(Debug)]
pub struct WorkspaceLock {
    file: File,
    /// A directory stood where the lock file belongs, and was removed: for a warning.
    pub repaired: Option<String>,
}

impl Drop for WorkspaceLock {
    fn drop(&mut self) {
        // Emptied while still held, so a waiter never reads a finished holder's name; closing the
        // file (when `self.file` drops) releases the lock.
        let _ = self.file.set_len(0);
    }
}

/// Takes the lock of the workspace whose cache directory is `cache_dir`. If another command holds
/// it: with [`Wait::NoWait`] fails at once; else calls `waiting` once with the lock's path and its
/// holder, and tries again until it gets it or `cancel` is cancelled.
pub fn acquire(
    cache_dir: &Path,
    command: &str,
    run_id: Option<&str>,
    wait: Wait,
    cancel: &CancellationToken,
    waiting: impl FnOnce(&Path, Option<&Holder>),
) -> Result<WorkspaceLock, LockError> {
    let path = cache_dir.join(LOCK_FILE);
    let (mut file, repaired) = open(cache_dir, &path)?;
    let mut waiting = Some(waiting);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => {
                return Err(LockError::Io(format!(
                    "cannot lock `{}`: {e}",
                    path.display()
                )));
            }
        }
        if let Some(waiting) = waiting.take() {
            let holder = read_holder(&mut file);
            if wait == Wait::NoWait {
                return Err(LockError::Busy { path, holder });
            }
            waiting(&path, holder.as_ref());
        }
        if cancel.is_cancelled() {
            return Err(LockError::Interrupted);
        }
        std::thread::sleep(RETRY);
        if cancel.is_cancelled() {
            return Err(LockError::Interrupted);
        }
    }
    let holder = Holder {
        pid: std::process::id(),
        command: command.to_string(),
        run_id: run_id.map(str::to_string),
        since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    // Who holds it is for messages only: a full disk that keeps it from being written is no reason
    // to give the lock up.
    let _ = write_holder(&mut file, &holder);
    Ok(WorkspaceLock {
        file,
        repaired: repaired.then(|| {
            format!(
                "`{}` was a directory, not imgs's lock file; it was removed and the lock file made \
                 in its place",
                path.display()
            )
        }),
    })
}

/// Opens (creating) the lock file. A directory standing at its path is damage (imgs never makes
/// one there) and is removed (the `bool` says so).
fn open(cache_dir: &Path, path: &Path) -> Result<(File, bool), LockError> {
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| LockError::Io(format!("cannot create `{}`: {e}", cache_dir.display())))?;
    let options = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    };
    let (opened, repaired) = match options() {
        Err(_) if path.is_dir() => {
            imgs_atomic_file::remove_damage(path).map_err(|e| {
                LockError::Io(format!(
                    "`{}` is a directory, and removing it failed: {e}",
                    path.display()
                ))
            })?;
            (options(), true)
        }
        other => (other, false),
    };
    opened
        .map(|file| (file, repaired))
        .map_err(|e| LockError::Io(format!("cannot open `{}`: {e}", path.display())))
}

/// The holder's text, if it reads as one.
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    // Bounded: the file is ours, but anyone may have written into it.
    file.take(4096).read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

fn write_holder(file: &mut File, holder: &Holder) -> std::io::Result<()> {
    let text = serde_json::to_string(holder).map_err(std::io::Error::other)? + "\n";
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> CancellationToken {
        CancellationToken::new()
    }

    #[test]
    fn a_second_taker_is_told_who_holds_the_lock_and_gets_it_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(
            dir.path(),
            "imgs build",
            Some("run-1"),
            Wait::Block,
            &never(),
            |_, _| panic!("nobody holds it yet"),
        )
        .unwrap();
        let busy = acquire(
            dir.path(),
            "imgs build",
            None,
            Wait::NoWait,
            &never(),
            |_, _| {},
        )
        .unwrap_err();
        let LockError::Busy { path, holder } = &busy else {
            panic!("{busy:?}")
        };
        assert_eq!(path, &dir.path().join(LOCK_FILE));
        let holder = holder.as_ref().expect("the holder said who it is");
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.command, "imgs build");
        assert_eq!(holder.run_id.as_deref(), Some("run-1"));

        // A waiter is told once, and gets the lock when the holder is done.
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let mut told = 0;
        let second = acquire(
            dir.path(),
            "imgs cache prune",
            None,
            Wait::Block,
            &never(),
            |_, holder| {
                told += 1;
                assert_eq!(holder.unwrap().command, "imgs build");
            },
        )
        .unwrap();
        released.join().unwrap();
        assert_eq!(told, 1);
        drop(second);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(),
            "",
            "a released lock names nobody"
        );
    }

    #[test]
    fn a_cancelled_wait_gives_up_and_damage_does_not_stop_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file belongs, then garbage in the file: neither keeps anyone out.
        std::fs::create_dir_all(dir.path().join(LOCK_FILE).join("x")).unwrap();
        let held = acquire(
            dir.path(),
            "imgs build",
            None,
            Wait::Block,
            &never(),
            |_, _| {},
        )
        .unwrap();
        assert!(held.repaired.as_ref().unwrap().contains("was a directory"));
        std::fs::write(dir.path().join(LOCK_FILE), b"\xff{garbage").unwrap();
        let cancel = CancellationToken::new();
        cancel.cancel();
        let mut holder_seen = None;
        let err = acquire(
            dir.path(),
            "imgs build",
            None,
            Wait::Block,
            &cancel,
            |_, h| holder_seen = Some(h.cloned()),
        )
        .unwrap_err();
        assert!(matches!(err, LockError::Interrupted), "{err:?}");
        assert_eq!(holder_seen, Some(None), "told, and garbage names no holder");
        drop(held);
    }
}
