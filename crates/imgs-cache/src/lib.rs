//! Local cache records, one per fingerprint, written atomically; what the cache holds on disk, and what a
//! prune may remove from it.
//!
//! A record says "this image, with exactly these inputs, produced these artifacts". It lives at
//! `<cache_dir>/records/<image>/<fingerprint>.json` and is written only after the build and its
//! post-processors succeeded, through [`Cache::store`]: to a temporary file in the same directory, flushed
//! to disk, then renamed over the final name, so a reader (or a crash) never sees half a record.
//!
//! Records hold input *hashes*, never input values, so secrets given as sensitive variables or read from
//! the environment do not end up on disk.
//!
//! Pruning is split in three: [`Inventory::gather`] reads what is on disk (records, file sizes, qcow2
//! backing chains), [`decide_prune`] decides from that alone, and [`apply_prune`] deletes.

mod apply;
mod deregister;
mod inventory;
mod prune;
pub mod qcow2;
mod record;
pub mod remote;
mod retention;
mod revoked;
mod store;
mod versions;

pub use apply::apply_prune;
pub use deregister::unused_ami;
pub use inventory::{Entry, FileState, Inventory, RecordFile, Status, VersionEntry};
pub use prune::{
    KeepReason, KeptFile, PrunePlan, Refusal, RemovedFile, RemovedRecord, decide_prune,
};
pub use record::{BuildArtifact, CacheRecord, RECORD_SCHEMA};
pub use retention::{
    BuiltOn, ImageState, Kept, RetentionPolicy, Verdict, Version, decide_retention, descendants,
};
pub use revoked::{REVOKED_FILE, Revocations, RevokedVersion};
pub use store::{Cache, Scanned, Unreadable};
pub use versions::{ARTIFACTS_DIR, CURRENT_LINK, FoundVersion, VersionDir};

#[cfg(test)]
mod prune_tests;
#[cfg(test)]
mod retention_tests;
#[cfg(test)]
mod tests;
