//! `chef-solo`: cookbooks, roles, data bags and environments staged on the machine and applied by
//! `chef-solo` there. `chef-client`: the machine registers with a Chef server and converges from it.

use super::decoded::{Decoded, known, with_hint};
use super::puppet::check_guest_os_type;
use super::{IoCheck, IoCheckKind, SchemaProblem, TypeSchema, ValueType};
use super::{RefKey, plain};
use crate::references::Expect;

pub(super) const SOLO_REFERENCES: &[RefKey] = &[
    plain("config_template", Expect::File),
    plain("cookbook_paths", Expect::Directory),
    plain("roles_path", Expect::Directory),
    plain("data_bags_path", Expect::Directory),
    // Not `encrypted_data_bag_secret_path`: a secret, like SSH keys; the encrypted data bags it
    // opens count.
    plain("environments_path", Expect::Directory),
];

pub(super) static SOLO: TypeSchema = TypeSchema {
    kind: "chef-solo",
    keys: &[SOLO_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &["execute_command", "install_command"],
};

pub(super) const SOLO_IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "config_template",
        what: IoCheckKind::File,
        packer_message: "Bad config template path: <error> / Config template path must be a file",
    },
    IoCheck {
        key: "cookbook_paths",
        what: IoCheckKind::Directory,
        packer_message: "Bad cookbook path '<path>': <error>",
    },
    IoCheck {
        key: "roles_path",
        what: IoCheckKind::Directory,
        packer_message: "Bad roles path '<path>': <error>",
    },
    IoCheck {
        key: "data_bags_path",
        what: IoCheckKind::Directory,
        packer_message: "Bad data bags path '<path>': <error>",
    },
    IoCheck {
        key: "encrypted_data_bag_secret_path",
        what: IoCheckKind::File,
        packer_message: "Bad encrypted data bag secret '<path>': <error>",
    },
    IoCheck {
        key: "environments_path",
        what: IoCheckKind::Directory,
        packer_message: "Bad environments path '<path>': <error>",
    },
];

pub(super) fn check_solo(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    check_guest_os_type(c, out);
}

/// Every key Packer 1.6.6 decodes for `chef-solo`, in its declaration order.
pub(super) static SOLO_KEYS: &[(&str, ValueType)] = &[
    ("chef_environment", ValueType::String),
    ("chef_license", ValueType::String),
    ("config_template", ValueType::String),
    ("cookbook_paths", ValueType::StringList),
    ("roles_path", ValueType::String),
    ("data_bags_path", ValueType::String),
    ("encrypted_data_bag_secret_path", ValueType::String),
    ("environments_path", ValueType::String),
    ("execute_command", ValueType::String),
    ("install_command", ValueType::String),
    ("remote_cookbook_paths", ValueType::StringList),
    // Any JSON object: the node's attributes.
    ("json", ValueType::Object),
    ("prevent_sudo", ValueType::Bool),
    ("run_list", ValueType::StringList),
    ("skip_install", ValueType::Bool),
    ("staging_directory", ValueType::String),
    ("guest_os_type", ValueType::String),
    ("version", ValueType::String),
];

pub(super) const CLIENT_REFERENCES: &[RefKey] = &[
    plain("config_template", Expect::File),
    // Not `validation_key_path` nor `encrypted_data_bag_secret_path`: secrets, like SSH keys. What
    // the node converges to lives on the Chef server, out of the fingerprint's reach.
];

pub(super) static CLIENT: TypeSchema = TypeSchema {
    kind: "chef-client",
    keys: &[CLIENT_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &["execute_command", "install_command", "knife_command"],
};

pub(super) const CLIENT_IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "config_template",
        what: IoCheckKind::File,
        packer_message: "Bad config template path: <error> / Config template path must be a file",
    },
    IoCheck {
        key: "encrypted_data_bag_secret_path",
        what: IoCheckKind::File,
        packer_message: "Bad encrypted data bag secret '<path>': <error>",
    },
];

pub(super) fn check_client(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    check_guest_os_type(c, out);
    let server_url = c.string("server_url");
    if server_url.is_empty() {
        out.push(with_hint(
            c.problem("server_url", "server_url must be set"),
            "name the Chef server the machine registers with, e.g. `https://chef.example.com/organizations/acme`",
        ));
    }
    let (name, group) = (c.string("policy_name"), c.string("policy_group"));
    if known(&name) && known(&group) && name.is_empty() != group.is_empty() {
        let key = if name.is_empty() {
            "policy_group"
        } else {
            "policy_name"
        };
        out.push(with_hint(
            c.problem(
                key,
                "If either policy_name or policy_group are set, they must both be set.",
            ),
            "set both `policy_name` and `policy_group`, or neither",
        ));
    }
}

/// Every key Packer 1.6.6 decodes for `chef-client`, in its declaration order.
pub(super) static CLIENT_KEYS: &[(&str, ValueType)] = &[
    // Any JSON object: the node's attributes.
    ("json", ValueType::Object),
    ("chef_environment", ValueType::String),
    ("chef_license", ValueType::String),
    ("client_key", ValueType::String),
    ("config_template", ValueType::String),
    ("elevated_user", ValueType::String),
    ("elevated_password", ValueType::String),
    ("encrypted_data_bag_secret_path", ValueType::String),
    ("execute_command", ValueType::String),
    ("guest_os_type", ValueType::String),
    ("install_command", ValueType::String),
    ("knife_command", ValueType::String),
    ("node_name", ValueType::String),
    ("policy_group", ValueType::String),
    ("policy_name", ValueType::String),
    ("prevent_sudo", ValueType::Bool),
    ("run_list", ValueType::StringList),
    ("server_url", ValueType::String),
    ("skip_clean_client", ValueType::Bool),
    ("skip_clean_node", ValueType::Bool),
    ("skip_clean_staging_directory", ValueType::Bool),
    ("skip_install", ValueType::Bool),
    ("ssl_verify_mode", ValueType::String),
    ("trusted_certs_dir", ValueType::String),
    ("staging_directory", ValueType::String),
    ("validation_client_name", ValueType::String),
    ("validation_key_path", ValueType::String),
    ("version", ValueType::String),
];
