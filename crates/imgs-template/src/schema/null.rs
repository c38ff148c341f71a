//! The `null` builder: no machine, only a communicator to an existing host.

use super::decoded::Decoded;
use super::{SchemaProblem, TypeSchema, ValueType, communicator};

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "null",
    keys: &[KEYS, communicator::KEYS, super::PACKER_KEYS],
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
pub(super) static KEYS: &[(&str, ValueType)] = &[];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
