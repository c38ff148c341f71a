//! What determines an image's artifact, hashed with blake3: input discovery, parallel hashing, stat cache.
//!
//! An image's fingerprint answers "would building this image again produce the same artifact?". Equal
//! fingerprints mean the recorded artifact can be reused; different ones mean a build, and the reason is
//! always nameable, because the fingerprint is the hash of a set of *named inputs* ([`InputSet`]), each
//! with its own hash. The record of the last build keeps that set, so explaining a rebuild is a diff of
//! two sets: "the file `images/app/setup.sh` has changed" ([`InputChange`]).
//!
//! # What is covered
//!
//! | Input                          | Key                 | Hashed                                                |
//! |--------------------------------|---------------------|-------------------------------------------------------|
//! | fingerprint scheme             | `scheme`            | [`SCHEME_VERSION`]                                    |
//! | the template                   | `template`          | its canonical JSON: key order, whitespace and `_` comments do not count |
//! | each selected build            | `build:NAME:TYPE`   | name and builder type                                 |
//! | each resolved user variable    | `var:NAME`          | the value, key-derived; sensitive values are never stored, only hashed |
//! | environment read by variables  | `env:NAME`          | the value, key-derived                                |
//! | each referenced file           | `file:RELPATH`      | contents and executable bit                           |
//! | ... inside referenced dirs     | `file:RELPATH`      | files as above, symlinks by target, empty directories by existence |
//! | `inputs` globs of Images.toml  | `file:RELPATH`      | as above                                              |
//! | each parent image              | `parent:NAME`       | the parent's fingerprint                              |
//!
//! File keys are relative to the workspace root with `/` separators (`../` outside it), so moving the
//! checkout does not change fingerprints.
//!
//! # What is not covered, on purpose
//!
//! - The parent's artifact ID (an AMI ID, an image path). The parent's fingerprint stands in for it, so the
//!   whole plan is known before anything is built; the variables that carry parent artifacts are left out.
//! - Values that differ on every run by design (`{{timestamp}}`, `{{uuid}}`, `{{isotime}}`): the template
//!   crate renders them as placeholders when resolving for a fingerprint.
//! - Anything resolved at build time outside the workspace: a `source_ami_filter` with `most_recent`, a
//!   package mirror's contents, an ISO fetched by URL. Pin those by value (a variable) to make them count.
//! - The version of imgs and of the tools it drives, except through [`SCHEME_VERSION`].
//!
//! # Speed
//!
//! Files are hashed in parallel, large ones memory-mapped and split across threads as well. A stat cache
//! ([`FileHasher`]) remembers each file's content hash with the stat it had, so a run where nothing
//! changed reads no file. A file modified within two seconds of being hashed is not remembered: a second
//! write within the same timestamp tick would leave its stat unchanged (git's "racily clean" entries).

mod file_hasher;
mod file_inputs;
mod fingerprint;
mod image_inputs;
mod input_key;
mod input_set;
mod relative;
mod stat_cache;
mod walk;

pub use file_hasher::{FileHasher, HashStats};
pub use fingerprint::{Fingerprint, ParseFingerprintError};
pub use image_inputs::{
    ImageInputs, holds_parent_placeholder, image_inputs, parent_placeholder, reads_any_variable,
};
pub use input_key::{InputKey, ParseInputKeyError, locked_label};
pub use input_set::{ChangeKind, InputChange, InputSet};
pub use relative::{normalize, relative_key};

/// Version of the fingerprint scheme: what is hashed and how. Bumping it changes every fingerprint, so
/// nothing recorded under an older scheme is reused.
pub const SCHEME_VERSION: u32 = 1;
