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

/// The name of a workspace build's container: `imgs-<workspace>-<run id>-<image>-<random>`, where
/// `<workspace>` is a short hash of the workspace root, so `imgs gc` finds its own workspace's
/// leftovers by name and reads the run and image back from it ([`parse_container_name`]). A name,
/// unlike a label, does not pass into the image `docker commit` makes.
pub fn container_name(workspace: &str, run_id: &str, image: &str, random: &str) -> String {
    let image: String = image
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}{run_id}-{image}-{random}", container_prefix(workspace))
}

/// What every container name of the workspace `workspace` (its key, see [`container_name`])
/// starts with.
pub fn container_prefix(workspace: &str) -> String {
    format!("imgs-{workspace}-")
}

/// The run ID and image a [`container_name`] of `workspace` names; `None` for any other name.
pub fn parse_container_name(workspace: &str, name: &str) -> Option<(String, String)> {
    let rest = name
        .trim_start_matches('/')
        .strip_prefix(&container_prefix(workspace))?;
    // Run IDs are UUIDs: 36 characters.
    let run_id = rest.get(..36)?;
    let image = rest.get(37..)?.rsplit_once('-')?.0;
    Some((run_id.to_string(), image.to_string()))
}

/// The tag imgs pushes beside the template's own, so one manifest lookup finds the image of a
/// fingerprint in a registry (template tags such as `latest` move from build to build).
pub fn fingerprint_tag(fingerprint: &str) -> String {
    format!("imgs-{}", &fingerprint[..fingerprint.len().min(32)])
}

#[cfg(test)]
mod tests {
    #[test]
    fn container_names_give_back_their_run_and_image() {
        let run = "6fcf7749-8e98-4e8b-be27-ffeae40489e0";
        let name = super::container_name("1a2b3c4d", run, "app web", "x7k2");
        assert_eq!(name, format!("imgs-1a2b3c4d-{run}-app-web-x7k2"));
        assert_eq!(
            super::parse_container_name("1a2b3c4d", &format!("/{name}")),
            Some((run.to_string(), "app-web".to_string()))
        );
        assert_eq!(super::parse_container_name("ffffffff", &name), None);
        assert_eq!(
            super::parse_container_name("1a2b3c4d", "imgs-1a2b3c4d-short"),
            None
        );
    }
}
