//! Random interrupts of a 13-image layered amazon-ebs build (moto and a real sshd on loopback): Ctrl-C
//! (SIGINT) at a chosen phase of some image plus a random delay, then everything EC2 holds and every
//! record the cache has is audited; then the same with SIGKILL followed by `imgs gc`.
//!
//! The phases are taken in turn (launching, waiting for SSH, provisioning, stopping, creating the AMI,
//! copying it to a second region, post-processing), so the interrupts spread over all of them; the
//! delay after the phase starts is random (seeded: the seed is printed and `IMGS_CHAOS_SEED` repeats
//! a run). Every other run changes the base image's script, so the whole graph builds again; the runs
//! between resume what the one before left.
//!
//! The audit, after every run:
//! - leaked: instances not terminated, volumes, security groups, key pairs (but the imported one),
//!   snapshots no AMI uses, AMIs not `available`, in both regions;
//! - false records: a cache record whose AMIs are not all `available` with the record's fingerprint
//!   tag, or an AMI carrying an `imgs:fingerprint` tag (which the plan trusts) that is not
//!   `available` or lacks its copy in the second region.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use imgs_aws::sdk::Client;
use imgs_aws::sdk::types::{Filter, ImageState, InstanceStateName};
use imgs_cache::Cache;

use crate::layered_ebs::{KEY_PAIR, all_images, layered_workspace};
use crate::support::chaos::{self, Dice};
use crate::support::ebs::{Peers, REGION};
use crate::support::*;

/// The region the base image's AMI is copied to (`ami_regions`).
const COPY_REGION: &str = "eu-west-1";

/// The phases interrupts aim at, as `phase` events name them (by prefix).
const PHASES: [&str; 7] = [
    "launching instance",
    "waiting for SSH",
    "provisioning",
    "stopping instance",
    "creating AMI",
    "copying to regions",
    "post-processing",
];

/// A guard against a hanging run, not a measurement: how long a run may go without an event once
/// signalled, and (times [`RUN_PATIENCE_FACTOR`]) how long it may take to reach its phase — a qemu
/// chain under software emulation on a loaded machine takes minutes.
const PATIENCE: Duration = Duration::from_secs(120);
const RUN_PATIENCE_FACTOR: u32 = 10;

/// The layered workspace, with the base image copied to a second region and every image followed by
/// a short shell-local post-processor, so both phases exist to be interrupted.
fn chaos_workspace(peers: &Peers, remote: &Path) -> tempfile::TempDir {
    let ws = layered_workspace(peers, remote, false);
    for image in all_images() {
        let path = ws.path().join(format!("images/{image}/template.json"));
        let mut template: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if image == "base" {
            template["builders"][0]["ami_regions"] = serde_json::json!([COPY_REGION]);
        }
        template["post-processors"] =
            serde_json::json!([{ "type": "shell-local", "inline": ["sleep 0.2"] }]);
        std::fs::write(&path, serde_json::to_string_pretty(&template).unwrap()).unwrap();
    }
    ws
}

/// How a run was stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Interrupt,
    Kill,
}

/// What one run came to.
struct Outcome {
    /// The phase the signal was sent in, when it was sent.
    phase: Option<String>,
    exit_code: Option<i32>,
    run_id: Option<String>,
    /// Images the run recorded as built.
    built: usize,
}

/// `imgs build --all --message-format json` in `root`.
fn build_command(root: &Path) -> Command {
    let mut command = Command::new(imgs_exe());
    command.current_dir(root).stdin(Stdio::null());
    command.args(build_args());
    command
}

fn build_args() -> [&'static str; 4] {
    ["build", "--all", "--message-format", "json"]
}

/// Starts `command` (an `imgs build --all --message-format json`), waits for a `phase` event
/// starting with `phase` (or the run's end), waits `delay` more, and stops it as `stop` says.
fn run_and_stop(mut command: Command, phase: &str, delay: Duration, stop: Stop) -> Outcome {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, events) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("{\"event\"") && tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let wanted = format!("\"phase\":\"{phase}");
    let mut outcome = Outcome {
        phase: None,
        exit_code: None,
        run_id: None,
        built: 0,
    };
    let started = Instant::now();
    let mut signalled_at: Option<Instant> = None;
    loop {
        let waited = match signalled_at {
            Some(_) => PATIENCE,
            None => Duration::from_millis(20),
        };
        match events.recv_timeout(waited) {
            Ok(line) => {
                let event: serde_json::Value = serde_json::from_str(&line).unwrap();
                if let Some(run) = event["run_id"].as_str() {
                    outcome.run_id.get_or_insert_with(|| run.to_string());
                }
                if event["event"] == "built" {
                    outcome.built += 1;
                }
                if signalled_at.is_none() && line.contains(&wanted) {
                    std::thread::sleep(delay);
                    let signal = match stop {
                        Stop::Interrupt => "INT",
                        Stop::Kill => "KILL",
                    };
                    let sent = Command::new("kill")
                        .args(["-s", signal, &child.id().to_string()])
                        .status()
                        .unwrap();
                    if sent.success() {
                        outcome.phase = Some(phase.to_string());
                        signalled_at = Some(Instant::now());
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                assert!(
                    started.elapsed() < PATIENCE * RUN_PATIENCE_FACTOR,
                    "the run neither ended nor reached {phase}"
                );
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    outcome.exit_code = status.code();
    if stop == Stop::Interrupt && outcome.phase.is_some() {
        // An interrupted build ends as Ctrl-C says (130), or, when the signal came after the last
        // image was recorded, as a finished run.
        assert!(
            matches!(status.code(), Some(130) | Some(0)),
            "exit {:?} after Ctrl-C in {phase}:\n{stderr}",
            status.code()
        );
    }
    if outcome.phase.is_none() {
        assert!(status.success(), "an uninterrupted run failed:\n{stderr}");
    }
    outcome
}

/// What the runs of one test came to: where the signals went, how the runs ended, what they built.
#[derive(Default)]
struct Tally {
    per_phase: BTreeMap<String, usize>,
    reached_end: usize,
    exits: BTreeMap<String, usize>,
    built: usize,
}

impl Tally {
    fn add(&mut self, outcome: &Outcome) {
        self.built += outcome.built;
        let exit = outcome
            .exit_code
            .map_or_else(|| "killed".to_string(), |code| code.to_string());
        *self.exits.entry(exit).or_default() += 1;
        match &outcome.phase {
            Some(phase) => *self.per_phase.entry(phase.clone()).or_default() += 1,
            None => self.reached_end += 1,
        }
    }
}

/// What EC2 holds that a finished or cleaned-up run must not: by kind, `kind ID` lines.
#[derive(Default, Debug)]
struct Audit {
    leaked: BTreeMap<&'static str, Vec<String>>,
    false_records: Vec<String>,
}

impl Audit {
    fn leaked_count(&self) -> usize {
        self.leaked.values().map(Vec::len).sum()
    }
}

/// Lists every page of the AMIs this account owns in `ec2`'s region: (ID, state, tags).
async fn own_images(ec2: &Client) -> Vec<(String, ImageState, BTreeMap<String, String>)> {
    let images = ec2
        .describe_images()
        .owners("self")
        .send()
        .await
        .expect("DescribeImages");
    images
        .images()
        .iter()
        .map(|image| {
            (
                image.image_id().unwrap_or_default().to_string(),
                image.state().cloned().unwrap_or(ImageState::Pending),
                imgs_test_peers::ec2::tag_map(image.tags()),
            )
        })
        .collect()
}

/// Snapshots the server had before any build (moto's own images'): not something a build left.
async fn snapshot_ids(ec2: &Client) -> BTreeSet<String> {
    let snapshots = ec2
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .expect("DescribeSnapshots");
    snapshots
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(String::from))
        .collect()
}

async fn audit_region(ec2: &Client, key_pair: &str, before: &BTreeSet<String>, audit: &mut Audit) {
    let run_tag = || Filter::builder().name("tag-key").values("imgs:run").build();
    let instances = ec2
        .describe_instances()
        .filters(run_tag())
        .send()
        .await
        .expect("DescribeInstances");
    for instance in instances.reservations().iter().flat_map(|r| r.instances()) {
        if instance.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated) {
            let id = instance.instance_id().unwrap_or_default().to_string();
            audit.leaked.entry("instances").or_default().push(id);
        }
    }
    let groups = ec2
        .describe_security_groups()
        .filters(run_tag())
        .send()
        .await
        .expect("DescribeSecurityGroups");
    for group in groups.security_groups() {
        let id = group.group_id().unwrap_or_default().to_string();
        audit.leaked.entry("security groups").or_default().push(id);
    }
    let key_pairs = ec2
        .describe_key_pairs()
        .send()
        .await
        .expect("DescribeKeyPairs");
    for name in key_pairs.key_pairs().iter().filter_map(|k| k.key_name()) {
        if name != key_pair {
            audit
                .leaked
                .entry("key pairs")
                .or_default()
                .push(name.to_string());
        }
    }
    let volumes = ec2
        .describe_volumes()
        .filters(run_tag())
        .send()
        .await
        .expect("DescribeVolumes");
    for volume in volumes.volumes() {
        let id = volume.volume_id().unwrap_or_default().to_string();
        audit.leaked.entry("volumes").or_default().push(id);
    }
    let images = ec2
        .describe_images()
        .owners("self")
        .send()
        .await
        .expect("DescribeImages");
    let mut used_snapshots = BTreeSet::new();
    for image in images.images() {
        let id = image.image_id().unwrap_or_default().to_string();
        for mapping in image.block_device_mappings() {
            if let Some(snapshot) = mapping.ebs().and_then(|e| e.snapshot_id()) {
                used_snapshots.insert(snapshot.to_string());
            }
        }
        if image.state() != Some(&ImageState::Available) {
            audit
                .leaked
                .entry("AMIs not available")
                .or_default()
                .push(id);
        }
    }
    let snapshots = ec2
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .expect("DescribeSnapshots");
    for snapshot in snapshots.snapshots() {
        let id = snapshot.snapshot_id().unwrap_or_default();
        if !used_snapshots.contains(id) && !before.contains(id) {
            audit
                .leaked
                .entry("snapshots without an AMI")
                .or_default()
                .push(id.to_string());
        }
    }
}

/// What the server held before the first build, in both regions.
struct Baseline {
    home: BTreeSet<String>,
    copy: BTreeSet<String>,
}

impl Baseline {
    fn of(peers: &Peers) -> Baseline {
        let (home, copy) = (peers.client_in(REGION), peers.client_in(COPY_REGION));
        peers.rt.block_on(async {
            Baseline {
                home: snapshot_ids(&home).await,
                copy: snapshot_ids(&copy).await,
            }
        })
    }
}

/// Audits both regions and the workspace's records.
fn audit(peers: &Peers, root: &Path, before: &Baseline) -> Audit {
    let mut audit = Audit::default();
    let home = peers.client_in(REGION);
    let copy = peers.client_in(COPY_REGION);
    let (home_images, copy_images) = peers.rt.block_on(async {
        audit_region(&home, &peers.key_pair, &before.home, &mut audit).await;
        audit_region(&copy, &peers.key_pair, &before.copy, &mut audit).await;
        (own_images(&home).await, own_images(&copy).await)
    });
    let state_of = |region: &str, ami: &str| -> Option<(ImageState, BTreeMap<String, String>)> {
        let images = if region == COPY_REGION {
            &copy_images
        } else {
            &home_images
        };
        images
            .iter()
            .find(|(id, _, _)| id == ami)
            .map(|(_, state, tags)| (state.clone(), tags.clone()))
    };
    // Local records: every AMI they name is available and carries the record's fingerprint.
    for record in Cache::open(&root.join("cache")).list().unwrap() {
        let fingerprint = record.fingerprint.to_string();
        for build in &record.builds {
            for part in build.artifact_id.split(',') {
                let (region, ami) = part.split_once(':').unwrap_or((REGION, part));
                let good = matches!(state_of(region, ami),
                    Some((ImageState::Available, tags))
                        if tags.get("imgs:fingerprint") == Some(&fingerprint));
                if !good {
                    audit.false_records.push(format!(
                        "record {} {}: {region}:{ami} is not an available AMI tagged with its fingerprint",
                        record.image,
                        &fingerprint[..12]
                    ));
                }
            }
        }
    }
    // Tagged AMIs (the cloud cache): available, and the base image's has its copy.
    let copied: BTreeSet<String> = copy_images
        .iter()
        .filter(|(_, state, _)| *state == ImageState::Available)
        .filter_map(|(_, _, tags)| tags.get("imgs:fingerprint").cloned())
        .collect();
    for (ami, state, tags) in home_images.iter().chain(copy_images.iter()) {
        let Some(fingerprint) = tags.get("imgs:fingerprint") else {
            continue;
        };
        let image = tags.get("imgs:image").cloned().unwrap_or_default();
        if *state != ImageState::Available {
            audit.false_records.push(format!(
                "AMI {ami} of {image} is tagged with its fingerprint but {state:?}"
            ));
        }
        if image == "base" && !copied.contains(fingerprint) {
            audit.false_records.push(format!(
                "AMI {ami} of base is tagged with its fingerprint but has no copy in {COPY_REGION}"
            ));
        }
    }
    audit
}

/// Makes every image build again: the base image's script changes, and every image is built on it.
fn change_base(root: &Path, run: usize) {
    append(root, "images/base/setup.sh", &format!("# run {run}\n"));
}

/// The interrupts and their audits; `stop` says how, and with `Stop::Kill`, `imgs gc` runs after each.
fn interrupt_runs(stop: Stop, runs: usize, name: &str) {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = chaos_workspace(&peers, remote.path());
    let root = ws.path();
    let before = Baseline::of(&peers);
    let mut dice = Dice::from_env();
    let mut tally = Tally::default();
    let mut leaked: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    let mut false_records = Vec::new();
    let mut gc_runs = 0;
    for run in 0..runs {
        let phase = PHASES[run % PHASES.len()];
        // Only the base image is copied: its phase needs a run that builds it.
        if run % 2 == 0 || phase == "copying to regions" {
            change_base(root, run);
        }
        let delay = Duration::from_millis(dice.below(400) as u64);
        let outcome = run_and_stop(build_command(root), phase, delay, stop);
        tally.add(&outcome);
        if stop == Stop::Kill && outcome.phase.is_some() {
            let run_id = outcome.run_id.as_deref().expect("the run event came first");
            let out = imgs(root, &["gc", "--run", run_id]);
            assert_eq!(out.code, 0, "imgs gc: {}", out.stderr);
            gc_runs += 1;
        }
        let found = audit(&peers, root, &before);
        for (kind, ids) in &found.leaked {
            leaked.entry(kind).or_default().extend(ids.iter().cloned());
        }
        if found.leaked_count() > 0 || !found.false_records.is_empty() {
            let leaked: BTreeMap<_, _> = found
                .leaked
                .iter()
                .map(|(kind, ids)| (kind, (ids.len(), ids.iter().take(3).collect::<Vec<_>>())))
                .collect();
            eprintln!(
                "run {run} ({phase} + {delay:?}): leaked {leaked:?}, false records {:?}",
                found.false_records
            );
        }
        false_records.extend(found.false_records);
    }
    // A last run finishes what the interrupts left: the workspace still builds, and every record
    // it ends with is sound.
    let out = imgs(root, &["build", "--all"]);
    assert_eq!(out.code, 0, "the last run:\n{}\n{}", out.stdout, out.stderr);
    let last = audit(&peers, root, &before);
    for (kind, ids) in &last.leaked {
        leaked.entry(kind).or_default().extend(ids.iter().cloned());
    }
    // Each leaked resource once, however many audits saw it.
    let leaked: BTreeMap<&str, usize> = leaked.iter().map(|(k, ids)| (*k, ids.len())).collect();
    false_records.extend(last.false_records);
    let records = Cache::open(&root.join("cache")).list().unwrap().len();
    chaos::report(
        name,
        serde_json::json!({
            "builder": "amazon-ebs",
            "workspace_images": all_images().len(),
            "runs": runs,
            "signal": match stop { Stop::Interrupt => "SIGINT", Stop::Kill => "SIGKILL then imgs gc" },
            "interrupts": tally.per_phase,
            "runs_that_ended_before_the_phase": tally.reached_end,
            "exit_codes": tally.exits,
            "images_built_and_recorded": tally.built,
            "gc_runs": gc_runs,
            "leaked": leaked,
            "false_records": false_records.len(),
            "records_at_the_end": records,
        }),
    );
    assert_eq!(leaked.values().sum::<usize>(), 0, "leaked: {leaked:?}");
    assert_eq!(false_records, Vec::<String>::new());
}

#[test]
fn ctrl_c_at_random_moments_of_a_layered_build_leaks_nothing_and_records_nothing_false() {
    interrupt_runs(Stop::Interrupt, chaos::runs(7, 56), "interrupts_amazon_ebs");
}

#[test]
fn kill_at_random_moments_then_gc_leaks_nothing_and_records_nothing_false() {
    interrupt_runs(Stop::Kill, chaos::runs(4, 28), "kills_amazon_ebs");
}

/// The phases of a docker build interrupts aim at.
const DOCKER_PHASES: [&str; 4] = [
    "starting container",
    "provisioning",
    "committing",
    "post-processing",
];

/// Interrupts of the docker example (base → runtime → app-web, app-worker, each pushed to a
/// registry), audited for containers, directories shared with them, and records or registry tags
/// that name an image other than the one built for that fingerprint.
fn docker_interrupt_runs(stop: Stop, runs: usize, name: &str) {
    use crate::build_docker::{Peers as DockerPeers, example, imgs_command, shared_dirs};
    let Some(peers) = DockerPeers::start("interrupts of docker builds", true) else {
        return;
    };
    let ws = example();
    let root = ws.path();
    let mut dice = Dice::from_env();
    let mut tally = Tally::default();
    let mut leaked_containers = BTreeSet::new();
    let mut leaked_dirs = BTreeSet::new();
    let mut false_records: Vec<String> = Vec::new();
    for run in 0..runs {
        let phase = DOCKER_PHASES[run % DOCKER_PHASES.len()];
        if run % 2 == 0 {
            append(root, "images/base/base.sh", &format!("# run {run}\n"));
        }
        let delay = Duration::from_millis(dice.below(150) as u64);
        let command = imgs_command(root, &build_args(), &peers.env());
        let outcome = run_and_stop(command, phase, delay, stop);
        tally.add(&outcome);
        if stop == Stop::Kill && outcome.phase.is_some() {
            // A docker command the killed imgs had started goes on without it: a `docker run` may
            // make its container after a gc run at once, a `docker rm` makes gc's own fail as
            // "already in progress" (gc says so and asks to be run again). gc once they are done.
            let host = peers
                .env()
                .into_iter()
                .find(|(k, _)| *k == "DOCKER_HOST")
                .unwrap()
                .1;
            wait_for_orphans(&host);
            let gc = imgs_command(root, &["gc"], &peers.env()).output().unwrap();
            assert!(
                gc.status.success(),
                "{}",
                String::from_utf8_lossy(&gc.stderr)
            );
        }
        let containers = peers.docker.containers().unwrap();
        let dirs = shared_dirs(root);
        leaked_containers.extend(containers.iter().cloned());
        leaked_dirs.extend(dirs.iter().cloned());
        let (containers, dirs) = (containers.len(), dirs.len());
        let wrong = docker_false_records(&peers, root);
        if containers + dirs > 0 || !wrong.is_empty() {
            eprintln!(
                "run {run} ({phase} + {delay:?}): {containers} containers, {dirs} dirs, {wrong:?}"
            );
        }
        false_records.extend(wrong);
    }
    let last = imgs_command(root, &["build", "--all"], &peers.env())
        .output()
        .unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    false_records.extend(docker_false_records(&peers, root));
    let leaked = BTreeMap::from([
        ("containers", leaked_containers.len()),
        ("shared directories", leaked_dirs.len()),
    ]);
    chaos::report(
        name,
        serde_json::json!({
            "builder": "docker",
            "workspace_images": 4,
            "runs": runs,
            "signal": match stop { Stop::Interrupt => "SIGINT", Stop::Kill => "SIGKILL then imgs gc" },
            "interrupts": tally.per_phase,
            "runs_that_ended_before_the_phase": tally.reached_end,
            "exit_codes": tally.exits,
            "images_built_and_recorded": tally.built,
            "leaked": leaked,
            "false_records": false_records.len(),
        }),
    );
    assert_eq!(leaked.values().sum::<usize>(), 0, "leaked: {leaked:?}");
    assert_eq!(false_records, Vec::<String>::new());
}

/// Waits (10 s at most) until no `docker` command of this daemon (`DOCKER_HOST` in its
/// environment) is running: what a killed imgs started (`docker run`, `commit`, `rm`) goes on
/// without it.
fn wait_for_orphans(docker_host: &str) {
    let wanted = format!("DOCKER_HOST={docker_host}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let running = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .filter(|e| {
                std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "docker")
            })
            .filter_map(|e| std::fs::read(e.path().join("environ")).ok())
            .any(|environ| environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()));
        if !running {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Records whose image is not in the engine with the record's fingerprint label.
fn docker_false_records(peers: &crate::build_docker::Peers, root: &Path) -> Vec<String> {
    let mut wrong = Vec::new();
    for record in Cache::open(&root.join("cache")).list().unwrap() {
        let fingerprint = record.fingerprint.to_string();
        for build in &record.builds {
            let id = &build.artifact_id;
            let label = peers
                .docker
                .cli(&[
                    "image",
                    "inspect",
                    "--format",
                    "{{index .Config.Labels \"imgs.fingerprint\"}}",
                    id,
                ])
                .map(|l| l.trim().to_string());
            if label.as_deref() != Ok(fingerprint.as_str()) {
                wrong.push(format!(
                    "record {} names {id}, labelled {label:?}",
                    record.image
                ));
            }
        }
    }
    wrong
}

#[test]
fn ctrl_c_at_random_moments_of_a_docker_chain_leaves_no_container_and_no_false_record() {
    docker_interrupt_runs(Stop::Interrupt, chaos::runs(4, 40), "interrupts_docker");
}

#[test]
fn kill_at_random_moments_of_a_docker_chain_then_gc_leaves_no_container() {
    docker_interrupt_runs(Stop::Kill, chaos::runs(2, 20), "kills_docker");
}

/// The phases of a qemu build interrupts aim at.
const QEMU_PHASES: [&str; 5] = [
    "creating disk",
    "booting",
    "waiting for SSH",
    "provisioning",
    "shutting down",
];

/// qemu processes anywhere on the machine whose command line names `dir` (a run's qemu, orphaned
/// when imgs dies, is no longer a child of this test).
fn qemu_processes_in(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (cmdline.contains("qemu-system") && cmdline.contains(&dir))
                .then(|| format!("{pid}: {cmdline}"))
        })
        .collect()
}

/// Version directories under `cache/artifacts/<image>/` that no record names (a disk published
/// without its record, or a half-written one), and records whose disks fail `qemu-img check`.
fn qemu_unrecorded_outputs(root: &Path) -> (Vec<String>, Vec<String>) {
    let records = Cache::open(&root.join("cache")).list().unwrap();
    let recorded: BTreeSet<String> = records
        .iter()
        .filter_map(|r| r.artifact_dir.clone())
        .collect();
    let mut unrecorded = Vec::new();
    for image in std::fs::read_dir(root.join("cache/artifacts"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for version in std::fs::read_dir(image.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = version.file_name().to_string_lossy().into_owned();
            if name == "current" || name.starts_with('.') {
                continue;
            }
            let rel = format!(
                "cache/artifacts/{}/{name}",
                image.file_name().to_string_lossy()
            );
            if !recorded.contains(&rel) {
                unrecorded.push(rel);
            }
        }
    }
    let mut broken = Vec::new();
    for record in &records {
        for file in record.builds.iter().flat_map(|b| &b.files) {
            if !file.ends_with(".qcow2") {
                continue;
            }
            let out = Command::new("qemu-img")
                .args(["check", "-q"])
                .arg(root.join(file))
                .output()
                .expect("qemu-img (Debian qemu-utils)");
            if !out.status.success() {
                broken.push(format!("{} {file}", record.image));
            }
        }
    }
    (unrecorded, broken)
}

/// Interrupts of the example qemu workspace (base → hardened → app-web, app-worker): no qemu left
/// running, no disk published without its record, every recorded disk sound.
fn qemu_interrupt_runs(stop: Stop, runs: usize, name: &str) {
    let base_image = imgs_test_peers::qemu::base_image();
    let ws = example_workspace();
    let linked = ws.path().join("cache/base-image");
    std::fs::remove_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(&base_image, &linked).unwrap();
    let root = ws.path();
    let mut dice = Dice::from_env();
    let mut tally = Tally::default();
    let mut leaked_processes = BTreeSet::new();
    let mut unpublished = BTreeSet::new();
    let mut false_records = Vec::new();
    for run in 0..runs {
        let phase = QEMU_PHASES[run % QEMU_PHASES.len()];
        // The base image is the Debian disk itself; the hardened layer's script changes, so it and
        // both apps build again.
        if run % 2 == 0 {
            append(root, "images/hardened/harden.sh", &format!("# run {run}\n"));
        }
        let delay = Duration::from_millis(dice.below(2000) as u64);
        let outcome = run_and_stop(build_command(root), phase, delay, stop);
        tally.add(&outcome);
        if stop == Stop::Kill {
            // qemu dies with the imgs that started it (its parent-death signal); the killed run's
            // version directory is the cache's to clean.
            let gone = Instant::now();
            while !qemu_processes_in(root).is_empty() && gone.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let out = imgs(root, &["cache", "prune"]);
            assert_eq!(out.code, 0, "imgs cache prune: {}", out.stderr);
        }
        let processes = qemu_processes_in(root);
        let (unrecorded, broken) = qemu_unrecorded_outputs(root);
        if !processes.is_empty() || !unrecorded.is_empty() || !broken.is_empty() {
            eprintln!("run {run} ({phase} + {delay:?}): {processes:?} {unrecorded:?} {broken:?}");
        }
        leaked_processes.extend(processes);
        unpublished.extend(unrecorded);
        false_records.extend(broken);
    }
    let out = imgs(root, &["build", "--all"]);
    assert_eq!(out.code, 0, "the last run:\n{}\n{}", out.stdout, out.stderr);
    let (unrecorded, broken) = qemu_unrecorded_outputs(root);
    unpublished.extend(unrecorded);
    false_records.extend(broken);
    let leaked = BTreeMap::from([
        ("qemu processes", leaked_processes.len()),
        ("disks without a record", unpublished.len()),
    ]);
    chaos::report(
        name,
        serde_json::json!({
            "builder": "qemu",
            "workspace_images": 4,
            "runs": runs,
            "signal": match stop { Stop::Interrupt => "SIGINT", Stop::Kill => "SIGKILL then imgs cache prune" },
            "interrupts": tally.per_phase,
            "runs_that_ended_before_the_phase": tally.reached_end,
            "exit_codes": tally.exits,
            "images_built_and_recorded": tally.built,
            "leaked": leaked,
            "false_records": false_records.len(),
        }),
    );
    assert_eq!(
        leaked.values().sum::<usize>(),
        0,
        "leaked: {leaked:?} {unpublished:?}"
    );
    assert_eq!(false_records, Vec::<String>::new());
}

#[test]
#[ignore = "boots Debian under TCG several times (minutes); needs cache/base-image/ from \
            `cargo xtask base-image` (run with --ignored)"]
fn ctrl_c_at_random_moments_of_a_qemu_chain_leaves_no_qemu_and_no_unrecorded_disk() {
    qemu_interrupt_runs(Stop::Interrupt, chaos::runs(3, 10), "interrupts_qemu");
}

#[test]
#[ignore = "boots Debian under TCG several times (minutes); needs cache/base-image/ from \
            `cargo xtask base-image` (run with --ignored)"]
fn kill_at_random_moments_of_a_qemu_chain_leaves_no_qemu_and_prune_leaves_no_unrecorded_disk() {
    qemu_interrupt_runs(Stop::Kill, chaos::runs(2, 6), "kills_qemu");
}
