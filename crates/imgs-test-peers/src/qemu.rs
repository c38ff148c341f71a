//! qemu's side of the tests: the example workspace's bootable base disk that `cargo xtask base-image`
//! makes, and blank disks for guests that are not meant to boot.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The base disk's directory in the repository (`cache/base-image`): the disk, its kernel and initrd,
/// and the key its build user accepts.
pub fn base_image_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cache/base-image")
}

/// [`base_image_dir`], which must hold the disk: the boot tests are ignored by default and run where
/// `cargo xtask base-image` made it (`cargo xtask test` does that first).
///
/// # Panics
/// When the disk is missing, saying how to make it.
pub fn base_image() -> PathBuf {
    let dir = base_image_dir();
    let disk = dir.join("debian-bookworm.qcow2");
    assert!(
        disk.is_file(),
        "{} is missing: run `cargo xtask base-image` first",
        disk.display()
    );
    dir
}

/// Creates an empty 16 MiB qcow2 disk at `path`: a guest that boots nothing.
///
/// # Panics
/// When `qemu-img` is missing or fails.
pub fn blank_disk(path: &Path) {
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(path)
        .arg("16M")
        .status()
        .expect("qemu-img (Debian qemu-utils)");
    assert!(status.success(), "qemu-img create {}", path.display());
}
