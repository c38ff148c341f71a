//! Docker for tests and benchmarks, all offline:
//!
//! - [`Dockerd`]: a private Docker daemon (Debian's `dockerd`, docker.io 20.10) with a containerd of its
//!   own, everything under a fresh directory in /tmp. Containers get a loopback interface only (no
//!   bridge, no iptables rules, no IP forwarding), so nothing they run reaches another address.
//! - [`Registry`]: a private registry (Debian's `docker-registry` 2.8) on a free loopback port, storing
//!   in a temporary directory. A daemon pushes to `127.0.0.1:PORT` over plain HTTP without further
//!   configuration: 127.0.0.0/8 is an insecure registry by default.
//! - [`base_image`]: a test base image imported from a root filesystem made here, around the statically
//!   linked busybox of Debian's `busybox-static` (nothing can be pulled from the internet).
//!
//! Each test starts its own daemon, so no test sees another's containers or images; two daemons run
//! side by side in one test binary. Dropping a daemon stops it and everything it started (containerd,
//! the containerd shims, the containers' processes) by their PIDs, unmounts what it left mounted, and
//! removes its directory.
//!
//! The policy for a machine without Docker is Packer's ([`crate::packer`]): [`Dockerd::start_for`] and
//! [`Registry::start_for`] skip with a line saying what is missing ([`missing`]), and fail where `CI`
//! is set. dockerd runs as root only; tests run as another user are skipped, with `CI` set too.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::packer::{in_ci, skipped};
use crate::process::{free_port, kill, processes};

const DOCKERD: &str = "/usr/sbin/dockerd";
const CONTAINERD: &str = "/usr/bin/containerd";
const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
/// The PATH the daemons run with: Debian's directories only, where containerd finds its shim and the
/// shim finds runc. (No `/usr/local`: a newer runc there would not be Debian's.)
const DAEMON_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// How long a fresh daemon or registry may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopped dockerd may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a killed process may take to be gone.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call of the daemon's or the registry's HTTP API may take.
const API_TIMEOUT: Duration = Duration::from_secs(60);

const DOCKER_HINT: &str =
    "Debian's `docker.io` (dockerd, containerd, runc; `cargo xtask setup` installs it)";
const REGISTRY_HINT: &str = "Debian's `docker-registry` (`cargo xtask setup` installs it)";
const BUSYBOX_HINT: &str = "Debian's `busybox-static`, which replaces `busybox` \
     (`apt-get install busybox-static`; `cargo xtask setup` installs it)";

/// What this machine lacks to run [`Dockerd`] and make its [`base_image`], or None when nothing is
/// missing.
pub fn missing() -> Option<String> {
    missing_daemon().or_else(|| static_busybox().err())
}

/// What is missing to start dockerd itself.
fn missing_daemon() -> Option<String> {
    if !is_root() {
        return Some("dockerd runs as root only, and this process does not".to_string());
    }
    let absent: Vec<String> = [DOCKERD, CONTAINERD]
        .into_iter()
        .map(PathBuf::from)
        .chain(
            ["containerd-shim-runc-v2", "runc"]
                .into_iter()
                .map(|name| daemon_program(name).unwrap_or_else(|| PathBuf::from(name))),
        )
        .filter(|path| !path.is_file())
        .map(|path| format!("`{}`", path.display()))
        .collect();
    (!absent.is_empty()).then(|| format!("{} missing: install {DOCKER_HINT}", absent.join(", ")))
}

/// How to start a daemon; `Default` is what a test wants.
#[derive(Clone, Debug, Default)]
pub struct DockerdOptions {
    /// Runs dockerd and its containerd in a process group of their own, so a Ctrl-C in the terminal
    /// that started them does not reach them: for a daemon that is to outlive its starter
    /// ([`Dockerd::detach`]).
    pub own_process_group: bool,
}

/// A private Docker daemon; see the module. Its directory (`/tmp/imgs-dk-XXXXXX`, short: unix socket
/// paths are limited to 108 bytes) holds:
///
/// - `docker.sock`, `docker.pid`, `daemon.json`, `dockerd.log`;
/// - `data/` and `exec/`: dockerd's data and exec roots;
/// - `containerd/`: containerd's config, socket, log, root and state;
/// - `client/`: the `DOCKER_CONFIG` of [`Dockerd::docker`], so no user's `~/.docker` is read.
///
/// Containers' cgroups go under `/imgs-dk-XXXXXX` in every hierarchy, removed with the daemon.
pub struct Dockerd {
    dir: PathBuf,
    dockerd: Option<Child>,
    containerd: Option<Child>,
    detached: bool,
}

/// A daemon left running on purpose (`cargo xtask env up`): whoever detached it stops it with
/// [`DetachedDockerd::stop`].
#[derive(Clone, Debug)]
pub struct DetachedDockerd {
    pub pid: u32,
    pub containerd_pid: u32,
    /// Its directory; see [`Dockerd`].
    pub dir: PathBuf,
}

impl Dockerd {
    /// Starts a daemon and waits until it answers.
    pub fn start() -> Result<Dockerd, String> {
        Dockerd::start_with(&DockerdOptions::default())
    }

    pub fn start_with(options: &DockerdOptions) -> Result<Dockerd, String> {
        if let Some(why) = missing_daemon() {
            return Err(why);
        }
        let dir = tempfile::Builder::new()
            .prefix("imgs-dk-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("cannot create a directory for dockerd in /tmp: {e}"))?
            .keep();
        // From here on the value owns the directory: an error drops it, which stops whatever started
        // and removes the directory.
        let mut daemon = Dockerd {
            dir,
            dockerd: None,
            containerd: None,
            detached: false,
        };
        daemon
            .launch(options)
            .map_err(|why| format!("dockerd did not start: {why}\n{}", daemon.log_tails()))?;
        Ok(daemon)
    }

    /// A daemon for the test `what`, or None when this machine cannot run one and the test is to be
    /// skipped (see [`missing`]).
    ///
    /// # Panics
    /// When something is missing and `CI` is set, or when the daemon does not start.
    pub fn start_for(what: &str) -> Option<Dockerd> {
        if let Some(why) = missing() {
            // Root is no package CI could install: without it the tests are skipped even there.
            assert!(
                !in_ci() || !is_root(),
                "Docker is missing, and CI is set: {what} needs it: {why}"
            );
            skipped(&format!("{what}: {why} (with CI set, this fails)"));
            return None;
        }
        Some(Dockerd::start().unwrap_or_else(|why| panic!("{what}: {why}")))
    }

    fn launch(&mut self, options: &DockerdOptions) -> Result<(), String> {
        let dir = self.dir.clone();
        for sub in ["containerd", "client"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| format!("cannot create {}: {e}", dir.join(sub).display()))?;
        }
        write(
            &dir.join("containerd/config.toml"),
            &containerd_config(&dir),
        )?;
        write(
            &dir.join("daemon.json"),
            &serde_json::json!({
                // Its identity key; by default in /etc/docker, shared by every daemon.
                "deprecated-key-path": dir.join("key.json"),
            })
            .to_string(),
        )?;
        let deadline = Instant::now() + START_TIMEOUT;

        let mut containerd = Command::new(CONTAINERD);
        containerd
            .arg("--config")
            .arg(dir.join("containerd/config.toml"));
        let containerd = self.containerd.insert(spawn_daemon(
            containerd,
            &dir.join("containerd/containerd.log"),
            options,
        )?);
        // dockerd started before containerd listens would wait out gRPC's reconnection backoff.
        let containerd_socket = dir.join("containerd/containerd.sock");
        wait_until(containerd, "containerd", deadline, || {
            UnixStream::connect(&containerd_socket).is_ok()
        })?;

        let mut dockerd = Command::new(DOCKERD);
        dockerd
            .arg("--containerd")
            .arg(&containerd_socket)
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args([
                // Loopback only: no docker0 bridge, no NAT, nothing written to iptables or to the
                // host's sysctls.
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                // Running containers are stopped before dockerd is (see `stop_daemons`).
                "--shutdown-timeout=1",
                "--log-level=warn",
            ])
            .arg("--cgroup-parent")
            .arg(format!("/{}", cgroup_name(&dir)));
        let dockerd =
            self.dockerd
                .insert(spawn_daemon(dockerd, &dir.join("dockerd.log"), options)?);
        let socket = dir.join("docker.sock");
        wait_until(
            dockerd,
            "dockerd",
            deadline,
            || matches!(api(&socket, "GET", "/_ping", None, b""), Ok((200, body)) if body == b"OK"),
        )
    }

    /// The last lines of dockerd's and containerd's logs.
    fn log_tails(&self) -> String {
        ["dockerd.log", "containerd/containerd.log"]
            .iter()
            .map(|log| {
                let text = std::fs::read_to_string(self.dir.join(log)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                format!("{log}:\n{tail}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The value of `DOCKER_HOST` that reaches this daemon: `unix:///tmp/imgs-dk-…/docker.sock`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The daemon's API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// dockerd's PID.
    pub fn pid(&self) -> u32 {
        self.dockerd.as_ref().map_or(0, Child::id)
    }

    /// The PID of the containerd this daemon runs on.
    pub fn containerd_pid(&self) -> u32 {
        self.containerd.as_ref().map_or(0, Child::id)
    }

    /// The daemon's directory; see [`Dockerd`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The variables a Docker client (the `docker` CLI, Packer, imgs) needs to reach this daemon and
    /// nothing else: `DOCKER_HOST`, and `DOCKER_CONFIG` (a directory of the daemon's, so no user's
    /// `~/.docker` — contexts, credential helpers — is read).
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("DOCKER_HOST", self.host()),
            (
                "DOCKER_CONFIG",
                self.dir.join("client").display().to_string(),
            ),
        ]
    }

    /// The variables that would make a client reach another daemon than [`Dockerd::env`] says, or pin
    /// its API version: a command given `env` should also lose these.
    pub const CLIENT_ENV_REMOVED: [&'static str; 4] = [
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_API_VERSION",
    ];

    /// The `docker` CLI on PATH, talking to this daemon ([`Dockerd::env`]). It may be newer than the
    /// daemon: the client negotiates the API version (20.10 speaks 1.41).
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.envs(self.env());
        for name in Self::CLIENT_ENV_REMOVED {
            cmd.env_remove(name);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `docker ARGS` ([`Dockerd::docker`]); its stdout, or an error with its stderr.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .docker()
            .args(args)
            .output()
            .map_err(|e| format!("cannot run the docker CLI: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "`docker {}` failed with {}: {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr).trim_end()
            ))
        }
    }

    /// A GET of the Docker Engine API (`/containers/json`, …) that must answer 200; its JSON.
    pub fn get(&self, path: &str) -> Result<serde_json::Value, String> {
        let (status, body) = api(&self.socket(), "GET", path, None, b"")?;
        if status != 200 {
            return Err(format!(
                "dockerd answered GET {path} with {status}: {}",
                String::from_utf8_lossy(&body).trim_end()
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {path} gave no JSON: {e}"))
    }

    /// The full IDs of every container, running or not.
    pub fn containers(&self) -> Result<Vec<String>, String> {
        let listed = self.get("/containers/json?all=1")?;
        Ok(listed
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Id"].as_str().map(str::to_string))
            .collect())
    }

    /// The images, as `docker images` lists them (no intermediate ones).
    pub fn images(&self) -> Result<Vec<Image>, String> {
        let listed = self.get("/images/json")?;
        Ok(listed
            .as_array()
            .into_iter()
            .flatten()
            .map(|image| Image {
                id: image["Id"].as_str().unwrap_or_default().to_string(),
                tags: image["RepoTags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str())
                    // What an untagged image lists.
                    .filter(|t| *t != "<none>:<none>")
                    .map(str::to_string)
                    .collect(),
            })
            .collect())
    }

    /// The ID (`sha256:…`) of the image `reference` (a name, `name:tag` or ID) names, or None when
    /// the daemon has no such image.
    pub fn image_id(&self, reference: &str) -> Result<Option<String>, String> {
        let path = format!("/images/{reference}/json");
        let (status, body) = api(&self.socket(), "GET", &path, None, b"")?;
        match status {
            200 => {
                let image: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| format!("GET {path} gave no JSON: {e}"))?;
                Ok(image["Id"].as_str().map(str::to_string))
            }
            404 => Ok(None),
            _ => Err(format!(
                "dockerd answered GET {path} with {status}: {}",
                String::from_utf8_lossy(&body).trim_end()
            )),
        }
    }

    /// Lets the daemon outlive this value (and this process): nothing is stopped or removed on drop.
    /// A daemon to detach should run in a process group of its own ([`DockerdOptions`]).
    pub fn detach(mut self) -> DetachedDockerd {
        self.detached = true;
        DetachedDockerd {
            pid: self.pid(),
            containerd_pid: self.containerd_pid(),
            dir: self.dir.clone(),
        }
    }
}

impl DetachedDockerd {
    /// The value of `DOCKER_HOST` that reaches it.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    /// Stops it as dropping a [`Dockerd`] would. PIDs whose command line no longer names its
    /// directory (ended, or reused since) are left alone.
    pub fn stop(&self) {
        stop_daemons(&self.dir, self.pid, self.containerd_pid);
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        stop_daemons(&self.dir, self.pid(), self.containerd_pid());
        for child in [&mut self.dockerd, &mut self.containerd]
            .into_iter()
            .flatten()
        {
            // Both have exited by now: this reaps them.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One image a daemon has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// `sha256:…`
    pub id: String,
    /// `name:tag`, none for an untagged image.
    pub tags: Vec<String>,
}

/// `name` in [`DAEMON_PATH`].
fn daemon_program(name: &str) -> Option<PathBuf> {
    std::env::split_paths(DAEMON_PATH)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn containerd_config(dir: &Path) -> String {
    let path = |sub: &str| dir.join("containerd").join(sub).display().to_string();
    // Every path containerd would otherwise take from the host (/var/lib/containerd, /run/containerd,
    // /opt/containerd) is in the daemon's directory. The CRI plugin (Kubernetes) is not wanted.
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{socket}"

[debug]
  address = "{debug}"
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{runc}"
"#,
        root = path("root"),
        state = path("state"),
        socket = path("containerd.sock"),
        debug = path("debug.sock"),
        opt = path("opt"),
        runc = path("runc"),
    )
}

/// The name of the cgroup the daemon's containers go under: its directory's name.
fn cgroup_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Starts a daemon with nothing of this process's environment but [`DAEMON_PATH`] (no proxies, no
/// `DOCKER_*` or `REGISTRY_*` settings), its output in `log`.
fn spawn_daemon(mut cmd: Command, log: &Path, options: &DockerdOptions) -> Result<Child, String> {
    let file =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let copy = file
        .try_clone()
        .map_err(|e| format!("cannot share {}: {e}", log.display()))?;
    cmd.env_clear()
        .env("PATH", DAEMON_PATH)
        .stdin(Stdio::null())
        .stdout(copy)
        .stderr(file);
    if options.own_process_group {
        cmd.process_group(0);
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))
}

/// Polls `ready` until it holds, `child` exits, or `deadline` passes.
fn wait_until(
    child: &mut Child,
    name: &str,
    deadline: Instant,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{name} exited with {status}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("{name} did not answer within {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Stops a daemon and everything it started, then removes what it left: its running containers are
/// stopped through the API (else dockerd would give each its stop timeout, 10 s); dockerd gets
/// SIGTERM, and SIGKILL after [`STOP_TIMEOUT`]; containerd, with nothing left to keep, SIGKILL (a
/// SIGTERM costs it two seconds); then any process still naming the directory (a shim, whose
/// containerd-shim-runc-v2 is no child of containerd's) is killed with its descendants (the
/// containers' processes), what is still mounted under the directory is unmounted, the containers'
/// cgroups removed, and the directory with them. PIDs whose command line does not name the directory
/// are left alone.
fn stop_daemons(dir: &Path, dockerd: u32, containerd: u32) {
    let socket = dir.join("docker.sock");
    if names(dockerd, dir) {
        stop_containers(&socket);
        signal(dockerd, "TERM");
        if !wait_gone(dockerd, STOP_TIMEOUT) {
            kill(dockerd);
            wait_gone(dockerd, KILL_TIMEOUT);
        }
    }
    if names(containerd, dir) {
        kill(containerd);
        wait_gone(containerd, KILL_TIMEOUT);
    }
    kill_processes_naming(dir);
    unmount_under(dir);
    remove_cgroups(dir);
    let _ = std::fs::remove_dir_all(dir);
}

/// Stops the running containers at once (`docker stop -t 0`); errors are ignored, this is cleanup.
fn stop_containers(socket: &Path) {
    let Ok((200, body)) = api(socket, "GET", "/containers/json", None, b"") else {
        return;
    };
    let running: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    for id in running
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Id"].as_str())
    {
        let _ = api(
            socket,
            "POST",
            &format!("/containers/{id}/stop?t=0"),
            None,
            b"",
        );
    }
}

/// Whether process `pid` runs with `dir` in its command line (an exited one has none).
fn names(pid: u32, dir: &Path) -> bool {
    pid != 0
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&*dir.to_string_lossy()))
}

fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Whether `pid` has exited (an exited child not yet reaped counts) within `timeout`.
fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let started = Instant::now();
    loop {
        if !is_running(pid) {
            return true;
        }
        if started.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold either.
    stat.rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next())
        .is_some_and(|state| state != "Z")
}

/// Kills every running process whose command line names `dir`, with its descendants, children first;
/// again until none is left (a shim may start one meanwhile), and waits for them to be gone.
fn kill_processes_naming(dir: &Path) {
    let needle = format!("{}/", dir.display());
    let me = std::process::id();
    for _ in 0..3 {
        let all = processes();
        let mut doomed: Vec<u32> = all
            .iter()
            .filter(|p| p.is_running() && p.pid != me && p.cmdline.contains(&needle))
            .map(|p| p.pid)
            .collect();
        if doomed.is_empty() {
            return;
        }
        // Breadth first: each generation after its parents; killed in reverse.
        let mut next = 0;
        while next < doomed.len() {
            let parent = doomed[next];
            let children: Vec<u32> = all
                .iter()
                .filter(|p| p.parent == parent && p.is_running() && !doomed.contains(&p.pid))
                .map(|p| p.pid)
                .collect();
            doomed.extend(children);
            next += 1;
        }
        for pid in doomed.iter().rev() {
            kill(*pid);
        }
        for pid in &doomed {
            wait_gone(*pid, KILL_TIMEOUT);
        }
    }
}

/// The lines of /proc/self/mountinfo: (mount point, filesystem type).
fn mounts() -> Vec<(String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let point = line.split(' ').nth(4)?;
            let fstype = line.split(" - ").nth(1)?.split(' ').next()?;
            Some((unescape_mount_path(point), fstype.to_string()))
        })
        .collect()
}

/// A mountinfo path with its octal escapes (`\040` for a space, …) decoded.
fn unescape_mount_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 4) {
            Some([b'\\', digits @ ..]) => std::str::from_utf8(digits)
                .ok()
                .and_then(|digits| u8::from_str_radix(digits, 8).ok()),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts everything mounted at or under `dir` (overlays of containers dockerd did not clean up,
/// its data root's bind mount), the latest first; lazily where a plain unmount fails.
fn unmount_under(dir: &Path) {
    let dir = dir.display().to_string();
    let under = format!("{dir}/");
    for (point, _) in mounts().into_iter().rev() {
        if point == dir || point.starts_with(&under) {
            let unmounted = Command::new("umount")
                .arg(&point)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !unmounted {
                let _ = Command::new("umount")
                    .args(["-l", &point])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// Removes the cgroup the daemon's containers went under ([`cgroup_name`]) from every hierarchy,
/// with any container cgroup left in it.
fn remove_cgroups(dir: &Path) {
    let name = cgroup_name(dir);
    if name.is_empty() {
        return;
    }
    for (point, fstype) in mounts() {
        if fstype == "cgroup" || fstype == "cgroup2" {
            remove_cgroup(&Path::new(&point).join(&name));
        }
    }
}

/// A cgroup holds control files that cannot be deleted: it goes with `rmdir` once its children have.
fn remove_cgroup(path: &Path) {
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&entry.path());
            }
        }
        let _ = std::fs::remove_dir(path);
    }
}

fn is_root() -> bool {
    // The effective UID: the second field of `Uid:`.
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// One call of the Docker Engine API on `socket`: the status and the body.
fn api(
    socket: &Path,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(API_TIMEOUT))
        .map_err(|e| e.to_string())?;
    http(stream, "docker", method, path, content_type, body)
}

/// One plain HTTP/1.0 exchange, enough for dockerd's and the registry's APIs without an HTTP client:
/// the status and the body.
fn http(
    mut stream: impl Read + Write,
    host: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("cannot send {method} {path}: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("no answer to {method} {path}: {e}"))?;
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no complete HTTP response to {method} {path}"))?;
    let status = String::from_utf8_lossy(&response[..end])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP status in the answer to {method} {path}"))?;
    Ok((status, response[end + 4..].to_vec()))
}

/// A query value, percent-encoded.
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How to start a registry; `Default` is what a test wants.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Runs the registry in a process group of its own ([`DockerdOptions::own_process_group`]).
    pub own_process_group: bool,
}

/// A private registry on a free loopback port; see the module. Its directory holds its config
/// (`config.yml`), its log (`registry.log`) and what it stores (`storage/`).
pub struct Registry {
    port: u16,
    dir: PathBuf,
    child: Child,
    detached: bool,
}

/// A registry left running on purpose ([`Registry::detach`]): whoever detached it stops it with
/// [`DetachedRegistry::stop`].
#[derive(Clone, Debug)]
pub struct DetachedRegistry {
    pub pid: u32,
    pub port: u16,
    pub dir: PathBuf,
}

impl Registry {
    /// Starts a registry and waits until it answers.
    pub fn start() -> Result<Registry, String> {
        Registry::start_with(&RegistryOptions::default())
    }

    pub fn start_with(options: &RegistryOptions) -> Result<Registry, String> {
        if !Path::new(DOCKER_REGISTRY).is_file() {
            return Err(format!(
                "{DOCKER_REGISTRY} is missing: install {REGISTRY_HINT}"
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("imgs-registry-")
            .tempdir()
            .map_err(|e| format!("cannot create a directory for the registry: {e}"))?;
        let config = dir.path().join("config.yml");
        let log = dir.path().join("registry.log");
        let mut last_error = String::new();
        // A port picked now may be taken by someone else before the registry binds it; then try
        // another.
        for _ in 0..3 {
            let port = free_port()?;
            write(&config, &registry_config(dir.path(), port))?;
            let mut cmd = Command::new(DOCKER_REGISTRY);
            cmd.arg("serve").arg(&config);
            let mut child = spawn_daemon(
                cmd,
                &log,
                &DockerdOptions {
                    own_process_group: options.own_process_group,
                },
            )?;
            let deadline = Instant::now() + START_TIMEOUT;
            let answered = wait_until(&mut child, "docker-registry", deadline, || {
                registry_get(port, "/v2/").is_ok_and(|(status, _)| status == 200)
            });
            match answered {
                Ok(()) => {
                    return Ok(Registry {
                        port,
                        // From here on the registry owns the directory and removes it on drop.
                        dir: dir.keep(),
                        child,
                        detached: false,
                    });
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let said = std::fs::read_to_string(&log).unwrap_or_default();
                    last_error = format!("{why}\nit said:\n{}", said.trim_end());
                }
            }
        }
        Err(format!("docker-registry did not start: {last_error}"))
    }

    /// A registry for the test `what`, or None when docker-registry is missing and the test is to
    /// be skipped.
    ///
    /// # Panics
    /// When it is missing and `CI` is set, or when it does not start.
    pub fn start_for(what: &str) -> Option<Registry> {
        if !Path::new(DOCKER_REGISTRY).is_file() {
            assert!(
                !in_ci(),
                "docker-registry is missing, and CI is set: {what} needs {REGISTRY_HINT}"
            );
            skipped(&format!(
                "{what}: docker-registry is missing; install {REGISTRY_HINT} (with CI set, this fails)"
            ));
            return None;
        }
        Some(Registry::start().unwrap_or_else(|why| panic!("{what}: {why}")))
    }

    /// `127.0.0.1:PORT`, the registry part of an image name that lives here.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its directory: config, log, and `storage/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The repositories it holds (`/v2/_catalog`).
    pub fn repositories(&self) -> Result<Vec<String>, String> {
        self.list("/v2/_catalog", "repositories")
    }

    /// The tags of `repository` (`/v2/NAME/tags/list`); none for a repository it does not hold.
    pub fn tags(&self, repository: &str) -> Result<Vec<String>, String> {
        let path = format!("/v2/{repository}/tags/list");
        match registry_get(self.port, &path)? {
            (404, _) => Ok(Vec::new()),
            _ => self.list(&path, "tags"),
        }
    }

    fn list(&self, path: &str, key: &str) -> Result<Vec<String>, String> {
        let (status, body) = registry_get(self.port, path)?;
        if status != 200 {
            return Err(format!(
                "the registry answered GET {path} with {status}: {}",
                String::from_utf8_lossy(&body).trim_end()
            ));
        }
        let listed: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("GET {path} gave no JSON: {e}"))?;
        Ok(listed[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }

    /// Lets the registry outlive this value (and this process): nothing is killed or removed on drop.
    pub fn detach(mut self) -> DetachedRegistry {
        self.detached = true;
        DetachedRegistry {
            pid: self.child.id(),
            port: self.port,
            dir: self.dir.clone(),
        }
    }
}

impl DetachedRegistry {
    /// Kills it, if its PID is still a registry serving from its directory, and removes the
    /// directory.
    pub fn stop(&self) {
        if names(self.pid, &self.dir) {
            kill(self.pid);
            wait_gone(self.pid, KILL_TIMEOUT);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn registry_config(dir: &Path, port: u16) -> String {
    format!(
        "version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  # Without one it makes up a secret and warns about it.
  secret: imgs-test-registry
",
        storage = dir.join("storage").display()
    )
}

fn registry_get(port: u16, path: &str) -> Result<(u16, Vec<u8>), String> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
    stream
        .set_read_timeout(Some(API_TIMEOUT))
        .map_err(|e| e.to_string())?;
    http(stream, &format!("127.0.0.1:{port}"), "GET", path, None, b"")
}

/// The changes `docker import --change` makes to the base image's config.
const BASE_IMAGE_CHANGES: &[&str] = &[
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    r#"CMD ["/bin/sh"]"#,
];

/// Imports the test base image into `docker` as `tag` (`imgs-test/busybox:1`; `latest` when it names
/// none) and returns its ID (`sha256:…`).
///
/// Its root filesystem: the static busybox at `/bin/busybox` with a symbolic link for each of its
/// applets where `busybox --install -s` puts them (`/bin/sh`, `/bin/ls`, `/usr/bin/env`, …);
/// `/etc/passwd` and `/etc/group` with `root` and the non-root `app` (uid and gid 1000, home
/// `/home/app`) — Packer's docker builder needs root in `/etc/passwd`; `/tmp` (1777), `/root`,
/// `/home/app`. The layer is the same bytes on every run and machine with the same busybox; the
/// image ID is not, as an import records its time. It is `docker import -` (the same API call,
/// without the CLI), with `PATH` set and `/bin/sh` as its command.
pub fn base_image(docker: &Dockerd, tag: &str) -> Result<String, String> {
    let rootfs = rootfs()?;
    let (repository, tag) = split_reference(tag);
    let mut path = format!(
        "/images/create?fromSrc=-&repo={}&tag={}",
        url_encode(repository),
        url_encode(tag)
    );
    for change in BASE_IMAGE_CHANGES {
        path.push_str(&format!("&changes={}", url_encode(change)));
    }
    let (status, body) = api(
        &docker.socket(),
        "POST",
        &path,
        Some("application/x-tar"),
        rootfs,
    )?;
    let body_text = String::from_utf8_lossy(&body);
    if status != 200 {
        return Err(format!(
            "dockerd refused the base image ({status}): {}",
            body_text.trim_end()
        ));
    }
    // A stream of JSON messages: `{"status":"sha256:…"}` at the end, or `{"error":…}`.
    let mut id = None;
    for message in serde_json::Deserializer::from_slice(&body).into_iter::<serde_json::Value>() {
        let message = message.map_err(|e| format!("dockerd's answer to the import: {e}"))?;
        if let Some(error) = message["error"].as_str() {
            return Err(format!("dockerd could not import the base image: {error}"));
        }
        if let Some(status) = message["status"]
            .as_str()
            .filter(|s| s.starts_with("sha256:"))
        {
            id = Some(status.to_string());
        }
    }
    id.ok_or_else(|| format!("dockerd named no image after the import: {body_text}"))
}

/// `name[:tag]` as (name, tag); the colon of a registry's port is not a tag's.
fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (reference, "latest"),
    }
}

/// The base image's root filesystem as a tar, made once per process.
fn rootfs() -> Result<&'static [u8], String> {
    static ROOTFS: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            let busybox = static_busybox()?;
            let binary = std::fs::read(&busybox)
                .map_err(|e| format!("cannot read {}: {e}", busybox.display()))?;
            Ok(rootfs_tar(&binary, &applets(&busybox)?))
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// A statically linked busybox: Debian's `busybox-static` installs one at `/bin/busybox`, where
/// `busybox` installs a dynamically linked one (which would need the host's C library in the image).
pub fn static_busybox() -> Result<PathBuf, String> {
    let mut dynamic = Vec::new();
    for candidate in ["/bin/busybox", "/usr/bin/busybox"] {
        let path = PathBuf::from(candidate);
        match std::fs::read(&path) {
            Ok(binary) if is_static_elf(&binary) => return Ok(path),
            Ok(_) => dynamic.push(candidate),
            Err(_) => {}
        }
    }
    Err(match dynamic.first() {
        Some(path) => format!(
            "{path} is dynamically linked (Debian's `busybox`), and the Docker tests' base image needs \
             a statically linked one: install {BUSYBOX_HINT}"
        ),
        None => format!(
            "there is no busybox, which the Docker tests' base image is made of: install {BUSYBOX_HINT}"
        ),
    })
}

/// Whether `binary` is a 64-bit little-endian ELF executable without a program interpreter (no
/// `PT_INTERP`): it runs without a dynamic loader, in an image that has none.
fn is_static_elf(binary: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| {
        binary
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |at: usize| {
        binary
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("eight bytes")))
    };
    // ELFCLASS64, ELFDATA2LSB.
    if binary.get(..6) != Some(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..usize::from(phnum)).all(|i| {
        let at = phoff as usize + i * usize::from(phentsize);
        binary
            .get(at..at + 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP)
    })
}

/// Where `busybox --install -s` would put each applet (`bin/sh`, `usr/bin/env`, …), from
/// `busybox --list-full`, sorted.
fn applets(busybox: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(busybox)
        .arg("--list-full")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", busybox.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} --list-full` failed with {}",
            busybox.display(),
            out.status
        ));
    }
    let mut applets: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.trim().trim_start_matches('/').to_string())
        .filter(|path| {
            !path.is_empty()
                && path.len() < 100
                && path != "bin/busybox"
                && !path.split('/').any(|part| part.is_empty() || part == "..")
        })
        .collect();
    applets.sort();
    applets.dedup();
    Ok(applets)
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      app:x:1000:1000:app:/home/app:/bin/sh\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n";

/// The base image's root filesystem (see [`base_image`]) as a tar: the same bytes for the same
/// busybox and applets.
fn rootfs_tar(busybox: &[u8], applets: &[String]) -> Vec<u8> {
    let mut dirs: Vec<(String, u32, u32)> = [
        ("bin", 0o755, 0),
        ("dev", 0o755, 0),
        ("etc", 0o755, 0),
        ("home", 0o755, 0),
        ("home/app", 0o755, 1000),
        ("proc", 0o555, 0),
        ("root", 0o700, 0),
        ("sys", 0o555, 0),
        ("tmp", 0o1777, 0),
        ("usr", 0o755, 0),
        ("var", 0o755, 0),
    ]
    .into_iter()
    .map(|(path, mode, owner)| (path.to_string(), mode, owner))
    .collect();
    for applet in applets {
        for dir in Path::new(applet).ancestors().skip(1) {
            let dir = dir.display().to_string();
            if !dir.is_empty() && !dirs.iter().any(|(d, _, _)| *d == dir) {
                dirs.push((dir, 0o755, 0));
            }
        }
    }
    dirs.sort();

    let mut tar = Vec::with_capacity(busybox.len() + 64 * 1024);
    for (dir, mode, owner) in &dirs {
        tar_entry(&mut tar, &format!("{dir}/"), *mode, *owner, b'5', "", b"");
    }
    tar_entry(&mut tar, "bin/busybox", 0o755, 0, b'0', "", busybox);
    tar_entry(&mut tar, "etc/group", 0o644, 0, b'0', "", GROUP.as_bytes());
    tar_entry(
        &mut tar,
        "etc/passwd",
        0o644,
        0,
        b'0',
        "",
        PASSWD.as_bytes(),
    );
    for applet in applets {
        tar_entry(&mut tar, applet, 0o777, 0, b'2', "/bin/busybox", b"");
    }
    // The end of the archive: two empty blocks.
    tar.extend_from_slice(&[0; 1024]);
    tar
}

/// The modification time of every entry of the base image: fixed, so that the tar is too.
const ROOTFS_MTIME: u64 = 1_577_836_800; // 2020-01-01

/// One ustar entry (header, then `data` padded to whole blocks), owned by `owner` (uid and gid).
fn tar_entry(
    tar: &mut Vec<u8>,
    name: &str,
    mode: u32,
    owner: u32,
    kind: u8,
    link: &str,
    data: &[u8],
) {
    fn octal(field: &mut [u8], value: u64) {
        let text = format!("{value:0width$o}\0", width = field.len() - 1);
        field.copy_from_slice(text.as_bytes());
    }
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut header[100..108], u64::from(mode));
    octal(&mut header[108..116], u64::from(owner));
    octal(&mut header[116..124], u64::from(owner));
    octal(&mut header[124..136], data.len() as u64);
    octal(&mut header[136..148], ROOTFS_MTIME);
    header[156] = kind;
    header[157..157 + link.len()].copy_from_slice(link.as_bytes());
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    // The checksum is taken with its own field as spaces, and written as six digits, NUL, space.
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    tar.extend_from_slice(&header);
    tar.extend_from_slice(data);
    tar.resize(tar.len().next_multiple_of(512), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "imgs-test/busybox:1";

    /// A daemon for the test `what` with the base image as [`TAG`], or None when skipped.
    fn daemon_with_base_image(what: &str) -> Option<Dockerd> {
        let docker = Dockerd::start_for(what)?;
        base_image(&docker, TAG).unwrap();
        Some(docker)
    }

    #[test]
    fn a_container_of_the_base_image_runs_as_root_with_loopback_only() {
        let Some(docker) = daemon_with_base_image("a container of the Docker base image") else {
            return;
        };
        assert_eq!(
            docker.cli(&["run", "--rm", TAG, "id"]).unwrap(),
            "uid=0(root) gid=0(root) groups=0(root)\n"
        );
        assert_eq!(
            docker
                .cli(&[
                    "run",
                    "--rm",
                    "--user",
                    "app",
                    TAG,
                    "sh",
                    "-c",
                    "id -u; whoami; echo $HOME; ls /sys/class/net"
                ])
                .unwrap(),
            "1000\napp\n/home/app\nlo\n"
        );
        // A container that exited is listed too.
        docker.cli(&["run", TAG, "true"]).unwrap();
        assert_eq!(docker.containers().unwrap().len(), 1);

        let images = docker.images().unwrap();
        assert_eq!(images.len(), 1, "{images:?}");
        assert_eq!(images[0].tags, [TAG]);
        assert_eq!(docker.image_id(TAG).unwrap(), Some(images[0].id.clone()));
        assert_eq!(docker.image_id("imgs-test/none:1").unwrap(), None);
    }

    #[test]
    fn the_base_image_has_the_applets_a_build_uses() {
        let Some(docker) = daemon_with_base_image("the Docker base image's applets") else {
            return;
        };
        let applets = "sh ls cat echo mkdir rm cp mv chmod chown tar id sleep test env uname touch grep sed \
                       head tail wc printf true false find stat ln dirname basename whoami hostname date \
                       md5sum sha256sum chgrp readlink xargs tr cut sort uniq";
        let script =
            format!("for a in {applets}; do command -v $a >/dev/null || echo missing $a; done");
        assert_eq!(
            docker
                .cli(&["run", "--rm", TAG, "sh", "-c", &script])
                .unwrap(),
            ""
        );
        assert_eq!(
            docker
                .cli(&[
                    "run",
                    "--rm",
                    TAG,
                    "stat",
                    "-c",
                    "%a %u",
                    "/tmp",
                    "/root",
                    "/home/app"
                ])
                .unwrap(),
            "1777 0\n700 0\n755 1000\n"
        );
    }

    #[test]
    fn two_daemons_run_side_by_side() {
        let what = "two Docker daemons at once";
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| daemon_with_base_image(what));
            let b = s.spawn(|| daemon_with_base_image(what));
            (a.join().unwrap(), b.join().unwrap())
        });
        let (Some(a), Some(b)) = (a, b) else {
            return;
        };
        assert_ne!(a.host(), b.host());
        // The same name in each: they share nothing.
        for docker in [&a, &b] {
            docker
                .cli(&["run", "-d", "--name", "sleeper", TAG, "sleep", "60"])
                .unwrap();
        }
        let (in_a, in_b) = (a.containers().unwrap(), b.containers().unwrap());
        assert_eq!((in_a.len(), in_b.len()), (1, 1));
        assert_ne!(in_a, in_b);
        assert_eq!(a.cli(&["exec", "sleeper", "echo", "a"]).unwrap(), "a\n");
        assert_eq!(b.cli(&["exec", "sleeper", "echo", "b"]).unwrap(), "b\n");
    }

    #[test]
    fn an_image_pushed_to_a_registry_is_pulled_by_another_daemon() {
        let what = "a push to the test registry and a pull from it";
        let Some(registry) = Registry::start_for(what) else {
            return;
        };
        let Some(pusher) = daemon_with_base_image(what) else {
            return;
        };
        let puller = Dockerd::start_for(what).unwrap();
        let remote = format!("{}/imgs-test/busybox:1", registry.address());
        pusher.cli(&["tag", TAG, &remote]).unwrap();
        // Plain HTTP, with no configuration: 127.0.0.0/8 is an insecure registry by default.
        pusher.cli(&["push", &remote]).unwrap();
        assert_eq!(registry.repositories().unwrap(), ["imgs-test/busybox"]);
        assert_eq!(registry.tags("imgs-test/busybox").unwrap(), ["1"]);
        assert_eq!(
            registry.tags("imgs-test/none").unwrap(),
            Vec::<String>::new()
        );

        puller.cli(&["pull", &remote]).unwrap();
        assert_eq!(
            puller.image_id(&remote).unwrap(),
            pusher.image_id(TAG).unwrap()
        );
        assert_eq!(
            puller
                .cli(&["run", "--rm", &remote, "cat", "/etc/passwd"])
                .unwrap(),
            PASSWD
        );
    }

    #[test]
    fn nothing_of_a_dropped_daemon_remains() {
        let Some(docker) = daemon_with_base_image("stopping a Docker daemon") else {
            return;
        };
        docker.cli(&["run", "-d", TAG, "sleep", "1000"]).unwrap();
        let dir = docker.dir().to_path_buf();
        let needle = format!("{}/", dir.display());
        let all = processes();
        let naming: Vec<&crate::process::Process> =
            all.iter().filter(|p| p.cmdline.contains(&needle)).collect();
        let shims: Vec<u32> = naming
            .iter()
            .filter(|p| p.cmdline.contains("containerd-shim"))
            .map(|p| p.pid)
            .collect();
        let sleeper: Vec<u32> = all
            .iter()
            .filter(|p| shims.contains(&p.parent) && p.cmdline == "sleep 1000")
            .map(|p| p.pid)
            .collect();
        assert_eq!((shims.len(), sleeper.len()), (1, 1), "{naming:?}");
        let pids: Vec<u32> = [docker.pid(), docker.containerd_pid()]
            .into_iter()
            .chain(shims)
            .chain(sleeper)
            .collect();
        assert!(pids.iter().all(|pid| is_running(*pid)), "{pids:?}");

        let started = Instant::now();
        drop(docker);
        let stopped_in = started.elapsed();
        let left: Vec<u32> = pids.into_iter().filter(|pid| is_running(*pid)).collect();
        assert!(left.is_empty(), "still running: {left:?}");
        assert!(!dir.exists(), "{} is left", dir.display());
        let dir_text = dir.display().to_string();
        assert!(
            !mounts()
                .iter()
                .any(|(point, _)| point.starts_with(&dir_text)),
            "mounts are left under {dir_text}"
        );
        let cgroup = cgroup_name(&dir);
        let cgroups: Vec<String> = mounts()
            .into_iter()
            .filter(|(_, fstype)| fstype.starts_with("cgroup"))
            .map(|(point, _)| format!("{point}/{cgroup}"))
            .filter(|path| Path::new(path).exists())
            .collect();
        assert!(cgroups.is_empty(), "cgroups are left: {cgroups:?}");
        assert!(stopped_in < Duration::from_secs(10), "{stopped_in:?}");
    }

    #[test]
    fn a_dropped_registry_leaves_nothing() {
        let Some(registry) = Registry::start_for("stopping the test registry") else {
            return;
        };
        assert_eq!(registry.repositories().unwrap(), Vec::<String>::new());
        let (pid, dir) = (registry.pid(), registry.dir().to_path_buf());
        drop(registry);
        assert!(!is_running(pid));
        assert!(!dir.exists());
    }

    #[test]
    fn the_root_filesystem_is_the_same_tar_every_time() {
        let applets = ["bin/sh".to_string(), "usr/bin/env".to_string()];
        let tar = rootfs_tar(b"#!busybox", &applets);
        assert_eq!(tar, rootfs_tar(b"#!busybox", &applets));
        assert_eq!(tar.len() % 512, 0);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rootfs.tar");
        std::fs::write(&file, &tar).unwrap();
        let out = Command::new("tar")
            .args(["--numeric-owner", "-tvf"])
            .arg(&file)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            // Mode, owner and name; sizes and dates aside.
            .map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                format!("{} {} {}", fields[0], fields[1], fields[5..].join(" "))
            })
            .collect();
        assert_eq!(
            listing,
            [
                "drwxr-xr-x 0/0 bin/",
                "drwxr-xr-x 0/0 dev/",
                "drwxr-xr-x 0/0 etc/",
                "drwxr-xr-x 0/0 home/",
                "drwxr-xr-x 1000/1000 home/app/",
                "dr-xr-xr-x 0/0 proc/",
                "drwx------ 0/0 root/",
                "dr-xr-xr-x 0/0 sys/",
                "drwxrwxrwt 0/0 tmp/",
                "drwxr-xr-x 0/0 usr/",
                "drwxr-xr-x 0/0 usr/bin/",
                "drwxr-xr-x 0/0 var/",
                "-rwxr-xr-x 0/0 bin/busybox",
                "-rw-r--r-- 0/0 etc/group",
                "-rw-r--r-- 0/0 etc/passwd",
                "lrwxrwxrwx 0/0 bin/sh -> /bin/busybox",
                "lrwxrwxrwx 0/0 usr/bin/env -> /bin/busybox",
            ]
        );
    }

    #[test]
    fn static_and_dynamic_executables_are_told_apart() {
        // An ELF header whose program headers (none) name no interpreter.
        let mut header = vec![0u8; 64];
        header[..6].copy_from_slice(b"\x7fELF\x02\x01");
        assert!(is_static_elf(&header));
        // This test binary is linked dynamically.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&me));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        assert!(!is_static_elf(&header[..10]));
    }

    #[test]
    fn references_split_into_name_and_tag() {
        assert_eq!(
            split_reference("imgs-test/busybox:1"),
            ("imgs-test/busybox", "1")
        );
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(
            split_reference("127.0.0.1:5000/busybox"),
            ("127.0.0.1:5000/busybox", "latest")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/busybox:2"),
            ("127.0.0.1:5000/busybox", "2")
        );
    }

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape_mount_path("/tmp/a\\040b\\011c"), "/tmp/a b\tc");
        assert_eq!(unescape_mount_path("/plain\\"), "/plain\\");
    }
}
