//! Builds: one builder block of a template, run as Packer 1.6.6 runs it.
//!
//! 1. [`prepare_build`] reads everything before anything starts: the builder's settings (rendered with
//!    the build's template context), every provisioner step, and the post-processors, so a typo or an
//!    unsupported type fails the build before a machine exists.
//! 2. [`PreparedBuild::run`] starts the builder, runs the provisioners through the communicator the
//!    builder hands over, and lets the builder finish into an [`Artifact`]; then the post-processors run.
//!
//! Builders are behind the dyn-compatible [`Builder`] trait so the scheduler never needs to know which
//! kind it runs: `null` (an existing host over SSH, or nothing), `file` (writes one file) and `qemu`
//! (a disk booted under qemu, published into `output_directory`).

mod amazon_ebs;
mod artifact;
mod builder;
pub mod cloud;
mod docker;
pub mod docker_cache;
pub mod engine;
mod error;
mod file;
pub mod lock_inputs;
mod manifest;
mod null;
mod outputs;
mod packer_engine;
mod post;
mod prepare;
pub mod publish;
mod qemu;
pub mod registry;
mod settings;

#[cfg(test)]
mod tests;

pub use amazon_ebs::{AwsTarget, aws_targets};
pub use artifact::{Artifact, handle_of_id, handle_of_id_in_region};
pub use builder::{Builder, Log};
pub use error::BuildError;
pub use imgs_log::BuildLog;
pub use imgs_packer::{PackerError, find as find_packer};
pub use manifest::ManifestSettings;
pub use outputs::OutputPlacement;
pub use packer_engine::{ForeignCheck, validate_foreign};
pub use prepare::{BuildInput, OnError, PreparedBuild, RunLabels, prepare_build};

/// "the `a`, `b` and `c`": for hints that list what is supported.
pub fn listed(types: &[&str]) -> String {
    let quoted: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => format!("the {last}"),
        Some((last, rest)) => format!("the {} and {last}", rest.join(", ")),
    }
}
