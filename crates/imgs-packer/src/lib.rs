//! The installed `packer` as an engine, for builds imgs does not run natively (a builder or
//! post-processor type it has no implementation of, or a member that asks for Packer):
//!
//! - [`find`] locates `packer` (or the program `IMGS_PACKER` names) and checks it is 1.6.6 or later;
//! - [`build`] runs `packer build -machine-readable -only=NAME`, streams what Packer prints into a
//!   build's log with secrets masked, reads the build's artifacts from Packer's `artifact` records,
//!   and on cancellation sends Packer the interrupt it handles (it cancels and cleans up) and waits;
//! - [`validate`] runs `packer validate` and splits its errors into one problem per item.
//!
//! This crate knows Packer's command line and output, not templates: what Packer is given to run
//! is the build crate's business.

mod error;
pub mod machine;
mod program;
mod run;

pub use error::PackerError;
pub use machine::PackerArtifact;
pub use program::{MINIMUM, PROGRAM_VAR, Packer, find};
pub use run::{
    Built, Invocation, Mask, Problem, artifact_path, build, validate, validate_problems,
};
