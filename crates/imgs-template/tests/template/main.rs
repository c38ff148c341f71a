//! The template crate through its public API: canonical forms and rendered diagnostics, snapshot-tested.
//! One test binary.

mod canonical;
mod diagnostics;
