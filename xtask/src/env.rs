//! `cargo xtask env up|down|status`: the test peers as long-running servers on loopback, for trying
//! imgs by hand (the `examples/aws` and `examples/docker` workspaces) and for the benchmarks: an EC2
//! API server (moto), an OpenSSH server that stands in for the instances moto only pretends to run,
//! and (as root, which dockerd needs) a Docker daemon with the offline base image and a registry.
//!
//! `up` starts both on free ports, writes their addresses and PIDs to `target/imgs-env/env.json`, and
//! prints the environment variables the example templates read (also written to `env.sh`, for
//! `. target/imgs-env/env.sh`). `down` stops exactly those PIDs. The test suite does not use these
//! servers: each test starts its own peers, so tests never see each other's instances or images.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use imgs_test_peers::docker::{
    self, DetachedDockerd, DetachedRegistry, Dockerd, DockerdOptions, Registry, RegistryOptions,
};
use imgs_test_peers::moto::{MotoOptions, TestMoto};
use imgs_test_peers::sshd::TestSshd;
use serde_json::{Value, json};

use crate::{repo_root, setup};

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("up") => up(),
        Some("down") => down(),
        Some("status") | None => status(),
        Some(other) => bail!("unknown `env` action `{other}`: use up, down or status"),
    }
}

fn state_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("imgs-env")
}

fn state_file() -> PathBuf {
    state_dir().join("env.json")
}

fn up() -> Result<()> {
    setup::install_test_peers()?;
    if let Some(state) = read_state()? {
        if running(&state) {
            eprintln!("the test peers are already running");
            print_exports(&state);
            return Ok(());
        }
        // Left from a machine restart or a kill: forget it.
        stop(&state);
    }
    let dir = state_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let sshd = TestSshd::start().map_err(anyhow::Error::msg)?.detach();
    // moto in a process group of its own, so a Ctrl-C in the terminal that ran `up` does not stop
    // it later; its log beside the state file.
    let moto = TestMoto::start_with(&MotoOptions {
        log: Some(dir.join("moto.log")),
        own_process_group: true,
    });
    let moto = match moto {
        Ok(moto) => moto.detach(),
        Err(why) => {
            kill(sshd.pid);
            bail!("{why}");
        }
    };
    let docker = match start_docker() {
        Ok(docker) => docker,
        Err(why) => {
            kill(sshd.pid);
            kill(moto.pid);
            bail!("{why}");
        }
    };
    let moto_port = moto.port;
    let mut state = json!({
        "ec2_endpoint": format!("http://127.0.0.1:{moto_port}"),
        "moto_pid": moto.pid,
        "sshd_pid": sshd.pid,
        "sshd_dir": sshd.dir,
        "ssh_host": "127.0.0.1",
        "ssh_port": sshd.port,
        "ssh_username": sshd.user,
        "ssh_private_key_file": sshd.client_key,
    });
    let mut started = format!(
        "EC2 API (moto) on {}, sshd on 127.0.0.1:{}",
        state["ec2_endpoint"].as_str().unwrap_or_default(),
        sshd.port
    );
    if let Some((daemon, registry)) = &docker {
        let docker_state = json!({
            "docker_host": daemon.host(),
            "dockerd_pid": daemon.pid,
            "containerd_pid": daemon.containerd_pid,
            "docker_dir": daemon.dir,
            "docker_base_image": DOCKER_BASE_IMAGE,
            "registry": format!("127.0.0.1:{}", registry.port),
            "registry_pid": registry.pid,
            "registry_dir": registry.dir,
        });
        if let (Value::Object(state), Value::Object(docker)) = (&mut state, docker_state) {
            state.extend(docker);
        }
        started.push_str(&format!(
            ", dockerd on {} with {DOCKER_BASE_IMAGE}, a registry on 127.0.0.1:{}",
            daemon.host(),
            registry.port
        ));
    }
    std::fs::write(state_file(), serde_json::to_string_pretty(&state)? + "\n")?;
    std::fs::write(dir.join("env.sh"), exports(&state))?;
    eprintln!("{started}; `cargo xtask env down` stops them");
    print_exports(&state);
    Ok(())
}

/// The tag of the offline base image (a static busybox) imported into the daemon.
const DOCKER_BASE_IMAGE: &str = "imgs-test/busybox:1";

/// A Docker daemon, in a process group of its own (a Ctrl-C in the terminal that ran `up` must not
/// stop it later), with the base image imported, and a registry; None, with a note, where dockerd
/// cannot run (it needs root).
fn start_docker() -> Result<Option<(DetachedDockerd, DetachedRegistry)>> {
    if let Some(why) = docker::missing() {
        eprintln!("note: no Docker daemon and registry: {why}");
        return Ok(None);
    }
    let daemon = Dockerd::start_with(&DockerdOptions {
        own_process_group: true,
    })
    .map_err(anyhow::Error::msg)?;
    docker::base_image(&daemon, DOCKER_BASE_IMAGE).map_err(anyhow::Error::msg)?;
    // A failure here drops the daemon, which stops it.
    let registry = Registry::start_with(&RegistryOptions {
        own_process_group: true,
    })
    .map_err(anyhow::Error::msg)?;
    Ok(Some((daemon.detach(), registry.detach())))
}

fn down() -> Result<()> {
    match read_state()? {
        Some(state) => {
            stop(&state);
            eprintln!("stopped the test peers");
        }
        None => eprintln!("no test peers are running"),
    }
    Ok(())
}

fn status() -> Result<()> {
    match read_state()? {
        Some(state) if running(&state) => print_exports(&state),
        _ => eprintln!("no test peers are running (`cargo xtask env up` starts them)"),
    }
    Ok(())
}

fn read_state() -> Result<Option<Value>> {
    match std::fs::read_to_string(state_file()) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is not JSON; remove it", state_file().display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", state_file().display())),
    }
}

/// The PIDs `up` started, each with a word its command line holds; Docker's only when `up` started
/// them.
fn pids(state: &Value) -> Vec<(u32, &'static str)> {
    let pid = |key: &str| state[key].as_u64().unwrap_or(0) as u32;
    let mut pids = vec![(pid("moto_pid"), "moto"), (pid("sshd_pid"), "sshd")];
    if state.get("dockerd_pid").is_some() {
        pids.extend([
            (pid("dockerd_pid"), "dockerd"),
            (pid("containerd_pid"), "containerd"),
            (pid("registry_pid"), "docker-registry"),
        ]);
    }
    pids
}

fn detached_docker(state: &Value) -> Option<(DetachedDockerd, DetachedRegistry)> {
    let pid = |key: &str| state[key].as_u64().unwrap_or(0) as u32;
    let dir = |key: &str| state[key].as_str().map(PathBuf::from);
    let daemon = DetachedDockerd {
        pid: pid("dockerd_pid"),
        containerd_pid: pid("containerd_pid"),
        dir: dir("docker_dir")?,
    };
    let registry = DetachedRegistry {
        pid: pid("registry_pid"),
        port: state["registry"]
            .as_str()
            .and_then(|a| a.rsplit_once(':'))
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(0),
        dir: dir("registry_dir")?,
    };
    Some((daemon, registry))
}

fn running(state: &Value) -> bool {
    pids(state).iter().all(|(pid, name)| is_ours(*pid, name))
}

/// Whether `pid` is still the process we started: its command line names it (a PID may be reused).
fn is_ours(pid: u32, name: &str) -> bool {
    pid != 0
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(name))
            .unwrap_or(false)
}

fn stop(state: &Value) {
    // Each checks that its PIDs still name its directory, then stops the daemon, its containerd and
    // containers, and removes what they left.
    if let Some((daemon, registry)) = detached_docker(state) {
        daemon.stop();
        registry.stop();
    }
    for (pid, name) in pids(state) {
        if is_ours(pid, name) {
            kill(pid);
        }
    }
    if let Some(dir) = state["sshd_dir"].as_str() {
        let _ = std::fs::remove_dir_all(dir);
    }
    let _ = std::fs::remove_file(state_file());
    let _ = std::fs::remove_file(state_dir().join("env.sh"));
}

fn kill(pid: u32) {
    let _ = Command::new("kill")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// The variables `examples/aws` reads: where the EC2 API is, and the SSH server standing in for the
/// instance (moto starts no machine); and those `examples/docker` reads, when `up` started Docker's
/// peers: the daemon, the registry to push to, and the image to start from.
fn exports(state: &Value) -> String {
    let text = |key: &str| match &state[key] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let docker = if state.get("docker_host").is_some() {
        vec![
            ("DOCKER_HOST", text("docker_host")),
            ("IMGS_REGISTRY", text("registry")),
            ("IMGS_DOCKER_BASE", text("docker_base_image")),
        ]
    } else {
        Vec::new()
    };
    [
        ("IMGS_EC2_ENDPOINT", text("ec2_endpoint")),
        ("IMGS_SSH_HOST", text("ssh_host")),
        ("IMGS_SSH_PORT", text("ssh_port")),
        ("IMGS_SSH_USERNAME", text("ssh_username")),
        ("IMGS_SSH_PRIVATE_KEY_FILE", text("ssh_private_key_file")),
        // moto accepts any credentials; the SDK wants some.
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
    ]
    .into_iter()
    .chain(docker)
    .map(|(k, v)| format!("export {k}={v}\n"))
    .collect()
}

fn print_exports(state: &Value) {
    print!("{}", exports(state));
}
