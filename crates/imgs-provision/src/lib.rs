//! The `shell` and `file` provisioners, as Packer 1.6.6 runs them, over any [`Communicator`], and
//! `shell-local`, which runs on the machine running imgs (with the `shell-local` post-processor's
//! settings and runner, from `imgs-post`) and so needs no communicator.
//!
//! 1. [`ProvisionerStep::from_block`] reads a template's provisioner block for one build: its
//!    configuration (with the build's `override`) rendered with the build's template context, decoded
//!    as Packer decodes it, with Packer's defaults; problems are located diagnostics. Every option
//!    Packer 1.6.6 gives these provisioners is implemented (but shell-local's `use_linux_pathing`,
//!    which is for Windows); other provisioner types, and wildcard
//!    download sources, are a "not supported yet" error.
//! 2. [`run_provisioner`] runs the step: `pause_before`, `timeout`, `max_retries`, cancellation, and
//!    output with the values of sensitive variables masked as `<sensitive>`.
//!
//! The communicator is a trait so any builder can provide one. [`imgs_ssh::SshSession`] implements
//! it, and [`ReconnectingSsh`] wraps SSH so that a provisioner that reboots the machine does not
//! strand the ones after it.

mod communicator;
mod error;
mod reconnect;
mod run;
mod secrets;
mod settings;
mod ssh;

pub use communicator::{
    Communicator, CommunicatorError, CommunicatorErrorKind, ContainerTarget, ExitStatus, OnLine,
    Stream,
};
pub use error::ProvisionError;
pub use reconnect::ReconnectingSsh;
pub use run::run_provisioner;
pub use secrets::{MASK, Secrets};
pub use settings::{
    AnsibleLocalSettings, AnsibleSettings, BreakpointSettings, BuildContext, ChefClientSettings,
    ChefSettings, ChefSoloSettings, ConvergeSettings, Direction, EnvVarFile, FileSettings,
    GuestCommands, GuestOs, InspecSettings, LocalPath, LocalRun, Playbooks, PowerShellSettings,
    ProvisionerStep, PuppetMode, PuppetSettings, SaltSettings, Settings, ShellLocalSettings,
    ShellScript, ShellSettings, WindowsRestartSettings, WindowsShellSettings, runs_natively,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Builds run in tasks of their own, so a step's future must be `Send`; this fails to compile
    /// otherwise.
    #[allow(dead_code)]
    fn run_is_send(comm: &dyn Communicator, step: &ProvisionerStep) {
        let cancel = tokio_util::sync::CancellationToken::new();
        let mut output = |_: Stream, _: &str| {};
        assert_send(&run_provisioner(Some(comm), step, &mut output, &cancel));
    }
}
