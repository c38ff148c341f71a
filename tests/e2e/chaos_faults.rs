//! amazon-ebs builds through a fault-injecting proxy in front of moto (`imgs_test_peers::faults`):
//! imgs reaches EC2 through `custom_endpoint_ec2` as always, and the proxy fails a seeded share of
//! the calls as EC2 fails them (throttling, 500 and 503 answers, broken connections, late answers).
//!
//! - A fifth of every action's calls failing: the 13-image layered workspace still builds
//!   completely, every image recorded with a sound AMI, and nothing is left on EC2.
//! - Every call of one action failing (launching, making the AMI, a wait's look, a clean-up): the
//!   build fails within the configured limits, saying which call, how often it was tried and what
//!   bounds it; nothing is recorded and nothing is left — or, when the clean-up is what fails, the
//!   error names what is left and its run, and `imgs gc` (faults off) removes it.
//!
//! The audit after every run: instances not terminated, security groups, key pairs (but the
//! imported one), volumes, snapshots no AMI uses and AMIs not `available` are leaks; a record naming
//! an AMI that is not `available` with the record's fingerprint is a false record.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use imgs_aws::sdk::types::ImageState;
use imgs_cache::Cache;
use imgs_test_peers::faults::{FaultCounts, FaultKind, FaultPlan, FaultProxy};

use crate::layered_ebs::{KEY_PAIR, all_images, layered_workspace, parent_of};
use crate::support::chaos;
use crate::support::ebs::{Peers, REGION};
use crate::support::*;

/// The seed of the first run; `IMGS_CHAOS_SEED` picks another (each run adds one).
fn first_seed() -> u64 {
    let seed = std::env::var("IMGS_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(17);
    eprintln!("fault seed: IMGS_CHAOS_SEED={seed}");
    seed
}

/// Points every template of the workspace at `endpoint`, with `extra`'s settings in its builder.
fn through(root: &Path, endpoint: &str, extra: &serde_json::Value) {
    for entry in std::fs::read_dir(root.join("images")).unwrap() {
        let path = entry.unwrap().path().join("template.json");
        let mut template: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let builder = template["builders"][0].as_object_mut().unwrap();
        builder.insert("custom_endpoint_ec2".into(), endpoint.into());
        builder.extend(extra.as_object().unwrap().clone());
        std::fs::write(&path, serde_json::to_string_pretty(&template).unwrap()).unwrap();
    }
}

/// The kinds of leaks the audit looks for.
const LEAK_KINDS: [&str; 6] = [
    "instances",
    "security groups",
    "key pairs",
    "volumes",
    "snapshots without an AMI",
    "AMIs not available",
];

/// What EC2 holds that no finished run may leave, and records that claim what EC2 does not hold.
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

impl Peers {
    /// Every snapshot of ours: before any build, moto's own.
    fn own_snapshots(&self) -> BTreeSet<String> {
        let out = self
            .rt
            .block_on(self.ec2.describe_snapshots().owner_ids("self").send())
            .unwrap();
        out.snapshots()
            .iter()
            .filter_map(|s| s.snapshot_id().map(String::from))
            .collect()
    }

    /// Our AMIs: ID → (state, tags, snapshots).
    #[allow(clippy::type_complexity)]
    fn own_amis(&self) -> BTreeMap<String, (ImageState, BTreeMap<String, String>, Vec<String>)> {
        let out = self
            .rt
            .block_on(self.ec2.describe_images().owners("self").send())
            .unwrap();
        out.images()
            .iter()
            .map(|image| {
                let snapshots = image
                    .block_device_mappings()
                    .iter()
                    .filter_map(|m| m.ebs()?.snapshot_id().map(String::from))
                    .collect();
                (
                    image.image_id().unwrap_or_default().to_string(),
                    (
                        image.state().cloned().unwrap_or(ImageState::Pending),
                        imgs_test_peers::ec2::tag_map(image.tags()),
                        snapshots,
                    ),
                )
            })
            .collect()
    }

    /// The audit of the build region and of the workspace at `root`; `before` are the snapshots
    /// that were there before any build.
    fn fault_audit(&self, root: &Path, before: &BTreeSet<String>) -> Audit {
        let mut audit = Audit::default();
        let left = self.leftovers();
        for (kind, ids) in [
            ("instances", left.instances),
            ("security groups", left.security_groups),
            ("key pairs", left.key_pairs),
            ("volumes", left.volumes),
        ] {
            if !ids.is_empty() {
                audit.leaked.insert(kind, ids);
            }
        }
        let amis = self.own_amis();
        let used: BTreeSet<&String> = amis.values().flat_map(|(_, _, s)| s).collect();
        for snapshot in self.own_snapshots() {
            if !used.contains(&snapshot) && !before.contains(&snapshot) {
                let kind = audit.leaked.entry("snapshots without an AMI").or_default();
                kind.push(snapshot);
            }
        }
        for (ami, (state, _, _)) in &amis {
            if *state != ImageState::Available {
                let kind = audit.leaked.entry("AMIs not available").or_default();
                kind.push(ami.clone());
            }
        }
        for record in Cache::open(&root.join("cache")).list().unwrap() {
            let fingerprint = record.fingerprint.to_string();
            for build in &record.builds {
                for part in build.artifact_id.split(',') {
                    let ami = part.split_once(':').map_or(part, |(_, ami)| ami);
                    let sound = amis.get(ami).is_some_and(|(state, tags, _)| {
                        *state == ImageState::Available
                            && tags.get("imgs:fingerprint") == Some(&fingerprint)
                            && tags.get("imgs:image") == Some(&record.image)
                    });
                    if !sound {
                        audit.false_records.push(format!(
                            "record of {} names {part}, not an available AMI of its fingerprint",
                            record.image
                        ));
                    }
                }
            }
        }
        audit
    }
}

/// The AMI each image's record names (one build, one region).
fn recorded_amis(root: &Path) -> BTreeMap<String, String> {
    Cache::open(&root.join("cache"))
        .list()
        .unwrap()
        .into_iter()
        .map(|record| {
            let artifact = &record.builds[0].artifact_id;
            let ami = artifact
                .split_once(':')
                .map_or(artifact.as_str(), |(_, a)| a);
            (record.image.clone(), ami.to_string())
        })
        .collect()
}

/// Adds `counts`'s faults to `faults`, by kind.
fn add_faults(faults: &mut BTreeMap<String, u64>, counts: &FaultCounts) {
    for (kind, n) in &counts.faults {
        *faults.entry(kind.clone()).or_default() += n;
    }
}

#[test]
fn a_layered_build_survives_a_fifth_of_every_call_failing() {
    let peers = Peers::start(KEY_PAIR);
    let before = peers.own_snapshots();
    let seed = first_seed();
    let runs = chaos::runs(1, 5);
    let mut faults: BTreeMap<String, u64> = BTreeMap::new();
    let mut requests = 0;
    let mut builds_succeeded = 0;
    let mut leaked: BTreeMap<&'static str, usize> = LEAK_KINDS.iter().map(|k| (*k, 0)).collect();
    let mut false_records = Vec::new();
    let mut failures = Vec::new();
    for run in 0..runs {
        let seed = seed + run as u64;
        let plan = FaultPlan::mixed(0.2).delays(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(3),
        );
        let proxy = FaultProxy::start(peers.moto.port(), seed, plan).unwrap();
        // A remote directory of its own gives every run other fingerprints: all 13 images build.
        let remote = tempfile::tempdir().unwrap();
        let ws = layered_workspace(&peers, remote.path(), false);
        let root = ws.path();
        through(root, &proxy.endpoint(), &serde_json::json!({}));
        let out = imgs(root, &["build", "--all", "--message-format", "json"]);
        let counts = proxy.counts();
        add_faults(&mut faults, &counts);
        requests += counts.requests;
        let events = crate::layered_ebs::events(&out.stdout);
        builds_succeeded += events.iter().filter(|e| e["event"] == "built").count();
        if out.code != 0 {
            failures.push(format!(
                "seed {seed}: exit {}\n{}\n{}",
                out.code,
                crate::layered_ebs::outcomes(&events),
                out.stderr
            ));
        }
        eprintln!(
            "seed {seed}: {} calls, {} faults {:?}",
            counts.requests,
            counts.total_faults(),
            counts.faults
        );

        // Every image is recorded, with its own AMI, launched from its parent's.
        let amis = recorded_amis(root);
        if out.code == 0 {
            assert_eq!(amis.len(), 13, "seed {seed}: {amis:?}");
            let public_ami = peers.public_ami();
            for image in all_images() {
                let expected_source = match parent_of(&image) {
                    Some(parent) => amis[&parent].clone(),
                    None => public_ami.clone(),
                };
                let launches = peers.launches_of(REGION, &image);
                assert!(
                    launches
                        .iter()
                        .any(|l| l.source_ami == expected_source && l.state == "terminated"),
                    "seed {seed}: {image} launched from {expected_source}: {launches:?}"
                );
            }
        }
        let found = peers.fault_audit(root, &before);
        for (kind, ids) in &found.leaked {
            *leaked.entry(kind).or_default() += ids.len();
        }
        if found.leaked_count() > 0 || !found.false_records.is_empty() {
            eprintln!("seed {seed}: {found:?}");
        }
        false_records.extend(found.false_records);
        // The next run's audit counts only what it leaves.
        proxy.set_plan(FaultPlan::none());
        let out = imgs(root, &["gc"]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
    chaos::report(
        "ec2_faults",
        serde_json::json!({
            "builder": "amazon-ebs",
            "workspace_images": all_images().len(),
            "runs": runs,
            "fault_rate": 0.2,
            "faults": faults,
            "requests": requests,
            "builds_succeeded": builds_succeeded,
            "runs_failed": failures.len(),
            "leaked": leaked,
            "false_records": false_records.len(),
        }),
    );
    assert!(
        faults.values().sum::<u64>() > 0,
        "the builds went through the proxy"
    );
    assert_eq!(failures, Vec::<String>::new());
    assert_eq!(leaked.values().sum::<usize>(), 0, "{leaked:?}");
    assert_eq!(false_records, Vec::<String>::new());
    assert_eq!(builds_succeeded, 13 * runs);
}

/// One image, `app`, built through a proxy failing every call of `action` with `kind`, with two
/// retries per call and waits of three looks a second apart.
struct OneAction {
    peers: Peers,
    proxy: FaultProxy,
    ws: tempfile::TempDir,
    before: BTreeSet<String>,
}

impl OneAction {
    fn start(action: &str, kind: FaultKind) -> OneAction {
        let peers = Peers::start("imgs-faults-key");
        let before = peers.own_snapshots();
        let proxy = FaultProxy::start(peers.moto.port(), 1, FaultPlan::always(action, kind))
            .unwrap_or_else(|why| panic!("{why}"));
        let ws = new_workspace("imgs-faults-");
        let builder = peers.ebs_builder(
            &peers.public_ami(),
            serde_json::json!({
                "ami_name": "imgs-faults-{{timestamp}}",
                "custom_endpoint_ec2": proxy.endpoint(),
                "max_retries": 2,
                "aws_polling": { "delay_seconds": 1, "max_attempts": 3 },
            }),
        );
        let template = serde_json::json!({
            "builders": [builder],
            "provisioners": [{ "type": "shell", "inline": ["echo provisioned"] }],
        });
        write_template(ws.path(), "app", &template);
        OneAction {
            peers,
            proxy,
            ws,
            before,
        }
    }

    fn root(&self) -> &Path {
        self.ws.path()
    }

    /// Snapshot settings: run IDs, EC2 IDs, ports and times vary.
    fn settings(&self) -> insta::Settings {
        let mut s = run_settings(self.root(), self.peers.sshd.port);
        s.add_filter(r"\b(ami|i|sg|vol|snap|r)-[0-9a-f]+\b", "$1-[ID]");
        s.add_filter(&format!(":{}\\b", self.proxy.port()), ":[PROXY]");
        s.add_filter(r"\b\d+(\.\d+)?s\b", "[T]s");
        s
    }

    /// The build, which must fail; its stderr.
    fn failed_build(&self) -> String {
        let out = imgs(self.root(), &["build", "--all"]);
        assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
        out.stderr
    }

    /// Nothing recorded, nothing left.
    fn nothing_recorded_nor_left(&self) {
        let records = Cache::open(&self.root().join("cache")).list().unwrap();
        assert!(records.is_empty(), "{records:?}");
        let audit = self.peers.fault_audit(self.root(), &self.before);
        assert_eq!(audit.leaked, BTreeMap::new());
        assert_eq!(audit.false_records, Vec::<String>::new());
    }
}

#[test]
fn run_instances_always_throttled_fails_the_launch_after_the_retries_and_leaves_nothing() {
    let case = OneAction::start("RunInstances", FaultKind::RequestLimitExceeded);
    let stderr = case.failed_build();
    case.settings()
        .bind(|| insta::assert_snapshot!("run_instances_throttled", stderr));
    let counts = case.proxy.counts();
    assert_eq!(
        counts.faults_of("RunInstances"),
        3,
        "the first try and 2 retries"
    );
    case.nothing_recorded_nor_left();
}

#[test]
fn create_image_always_failing_fails_the_build_and_leaves_nothing() {
    let case = OneAction::start("CreateImage", FaultKind::InternalError);
    let stderr = case.failed_build();
    case.settings()
        .bind(|| insta::assert_snapshot!("create_image_internal_error", stderr));
    assert_eq!(case.proxy.counts().faults_of("CreateImage"), 3);
    case.nothing_recorded_nor_left();
}

#[test]
fn a_wait_whose_looks_always_fail_gives_up_after_its_looks_and_leaves_nothing() {
    let case = OneAction::start("DescribeInstances", FaultKind::Unavailable);
    let stderr = case.failed_build();
    case.settings()
        .bind(|| insta::assert_snapshot!("describe_instances_unavailable", stderr));
    case.nothing_recorded_nor_left();
}

#[test]
fn a_clean_up_that_always_fails_names_what_it_left_and_gc_removes_it() {
    let case = OneAction::start("TerminateInstances", FaultKind::Unavailable);
    // The build itself succeeds, as in Packer: the AMI is made and recorded; what its clean-up
    // left is said on stderr, with the run's tag.
    let out = imgs(case.root(), &["build", "--all"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let records = Cache::open(&case.root().join("cache")).list().unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let run_id = &records[0].run_id;
    assert!(
        out.stderr.contains(&format!("imgs gc --run {run_id}")),
        "{}",
        out.stderr
    );
    case.settings()
        .bind(|| insta::assert_snapshot!("terminate_instances_unavailable", out.stderr));
    let left = case.peers.leftovers();
    assert_eq!(left.instances.len(), 1, "{left:?}");
    assert_eq!(left.security_groups.len(), 1, "{left:?}");

    // Faults off: gc removes what the build left; the AMI stays, and its record is sound.
    case.proxy.set_plan(FaultPlan::none());
    let gc = imgs_ok(case.root(), &["gc", "--run", run_id]);
    assert!(gc.contains("instance"), "{gc}");
    let audit = case.peers.fault_audit(case.root(), &case.before);
    assert_eq!(audit.leaked, BTreeMap::new());
    assert_eq!(audit.false_records, Vec::<String>::new());
}
