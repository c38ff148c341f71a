//! Which records and files a prune removes, decided from an [`Inventory`] without touching the disk.
//!
//! Kept: every current record, every file a kept record names, and every file a kept qcow2 layer stands on,
//! directly or down its backing chain (deleting a backing file ruins every layer above it, and the layer's
//! record says nothing of it). Removed: every other record, and those of its files that nothing kept needs,
//! that are regular files, and that lie inside the workspace. Anything that makes the answer uncertain (a
//! record that cannot be read, a workspace that cannot be fingerprinted, a kept disk whose header cannot be
//! read) refuses the whole prune: deleting on a guess is how caches lose data.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

use imgs_fingerprint::Fingerprint;

use crate::{FileState, Inventory, Status};

/// What a prune removes, and what it keeps that a removed record named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrunePlan {
    pub records: Vec<RemovedRecord>,
    pub files: Vec<RemovedFile>,
    pub kept: Vec<KeptFile>,
}

impl PrunePlan {
    /// Bytes the removed files take.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.files.is_empty()
    }

    /// How many of the removed paths are whole version directories.
    pub fn dirs(&self) -> usize {
        self.files.iter().filter(|f| f.is_dir).count()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedRecord {
    pub image: String,
    pub fingerprint: Fingerprint,
    pub status: Status,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedFile {
    pub path: PathBuf,
    /// Relative to the workspace root.
    pub shown: String,
    pub size: u64,
    /// A whole version directory (`size` is everything in it), removed with its marker.
    pub is_dir: bool,
}

/// A file a removed record names that stays, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptFile {
    pub shown: String,
    pub why: KeepReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// A kept record names it too.
    Named {
        image: String,
        fingerprint: Fingerprint,
    },
    /// A kept record's disk stands on it (`disk` is that record's file, as shown).
    Backs {
        disk: String,
        image: String,
        fingerprint: Fingerprint,
    },
    /// Outside the workspace: imgs deletes only what is inside it.
    OutsideWorkspace,
    /// A directory or special file.
    NotAFile,
    /// A version directory a running build is writing.
    Building { run: String },
}

/// Why a prune is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The file at fault, when there is one.
    pub path: Option<PathBuf>,
    pub message: String,
    pub hint: String,
}

/// Decides what a prune removes.
pub fn decide_prune(inventory: &Inventory) -> Result<PrunePlan, Vec<Refusal>> {
    let mut refusals: Vec<Refusal> = inventory
        .unreadable
        .iter()
        .map(|u| Refusal {
            path: Some(u.path.clone()),
            message: format!("cannot read a cache record of `{}`: {}", u.image, u.error),
            hint: "move the file out of the cache (or delete it if its artifacts are not needed), then prune again".to_owned(),
        })
        .collect();
    if inventory
        .entries
        .iter()
        .any(|e| e.status == Status::Unknown)
    {
        refusals.push(Refusal {
            path: None,
            message: "which records are current is not known, so nothing can be pruned".to_owned(),
            hint: "fix the workspace (`imgs plan` shows the errors), then prune again".to_owned(),
        });
    }

    let (protected, chain_refusals) = protected_files(inventory);
    refusals.extend(chain_refusals);
    if !refusals.is_empty() {
        return Err(refusals);
    }

    let mut plan = PrunePlan::default();
    let removed_dirs = version_dirs(inventory, &protected, &mut plan);
    let mut decided: BTreeSet<&PathBuf> = BTreeSet::new();
    for entry in inventory.entries.iter().filter(|e| !keeps(e.status)) {
        plan.records.push(RemovedRecord {
            image: entry.record.image.clone(),
            fingerprint: entry.record.fingerprint,
            status: entry.status,
            created_at: entry.record.created_at.clone(),
        });
        for file in &entry.files {
            // Two removed records often name the same file (a rebuilt image overwrites its disk).
            if !decided.insert(&file.path) {
                continue;
            }
            // Gone with its whole version directory.
            if removed_dirs.iter().any(|dir| file.path.starts_with(dir)) {
                continue;
            }
            let keep = |why| {
                Some(KeptFile {
                    shown: file.shown.clone(),
                    why,
                })
            };
            let kept = match (protected.get(&file.path), inventory.files.get(&file.path)) {
                (Some(why), _) => keep(why.clone()),
                (None, None | Some(FileState::Missing)) => None,
                (None, _) if !file.path.starts_with(&inventory.root) => {
                    keep(KeepReason::OutsideWorkspace)
                }
                (None, Some(FileState::NotAFile)) => keep(KeepReason::NotAFile),
                (None, Some(FileState::File { size, .. })) => {
                    plan.files.push(RemovedFile {
                        path: file.path.clone(),
                        shown: inventory.shown(&file.path),
                        size: *size,
                        is_dir: false,
                    });
                    None
                }
                // A file whose header could not be read is still a file; only kept disks need their
                // headers, and those were checked above.
                (None, Some(FileState::Unreadable(_))) => {
                    plan.files.push(RemovedFile {
                        path: file.path.clone(),
                        shown: inventory.shown(&file.path),
                        size: 0,
                        is_dir: false,
                    });
                    None
                }
            };
            plan.kept.extend(kept);
        }
    }
    Ok(plan)
}

/// Decides every version directory: one a kept record names stays unlisted; one a running build
/// writes, or holding a file a kept record needs (a backing file above all), stays and says why;
/// every other one (an older version, a version a killed run left) is removed whole. Returns the
/// removed ones.
fn version_dirs(
    inventory: &Inventory,
    protected: &BTreeMap<PathBuf, KeepReason>,
    plan: &mut PrunePlan,
) -> Vec<PathBuf> {
    let named: BTreeSet<PathBuf> = inventory
        .entries
        .iter()
        .filter(|e| keeps(e.status))
        .filter_map(|e| e.record.artifact_dir.as_ref())
        .map(|dir| crate::inventory::resolve(&inventory.root.join(dir)))
        .collect();
    let mut removed = Vec::new();
    for version in &inventory.versions {
        if named.contains(&version.path) {
            continue;
        }
        let shown = format!("{}/", version.shown);
        if let Some((run, true)) = &version.building {
            plan.kept.push(KeptFile {
                shown,
                why: KeepReason::Building { run: run.clone() },
            });
            continue;
        }
        if let Some((_, why)) = protected
            .iter()
            .find(|(path, _)| path.starts_with(&version.path))
        {
            plan.kept.push(KeptFile {
                shown,
                why: why.clone(),
            });
            continue;
        }
        plan.files.push(RemovedFile {
            path: version.path.clone(),
            shown,
            size: version.size,
            is_dir: true,
        });
        removed.push(version.path.clone());
    }
    removed
}

fn keeps(status: Status) -> bool {
    matches!(status, Status::Current | Status::Unknown)
}

/// Every file a kept record needs, with the first reason found; and refusals for kept disks whose backing
/// chain cannot be followed.
fn protected_files(inventory: &Inventory) -> (BTreeMap<PathBuf, KeepReason>, Vec<Refusal>) {
    let mut protected = BTreeMap::new();
    let mut refusals = Vec::new();
    let kept = inventory.entries.iter().filter(|e| keeps(e.status));
    for entry in kept.clone() {
        for file in &entry.files {
            protected
                .entry(file.path.clone())
                .or_insert_with(|| KeepReason::Named {
                    image: entry.record.image.clone(),
                    fingerprint: entry.record.fingerprint,
                });
        }
    }
    for entry in kept {
        for file in &entry.files {
            let mut queue = VecDeque::from([file.path.clone()]);
            let mut seen = BTreeSet::new();
            while let Some(path) = queue.pop_front() {
                if !seen.insert(path.clone()) {
                    continue;
                }
                match inventory.files.get(&path) {
                    Some(FileState::File {
                        backing: Some(next),
                        ..
                    }) => {
                        protected
                            .entry(next.clone())
                            .or_insert_with(|| KeepReason::Backs {
                                disk: file.shown.clone(),
                                image: entry.record.image.clone(),
                                fingerprint: entry.record.fingerprint,
                            });
                        queue.push_back(next.clone());
                    }
                    Some(FileState::Unreadable(why)) => refusals.push(Refusal {
                        path: Some(path.clone()),
                        message: format!(
                            "cannot tell which files `{}` (kept for `{}`) stands on: {why}",
                            inventory.shown(&path),
                            entry.record.image
                        ),
                        hint: "check the disk with `qemu-img info --backing-chain`; prune deletes nothing while a kept disk's backing chain is unknown".to_owned(),
                    }),
                    _ => {}
                }
            }
        }
    }
    (protected, refusals)
}
