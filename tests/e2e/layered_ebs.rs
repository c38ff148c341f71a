//! A 13-image layered amazon-ebs workspace (one base, three children on it, three grandchildren on
//! each child) built against a real EC2 API server (moto) and a real sshd on loopback: every image is
//! launched from its parent's AMI, builds follow the DAG while independent images run at once, the
//! cloud cache keeps a second run, a run without `cache/` and a run after a change to exactly what
//! changed, and a failure in the middle layer stops or spares the rest as asked, leaving nothing on EC2.
//!
//! "Zero builds" is shown on the server: moto's request recorder lists every EC2 action a run made,
//! and a run that builds nothing makes only reads (`Describe*`).
//!
//! Concurrency is shown without timing anything: each child's script waits for a sibling's marker file
//! (a ring, so all three must be running at once), and so do the grandchildren of one child.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::ebs::{Peers, REGION};
use crate::support::*;

pub(crate) const KEY_PAIR: &str = "imgs-layered-key";

const CHILDREN: [&str; 3] = ["a", "b", "c"];

/// The grandchildren of `child`: `a1`, `a2`, `a3` for `a`.
fn grandchildren(child: &str) -> [String; 3] {
    [1, 2, 3].map(|n| format!("{child}{n}"))
}

/// Every image, parents before children.
pub(crate) fn all_images() -> Vec<String> {
    let mut names = vec!["base".to_string()];
    names.extend(CHILDREN.map(String::from));
    for child in CHILDREN {
        names.extend(grandchildren(child));
    }
    names
}

/// The parent of every image but `base`: `base` for a child, the child for a grandchild (`a` of `a2`).
pub(crate) fn parent_of(image: &str) -> Option<String> {
    if image == "base" {
        None
    } else if image.len() == 1 {
        Some("base".into())
    } else {
        Some(image[..1].into())
    }
}

/// The siblings in the order of the ring of waits: each waits for the next to have started.
fn sibling_rings() -> Vec<Vec<String>> {
    let mut rings = vec![CHILDREN.map(String::from).to_vec()];
    for child in CHILDREN {
        rings.push(grandchildren(child).to_vec());
    }
    rings
}

/// The provisioning script of `image`: marks that it started, optionally waits (10 s at most) for
/// `wait_for` to have started too, and marks that it is done.
fn script(image: &str, wait_for: Option<&str>) -> String {
    let wait = match wait_for {
        Some(other) => format!(
            "for i in $(seq 100); do [ -e {other}.started ] && break; sleep 0.1; done\n\
             [ -e {other}.started ] || {{ echo never saw {other} start; exit 7; }}\n"
        ),
        None => String::new(),
    };
    format!("#!/bin/sh\nset -e\ncd \"$REMOTE\"\ntouch {image}.started\n{wait}touch {image}.done\n")
}

/// The workspace; with `rings`, siblings wait for each other (see `script`).
pub(crate) fn layered_workspace(peers: &Peers, remote: &Path, rings: bool) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("imgs-layered-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    let mut manifest = String::from("[workspace]\nmembers = [\"images/*\"]\n");
    for image in all_images() {
        if let Some(parent) = parent_of(&image) {
            manifest.push_str(&format!(
                "\n[images.{image}]\nparents = {{ parent_ami = \"{parent}\" }}\n"
            ));
        }
    }
    write(root, "Images.toml", &manifest);
    let public_ami = peers.public_ami();
    let mut waits: BTreeMap<String, String> = BTreeMap::new();
    if rings {
        for ring in sibling_rings() {
            for (i, image) in ring.iter().enumerate() {
                waits.insert(image.clone(), ring[(i + 1) % ring.len()].clone());
            }
        }
    }
    for image in all_images() {
        let mut variables = serde_json::json!({ "remote": remote });
        let source = match parent_of(&image) {
            Some(_) => {
                variables["parent_ami"] = serde_json::Value::Null;
                "{{user `parent_ami`}}".to_string()
            }
            None => public_ami.clone(),
        };
        let template = serde_json::json!({
            "variables": variables,
            "builders": [peers.ebs_builder(&source, serde_json::json!({ "ami_name": "imgs-{{build_name}}-{{uuid}}" }))],
            "provisioners": [{
                "type": "shell",
                "script": format!("images/{image}/setup.sh"),
                "environment_vars": ["REMOTE={{user `remote`}}"],
            }],
        });
        write_template(root, &image, &template);
        write(
            root,
            &format!("images/{image}/setup.sh"),
            &script(&image, waits.get(&image).map(String::as_str)),
        );
    }
    dir
}

/// Snapshot settings: besides the workspace and fingerprints, EC2 IDs, run IDs, durations, the sshd's
/// port and the remote directory vary between runs.
fn layered_settings(root: &Path, remote: &Path, peers: &Peers) -> insta::Settings {
    let mut s = run_settings(root, peers.sshd.port);
    s.add_filter(&regex_escape(&remote.to_string_lossy()), "[REMOTE]");
    s.add_filter(r"\b(ami|i|sg|vol|snap|r)-[0-9a-f]+\b", "$1-[ID]");
    s.add_filter(r#""seconds":[0-9.e-]+"#, r#""seconds":[T]"#);
    s.add_filter(r"\d+\.\d\ds", "[T]s");
    s.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[TIME]");
    s
}

/// The JSON events of a `--message-format json` run.
pub(crate) fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Where in the stream `image`'s `event` is (it must be there once).
fn position(events: &[serde_json::Value], event: &str, image: &str) -> usize {
    let found: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["event"] == event && e["image"] == image)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "one `{event}` event of {image}: {events:?}");
    found[0]
}

/// Each image's last event (built, fresh, failed or skipped), with its reason or error: one line per
/// image, in name order, so concurrent runs give a stable text.
pub(crate) fn outcomes(events: &[serde_json::Value]) -> String {
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for e in events {
        let Some(image) = e["image"].as_str() else {
            continue;
        };
        let line = match e["event"].as_str().unwrap() {
            "built" => "built".to_string(),
            "fresh" => "fresh".to_string(),
            "failed" => format!("failed: {}", e["error"].as_str().unwrap_or_default()),
            "skipped" => format!("skipped: {}", e["reason"].as_str().unwrap_or_default()),
            _ => continue,
        };
        last.insert(image.to_string(), line);
    }
    last.into_iter()
        .map(|(image, line)| format!("{image}: {line}\n"))
        .collect()
}

/// imgs's own lines of a plain run (they are indented), without the builds' output: that names
/// things EC2 makes up (security groups, addresses) and carries whatever the sshd's shell prints.
fn status_lines(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| l.starts_with(' '))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The AMI imgs made for `image` (exactly one).
fn only_ami(peers: &Peers, image: &str) -> String {
    let amis = peers.amis_of(REGION, image);
    assert_eq!(amis.len(), 1, "{image}: {amis:?}");
    amis[0].0.clone()
}

#[test]
fn a_layered_workspace_builds_in_dag_order_at_once_and_rebuilds_exactly_what_changed() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = layered_workspace(&peers, remote.path(), true);
    let root = ws.path();
    let images = all_images();

    // First run: everything is built. The rings of waits only end when siblings run at once.
    let out = imgs(root, &["build", "--all", "--message-format", "json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let first = events(&out.stdout);
    let summary = first.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["built"], 13, "{summary}");
    layered_settings(root, remote.path(), &peers).bind(|| {
        insta::assert_snapshot!("first_run_plan_event", first[0].to_string());
        insta::assert_snapshot!("first_run_outcomes", outcomes(&first));
    });

    // Every image was launched once, from its parent's AMI (the base from the public one), and its
    // build started only after its parent's was built.
    let public_ami = peers.public_ami();
    for image in &images {
        let launches = peers.launches_of(REGION, image);
        assert_eq!(launches.len(), 1, "{image}: {launches:?}");
        let expected = match parent_of(image) {
            Some(parent) => {
                assert!(
                    position(&first, "started", image) > position(&first, "built", &parent),
                    "{image} started after {parent} was built"
                );
                only_ami(&peers, &parent)
            }
            None => public_ami.clone(),
        };
        assert_eq!(launches[0].source_ami, expected, "{image}'s source");
        assert_eq!(launches[0].state, "terminated", "{image}'s instance");
    }
    // Siblings overlapped: each started before each other one was built.
    for ring in sibling_rings() {
        for x in &ring {
            for y in ring.iter().filter(|y| *y != x) {
                assert!(
                    position(&first, "started", x) < position(&first, "built", y),
                    "{x} started before {y} was built"
                );
            }
        }
    }
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
    let amis: BTreeMap<String, String> = images
        .iter()
        .map(|i| (i.clone(), only_ami(&peers, i)))
        .collect();

    // Second run: all fresh from the records, and not one EC2 call that changes anything.
    let (again, writes) = peers.ec2_writes_during(|| imgs_ok(root, &["build", "--all"]));
    assert_eq!(writes, Vec::<String>::new(), "{again}");
    layered_settings(root, remote.path(), &peers)
        .bind(|| insta::assert_snapshot!("second_run_all_fresh", again));

    // One script changes: that image and the three built on it rebuild, nothing else.
    append(root, "images/b/setup.sh", "echo changed\n");
    let (out, writes) =
        peers.ec2_writes_during(|| imgs(root, &["build", "--all", "--message-format", "json"]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let changed = events(&out.stdout);
    layered_settings(root, remote.path(), &peers)
        .bind(|| insta::assert_snapshot!("outcomes_after_b_changed", outcomes(&changed)));
    // Four builds' worth of changes, each undone but the AMI: one instance and one security group
    // made and removed per build, one AMI registered (and it and its snapshot tagged).
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for action in &writes {
        *counts.entry(action.as_str()).or_default() += 1;
    }
    let four_builds: BTreeMap<&str, usize> = [
        ("AuthorizeSecurityGroupIngress", 4),
        ("CreateImage", 4),
        ("CreateSecurityGroup", 4),
        ("CreateTags", 8),
        ("DeleteSecurityGroup", 4),
        ("RunInstances", 4),
        ("StopInstances", 4),
        ("TerminateInstances", 4),
    ]
    .into();
    assert_eq!(counts, four_builds);
    let new_b = amis_now(&peers, "b", &amis["b"]);
    for leaf in grandchildren("b") {
        let sources = peers.sources_of(REGION, &leaf);
        assert_eq!(sources.len(), 2, "{leaf}: {sources:?}");
        assert!(sources.contains(&new_b), "{leaf} launched from the new b");
    }
    for image in images.iter().filter(|i| !i.starts_with('b')) {
        assert_eq!(peers.launches_of(REGION, image).len(), 1, "{image} kept");
    }

    // A fresh machine: no cache/. The AMIs are found by their fingerprint tag; nothing is built.
    std::fs::remove_dir_all(root.join("cache")).unwrap();
    let (from_tags, writes) =
        peers.ec2_writes_during(|| imgs_ok(root, &["build", "--all", "--message-format", "json"]));
    assert_eq!(writes, Vec::<String>::new(), "{from_tags}");
    layered_settings(root, remote.path(), &peers)
        .bind(|| insta::assert_snapshot!("json_run_without_cache", from_tags));
    let summary = events(&from_tags).pop().unwrap();
    assert_eq!(
        (&summary["built"], &summary["fresh"]),
        (&0.into(), &13.into())
    );

    // c's AMI is deregistered behind imgs's back: c and what is built on it rebuild.
    let old_c = only_ami(&peers, "c");
    peers
        .rt
        .block_on(peers.ec2.deregister_image().image_id(&old_c).send())
        .unwrap();
    let plan = imgs_ok(root, &["plan", "--all"]);
    layered_settings(root, remote.path(), &peers)
        .bind(|| insta::assert_snapshot!("plan_after_c_deregistered", plan));
    let rebuilt = imgs_ok(root, &["build", "--all"]);
    assert!(rebuilt.contains("4 images built, 9 fresh"), "{rebuilt}");
    let new_c = only_ami(&peers, "c");
    assert_ne!(new_c, old_c);
    for leaf in grandchildren("c") {
        let last = peers.launches_of(REGION, &leaf);
        assert!(
            last.iter().any(|l| l.source_ami == new_c),
            "{leaf} launched from the new c: {last:?}"
        );
    }
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

/// The AMI of `image` other than `old`: the one its rebuild made.
fn amis_now(peers: &Peers, image: &str, old: &str) -> String {
    let amis = peers.amis_of(REGION, image);
    let new: Vec<&String> = amis.iter().map(|a| &a.0).filter(|a| *a != old).collect();
    assert_eq!(new.len(), 1, "{image}: {amis:?}");
    new[0].clone()
}

#[test]
fn a_failure_in_the_middle_layer_stops_or_spares_the_rest_and_leaves_nothing() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let failing = "#!/bin/sh\necho about to fail\nexit 3\n";

    // Fail-fast, one build at a time so the run's order is fixed: what had not started stays so.
    let ws = layered_workspace(&peers, remote.path(), false);
    let root = ws.path();
    write(root, "images/b/setup.sh", failing);
    let out = imgs(root, &["build", "--all", "-j", "1"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let settings = layered_settings(root, remote.path(), &peers);
    settings.bind(|| {
        insta::assert_snapshot!("fail_fast_status_lines", status_lines(&out.stdout));
        insta::assert_snapshot!("fail_fast_stderr", out.stderr);
    });
    assert!(peers.amis_of(REGION, "b").is_empty(), "no AMI of b");
    assert!(!root.join("cache/records/b").exists(), "no record of b");
    for leaf in grandchildren("b") {
        assert!(peers.launches_of(REGION, &leaf).is_empty(), "{leaf}");
    }
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());

    // --keep-going, all at once: everything not built on b is built. Another remote directory makes
    // other fingerprints, so nothing of the run above is found by tag.
    let remote = tempfile::tempdir().unwrap();
    let ws = layered_workspace(&peers, remote.path(), false);
    let root = ws.path();
    write(root, "images/b/setup.sh", failing);
    let out = imgs(
        root,
        &["build", "--all", "--keep-going", "--message-format", "json"],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let kept_going = events(&out.stdout);
    let settings = layered_settings(root, remote.path(), &peers);
    settings.bind(|| {
        insta::assert_snapshot!("keep_going_outcomes", outcomes(&kept_going));
        insta::assert_snapshot!("keep_going_stderr", out.stderr);
    });
    let summary = kept_going.last().unwrap();
    assert_eq!(
        (&summary["built"], &summary["failed"], &summary["skipped"]),
        (&9.into(), &1.into(), &3.into()),
        "{summary}"
    );
    assert!(!root.join("cache/records/b").exists(), "no record of b");
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}
