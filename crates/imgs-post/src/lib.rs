//! Post-processors over a build's files, as Packer 1.6.6 runs them:
//!
//! - [`artifice`]: the artifact replaced by the files a template lists (globs expanded as Go's);
//! - [`checksum`]: one checksum file per checksum type, a `HEX\tNAME` line for each input file;
//! - [`compress`]: the input files packed (tar, zip) and/or compressed (gzip, lz4) into one file,
//!   the format decided by the output's file name;
//! - [`shell_local`]: commands or scripts run on the machine running imgs;
//! - [`vagrant`]: a Vagrant box of a qemu disk (libvirt) or of AMIs (aws);
//! - [`upload`] (an imgs extension, not a Packer type): each file sent to an HTTP(S) server with
//!   PUT, retried, resumed where the server can.
//!
//! Paths (inputs and outputs) are as a template writes them and resolve against the build's working
//! directory, as Packer's resolve against the directory it runs in. Output files are written to a
//! temporary file beside the target and renamed into place, so a failure or a cancellation never
//! leaves a half-written output. Chains, `keep_input_artifact` and artifacts are the build crate's
//! business; this crate only turns files into files.

pub mod artifice;
pub mod checksum;
pub mod compress;
mod error;
pub mod local_command;
pub mod shell_local;
pub mod upload;
pub mod vagrant;

pub use error::PostError;

use std::path::{Path, PathBuf};

/// Asked between blocks of long work (hashing, compressing): `true` stops it with
/// [`PostError::Cancelled`].
pub type Cancelled<'a> = &'a (dyn Fn() -> bool + Sync);

/// `path` as written, resolved against the working directory.
pub(crate) fn resolve(working_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        working_dir.join(path)
    }
}

/// Large files are read in blocks of this size: big enough for fast hashing, small enough that
/// cancellation is noticed at once.
pub(crate) const BLOCK: usize = 1 << 20;
