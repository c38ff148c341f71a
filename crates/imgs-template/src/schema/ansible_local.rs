//! The `ansible-local` provisioner: the playbook and what it needs are uploaded, and
//! `ansible-playbook` runs on the machine itself against `127.0.0.1`.

use super::decoded::{Decoded, with_hint};
use super::{IoCheck, IoCheckKind, SchemaProblem, TypeSchema, ValueType};
use super::{RefKey, plain};
use crate::references::Expect;

/// Everything the provisioner uploads, so everything the machine's playbook run reads.
pub(super) const REFERENCES: &[RefKey] = &[
    plain("playbook_file", Expect::File),
    plain("playbook_files", Expect::File),
    plain("playbook_dir", Expect::Directory),
    plain("playbook_paths", Expect::Directory),
    plain("role_paths", Expect::Directory),
    plain("group_vars", Expect::Directory),
    plain("host_vars", Expect::Directory),
    plain("inventory_file", Expect::File),
    plain("galaxy_file", Expect::File),
];

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "ansible-local",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &[],
};

/// In Packer's order; its messages read `<key>: <path> is invalid: <error>` or `<key>: <path> must
/// point to a file` (a directory).
pub(super) const IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "playbook_file",
        what: IoCheckKind::File,
        packer_message: "playbook_file: <path> is invalid: <error>",
    },
    IoCheck {
        key: "playbook_files",
        what: IoCheckKind::File,
        packer_message: "playbook_files: <path> is invalid: <error>",
    },
    IoCheck {
        key: "inventory_file",
        what: IoCheckKind::File,
        packer_message: "inventory_file: <path> is invalid: <error>",
    },
    IoCheck {
        key: "galaxy_file",
        what: IoCheckKind::File,
        packer_message: "galaxy_file: <path> is invalid: <error>",
    },
    IoCheck {
        key: "playbook_dir",
        what: IoCheckKind::Directory,
        packer_message: "playbook_dir: <path> is invalid: <error>",
    },
    IoCheck {
        key: "group_vars",
        what: IoCheckKind::Directory,
        packer_message: "group_vars: <path> is invalid: <error>",
    },
    IoCheck {
        key: "host_vars",
        what: IoCheckKind::Directory,
        packer_message: "host_vars: <path> is invalid: <error>",
    },
    IoCheck {
        key: "playbook_paths",
        what: IoCheckKind::Directory,
        packer_message: "playbook_paths: <path> is invalid: <error>",
    },
    IoCheck {
        key: "role_paths",
        what: IoCheckKind::Directory,
        packer_message: "role_paths: <path> is invalid: <error>",
    },
];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let file = !c.string("playbook_file").is_empty();
    let files = c.list_len("playbook_files") > 0;
    if file && files {
        out.push(c.problem(
            "playbook_files",
            "Either playbook_file or playbook_files can be specified, not both",
        ));
    }
    if !file && !files {
        out.push(with_hint(
            c.problem_here("Either playbook_file or playbook_files must be specified"),
            "name the playbook the machine runs in `playbook_file`",
        ));
    }
}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("command", ValueType::String),
    ("extra_arguments", ValueType::StringList),
    ("group_vars", ValueType::String),
    ("host_vars", ValueType::String),
    ("playbook_dir", ValueType::String),
    ("playbook_file", ValueType::String),
    ("playbook_files", ValueType::StringList),
    ("playbook_paths", ValueType::StringList),
    ("role_paths", ValueType::StringList),
    ("staging_directory", ValueType::String),
    ("clean_staging_directory", ValueType::Bool),
    ("inventory_file", ValueType::String),
    ("inventory_groups", ValueType::StringList),
    ("galaxy_file", ValueType::String),
    ("galaxy_command", ValueType::String),
];
