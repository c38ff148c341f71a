//! The SSH/WinRM communicator settings builders embed (`communicator`, `ssh_*`, `winrm_*`): the checks
//! Packer 1.6.6 makes when it prepares them.

use super::decoded::{Decoded, known, with_hint};
use super::{IoCheck, IoCheckKind, SchemaProblem, ValueType};

/// The keys of the communicator settings, shared by every builder that embeds them.
pub(super) static KEYS: &[(&str, ValueType)] = &[
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

const TYPES: &[&str] = &["ssh", "winrm", "docker", "dockerWindowsContainer", "none"];

/// The communicator's file checks (a key file must exist and parse as an SSH private key).
pub(super) const IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "ssh_private_key_file",
        what: IoCheckKind::SshPrivateKey,
        packer_message: "ssh_private_key_file is invalid: <error>",
    },
    IoCheck {
        key: "ssh_bastion_private_key_file",
        what: IoCheckKind::SshPrivateKey,
        packer_message: "ssh_bastion_private_key_file is invalid: <error>",
    },
];

/// The communicator type in effect: `communicator`, `ssh` when unset.
pub(super) fn kind(c: &Decoded) -> String {
    let kind = c.string("communicator");
    if kind.is_empty() {
        "ssh".to_string()
    } else {
        kind
    }
}

/// Checks the communicator settings and returns the communicator type.
pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) -> String {
    let kind = kind(c);
    if !known(&kind) {
        return kind;
    }
    match kind.as_str() {
        "ssh" => check_ssh(c, out),
        "winrm" => {
            if c.string("winrm_username").is_empty() {
                out.push(c.problem("winrm_username", "winrm_username must be specified"));
            }
        }
        "docker" | "dockerWindowsContainer" | "none" => {}
        other => {
            // Packer stops at an unknown type: none of the other settings are checked.
            out.push(with_hint(
                c.problem(
                    "communicator",
                    format!("communicator type `{other}` is invalid"),
                ),
                format!("use one of: {}", TYPES.join(", ")),
            ));
        }
    }
    kind
}

fn check_ssh(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    if c.string("ssh_username").is_empty() {
        out.push(with_hint(
            c.problem("ssh_username", "an ssh_username must be specified"),
            "some builders used to default ssh_username to \"root\"; set it explicitly",
        ));
    }
    let bastion = !c.string("ssh_bastion_host").is_empty();
    if bastion && !c.bool("ssh_bastion_agent_auth") {
        // The bastion falls back to the main private key file.
        let key_file = !c.string("ssh_bastion_private_key_file").is_empty()
            || !c.string("ssh_private_key_file").is_empty();
        if c.string("ssh_bastion_password").is_empty() && !key_file {
            out.push(c.problem(
                "ssh_bastion_host",
                "ssh_bastion_password or ssh_bastion_private_key_file must be specified",
            ));
        }
    }
    let method = c.string("ssh_file_transfer_method");
    if known(&method) && !matches!(method.as_str(), "" | "scp" | "sftp") {
        out.push(with_hint(
            c.problem(
                "ssh_file_transfer_method",
                format!("ssh_file_transfer_method `{method}` is invalid"),
            ),
            "use `scp` or `sftp`",
        ));
    }
    if bastion && !c.string("ssh_proxy_host").is_empty() {
        out.push(c.problem(
            "ssh_proxy_host",
            "specify either ssh_bastion_host or ssh_proxy_host, not both",
        ));
    }
    for key in ["ssh_local_tunnels", "ssh_remote_tunnels"] {
        for tunnel in c.list(key).unwrap_or_default() {
            if let Err(why) = parse_tunnel(&tunnel) {
                out.push(with_hint(
                    c.problem(key, format!("{key} entry `{tunnel}` is invalid: {why}")),
                    "write tunnels as LISTEN_PORT:HOST:PORT, e.g. 8080:localhost:80",
                ));
            }
        }
    }
}

/// Checks the SSH password/key/agent choice that builders which are given a host (the `null` builder)
/// require: exactly one authentication method.
pub(super) fn check_one_auth_method(c: &Decoded, kind: &str, out: &mut Vec<SchemaProblem>) {
    let agent = c.bool("ssh_agent_auth");
    let key_file = !c.string("ssh_private_key_file").is_empty();
    let ssh_password = !c.string("ssh_password").is_empty();
    let password = match kind {
        "ssh" => ssh_password,
        "winrm" => !c.string("winrm_password").is_empty(),
        _ => false,
    };
    if !agent && !password && !key_file {
        out.push(with_hint(
            c.problem_here("one authentication method must be specified"),
            "set ssh_password, ssh_private_key_file or ssh_agent_auth",
        ));
    }
    if (agent && (ssh_password || key_file)) || (ssh_password && key_file) {
        out.push(c.problem_here(
            "only one of ssh_agent_auth, ssh_password and ssh_private_key_file may be specified",
        ));
    }
}

/// `LISTEN_PORT:HOST:PORT`, as Packer parses `ssh_local_tunnels`/`ssh_remote_tunnels` entries.
fn parse_tunnel(tunnel: &str) -> Result<(), String> {
    if !known(tunnel) {
        return Ok(());
    }
    let Some((listen_port, forward)) = tunnel.split_once(':') else {
        return Err("expected LISTEN_PORT:HOST:PORT".to_string());
    };
    let forward_port =
        split_host_port(forward).ok_or("the forwarding address must be HOST:PORT")?;
    if !is_go_atoi(forward_port) {
        return Err(format!(
            "the forwarding port `{forward_port}` is not a number"
        ));
    }
    if !is_go_atoi(listen_port) {
        return Err(format!(
            "the listening port `{listen_port}` is not a number"
        ));
    }
    Ok(())
}

/// The port of `host:port` or `[host]:port` as Go's `net.SplitHostPort` finds it.
fn split_host_port(address: &str) -> Option<&str> {
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        (!host.contains('[') && !port.contains(':')).then_some(port)
    } else {
        let (host, port) = address.rsplit_once(':')?;
        (!host.contains(':') && !host.contains('[') && !host.contains(']')).then_some(port)
    }
}

/// Go's `strconv.Atoi`: optional sign and decimal digits.
fn is_go_atoi(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnels_parse_like_packer() {
        assert!(parse_tunnel("8080:localhost:80").is_ok());
        assert!(parse_tunnel("8080:[::1]:80").is_ok());
        assert!(parse_tunnel("8080").is_err());
        assert!(parse_tunnel("8080:localhost").is_err());
        assert!(parse_tunnel("http:localhost:80").is_err());
        assert!(parse_tunnel("8080:a:b:80").is_err());
    }
}
