//! The local qemu machine behind the `qemu` builder: make the build's disk from a source disk (a qcow2
//! layer backed by it, or a full copy), boot it under qemu with the guest's SSH port forwarded to a
//! loopback port, hand out the SSH session, and shut the guest down cleanly.
//!
//! [`QemuConfig::from_settings`] reads the builder's settings as Packer 1.6.6 does. [`QemuMachine::start`]
//! verifies the source's checksum, makes the disk in a temporary directory beside `output_directory`,
//! starts qemu and waits until the guest answers SSH; [`QemuMachine::shutdown`] powers the guest off and
//! only then moves the disk into place. A machine that is dropped instead kills qemu and removes the
//! temporary directory, so a failed or cancelled build leaves neither a process nor a partial disk.

mod accel;
mod args;
mod checksum;
mod config;
pub mod console;
mod disk;
mod error;
mod machine;
pub mod ports;

pub use accel::{Resolved as ResolvedAccelerator, resolve as resolve_accelerator};
pub use args::{Launch, qemu_args};
pub use checksum::{Checksum, ChecksumError, ChecksumKind};
pub use config::{Accelerator, DiskFormat, DiskInterface, QemuConfig};
pub use disk::image_info;
pub use error::QemuError;
pub use machine::QemuMachine;
