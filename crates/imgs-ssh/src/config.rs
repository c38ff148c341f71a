//! The communicator settings a template gives (`ssh_*` keys), read the way Packer 1.6.6 reads them:
//! the same defaults (port 22, `ssh_timeout` 5m, 10 handshake attempts, a keep-alive every 5s, bastion
//! port 22, the bastion falling back to the main key file), `ssh_wait_timeout` as the old name of
//! `ssh_timeout`, and a negative `ssh_keep_alive_interval` turning keep-alives off.
//!
//! The input is the key/value pairs a builder resolved (template functions already applied), so this is a
//! pure function; files are only opened when connecting.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use imgs_diagnostic::Diagnostics;
use imgs_settings::{Decoder, KeyRules, Settings};

const DEFAULT_PORT: u16 = 22;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const DEFAULT_HANDSHAKE_ATTEMPTS: u32 = 10;
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Keys this crate reads.
const SUPPORTED: &[&str] = &[
    "ssh_host",
    "ssh_port",
    "ssh_username",
    "ssh_password",
    "ssh_private_key_file",
    "ssh_agent_auth",
    "ssh_timeout",
    "ssh_wait_timeout",
    "ssh_handshake_attempts",
    "ssh_keep_alive_interval",
    "ssh_bastion_host",
    "ssh_bastion_port",
    "ssh_bastion_username",
    "ssh_bastion_password",
    "ssh_bastion_private_key_file",
    "ssh_bastion_agent_auth",
    "ssh_file_transfer_method",
    // Agent forwarding is never requested, so `true` is what happens anyway; with `false` Packer would
    // forward a local agent, which only commands that use a forwarded agent would notice.
    "ssh_disable_agent_forwarding",
    // The builder's business (which key pair EC2 installs); the key itself comes from
    // `ssh_private_key_file` or the agent.
    "ssh_keypair_name",
];

/// Keys Packer 1.6.6 knows that this crate does not implement: setting one is an error, not a surprise
/// at build time.
const NOT_SUPPORTED: &[&str] = &[
    "ssh_ciphers",
    "ssh_clear_authorized_keys",
    "ssh_key_exchange_algorithms",
    "ssh_certificate_file",
    "ssh_pty",
    "ssh_bastion_interactive",
    "ssh_bastion_certificate_file",
    "ssh_proxy_host",
    "ssh_proxy_port",
    "ssh_proxy_username",
    "ssh_proxy_password",
    "ssh_read_write_timeout",
    "ssh_remote_tunnels",
    "ssh_local_tunnels",
    "ssh_public_key",
    "ssh_private_key",
];

/// How to reach and log in to a machine over SSH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshConfig {
    pub host: String,
    pub port: u16,
    pub username: String,
    /// Tried in this order until one is accepted.
    pub auth: Vec<AuthMethod>,
    /// How long to keep trying to connect before giving up.
    pub timeout: Duration,
    /// How many times a server may refuse the login before giving up (it may still be booting and
    /// installing keys, so a refusal is not final at once).
    pub handshake_attempts: u32,
    /// `None`: no keep-alives.
    pub keep_alive_interval: Option<Duration>,
    pub bastion: Option<Bastion>,
    /// How files travel (`ssh_file_transfer_method`); the two differ in where some copies land.
    pub file_transfer: FileTransfer,
}

/// The two ways Packer 1.6.6 copies files, each with its own rules for destinations that do not exist
/// yet (see [`crate::SshSession::upload`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FileTransfer {
    /// The remote `scp` in sink or source mode does the copying: Packer's default.
    #[default]
    Scp,
    /// The SFTP subsystem, driven from here.
    Sftp,
}

/// A jump host: the connection to the target is a `direct-tcpip` channel through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bastion {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub auth: Vec<AuthMethod>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    PrivateKeyFile(PathBuf),
    /// The agent at `SSH_AUTH_SOCK`, each of its keys in turn.
    Agent,
    Password(Password),
}

/// A password that never shows up in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl SshConfig {
    /// Reads the `ssh_*` settings of a builder's settings with `d`, recording every problem there, each
    /// with its key and place. Keys that do not start with `ssh_` are the builder's and are ignored; a
    /// builder that learns the machine's address at run time (amazon-ebs) puts it in `ssh_host` unless
    /// the template set one. The result is only meaningful when `d` recorded no problem.
    pub fn decode(d: &mut Decoder<'_>) -> SshConfig {
        d.check_keys(&KeyRules {
            what: "SSH communicator",
            known: SUPPORTED,
            not_supported: NOT_SUPPORTED,
            only_prefix: Some("ssh_"),
            ..KeyRules::default()
        });

        let host = d.required("ssh_host", "the address of the machine to connect to");
        let port = d.port("ssh_port").unwrap_or(DEFAULT_PORT);
        let username = d.required("ssh_username", "the user to log in as");
        let key_file = d.string("ssh_private_key_file");
        let agent = d.flag("ssh_agent_auth");
        let password = d.string("ssh_password");
        let auth = auth_methods(
            d,
            key_file.clone(),
            agent,
            password,
            "ssh_username",
            "set ssh_private_key_file, ssh_password or ssh_agent_auth",
        );

        // `ssh_wait_timeout` is the older name, and wins when both are set.
        let timeout = d
            .duration("ssh_wait_timeout")
            .or_else(|| d.duration("ssh_timeout"))
            .unwrap_or(DEFAULT_TIMEOUT);
        let handshake_attempts = match d.int("ssh_handshake_attempts") {
            Some(n) if n > 0 => u32::try_from(n).unwrap_or(u32::MAX),
            _ => DEFAULT_HANDSHAKE_ATTEMPTS,
        };
        // A negative interval turns keep-alives off; zero or unset is the default.
        let keep_alive_interval = match d.go_duration("ssh_keep_alive_interval") {
            None => Some(DEFAULT_KEEP_ALIVE),
            Some(g) if g.nanos == 0 => Some(DEFAULT_KEEP_ALIVE),
            Some(g) => g.to_std(),
        };

        let bastion = d.string("ssh_bastion_host").map(|host| {
            let port = d.port("ssh_bastion_port").unwrap_or(DEFAULT_PORT);
            let username = d.required(
                "ssh_bastion_username",
                "the user to log in to the bastion as",
            );
            let key_file = d.string("ssh_bastion_private_key_file").or(key_file);
            let agent = d.flag("ssh_bastion_agent_auth");
            let password = d.string("ssh_bastion_password");
            let auth = auth_methods(
                d,
                key_file,
                agent,
                password,
                "ssh_bastion_host",
                "set ssh_bastion_private_key_file, ssh_bastion_password or ssh_bastion_agent_auth",
            );
            Bastion {
                host,
                port,
                username,
                auth,
            }
        });

        let file_transfer = match d.string("ssh_file_transfer_method").as_deref() {
            None | Some("scp") => FileTransfer::Scp,
            Some("sftp") => FileTransfer::Sftp,
            Some(method) => {
                d.problem(
                    "ssh_file_transfer_method",
                    format!("ssh_file_transfer_method `{method}` is invalid"),
                    "use `sftp` or `scp`",
                );
                FileTransfer::Scp
            }
        };

        SshConfig {
            host,
            port,
            username,
            auth,
            timeout,
            handshake_attempts,
            keep_alive_interval,
            bastion,
            file_transfer,
        }
    }

    /// [`SshConfig::decode`] of whole settings: the config, or every problem, located.
    pub fn read(settings: &Settings) -> Result<SshConfig, Diagnostics> {
        settings.decode(SshConfig::decode)
    }

    /// [`SshConfig::read`] of plain key/value pairs (written nowhere: problems name keys only).
    pub fn from_settings(settings: &BTreeMap<String, String>) -> Result<SshConfig, Diagnostics> {
        SshConfig::read(&Settings::from_strings(settings))
    }

    /// `host:port` as people write it.
    pub fn address(&self) -> String {
        address(&self.host, self.port)
    }
}

pub(crate) fn address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The ways to log in that the settings give, in the order they are tried; a problem blamed on `blame`
/// when there are none.
fn auth_methods(
    d: &mut Decoder<'_>,
    key_file: Option<String>,
    agent: bool,
    password: Option<String>,
    blame: &str,
    hint: &str,
) -> Vec<AuthMethod> {
    let mut methods = Vec::new();
    if let Some(file) = key_file {
        methods.push(AuthMethod::PrivateKeyFile(PathBuf::from(file)));
    }
    if agent {
        methods.push(AuthMethod::Agent);
    }
    if let Some(password) = password {
        methods.push(AuthMethod::Password(Password(password)));
    }
    if methods.is_empty() {
        d.problem(blame, "no way to authenticate was given", hint);
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ssh_host", "10.0.0.5"),
            ("ssh_username", "admin"),
            ("ssh_private_key_file", "keys/id_ed25519"),
        ]
    }

    fn errors(pairs: &[(&str, &str)]) -> String {
        SshConfig::from_settings(&settings(pairs))
            .expect_err("settings should be refused")
            .to_string()
    }

    #[test]
    fn defaults_are_packers() {
        let config = SshConfig::from_settings(&settings(&minimal())).unwrap();
        assert_eq!(config.port, 22);
        assert_eq!(config.timeout, Duration::from_secs(300));
        assert_eq!(config.handshake_attempts, 10);
        assert_eq!(config.keep_alive_interval, Some(Duration::from_secs(5)));
        assert_eq!(config.bastion, None);
        assert_eq!(config.file_transfer, FileTransfer::Scp);
        assert_eq!(
            config.auth,
            vec![AuthMethod::PrivateKeyFile("keys/id_ed25519".into())]
        );
        assert_eq!(config.address(), "10.0.0.5:22");
    }

    #[test]
    fn explicit_values_and_the_old_timeout_name() {
        let mut pairs = minimal();
        pairs.extend([
            ("ssh_port", "2222"),
            ("ssh_timeout", "30s"),
            ("ssh_wait_timeout", "1m30s"),
            ("ssh_handshake_attempts", "3"),
            ("ssh_keep_alive_interval", "-1s"),
            ("ssh_password", "secret"),
            ("ssh_agent_auth", "true"),
            ("ssh_file_transfer_method", "sftp"),
        ]);
        let config = SshConfig::from_settings(&settings(&pairs)).unwrap();
        assert_eq!(config.file_transfer, FileTransfer::Sftp);
        assert_eq!(config.port, 2222);
        assert_eq!(config.timeout, Duration::from_secs(90));
        assert_eq!(config.handshake_attempts, 3);
        assert_eq!(config.keep_alive_interval, None);
        assert_eq!(config.auth.len(), 3);
        assert_eq!(config.auth[1], AuthMethod::Agent);
    }

    #[test]
    fn passwords_are_redacted_in_debug_output() {
        let mut pairs = minimal();
        pairs.push(("ssh_password", "hunter2"));
        let config = SshConfig::from_settings(&settings(&pairs)).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn bastion_defaults_to_port_22_and_the_main_key() {
        let mut pairs = minimal();
        pairs.extend([
            ("ssh_bastion_host", "jump"),
            ("ssh_bastion_username", "hop"),
        ]);
        let config = SshConfig::from_settings(&settings(&pairs)).unwrap();
        assert_eq!(
            config.bastion,
            Some(Bastion {
                host: "jump".into(),
                port: 22,
                username: "hop".into(),
                auth: vec![AuthMethod::PrivateKeyFile("keys/id_ed25519".into())],
            })
        );
    }

    #[test]
    fn builder_keys_are_not_ours() {
        let mut pairs = minimal();
        pairs.extend([("ami_name", "x"), ("communicator", "ssh")]);
        assert!(SshConfig::from_settings(&settings(&pairs)).is_ok());
    }

    #[test]
    fn unsupported_keys_are_refused_only_when_they_ask_for_something() {
        let mut pairs = minimal();
        pairs.push(("ssh_pty", "false"));
        assert!(SshConfig::from_settings(&settings(&pairs)).is_ok());
        pairs.push(("ssh_pty", "true"));
        insta::assert_snapshot!(errors(&pairs), @r"
            error: not supported yet: ssh_pty
              = key: ssh_pty
              = hint: remove `ssh_pty`; imgs's SSH communicator does not implement it yet
            ");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        insta::assert_snapshot!(errors(&[
            ("ssh_port", "twenty-two"),
            ("ssh_timeout", "5 minutes"),
            ("ssh_usernme", "admin"),
            ("ssh_agent_auth", "yes"),
            ("ssh_bastion_host", "jump"),
            ("ssh_file_transfer_method", "rsync"),
        ]), @r#"
            error: unknown key `ssh_usernme` in SSH communicator
              = key: ssh_usernme
              = hint: did you mean `ssh_username`?
            error: ssh_host must be specified
              = key: ssh_host
              = hint: set `ssh_host` to the address of the machine to connect to
            error: invalid value for `ssh_port`: expected an integer, got the string "twenty-two"
              = key: ssh_port
              = hint: write a whole number such as 2
            error: ssh_username must be specified
              = key: ssh_username
              = hint: set `ssh_username` to the user to log in as
            error: invalid value for `ssh_agent_auth`: expected a boolean, got the string "yes"
              = key: ssh_agent_auth
              = hint: write `true` or `false`
            error: no way to authenticate was given
              = key: ssh_username
              = hint: set ssh_private_key_file, ssh_password or ssh_agent_auth
            error: invalid value for `ssh_timeout`: time: unknown unit " minutes" in duration "5 minutes"
              = key: ssh_timeout
              = hint: write a duration such as "30s", "5m" or "1h30m"
            error: ssh_bastion_username must be specified
              = key: ssh_bastion_username
              = hint: set `ssh_bastion_username` to the user to log in to the bastion as
            error: no way to authenticate was given
              = key: ssh_bastion_host
              = hint: set ssh_bastion_private_key_file, ssh_bastion_password or ssh_bastion_agent_auth
            error: ssh_file_transfer_method `rsync` is invalid
              = key: ssh_file_transfer_method
              = hint: use `sftp` or `scp`
            "#);
    }

    #[test]
    fn ipv6_addresses_are_bracketed() {
        assert_eq!(address("::1", 22), "[::1]:22");
    }
}
