//! Ctrl-C and kills during amazon-ebs builds, against moto and a real sshd on loopback: a signal at
//! several points of a running build, then what is left on EC2 and in the cache.
//!
//! Signals need a process of its own: the real `imgs` executable, which cargo builds for this test
//! binary from the same sources. Where the build is comes from its `--message-format json` events.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use imgs_cache::Cache;

use crate::support::ebs::{Peers, REGION};
use crate::support::*;

const KEY_PAIR: &str = "imgs-interrupt-key";
/// How long a test waits for the build to reach a point before giving up: a guard against hanging,
/// not a measurement.
const PATIENCE: Duration = Duration::from_secs(180);

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
        let mut child = Command::new(imgs_exe())
            .args(args)
            .current_dir(dir)
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

/// A reader's lines on a channel; with `json_only`, only the events.
fn lines(pipe: impl std::io::Read + Send + 'static, json_only: bool) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if json_only && !line.starts_with("{\"event\"") {
                continue;
            }
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
        self.leftovers().instances
    }

    /// Security groups, key pairs and volumes imgs made, still present.
    fn imgs_temporaries(&self) -> Vec<String> {
        self.leftovers().temporaries()
    }

    fn nothing_left(&self) {
        assert_eq!(self.left_by_imgs(), Vec::<String>::new());
    }

    /// The builder: SSH to the test sshd with the imported key pair, or (`temporary_key`) with a
    /// temporary key pair to a port nothing listens on, so the build waits for SSH until stopped.
    fn interrupt_builder(&self, temporary_key: bool) -> serde_json::Value {
        let mut builder = self.ebs_builder(
            &self.public_ami(),
            serde_json::json!({
                "ami_name": "imgs-interrupt-{{timestamp}}",
                "ssh_timeout": "5m",
            }),
        );
        if temporary_key {
            let fields = builder.as_object_mut().unwrap();
            fields.remove("ssh_keypair_name");
            fields.remove("ssh_private_key_file");
            let closed_port = imgs_test_peers::process::free_port().unwrap();
            fields.insert("ssh_port".into(), closed_port.to_string().into());
        }
        builder
    }
}

/// One image, `app`, whose provisioner says `provisioning` and then waits until the test creates
/// `remote/stop` (bounded, so nothing outlives the test by long).
fn workspace(peers: &Peers, temporary_key: bool) -> tempfile::TempDir {
    let dir = new_workspace("imgs-interrupt-");
    let root = dir.path();
    std::fs::create_dir_all(root.join("remote")).unwrap();
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
    write_template(root, "app", &template);
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
        run_locks(root) == 1,
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
    assert_eq!(run_locks(root), 0, "the dead run's lock file is gone");
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
    let dir = new_workspace("imgs-gc-");
    let root = dir.path();
    write(
        root,
        "images/motd/template.json",
        r#"{"builders": [{"type": "file", "target": "motd", "content": "hi"}]}"#,
    );
    let err = imgs_input_error(root, &["gc"]);
    settings(root).bind(|| insta::assert_snapshot!("gc_without_amazon_ebs", err));
}

/// Ctrl-C while Packer builds (`engine = "packer"`): imgs sends Packer its interrupt and waits while
/// Packer cancels the build and cleans up — its instance (tagged with the run) terminated, its
/// temporary security group deleted — then exits 130 with nothing recorded, no Packer left running
/// and no template of its own left beside the member's.
#[test]
fn ctrl_c_during_a_packer_build_lets_packer_clean_up_and_exits_130() {
    if imgs_test_peers::packer::packer_for("interrupting the packer engine").is_none() {
        return;
    }
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers, false);
    let root = ws.path();
    append(root, "Images.toml", "\n[images.app]\nengine = \"packer\"\n");
    let mut imgs = Running::start(root, &build_args());
    imgs.wait_for("output", "provisioning");
    assert_eq!(
        peers.live_instances().len(),
        1,
        "Packer's instance carries the run's tag"
    );
    imgs.signal("INT");
    // Packer 1.6.6 lets the remote command it is running end before it cleans up (imgs's own
    // builds stop it): end it, as a long step would end by itself.
    std::thread::sleep(std::time::Duration::from_secs(2));
    release(root);
    let (code, stderr) = imgs.exit();
    assert_eq!(code, Some(130), "{stderr}");
    peers.nothing_left();
    let groups = peers
        .rt
        .block_on(peers.ec2.describe_security_groups().send())
        .unwrap();
    let packers: Vec<_> = groups
        .security_groups()
        .iter()
        .filter_map(|g| g.group_name())
        .filter(|n| n.starts_with("packer"))
        .collect();
    assert!(
        packers.is_empty(),
        "Packer's security group is left: {packers:?}"
    );
    no_record(root);
    let beside: Vec<_> = std::fs::read_dir(root.join("images/app"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, vec![std::ffi::OsString::from("template.json")]);
    let running = packers_of(root);
    assert!(running.is_empty(), "still running: {running:?}");
}

/// The command lines of the Packer processes running for the workspace at `root`.
fn packers_of(root: &Path) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&root.display().to_string()) && c.contains("packer"))
        .collect()
}

/// imgs killed outright while Packer builds: Packer dies with it (at its next line of output, on the
/// closed pipe) and leaves what it made; its instance and volume carry the run's tag, so `imgs gc`
/// removes them, and the files imgs gave Packer were already gone once Packer had read them.
#[test]
fn a_killed_packer_build_leaves_what_imgs_gc_removes() {
    if imgs_test_peers::packer::packer_for("killing imgs during a packer build").is_none() {
        return;
    }
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers, false);
    let root = ws.path();
    append(root, "Images.toml", "\n[images.app]\nengine = \"packer\"\n");
    let mut imgs = Running::start(root, &build_args());
    imgs.wait_for("output", "provisioning");
    imgs.signal("KILL");
    let (code, _) = imgs.exit();
    assert_eq!(code, None, "killed by the signal");
    release(root);
    let deadline = std::time::Instant::now() + PATIENCE;
    while !packers_of(root).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "Packer never ended: {:?}",
            packers_of(root)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        peers.live_instances().len(),
        1,
        "left running, tagged with the run"
    );
    let out = imgs_ok(root, &["gc"]);
    assert!(out.contains("instance"), "{out}");
    peers.nothing_left();
    let beside: Vec<_> = std::fs::read_dir(root.join("images/app"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        beside,
        vec![std::ffi::OsString::from("template.json")],
        "the template Packer was given went once Packer had read it"
    );
    no_record(root);
}

/// How many run lock files `cache/runs` holds (beside `last.json`, the state `--resume` reads).
fn run_locks(root: &Path) -> usize {
    std::fs::read_dir(root.join("cache/runs"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("lock".as_ref()))
        .count()
}
