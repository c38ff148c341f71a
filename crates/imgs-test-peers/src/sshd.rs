//! A private OpenSSH server for tests and benchmarks: Debian's `sshd` on a free loopback port, with its
//! own host key, a client key allowed to log in as the current user, and everything in a temporary
//! directory. Dropping it kills the server and the per-connection processes it forked, by their PIDs.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{children_of, free_port, kill};

const SSHD: &str = "/usr/sbin/sshd";
/// How long a fresh server may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestSshd {
    pub port: u16,
    /// The user the client key logs in as: whoever runs the tests.
    pub user: String,
    /// An ed25519 private key whose public half is the server's only authorized key.
    pub client_key: PathBuf,
    /// Removed on drop, unless detached.
    dir: PathBuf,
    child: Child,
    detached: bool,
}

impl TestSshd {
    /// Starts a server and waits until it accepts connections.
    pub fn start() -> Result<TestSshd, String> {
        Self::start_with(None, false)
    }

    /// Starts a server whose sessions' bash does not read the user's `~/.bashrc`. Debian's bash reads
    /// it for every command sshd starts, and a developer's `.bashrc` (a version manager's set-up, say)
    /// can take hundreds of milliseconds a session, which a benchmark would count as the client's.
    /// Every session gets `SHLVL=1` (sshd's `SetEnv`): bash then runs at level 2, where it skips it.
    pub fn start_skipping_bashrc() -> Result<TestSshd, String> {
        Self::start_with(None, true)
    }

    /// Starts a server that runs `force_command` for every command and subsystem a client asks for
    /// (sshd's `ForceCommand`; the request is in `SSH_ORIGINAL_COMMAND`).
    pub fn start_forcing(force_command: &Path) -> Result<TestSshd, String> {
        Self::start_with(Some(force_command), false)
    }

    fn start_with(force_command: Option<&Path>, skip_bashrc: bool) -> Result<TestSshd, String> {
        if !Path::new(SSHD).is_file() {
            return Err(format!(
                "{SSHD} is missing: the SSH tests need Debian's `openssh-server` (`cargo xtask setup` \
                 installs it)"
            ));
        }
        // sshd refuses to start without its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd")
            .map_err(|e| format!("cannot create /run/sshd, which sshd needs: {e}"))?;
        let dir = tempfile::Builder::new()
            .prefix("imgs-sshd-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let host_key = dir.path().join("host_ed25519");
        let client_key = dir.path().join("id_ed25519");
        keygen(&host_key)?;
        keygen(&client_key)?;
        let authorized_keys = dir.path().join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized_keys)
            .map_err(|e| format!("cannot write authorized_keys: {e}"))?;
        let user = current_user()?;

        // A port picked now may be taken by someone else before sshd binds it; then try another.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                sshd_config(
                    dir.path(),
                    port,
                    &host_key,
                    &authorized_keys,
                    force_command,
                    skip_bashrc,
                ),
            )
            .map_err(|e| format!("cannot write sshd_config: {e}"))?;
            let log_path = dir.path().join(format!("sshd-{port}.log"));
            let log = std::fs::File::create(&log_path)
                .map_err(|e| format!("cannot create the sshd log: {e}"))?;
            let child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("cannot start {SSHD}: {e}"))?;
            let mut child = child;
            match wait_until_listening(&mut child, port) {
                Ok(()) => {
                    return Ok(TestSshd {
                        port,
                        user,
                        client_key,
                        // From here on the server owns the directory and removes it on drop.
                        dir: dir.keep(),
                        child,
                        detached: false,
                    });
                }
                Err(why) => {
                    kill_server(&mut child);
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    last_error = format!("{why}\nsshd said:\n{log}");
                }
            }
        }
        Err(format!("sshd did not start: {last_error}"))
    }

    /// The listening server's process ID: for reading its CPU time (and, once they have ended, that
    /// of the connections it forked) in /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary directory the server's files are in; tests may put their own files there.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `ssh_*` settings that reach this server with the client key.
    pub fn settings(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("ssh_host", "127.0.0.1".to_string()),
            ("ssh_port", self.port.to_string()),
            ("ssh_username", self.user.clone()),
            (
                "ssh_private_key_file",
                self.client_key.display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The same settings as JSON, in the order templates usually list them (host, port, user, key),
    /// to put in a builder (Packer reads the port from a string as from a number).
    pub fn json_settings(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut settings = self.settings();
        [
            "ssh_host",
            "ssh_port",
            "ssh_username",
            "ssh_private_key_file",
        ]
        .into_iter()
        .map(|key| {
            let value = settings.remove(key).expect("every key is set");
            (key.to_string(), serde_json::Value::String(value))
        })
        .collect()
    }

    /// A builder of `builder_type` that reaches this server: `type`, its `ssh_*` settings, then
    /// `extra` (an object whose keys are added, replacing settings of the same name in place).
    pub fn builder(&self, builder_type: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut builder = serde_json::Map::new();
        builder.insert("type".into(), builder_type.into());
        builder.extend(self.json_settings());
        if let serde_json::Value::Object(extra) = extra {
            builder.extend(extra);
        }
        serde_json::Value::Object(builder)
    }
}

/// A server left running on purpose (`cargo xtask env up`): whoever detached it stops it by `pid`.
#[derive(Clone, Debug)]
pub struct DetachedSshd {
    pub pid: u32,
    pub port: u16,
    pub user: String,
    pub client_key: PathBuf,
    /// Its files (config, keys, log), kept after the detach; removing it is the owner's job.
    pub dir: PathBuf,
}

impl TestSshd {
    /// Lets the server outlive this value (and this process): nothing is killed or removed on drop.
    pub fn detach(mut self) -> DetachedSshd {
        self.detached = true;
        DetachedSshd {
            pid: self.child.id(),
            port: self.port,
            user: self.user.clone(),
            client_key: self.client_key.clone(),
            dir: self.dir.clone(),
        }
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        kill_server(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_until_listening(child: &mut Child, port: u16) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("sshd exited with {status}"));
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("sshd did not listen within {START_TIMEOUT:?}"))
}

fn kill_server(child: &mut Child) {
    // The listener forks one process per connection; those outlive it unless killed too.
    let forked = children_of(child.id());
    let _ = child.kill();
    let _ = child.wait();
    for process in forked {
        kill(process.pid);
    }
}

fn sshd_config(
    dir: &Path,
    port: u16,
    host_key: &Path,
    authorized_keys: &Path,
    force_command: Option<&Path>,
    skip_bashrc: bool,
) -> String {
    let mut config = String::new();
    let mut line = |text: String| {
        let _ = writeln!(config, "{text}");
    };
    line(format!("Port {port}"));
    line("ListenAddress 127.0.0.1".into());
    line(format!("HostKey {}", host_key.display()));
    line(format!("PidFile {}", dir.join("sshd.pid").display()));
    line(format!("AuthorizedKeysFile {}", authorized_keys.display()));
    // No PAM: logins are checked against the key file (and /etc/shadow for passwords) alone.
    line("UsePAM no".into());
    // The key files live under /tmp, whose permissions StrictModes would refuse.
    line("StrictModes no".into());
    line("PermitRootLogin yes".into());
    line("PubkeyAuthentication yes".into());
    line("PasswordAuthentication yes".into());
    line("KbdInteractiveAuthentication no".into());
    line("AllowTcpForwarding yes".into());
    // Without it SFTP (and modern scp) fail with "Connection closed".
    line("Subsystem sftp internal-sftp".into());
    // Parallel builds and tests open many connections and sessions at once.
    line("MaxStartups 200".into());
    line("MaxSessions 200".into());
    line("LogLevel ERROR".into());
    if let Some(command) = force_command {
        line(format!("ForceCommand {}", command.display()));
    }
    if skip_bashrc {
        line("SetEnv SHLVL=1".into());
    }
    config
}

/// Makes an ed25519 key pair without a passphrase: the private key at `path`, the public one beside it
/// with `.pub` added.
pub fn keygen(path: &Path) -> Result<(), String> {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "imgs-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| {
            format!("cannot run ssh-keygen (Debian `openssh-client`; `cargo xtask setup`): {e}")
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("ssh-keygen failed with {status}"))
    }
}

fn current_user() -> Result<String, String> {
    let output = Command::new("id")
        .arg("-un")
        .output()
        .map_err(|e| format!("cannot run `id -un`: {e}"))?;
    let user = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if user.is_empty() {
        Err("cannot tell the current user's name".to_string())
    } else {
        Ok(user)
    }
}
