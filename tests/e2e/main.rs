//! The end-to-end tests: the imgs command line on copies of example workspaces, against the peers of
//! `imgs-test-peers` (a private sshd and moto EC2 server per test, Packer 1.6.6, qemu).
//!
//! One test binary (of the `imgs` package), one module per subject. A test runs imgs in-process
//! through its library (`support::imgs`: exact stdout, stderr and exit code), or as the real `imgs`
//! executable cargo built beside this binary (`support::imgs_exe`) where it needs a process of its own
//! (signals). Snapshots are in `snapshots/`, named `e2e__<module>__<name>.snap`.
//!
//! The qemu boot tests (in `build_qemu`) are ignored by default: `cargo xtask test` runs them in a
//! second pass (`cargo test --workspace --test qemu --test e2e -- --ignored`) once the base disk
//! exists.

mod support;

mod build_artifice;
mod build_docker;
mod build_docker_ansible;
mod build_ebs;
mod build_ebs_options;
mod build_null;
mod build_post;
mod build_progress;
mod build_qemu;
mod build_shell_local;
mod build_upload;
mod build_vagrant;
mod cache_cli;
mod changed_since;
mod chaos_concurrent;
mod chaos_corrupted_caches;
mod chaos_disk_full;
mod chaos_faults;
mod chaos_interrupts;
mod chaos_secrets;
mod chaos_ssh;
mod chaos_three_runners;
mod cloud_cache;
mod differential;
mod differential_docker;
mod differential_ebs;
mod fanout;
mod fingerprint_props;
mod fmt;
mod hcl2;
mod interrupt;
mod layered_ebs;
mod lock;
mod packer_engine;
mod prune_revoke;
mod publish;
mod remote_cache;
mod workspace_cli;
