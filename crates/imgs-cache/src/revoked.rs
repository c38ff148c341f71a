//! `cache/revoked.json`: the versions `imgs revoke` revoked, read by every plan so a build on a
//! revoked parent fails. Written atomically; one file for the workspace, sorted, so it reads (and
//! diffs) the same whatever order versions were revoked in.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the revocation list in the cache directory.
pub const REVOKED_FILE: &str = "revoked.json";

/// One revoked version: an image's fingerprint as one run built it. A forced rebuild of the same
/// fingerprint is another run, so it is not revoked.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RevokedVersion {
    pub image: String,
    pub fingerprint: String,
    /// The run that built it (its record's, or its AMIs' `imgs:run` tag); empty when unknown, and
    /// then every build of the fingerprint is revoked.
    #[serde(default)]
    pub run_id: String,
    /// Its AMIs, as `region:ami-…`.
    #[serde(default)]
    pub amis: Vec<String>,
    pub reason: String,
    /// When it was revoked (RFC 3339).
    pub revoked_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocations {
    pub revoked: Vec<RevokedVersion>,
}

impl Revocations {
    pub fn path(cache_dir: &Path) -> PathBuf {
        cache_dir.join(REVOKED_FILE)
    }

    /// The list in `cache_dir`; empty when there is none. A file that does not read is an error
    /// (treating it as empty would let builds on revoked parents through).
    pub fn load(cache_dir: &Path) -> io::Result<Revocations> {
        let path = Self::path(cache_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Revocations::default()),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }

    pub fn save(&self, cache_dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(cache_dir)?;
        let mut sorted = self.clone();
        sorted.revoked.sort();
        let mut json = serde_json::to_vec_pretty(&sorted).map_err(io::Error::other)?;
        json.push(b'\n');
        imgs_atomic_file::write_atomically(&Self::path(cache_dir), &json)
    }

    /// Adds `version`, replacing an earlier revocation of the same build.
    pub fn add(&mut self, version: RevokedVersion) {
        self.revoked.retain(|r| {
            !(r.image == version.image
                && r.fingerprint == version.fingerprint
                && r.run_id == version.run_id)
        });
        self.revoked.push(version);
    }

    /// The revocation of `image`'s `fingerprint` as built by `run_id`, if any.
    pub fn find(&self, image: &str, fingerprint: &str, run_id: &str) -> Option<&RevokedVersion> {
        self.revoked.iter().find(|r| {
            r.image == image
                && r.fingerprint == fingerprint
                && (r.run_id.is_empty() || r.run_id == run_id)
        })
    }
}
