//! The amazon-ebs builder and `imgs gc` against a real EC2 API server: moto, started privately by
//! each test (`imgs-test-peers`). One test binary.

mod build;
mod faults;
mod gc;
mod options;
mod s3;
