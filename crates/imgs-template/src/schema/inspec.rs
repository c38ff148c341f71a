//! `inspec`: InSpec runs on the machine running imgs and checks the machine being built against a
//! profile.

use super::decoded::{Decoded, known, with_hint};
use super::{IoCheck, IoCheckKind, RefKey, SchemaProblem, TypeSchema, ValueType};
use crate::references::Expect;

/// The profile (a directory or an archive here; a URL or `supermarket://` name is fetched by InSpec
/// and does not count) and the input files it reads.
pub(super) const REFERENCES: &[RefKey] = &[
    RefKey {
        key: "profile",
        expect: Expect::FileOrDirectory,
        url: true,
        globs: false,
        with_directory: false,
    },
    super::plain("attributes", Expect::File),
];

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "inspec",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &[],
};

pub(super) const IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "ssh_authorized_key_file",
        what: IoCheckKind::File,
        packer_message: "ssh_authorized_key_file: <path> is invalid: <error> / must point to a file",
    },
    IoCheck {
        key: "ssh_host_key_file",
        what: IoCheckKind::File,
        packer_message: "ssh_host_key_file: <path> is invalid: <error> / must point to a file",
    },
    IoCheck {
        key: "attributes_directory",
        what: IoCheckKind::Directory,
        packer_message: "attrs: <path> is invalid: <error> / must point to a directory",
    },
    // Only when `user` is empty.
    IoCheck {
        key: "user",
        what: IoCheckKind::CurrentUser,
        packer_message: "user: could not determine current user from environment.",
    },
];

/// The backends Packer passes on to InSpec.
const BACKENDS: &[&str] = &["docker", "local", "ssh", "winrm"];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    if c.string("profile").is_empty() {
        out.push(with_hint(
            c.problem("profile", "profile must be specified."),
            "name the InSpec profile to run: a directory, an archive or a URL",
        ));
    }
    let backend = c.string("backend");
    let backend = if backend.is_empty() {
        "ssh".to_string()
    } else {
        backend
    };
    if known(&backend) && !BACKENDS.contains(&backend.as_str()) {
        out.push(with_hint(
            c.problem(
                "backend",
                format!("backend: {backend} must be a valid backend"),
            ),
            "use `ssh` (the default), `docker`, `local` or `winrm`",
        ));
    }
    if backend == "docker" && c.string("host").is_empty() {
        out.push(with_hint(
            c.problem("host", "backend: host must be specified for docker backend"),
            "set `host` to the container InSpec checks",
        ));
    }
    let port = c.int("local_port");
    if port > 65535 {
        out.push(c.problem(
            "local_port",
            format!("local_port: {port} must be a valid port"),
        ));
    }
}

/// Every key Packer 1.6.6 decodes for `inspec`, in its declaration order. `SubCommand` has no
/// decoder tag of its own, so JSON sets it as `subcommand`.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("command", ValueType::String),
    ("subcommand", ValueType::String),
    ("extra_arguments", ValueType::StringList),
    ("inspec_env_vars", ValueType::StringList),
    ("profile", ValueType::String),
    ("attributes_directory", ValueType::String),
    ("attributes", ValueType::StringList),
    ("backend", ValueType::String),
    ("user", ValueType::String),
    ("host", ValueType::String),
    ("local_port", ValueType::Int),
    ("ssh_host_key_file", ValueType::String),
    ("ssh_authorized_key_file", ValueType::String),
];
