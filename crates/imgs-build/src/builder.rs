//! The builder trait: what a build needs from the thing that makes its machine or artifact.
//!
//! Written with `async-trait` (as the provisioners' `Communicator`) so a build can hold a
//! `Box<dyn Builder>` whatever its type.

use imgs_provision::Communicator;
use tokio_util::sync::CancellationToken;

use crate::{Artifact, BuildError};

/// Where a build's output lines and phases go.
pub use imgs_log::Log;

#[async_trait::async_trait]
pub trait Builder: Send {
    /// The builder type as a template names it.
    fn builder_type(&self) -> &'static str;

    /// Whether [`Builder::start`] hands back a communicator; provisioners need one.
    fn has_communicator(&self) -> bool;

    /// Makes the machine (or nothing) and returns the communicator provisioners use, if any.
    async fn start(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Option<Box<dyn Communicator>>, BuildError>;

    /// Ends the build after the provisioners succeeded: shut the machine down, publish its output.
    /// Dropping a builder that was started but not finished releases whatever it holds locally.
    async fn finish(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Artifact, BuildError>;

    /// Removes what the build made that is not its artifact (a cloud instance, a temporary key pair),
    /// and, when the build did not finish, its partial artifact too. Runs after success, failure and
    /// cancellation alike, so it takes no cancellation token; it may be called more than once.
    /// Builders whose resources all go away when dropped need not implement it.
    async fn cleanup(&mut self, _log: Log<'_>) -> Result<(), BuildError> {
        Ok(())
    }

    /// What exists right now because of this build and would stay if [`Builder::cleanup`] did not run
    /// (`--on-error=abort`), each as a person finds it: "instance i-0123 (us-east-1)".
    fn leftovers(&self) -> Vec<String> {
        Vec::new()
    }

    /// `--on-error=abort`: what [`Builder::leftovers`] listed stays, even when the builder is dropped.
    fn keep_leftovers(&mut self) {}
}
