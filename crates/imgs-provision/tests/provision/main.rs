//! The provisioners end to end, one test binary: over SSH against a private sshd (`imgs-test-peers`),
//! `shell-local` on this machine, and both against Packer 1.6.6 on the same sshd.

mod common;

mod ansible;
mod ansible_local;

mod file_transfer_agreement;
mod inspec;
mod on_recording_guests;
mod packer_agreement;
mod pause;
mod puppet;
mod salt;
mod shell_local;
mod sshd;
