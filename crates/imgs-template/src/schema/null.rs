//! The `null` builder: no machine, only a communicator to an existing host.

use super::decoded::Decoded;
use super::{SchemaProblem, TypeSchema, ValueType, communicator};

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "null",
    keys: KEYS,
    nested: NESTED,
    deferred: &[],
};

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let kind = communicator::check(c, out);
    if kind == "none" {
        return;
    }
    let (host_key, user_key) = match kind.as_str() {
        "winrm" => ("winrm_host", "winrm_username"),
        _ => ("ssh_host", "ssh_username"),
    };
    let talks_ssh_or_winrm = matches!(kind.as_str(), "ssh" | "winrm");
    if !talks_ssh_or_winrm || c.string(host_key).is_empty() {
        out.push(c.problem(
            host_key,
            format!("{host_key} must be specified: the null builder connects to an existing host"),
        ));
    }
    // The communicator already reported a missing ssh_username/winrm_username.
    if !talks_ssh_or_winrm {
        out.push(c.problem(
            user_key,
            format!("the `{kind}` communicator has no user: the null builder needs ssh or winrm"),
        ));
    }
    communicator::check_one_auth_method(c, &kind, out);
}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order, with embedded configs flattened.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("packer_build_name", ValueType::String),
    ("packer_builder_type", ValueType::String),
    ("packer_core_version", ValueType::String),
    ("packer_debug", ValueType::Bool),
    ("packer_force", ValueType::Bool),
    ("packer_on_error", ValueType::String),
    ("packer_user_variables", ValueType::Map),
    ("packer_sensitive_variables", ValueType::StringList),
    ("communicator", ValueType::String),
    ("pause_before_connecting", ValueType::Duration),
    ("ssh_host", ValueType::String),
    ("ssh_port", ValueType::Int),
    ("ssh_username", ValueType::String),
    ("ssh_password", ValueType::String),
    ("ssh_keypair_name", ValueType::String),
    ("temporary_key_pair_name", ValueType::String),
    ("temporary_key_pair_type", ValueType::String),
    ("temporary_key_pair_bits", ValueType::Int),
    ("ssh_ciphers", ValueType::StringList),
    ("ssh_clear_authorized_keys", ValueType::Bool),
    ("ssh_key_exchange_algorithms", ValueType::StringList),
    ("ssh_private_key_file", ValueType::String),
    ("ssh_certificate_file", ValueType::String),
    ("ssh_pty", ValueType::Bool),
    ("ssh_timeout", ValueType::Duration),
    ("ssh_wait_timeout", ValueType::Duration),
    ("ssh_agent_auth", ValueType::Bool),
    ("ssh_disable_agent_forwarding", ValueType::Bool),
    ("ssh_handshake_attempts", ValueType::Int),
    ("ssh_bastion_host", ValueType::String),
    ("ssh_bastion_port", ValueType::Int),
    ("ssh_bastion_agent_auth", ValueType::Bool),
    ("ssh_bastion_username", ValueType::String),
    ("ssh_bastion_password", ValueType::String),
    ("ssh_bastion_interactive", ValueType::Bool),
    ("ssh_bastion_private_key_file", ValueType::String),
    ("ssh_bastion_certificate_file", ValueType::String),
    ("ssh_file_transfer_method", ValueType::String),
    ("ssh_proxy_host", ValueType::String),
    ("ssh_proxy_port", ValueType::Int),
    ("ssh_proxy_username", ValueType::String),
    ("ssh_proxy_password", ValueType::String),
    ("ssh_keep_alive_interval", ValueType::Duration),
    ("ssh_read_write_timeout", ValueType::Duration),
    ("ssh_remote_tunnels", ValueType::StringList),
    ("ssh_local_tunnels", ValueType::StringList),
    ("ssh_public_key", ValueType::IntList),
    ("ssh_private_key", ValueType::IntList),
    ("winrm_username", ValueType::String),
    ("winrm_password", ValueType::String),
    ("winrm_host", ValueType::String),
    ("winrm_no_proxy", ValueType::Bool),
    ("winrm_port", ValueType::Int),
    ("winrm_timeout", ValueType::Duration),
    ("winrm_use_ssl", ValueType::Bool),
    ("winrm_insecure", ValueType::Bool),
    ("winrm_use_ntlm", ValueType::Bool),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
