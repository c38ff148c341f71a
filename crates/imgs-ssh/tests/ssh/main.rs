//! The communicator against a real OpenSSH server: Debian's sshd, started privately by each test
//! (`imgs-test-peers`). One test binary.

mod agent;
mod sshd;
