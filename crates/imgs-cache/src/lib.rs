//! Local cache records, one per fingerprint, written atomically.
//!
//! A record says "this image, with exactly these inputs, produced these artifacts". It lives at
//! `<cache_dir>/records/<image>/<fingerprint>.json` and is written only after the build and its
//! post-processors succeeded, through [`Cache::store`]: to a temporary file in the same directory, flushed
//! to disk, then renamed over the final name, so a reader (or a crash) never sees half a record.
//!
//! Records hold input *hashes*, never input values, so secrets given as sensitive variables or read from
//! the environment do not end up on disk.

mod record;
mod store;

pub use record::{BuildArtifact, CacheRecord, RECORD_SCHEMA};
pub use store::Cache;

#[cfg(test)]
mod tests;
