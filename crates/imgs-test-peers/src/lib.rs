//! The peers imgs's tests and benchmarks run against, in one crate that nothing shipped depends on:
//!
//! - [`sshd`]: a private OpenSSH server on a loopback port, standing in for every machine a build
//!   provisions;
//! - [`recording_guest`]: that server recording every command, with stand-ins for tools that cannot
//!   run here (PowerShell, Chef, Windows), for comparing imgs with Packer on them;
//! - [`moto`]: a private EC2 API server (moto) on a loopback port;
//! - [`docker`]: a private Docker daemon with a containerd of its own, a private registry on a loopback
//!   port, and an offline base image made of a static busybox;
//! - [`packer`]: Packer 1.6.6, the reference of the differential tests, and the one policy for a
//!   machine without it;
//! - [`qemu`]: the bootable base disk `cargo xtask base-image` makes;
//! - [`salt`]: Salt's `salt-call`, from PyPI in a virtual environment;
//! - [`process`]: free ports, and the processes a test may have left behind;
//! - [`vagrant`]: Vagrant, which must accept the boxes imgs writes;
//! - [`webdav`]: a private nginx taking HTTP PUTs (its WebDAV module) on a loopback port;
//! - [`put_server`]: a tiny in-process HTTP server whose answers a test scripts (failures, broken
//!   connections, ranged PUTs);
//! - [`cutting_proxy`]: a TCP proxy in front of the sshd that refuses, hangs up, answers with
//!   garbage, cuts connections (all at once, or one after some bytes) and "reboots", as a machine's
//!   network fails under an SSH client;
//! - [`faults`]: an in-process proxy in front of the EC2 server that fails a seeded share of calls
//!   as EC2 fails them (throttling, 5xx, broken connections, late answers);
//! - [`ec2`] (feature `ec2`): clients on moto, and what a run left on EC2.
//!
//! Each test starts its own servers, so no test sees another's instances, AMIs or files; dropping a
//! server kills it by its PID.

pub mod cutting_proxy;
pub mod docker;
#[cfg(feature = "ec2")]
pub mod ec2;
pub mod faults;
pub mod moto;
pub mod packer;
pub mod process;
pub mod put_server;
pub mod qemu;
pub mod recording_guest;
pub mod salt;
pub mod sshd;
pub mod vagrant;
pub mod webdav;

pub use cutting_proxy::{Behaviour, CuttingProxy, Fault};
pub use docker::{Dockerd, Registry};
pub use faults::{FaultKind, FaultPlan, FaultProxy};
pub use moto::TestMoto;
pub use recording_guest::RecordingGuest;
pub use sshd::TestSshd;
