//! `puppet-masterless` (a manifest applied on the machine with `puppet apply`) and `puppet-server`
//! (`puppet agent` run once against a Puppet server).

use super::decoded::{Decoded, known, with_hint};
use super::{IoCheck, IoCheckKind, SchemaProblem, TypeSchema, ValueType};
use super::{RefKey, plain};
use crate::references::Expect;

pub(super) const MASTERLESS_REFERENCES: &[RefKey] = &[
    plain("hiera_config_path", Expect::File),
    plain("module_paths", Expect::Directory),
    // A manifest file, or a directory of them: `puppet apply` takes either.
    plain("manifest_file", Expect::FileOrDirectory),
    plain("manifest_dir", Expect::Directory),
];

/// None: `client_cert_path` and `client_private_key_path` authenticate the agent, they do not shape
/// the image (the same rule as SSH keys: rotating them must not rebuild anything).
pub(super) const SERVER_REFERENCES: &[RefKey] = &[];

pub(super) static MASTERLESS: TypeSchema = TypeSchema {
    kind: "puppet-masterless",
    keys: &[MASTERLESS_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &["execute_command", "extra_arguments"],
};

pub(super) static SERVER: TypeSchema = TypeSchema {
    kind: "puppet-server",
    keys: &[SERVER_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &["execute_command", "extra_arguments"],
};

pub(super) const MASTERLESS_IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "hiera_config_path",
        what: IoCheckKind::File,
        packer_message: "hiera_config_path is invalid: <error> / hiera_config_path must point to a file",
    },
    IoCheck {
        key: "manifest_dir",
        what: IoCheckKind::Directory,
        packer_message: "manifest_dir is invalid: <error> / manifest_dir must point to a directory",
    },
    IoCheck {
        key: "manifest_file",
        what: IoCheckKind::Exists,
        packer_message: "manifest_file is invalid: <error>",
    },
    IoCheck {
        key: "module_paths",
        what: IoCheckKind::Directory,
        packer_message: "module_path[<i>] is invalid: <error> / module_path[<i>] must point to a directory",
    },
];

/// Packer names the keys `client_cert_dir` and `client_private_key_dir` in these messages.
pub(super) const SERVER_IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "client_cert_path",
        what: IoCheckKind::Directory,
        packer_message: "client_cert_dir is invalid: <error> / client_cert_dir must point to a directory",
    },
    IoCheck {
        key: "client_private_key_path",
        what: IoCheckKind::Directory,
        packer_message: "client_private_key_dir is invalid: <error> / client_private_key_dir must point to a directory",
    },
];

pub(super) fn check_masterless(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    check_guest_os_type(c, out);
    if c.string("manifest_file").is_empty() {
        out.push(with_hint(
            c.problem("manifest_file", "A manifest_file must be specified."),
            "name the manifest (or a directory of manifests) `puppet apply` runs",
        ));
    }
}

pub(super) fn check_server(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    check_guest_os_type(c, out);
}

/// `guest_os_type`: `unix` (the default) or `windows`, in any case (the provisioners that stage
/// files on the machine share it).
pub(super) fn check_guest_os_type(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let os = c.string("guest_os_type");
    if known(&os) && !matches!(os.to_ascii_lowercase().as_str(), "" | "unix" | "windows") {
        out.push(with_hint(
            c.problem(
                "guest_os_type",
                format!("Invalid guest_os_type: \"{}\"", os.to_ascii_lowercase()),
            ),
            "use `unix` (the default) or `windows`",
        ));
    }
}

/// Every key Packer 1.6.6 decodes for `puppet-masterless`, in its declaration order.
pub(super) static MASTERLESS_KEYS: &[(&str, ValueType)] = &[
    ("clean_staging_directory", ValueType::Bool),
    ("guest_os_type", ValueType::String),
    ("execute_command", ValueType::String),
    ("extra_arguments", ValueType::StringList),
    ("facter", ValueType::Map),
    ("hiera_config_path", ValueType::String),
    ("ignore_exit_codes", ValueType::Bool),
    ("module_paths", ValueType::StringList),
    ("manifest_file", ValueType::String),
    ("manifest_dir", ValueType::String),
    ("prevent_sudo", ValueType::Bool),
    ("puppet_bin_dir", ValueType::String),
    ("staging_directory", ValueType::String),
    ("working_directory", ValueType::String),
    ("elevated_user", ValueType::String),
    ("elevated_password", ValueType::String),
];

/// Every key Packer 1.6.6 decodes for `puppet-server`, in its declaration order (its staging
/// directory is `staging_dir`, not `staging_directory`).
pub(super) static SERVER_KEYS: &[(&str, ValueType)] = &[
    ("clean_staging_directory", ValueType::Bool),
    ("client_cert_path", ValueType::String),
    ("client_private_key_path", ValueType::String),
    ("execute_command", ValueType::String),
    ("extra_arguments", ValueType::StringList),
    ("facter", ValueType::Map),
    ("guest_os_type", ValueType::String),
    ("ignore_exit_codes", ValueType::Bool),
    ("prevent_sudo", ValueType::Bool),
    ("puppet_bin_dir", ValueType::String),
    ("puppet_node", ValueType::String),
    ("puppet_server", ValueType::String),
    ("staging_dir", ValueType::String),
    ("working_directory", ValueType::String),
    ("elevated_user", ValueType::String),
    ("elevated_password", ValueType::String),
];
