//! Empty on purpose: what matters is this crate's dependency list (`Cargo.toml`), kept by
//! `cargo hakari`, through which every member builds shared dependencies with the same features.
