//! Getting a logged-in SSH connection: retried until `ssh_timeout` while the machine boots, with a
//! growing pause between tries, and counting refused logins against `ssh_handshake_attempts` as Packer
//! does (a machine may refuse a key until cloud-init has installed it); or, to connect again after
//! the connection was lost, one try ([`connect_once`]).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{AuthMethod, Bastion, SshConfig, address};
use crate::error::SshError;

/// First pause between tries; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// Keep-alives a server may leave unanswered before the connection counts as dead.
const KEEP_ALIVE_MAX: usize = 3;
/// How long one try of [`connect_once`] may take: Packer's SSH handshake timeout.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Accepts every host key. Packer does not verify host keys either: the machine was created moments
/// ago by the same build, so there is no known key to compare with.
pub(crate) struct AcceptAnyHostKey;

impl client::Handler for AcceptAnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// A logged-in connection, and the bastion connection it runs through (kept open as long as it is).
pub(crate) struct Connection {
    pub handle: Handle<AcceptAnyHostKey>,
    pub bastion: Option<Handle<AcceptAnyHostKey>>,
}

/// Credentials read once, before the first try: a missing or unreadable key file will not get better by
/// waiting.
struct Credentials {
    username: String,
    methods: Vec<Credential>,
}

enum Credential {
    Key { key: Arc<PrivateKey>, path: String },
    Agent,
    Password(String),
}

impl Credentials {
    fn load(username: &str, methods: &[AuthMethod]) -> Result<Self, SshError> {
        let methods = methods
            .iter()
            .map(|method| {
                Ok(match method {
                    AuthMethod::PrivateKeyFile(path) => Credential::Key {
                        key: Arc::new(russh::keys::load_secret_key(path, None).map_err(|err| {
                            SshError::PrivateKey {
                                path: path.clone(),
                                reason: key_error(&err),
                            }
                        })?),
                        path: path.display().to_string(),
                    },
                    AuthMethod::Agent => Credential::Agent,
                    AuthMethod::Password(password) => Credential::Password(password.0.clone()),
                })
            })
            .collect::<Result<_, SshError>>()?;
        Ok(Self {
            username: username.to_string(),
            methods,
        })
    }

    /// "key `path`, password": for error messages, never the secrets themselves.
    fn describe(&self) -> String {
        self.methods
            .iter()
            .map(|m| match m {
                Credential::Key { path, .. } => format!("key `{path}`"),
                Credential::Agent => "the SSH agent's keys".to_string(),
                Credential::Password(_) => "password".to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn key_error(err: &russh::keys::Error) -> String {
    match err {
        russh::keys::Error::IO(io) if io.kind() == io::ErrorKind::NotFound => {
            "no such file".to_string()
        }
        other => other.to_string(),
    }
}

/// Why one try failed.
enum Failure {
    /// Nothing answered, or the SSH handshake broke off: try again until the deadline.
    Unreachable(String),
    /// The server refused the login: counts against `ssh_handshake_attempts`.
    Refused(SshError),
    /// Trying again cannot help.
    Fatal(SshError),
}

/// What every try needs, read once.
struct Prepared<'a> {
    target: Credentials,
    bastion: Option<(&'a Bastion, Credentials)>,
    client_config: Arc<client::Config>,
}

fn prepare(config: &SshConfig) -> Result<Prepared<'_>, SshError> {
    let target = Credentials::load(&config.username, &config.auth)?;
    let bastion = match &config.bastion {
        Some(b) => Some((b, Credentials::load(&b.username, &b.auth)?)),
        None => None,
    };
    let client_config = Arc::new(client::Config {
        keepalive_interval: config.keep_alive_interval,
        keepalive_max: KEEP_ALIVE_MAX,
        nodelay: true,
        // Large windows keep bulk SFTP transfers from stalling on flow control.
        window_size: 16 * 1024 * 1024,
        ..client::Config::default()
    });
    Ok(Prepared {
        target,
        bastion,
        client_config,
    })
}

/// One try, as Packer's communicator makes when it finds its connection gone (a reboot): the
/// machine answers now or this fails, and the caller (a provisioner's `start_retry_timeout`)
/// decides whether to try again. `ssh_timeout` is for the first connection, not this one; a
/// handshake is given [`HANDSHAKE_TIMEOUT`], as Packer gives it.
pub(crate) async fn connect_once(
    config: &SshConfig,
    cancel: &CancellationToken,
) -> Result<Connection, SshError> {
    let Prepared {
        target,
        bastion,
        client_config,
    } = prepare(config)?;
    let attempt = try_once(config, &client_config, &target, bastion.as_ref());
    let outcome = tokio::select! {
        () = cancel.cancelled() => return Err(SshError::Cancelled),
        outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, attempt) => outcome,
    };
    let unreachable = |reason: String| SshError::Connection {
        address: config.address(),
        reason,
    };
    match outcome {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(Failure::Unreachable(why))) => Err(unreachable(why)),
        Ok(Err(Failure::Refused(err) | Failure::Fatal(err))) => Err(err),
        Err(_elapsed) => Err(unreachable(format!(
            "no SSH handshake within {}",
            imgs_settings::human_duration(HANDSHAKE_TIMEOUT)
        ))),
    }
}

pub(crate) async fn connect(
    config: &SshConfig,
    cancel: &CancellationToken,
) -> Result<Connection, SshError> {
    let Prepared {
        target,
        bastion,
        client_config,
    } = prepare(config)?;

    let deadline = Instant::now() + config.timeout;
    let mut pause = FIRST_PAUSE;
    let mut attempts = 0;
    let mut refusals = 0;
    let mut last_error: Option<String> = None;
    loop {
        attempts += 1;
        let attempt = try_once(config, &client_config, &target, bastion.as_ref());
        let outcome = tokio::select! {
            () = cancel.cancelled() => return Err(SshError::Cancelled),
            outcome = tokio::time::timeout_at(deadline, attempt) => outcome,
        };
        let error = match outcome {
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(Failure::Fatal(err))) => return Err(err),
            Ok(Err(Failure::Refused(err))) => {
                refusals += 1;
                if refusals >= config.handshake_attempts {
                    return Err(err);
                }
                err.to_string()
            }
            Ok(Err(Failure::Unreachable(why))) => why,
            // Cut off by the deadline: what the tries before it saw says more.
            Err(_elapsed) => last_error
                .take()
                .unwrap_or_else(|| "the SSH server did not answer in time".to_string()),
        };
        last_error = Some(error);
        if Instant::now() + pause >= deadline {
            return Err(SshError::Timeout {
                address: config.address(),
                timeout: config.timeout,
                last_error: last_error.unwrap_or_default(),
                attempts,
            });
        }
        tokio::select! {
            () = cancel.cancelled() => return Err(SshError::Cancelled),
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

async fn try_once(
    config: &SshConfig,
    client_config: &Arc<client::Config>,
    target: &Credentials,
    bastion: Option<&(&Bastion, Credentials)>,
) -> Result<Connection, Failure> {
    let target_address = config.address();
    let Some((hop, hop_credentials)) = bastion else {
        let stream = tcp(&config.host, config.port).await?;
        let handle = handshake(client_config, stream, &target_address).await?;
        let handle = authenticate(handle, target, &target_address).await?;
        return Ok(Connection {
            handle,
            bastion: None,
        });
    };

    let hop_address = address(&hop.host, hop.port);
    let stream = tcp(&hop.host, hop.port).await?;
    let hop_handle = handshake(client_config, stream, &hop_address).await?;
    let hop_handle = authenticate(hop_handle, hop_credentials, &hop_address).await?;
    let channel = hop_handle
        .channel_open_direct_tcpip(config.host.as_str(), u32::from(config.port), "127.0.0.1", 0)
        .await
        .map_err(|err| {
            Failure::Unreachable(
                SshError::Bastion {
                    bastion: hop_address.clone(),
                    target: target_address.clone(),
                    reason: channel_open_error(&err),
                }
                .to_string(),
            )
        })?;
    let handle = handshake(client_config, channel.into_stream(), &target_address).await?;
    let handle = authenticate(handle, target, &target_address).await?;
    Ok(Connection {
        handle,
        bastion: Some(hop_handle),
    })
}

async fn tcp(host: &str, port: u16) -> Result<TcpStream, Failure> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|err| Failure::Unreachable(io_error(&err)))?;
    // Small exec requests should not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn handshake<S>(
    client_config: &Arc<client::Config>,
    stream: S,
    address: &str,
) -> Result<Handle<AcceptAnyHostKey>, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    client::connect_stream(client_config.clone(), stream, AcceptAnyHostKey)
        .await
        .map_err(|err| {
            Failure::Unreachable(format!(
                "SSH handshake with {address} failed: {}",
                readable(&err)
            ))
        })
}

async fn authenticate(
    mut handle: Handle<AcceptAnyHostKey>,
    credentials: &Credentials,
    address: &str,
) -> Result<Handle<AcceptAnyHostKey>, Failure> {
    let user = credentials.username.as_str();
    let lost = |err: russh::Error| {
        Failure::Unreachable(format!(
            "the connection to {address} broke during login: {}",
            readable(&err)
        ))
    };
    for method in &credentials.methods {
        let accepted = match method {
            Credential::Key { key, .. } => {
                let hash = if key.algorithm().is_rsa() {
                    handle
                        .best_supported_rsa_hash()
                        .await
                        .map_err(lost)?
                        .flatten()
                } else {
                    None
                };
                handle
                    .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                    .await
                    .map_err(lost)?
                    .success()
            }
            Credential::Agent => authenticate_with_agent(&mut handle, user).await?,
            Credential::Password(password) => handle
                .authenticate_password(user, password)
                .await
                .map_err(lost)?
                .success(),
        };
        if accepted {
            return Ok(handle);
        }
    }
    Err(Failure::Refused(SshError::AuthenticationFailed {
        address: address.to_string(),
        user: user.to_string(),
        methods: credentials.describe(),
    }))
}

async fn authenticate_with_agent(
    handle: &mut Handle<AcceptAnyHostKey>,
    user: &str,
) -> Result<bool, Failure> {
    let agent_error = |err: russh::keys::Error| {
        Failure::Fatal(SshError::Agent(match err {
            russh::keys::Error::EnvVar(var) => format!("{var} is not set"),
            other => other.to_string(),
        }))
    };
    let mut agent = AgentClient::connect_env().await.map_err(agent_error)?;
    let identities = agent.request_identities().await.map_err(agent_error)?;
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        let hash = if key.algorithm().is_rsa() {
            handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten()
        } else {
            None
        };
        match handle
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
        {
            Ok(result) if result.success() => return Ok(true),
            Ok(_) => {}
            Err(err) => return Err(Failure::Fatal(SshError::Agent(err.to_string()))),
        }
    }
    Ok(false)
}

/// "connection refused" rather than "Connection refused (os error 111)".
fn io_error(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::TimedOut => "timed out".to_string(),
        io::ErrorKind::HostUnreachable => "host unreachable".to_string(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".to_string(),
        _ => crate::error::io_reason(err),
    }
}

/// An SSH library error in words; I/O errors as [`io_error`] words them ("connection reset by
/// peer", without the OS's error number).
fn readable(err: &russh::Error) -> String {
    match err {
        russh::Error::IO(io) => io_error(io),
        other => other.to_string(),
    }
}

fn channel_open_error(err: &russh::Error) -> String {
    match err {
        russh::Error::ChannelOpenFailure(reason) => format!("the bastion refused: {reason:?}"),
        other => other.to_string(),
    }
}

/// Why an established connection stopped working, in words.
pub(crate) fn connection_error(err: &russh::Error) -> String {
    match err {
        russh::Error::Disconnect | russh::Error::SendError => {
            "the connection was closed".to_string()
        }
        other => other.to_string(),
    }
}
