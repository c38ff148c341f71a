//! Which versions of each image `imgs prune --keep N` keeps, and which versions were built on which
//! (for the prune and for `imgs revoke --descendants`), decided from a list of versions alone.
//!
//! A version is one fingerprint of one image, wherever its artifacts are: a local record (with its
//! artifact directory) and AMIs in any number of regions. It is kept or removed whole.
//!
//! Never removed: the image's current fingerprint, a version a channel points at, and a version a
//! kept version was built on (through its AMIs' `imgs:source-ami` tag, or a local record's parent
//! fingerprint), whatever the image and however far down the lineage.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

/// One version of one image, as the prune sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Version {
    pub image: String,
    /// Its fingerprint, in full (as records and the `imgs:fingerprint` tag hold it).
    pub fingerprint: String,
    /// When it was made (RFC 3339): the newest of its record's and AMIs' times.
    pub created_at: String,
    /// Its AMIs' IDs, every region.
    pub amis: Vec<String>,
    /// Whether there is a local record of it.
    pub local: bool,
    /// The channels that point at it (by an AMI's channel tag or a local channel file).
    pub channels: Vec<String>,
    /// What it was built on.
    pub built_on: Vec<BuiltOn>,
}

/// What a version was built on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BuiltOn {
    /// An AMI it was launched from (`imgs:source-ami`).
    Ami(String),
    /// A parent image's version (a record's parent input).
    Version { image: String, fingerprint: String },
}

/// An image of the workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageState {
    pub name: String,
    /// Its fingerprint now, when it could be computed.
    pub current: Option<String>,
    /// Whether the prune was asked to remove its versions (the others' versions are all kept, but
    /// still protect what they were built on).
    pub selected: bool,
}

/// `--keep`, `--older-than` and `--channel-keep`, with the time the prune runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub keep: usize,
    pub older_than_days: Option<u64>,
    /// Versions in a channel do not count toward `keep`.
    pub channel_keep: bool,
    pub now: DateTime<Utc>,
}

/// Why a version stays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    /// The image's fingerprint now.
    Current,
    /// Among the `keep` newest.
    Newest,
    /// A channel points at it.
    Channel(Vec<String>),
    /// Made less than `--older-than` days ago.
    Recent,
    /// A kept version was built on it.
    Parent { image: String, fingerprint: String },
    /// Its image was not selected.
    NotSelected,
}

/// What happens to a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep(Kept),
    Remove,
}

impl Verdict {
    pub fn is_kept(&self) -> bool {
        matches!(self, Verdict::Keep(_))
    }
}

/// The verdict on each of `versions` (same order).
pub fn decide_retention(
    images: &[ImageState],
    versions: &[Version],
    policy: &RetentionPolicy,
) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict::Remove; versions.len()];
    for image in images {
        let mut own: Vec<usize> = (0..versions.len())
            .filter(|&i| versions[i].image == image.name)
            .collect();
        // Newest first; the fingerprint breaks ties so the order never depends on the listing.
        own.sort_by(|&a, &b| {
            let (a, b) = (&versions[a], &versions[b]);
            created(b)
                .cmp(&created(a))
                .then_with(|| b.fingerprint.cmp(&a.fingerprint))
        });
        let mut counted = 0;
        for i in own {
            let version = &versions[i];
            verdicts[i] = if !image.selected {
                Verdict::Keep(Kept::NotSelected)
            } else if image.current.as_deref() == Some(version.fingerprint.as_str()) {
                counted += 1;
                Verdict::Keep(Kept::Current)
            } else if !version.channels.is_empty() {
                if !policy.channel_keep {
                    counted += 1;
                }
                Verdict::Keep(Kept::Channel(version.channels.clone()))
            } else if counted < policy.keep {
                counted += 1;
                Verdict::Keep(Kept::Newest)
            } else if is_recent(version, policy) {
                Verdict::Keep(Kept::Recent)
            } else {
                Verdict::Remove
            };
        }
    }
    // What a kept version was built on stays, and so on down the lineage.
    let mut queue: Vec<usize> = (0..versions.len())
        .filter(|&i| verdicts[i].is_kept())
        .collect();
    while let Some(child) = queue.pop() {
        for parent in parents_of(versions, child) {
            if !verdicts[parent].is_kept() {
                verdicts[parent] = Verdict::Keep(Kept::Parent {
                    image: versions[child].image.clone(),
                    fingerprint: versions[child].fingerprint.clone(),
                });
                queue.push(parent);
            }
        }
    }
    verdicts
}

/// Every version built on one of `roots`, directly or through others, each once, in the order found
/// (children before grandchildren); the roots themselves are not in it.
pub fn descendants(versions: &[Version], roots: &[usize]) -> Vec<usize> {
    let mut reached: BTreeSet<usize> = roots.iter().copied().collect();
    let mut found = Vec::new();
    let mut frontier: Vec<usize> = roots.to_vec();
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for (i, _) in versions.iter().enumerate() {
            if reached.contains(&i) {
                continue;
            }
            if parents_of(versions, i).iter().any(|p| frontier.contains(p)) {
                reached.insert(i);
                found.push(i);
                next.push(i);
            }
        }
        frontier = next;
    }
    found
}

/// The versions `child` was built on.
fn parents_of(versions: &[Version], child: usize) -> Vec<usize> {
    let mut parents = Vec::new();
    for built_on in &versions[child].built_on {
        for (i, version) in versions.iter().enumerate() {
            let matches = match built_on {
                BuiltOn::Ami(ami) => version.amis.contains(ami),
                BuiltOn::Version { image, fingerprint } => {
                    &version.image == image && &version.fingerprint == fingerprint
                }
            };
            if matches && i != child && !parents.contains(&i) {
                parents.push(i);
            }
        }
    }
    parents
}

fn created(version: &Version) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&version.created_at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Made within `--older-than` days. A version whose time cannot be read is treated as recent:
/// removing on a guess is how images are lost.
fn is_recent(version: &Version, policy: &RetentionPolicy) -> bool {
    let Some(days) = policy.older_than_days else {
        return false;
    };
    match created(version) {
        Some(at) => policy.now - at < Duration::days(days as i64),
        None => true,
    }
}
