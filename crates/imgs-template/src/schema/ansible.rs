//! The `ansible` provisioner: runs `ansible-playbook` on the machine running imgs against the machine.

use super::decoded::Decoded;
use super::{IoCheck, IoCheckKind, SchemaProblem, TypeSchema, ValueType};
use super::{RefKey, plain, with_directory};
use crate::references::Expect;

/// The settings that name files the build reads.
pub(super) const REFERENCES: &[RefKey] = &[
    with_directory("playbook_file"),
    plain("galaxy_file", Expect::File),
    plain("inventory_file", Expect::File),
    plain("roles_path", Expect::Directory),
];

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "ansible",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &["inventory_file_template"],
};

pub(super) const IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "playbook_file",
        what: IoCheckKind::File,
        packer_message: "playbook_file: <path> is invalid: <error>",
    },
    IoCheck {
        key: "galaxy_file",
        what: IoCheckKind::File,
        packer_message: "galaxy_file: <path> is invalid: <error>",
    },
    IoCheck {
        key: "ssh_authorized_key_file",
        what: IoCheckKind::File,
        packer_message: "ssh_authorized_key_file: <path> is invalid: <error>",
    },
    IoCheck {
        key: "ssh_host_key_file",
        what: IoCheckKind::File,
        packer_message: "ssh_host_key_file: <path> is invalid: <error>",
    },
    IoCheck {
        key: "inventory_directory",
        what: IoCheckKind::Directory,
        packer_message: "inventory_directory: <path> is invalid: <error>",
    },
    // Skipped when `skip_version_check` is true; runs `command` (default `ansible-playbook`) `--version`.
    IoCheck {
        key: "command",
        what: IoCheckKind::Program,
        packer_message: "Error running \"ansible-playbook --version\": <error>",
    },
    // Only when `user` is empty.
    IoCheck {
        key: "user",
        what: IoCheckKind::CurrentUser,
        packer_message: "user: could not determine current user from environment.",
    },
];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    if c.string("playbook_file").is_empty() {
        out.push(c.problem("playbook_file", "playbook_file must be specified"));
    }
    let port = c.int("local_port");
    if port > 65535 {
        out.push(c.problem(
            "local_port",
            format!("local_port {port} is not a valid port (at most 65535)"),
        ));
    }
}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order, with embedded configs flattened.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("command", ValueType::String),
    ("extra_arguments", ValueType::StringList),
    ("ansible_env_vars", ValueType::StringList),
    ("playbook_file", ValueType::String),
    ("ansible_ssh_extra_args", ValueType::StringList),
    ("groups", ValueType::StringList),
    ("empty_groups", ValueType::StringList),
    ("host_alias", ValueType::String),
    ("user", ValueType::String),
    ("local_port", ValueType::Int),
    ("ssh_host_key_file", ValueType::String),
    ("ssh_authorized_key_file", ValueType::String),
    ("sftp_command", ValueType::String),
    ("skip_version_check", ValueType::Bool),
    ("use_sftp", ValueType::Bool),
    ("inventory_directory", ValueType::String),
    ("inventory_file_template", ValueType::String),
    ("inventory_file", ValueType::String),
    ("keep_inventory_file", ValueType::Bool),
    ("galaxy_file", ValueType::String),
    ("galaxy_command", ValueType::String),
    ("galaxy_force_install", ValueType::Bool),
    ("roles_path", ValueType::String),
    ("collections_path", ValueType::String),
    ("use_proxy", ValueType::Bool),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
