//! Ctrl-C and kills during amazon-ebs builds, against moto and a real sshd on loopback: a signal at
//! several points of a running build, then what is left on EC2 and in the cache.
//!
//! Signals need a process of its own. The child is this test binary run again as imgs: the
//! `imgs_as_child` entry point calls `imgs::run_live` exactly as the `imgs` binary's main does (the
//! tests crate cannot name the binary's path, and a prebuilt one could be stale). Where the build is
//! comes from its `--message-format json` events.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use imgs_aws::sdk::types::{Filter, InstanceStateName};
use imgs_cache::Cache;
use support::ebs::{Peers, REGION};
use support::*;

const KEY_PAIR: &str = "imgs-interrupt-key";
/// Set in the child: the directory imgs runs in. Its arguments follow in `CHILD_ARGS`, one a line.
const CHILD_DIR: &str = "IMGS_TEST_CHILD_DIR";
const CHILD_ARGS: &str = "IMGS_TEST_CHILD_ARGS";
/// How long a test waits for the build to reach a point before giving up: a guard against hanging,
/// not a measurement.
const PATIENCE: Duration = Duration::from_secs(180);

/// Not a test: the child process's main (does nothing unless started by [`Running::start`]).
#[test]
fn imgs_as_child() {
    use std::io::Write;
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let args = std::env::var(CHILD_ARGS).unwrap();
    let outcome = imgs::run_live(
        std::iter::once("imgs")
            .chain(args.lines())
            .map(Into::into)
            .collect::<Vec<std::ffi::OsString>>(),
        dir.into(),
    );
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = std::io::stderr().write_all(outcome.stderr.as_bytes());
    let _ = std::io::stdout().flush();
    std::process::exit(i32::from(outcome.code));
}

/// A running `imgs` child; killed (by its PID) if a test ends before it does.
struct Running {
    child: std::process::Child,
    /// Its stdout's JSON event lines, and then its stderr's lines, as they come.
    events: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(dir: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "imgs_as_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir)
            .env(CHILD_ARGS, args.join("\n"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Running {
            events: lines(child.stdout.take().unwrap(), true),
            stderr: lines(child.stderr.take().unwrap(), false),
            child,
            seen: Vec::new(),
        }
    }

    /// Waits for an event with `kind` whose line contains `text`.
    fn wait_for(&mut self, kind: &str, text: &str) {
        let wanted = format!("\"event\":\"{kind}\"");
        loop {
            match self.events.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let found = line.contains(&wanted) && line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "the build never said {kind} with `{text}`; it said:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.stderr.try_iter().collect::<Vec<_>>().join("\n")
                ),
            }
        }
    }

    /// Waits for a stderr line containing `text`; returns it.
    fn wait_for_stderr(&mut self, text: &str) -> String {
        loop {
            match self.stderr.recv_timeout(PATIENCE) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("imgs never said `{text}` on stderr"),
            }
        }
    }

    /// The run's ID, from the `run` event (seen before any build output).
    fn run_id(&self) -> String {
        self.seen
            .iter()
            .find_map(|line| {
                let event: serde_json::Value = serde_json::from_str(line).ok()?;
                Some(event.get("run_id")?.as_str()?.to_string())
            })
            .expect("the run event names the run")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name}");
    }

    /// Waits for the exit; its code (None when killed by a signal), and the rest of stderr.
    fn exit(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        let stderr: Vec<String> = self.stderr.iter().collect();
        (status.code(), stderr.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A reader's lines on a channel; with `json_only`, only the events (the test harness of the child
/// prints a line of its own, and starts the first event's line with the test's name).
fn lines(pipe: impl std::io::Read + Send + 'static, json_only: bool) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let line = if json_only {
                match line.find("{\"event\"") {
                    Some(start) => line[start..].to_string(),
                    None => continue,
                }
            } else {
                line
            };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Peers {
    /// Instances imgs launched that are not terminated.
    fn live_instances(&self) -> Vec<String> {
        let out = self
            .rt
            .block_on(self.ec2.describe_instances().filters(imgs_tagged()).send())
            .unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated))
            .map(|i| i.instance_id().unwrap_or_default().to_string())
            .collect()
    }

    /// Security groups, key pairs and volumes imgs made, still present.
    fn imgs_temporaries(&self) -> Vec<String> {
        let groups = self
            .rt
            .block_on(
                self.ec2
                    .describe_security_groups()
                    .filters(imgs_tagged())
                    .send(),
            )
            .unwrap();
        let keys = self
            .rt
            .block_on(self.ec2.describe_key_pairs().send())
            .unwrap();
        let volumes = self
            .rt
            .block_on(self.ec2.describe_volumes().filters(imgs_tagged()).send())
            .unwrap();
        groups
            .security_groups()
            .iter()
            .map(|g| format!("security group {}", g.group_id().unwrap_or_default()))
            .chain(
                keys.key_pairs()
                    .iter()
                    .filter(|k| k.key_name() != Some(KEY_PAIR))
                    .map(|k| format!("key pair {}", k.key_name().unwrap_or_default())),
            )
            .chain(
                volumes
                    .volumes()
                    .iter()
                    .map(|v| format!("volume {}", v.volume_id().unwrap_or_default())),
            )
            .collect()
    }

    fn nothing_left(&self) {
        assert_eq!(self.live_instances(), Vec::<String>::new());
        assert_eq!(self.imgs_temporaries(), Vec::<String>::new());
    }

    /// The builder: SSH to the test sshd with the imported key pair, or (`temporary_key`) with a
    /// temporary key pair to a port nothing listens on, so the build waits for SSH until stopped.
    fn interrupt_builder(&self, temporary_key: bool) -> serde_json::Value {
        let ssh = self.sshd.settings();
        let mut builder = serde_json::json!({
            "type": "amazon-ebs",
            "region": REGION,
            "access_key": "testing",
            "secret_key": "testing",
            "custom_endpoint_ec2": self.moto.endpoint(),
            "source_ami": self.public_ami(),
            "instance_type": "t3.micro",
            "ami_name": "imgs-interrupt-{{timestamp}}",
            "ssh_host": ssh["ssh_host"],
            "ssh_port": ssh["ssh_port"],
            "ssh_username": ssh["ssh_username"],
            "ssh_timeout": "5m",
        });
        if temporary_key {
            builder["ssh_port"] = closed_port().to_string().into();
        } else {
            builder["ssh_keypair_name"] = KEY_PAIR.into();
            builder["ssh_private_key_file"] = ssh["ssh_private_key_file"].clone().into();
        }
        builder
    }
}

fn imgs_tagged() -> Filter {
    Filter::builder().name("tag-key").values("imgs:run").build()
}

/// A loopback port nobody listens on (taken, then given back).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One image, `app`, whose provisioner says `provisioning` and then waits until the test creates
/// `remote/stop` (bounded, so nothing outlives the test by long).
fn workspace(peers: &Peers, temporary_key: bool) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("imgs-interrupt-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("remote")).unwrap();
    write(
        root,
        "Images.toml",
        "[workspace]\nmembers = [\"images/*\"]\n",
    );
    let stop = root.join("remote/stop").display().to_string();
    let template = serde_json::json!({
        "builders": [peers.interrupt_builder(temporary_key)],
        "provisioners": [{
            "type": "shell",
            "inline": [
                "echo provisioning",
                format!("i=0; while [ ! -e {stop} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done"),
            ],
        }],
    });
    write(
        root,
        "images/app/template.json",
        &serde_json::to_string_pretty(&template).unwrap(),
    );
    dir
}

/// Lets the remote provisioner loop end.
fn release(root: &Path) {
    let _ = std::fs::write(root.join("remote/stop"), "");
}

fn no_record(root: &Path) {
    let records = Cache::open(&root.join("cache")).list().unwrap();
    assert!(records.is_empty(), "{records:?}");
}

fn build_args() -> [&'static str; 4] {
    ["build", "--all", "--message-format", "json"]
}

#[test]
fn ctrl_c_during_the_provisioner_cleans_up_and_exits_130() {
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers, false);
    let root = ws.path();
    let mut imgs = Running::start(root, &build_args());
    imgs.wait_for("output", "provisioning");
    assert_eq!(peers.live_instances().len(), 1, "the build is running");
    imgs.signal("INT");
    let (code, stderr) = imgs.exit();
    release(root);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("Interrupted"), "{stderr}");
    peers.nothing_left();
    no_record(root);
}

#[test]
fn ctrl_c_while_waiting_for_ssh_removes_the_temporary_key_pair_too() {
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers, true);
    let root = ws.path();
    let mut imgs = Running::start(root, &build_args());
    imgs.wait_for("output", "Using SSH communicator to connect");
    assert_eq!(
        peers.imgs_temporaries().len(),
        3,
        "a temporary key pair, a security group and the instance's volume exist while waiting"
    );
    imgs.signal("INT");
    let (code, stderr) = imgs.exit();
    assert_eq!(code, Some(130), "{stderr}");
    peers.nothing_left();
    no_record(root);
}

#[test]
fn ctrl_c_twice_exits_at_once_naming_the_run_tag_and_gc_removes_what_is_left() {
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers, false);
    let root = ws.path();
    let mut imgs = Running::start(root, &build_args());
    imgs.wait_for("output", "provisioning");
    let run_id = imgs.run_id();
    imgs.signal("INT");
    imgs.wait_for_stderr("Interrupted");
    imgs.signal("INT");
    let (code, stderr) = imgs.exit();
    assert_eq!(code, Some(130), "{stderr}");
    release(root);
    assert!(stderr.contains(&format!("imgs:run={run_id}")), "{stderr}");
    no_record(root);

    // What the run left (if anything: clean-up may have been quick) is its run's, and gc finds it.
    let out = imgs_ok(root, &["gc", "--run", &run_id]);
    assert!(!out.contains("could not remove"), "{out}");
    peers.nothing_left();
}

#[test]
fn gc_after_a_kill_during_the_provisioner_leaves_nothing() {
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers, false);
    let root = ws.path();
    let mut imgs = Running::start(root, &build_args());
    imgs.wait_for("output", "provisioning");
    imgs.signal("KILL");
    let (code, _) = imgs.exit();
    release(root);
    assert_eq!(code, None, "killed by the signal");
    assert_eq!(
        peers.live_instances().len(),
        1,
        "the kill left the instance"
    );
    assert_eq!(
        peers.imgs_temporaries().len(),
        2,
        "and its security group and volume"
    );
    assert!(
        std::fs::read_dir(root.join("cache/runs")).unwrap().count() == 1,
        "and its run lock file, which nobody holds"
    );

    let dry = imgs_ok(root, &["gc", "--dry-run"]);
    assert!(dry.contains("would remove"), "{dry}");
    assert_eq!(peers.live_instances().len(), 1, "a dry run removes nothing");
    let elsewhere = imgs_input_error(root, &["gc", "--region", "eu-west-1"]);
    assert!(elsewhere.contains("eu-west-1"), "{elsewhere}");
    let here = imgs_ok(root, &["gc", "--dry-run", "--region", REGION]);
    assert_eq!(here, dry);

    let out = imgs_ok(root, &["gc"]);
    let mut settings = settings(root);
    settings.add_filter(r"\b(i|sg|vol|snap|ami)-[0-9a-f]+\b", "$1-[ID]");
    settings.add_filter(
        // The run ID, whose last group the shared filters already took for a short fingerprint.
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-(\[fp\]|[0-9a-f]{12}\b)",
        "[RUN]",
    );
    settings.bind(|| insta::assert_snapshot!("gc_after_kill", out));
    peers.nothing_left();
    assert_eq!(
        std::fs::read_dir(root.join("cache/runs")).unwrap().count(),
        0,
        "the dead run's lock file is gone"
    );
    assert_eq!(
        imgs_ok(root, &["gc"]),
        format!("{REGION}: nothing to remove\n")
    );
}

#[test]
fn gc_skips_a_run_that_is_still_building() {
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers, false);
    let root = ws.path();
    let mut imgs = Running::start(root, &build_args());
    imgs.wait_for("output", "provisioning");
    let out = imgs_ok(root, &["gc"]);
    assert!(out.contains("still building on this machine"), "{out}");
    let run_id = imgs.run_id();
    let err = imgs_input_error(root, &["gc", "--run", &run_id]);
    assert!(err.contains("still building on this machine"), "{err}");
    assert_eq!(
        peers.live_instances().len(),
        1,
        "the running build keeps its instance"
    );
    release(root);
    let (code, stderr) = imgs.exit();
    assert_eq!(code, Some(0), "{stderr}");
    peers.nothing_left();
}

#[test]
fn gc_needs_an_amazon_ebs_image_to_know_where_to_look() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "Images.toml",
        "[workspace]\nmembers = [\"images/*\"]\n",
    );
    write(
        root,
        "images/motd/template.json",
        r#"{"builders": [{"type": "file", "target": "motd", "content": "hi"}]}"#,
    );
    let err = imgs_input_error(root, &["gc"]);
    settings(root).bind(|| insta::assert_snapshot!("gc_without_amazon_ebs", err));
}
