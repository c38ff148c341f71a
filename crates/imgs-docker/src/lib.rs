//! Docker for imgs, as Packer 1.6.6's docker builder and post-processors use it: the `docker` CLI
//! for every step of a build ([`DockerCli`]), a communicator that runs provisioners inside the
//! build's container ([`DockerCommunicator`]), and HTTP lookups of images by fingerprint in the
//! local engine and in registries ([`lookup`]) for the plan.
//!
//! An adapter: everything here talks to a daemon, a registry or a child process.

mod cli;
mod communicator;
mod error;
pub mod lookup;

pub use cli::{DockerCli, RunSpec, short_id};
pub use communicator::{DockerCommunicator, ExecSettings};
pub use error::DockerError;

/// The labels imgs puts on every image it commits or imports, so the plan finds an image by its
/// fingerprint in an engine or a registry, and a person sees which build made it.
pub const LABEL_FINGERPRINT: &str = "imgs.fingerprint";
pub const LABEL_IMAGE: &str = "imgs.image";
pub const LABEL_RUN: &str = "imgs.run";
/// On build containers: the workspace root, so `imgs gc` removes only its own workspace's leftovers.
pub const LABEL_WORKSPACE: &str = "imgs.workspace";

/// The tag imgs pushes beside the template's own, so one manifest lookup finds the image of a
/// fingerprint in a registry (template tags such as `latest` move from build to build).
pub fn fingerprint_tag(fingerprint: &str) -> String {
    format!("imgs-{}", &fingerprint[..fingerprint.len().min(32)])
}
