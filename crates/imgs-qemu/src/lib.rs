//! The local qemu machine behind the `qemu` builder: make the build's disk from a source disk (a qcow2
//! layer backed by it, or a full copy), boot it under qemu with the guest's SSH port forwarded to a
//! loopback port, hand out the SSH session, and shut the guest down cleanly.
//!
//! [`QemuConfig::from_settings`] reads the builder's settings as Packer 1.6.6 does. [`qemu_args`] is the
//! command line a machine is started with.

mod accel;
mod args;
mod checksum;
mod config;
pub mod ports;

pub use accel::{Resolved as ResolvedAccelerator, resolve as resolve_accelerator};
pub use args::{Launch, qemu_args};
pub use checksum::{Checksum, ChecksumError, ChecksumKind};
pub use config::{Accelerator, DiskFormat, DiskInterface, QemuConfig};
