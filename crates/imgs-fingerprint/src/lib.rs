//! What determines an image's artifact, hashed with blake3: input discovery, parallel hashing, stat cache.

mod file_hasher;
mod fingerprint;
mod input_key;
mod input_set;
mod stat_cache;
mod walk;

pub use file_hasher::{FileHasher, HashStats};
pub use fingerprint::{Fingerprint, ParseFingerprintError};
pub use input_key::{InputKey, ParseInputKeyError};
pub use input_set::{ChangeKind, InputChange, InputSet};

/// Version of the fingerprint scheme: what is hashed and how. Bumping it changes every fingerprint, so
/// nothing recorded under an older scheme is reused.
pub const SCHEME_VERSION: u32 = 1;
