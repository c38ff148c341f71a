//! The cloud cache against a real EC2 API server (moto) on loopback: AMIs are found by their
//! `imgs:fingerprint` tag when `cache/` is empty, a record whose AMI was deregistered is stale (and so
//! are the images built on it), `cache prune --deregister` removes AMIs of older fingerprints, and a
//! child built in another region than its parent gets the parent's AMI of that region.
//!
//! "Nothing was built" is checked on the server, not only in the output: every build launches an
//! instance (moto keeps terminated instances listed) and registers an AMI, so an unchanged count of
//! instances and AMIs after a run means the run made no build's mutating calls. Lookups
//! (DescribeImages) change nothing there.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::ebs::{Peers, REGION};
use crate::support::*;

const KEY_PAIR: &str = "imgs-cloud-cache-key";
const OTHER_REGION: &str = "eu-west-1";

impl Peers {
    /// Snapshots of ours in the build region.
    fn snapshot_count(&self) -> usize {
        self.rt
            .block_on(self.ec2.describe_snapshots().owner_ids("self").send())
            .unwrap()
            .snapshots()
            .len()
    }

    /// An amazon-ebs block without a communicator (nothing to provision: the cache is the subject).
    fn cache_builder(
        &self,
        region: &str,
        source_ami: &str,
        extra: serde_json::Value,
    ) -> serde_json::Value {
        let mut settings = serde_json::json!({
            "source_ami": source_ami,
            "ami_name": "imgs-{{build_name}}-{{uuid}}",
            "ami_description": "{{user `flavor`}}",
            "communicator": "none",
        });
        let fields = settings.as_object_mut().unwrap();
        fields.extend(extra.as_object().unwrap().clone());
        self.ebs_settings(region, settings)
    }
}

/// An image's template: `parent` names the variable holding its parent's AMI, if it has one.
fn template(peers: &Peers, region: &str, parent: Option<&str>, extra: serde_json::Value) -> String {
    let mut variables = serde_json::json!({ "flavor": "plain" });
    let source = match parent {
        Some(variable) => {
            variables[variable] = serde_json::Value::Null;
            format!("{{{{user `{variable}`}}}}")
        }
        None => peers.public_ami(),
    };
    serde_json::to_string_pretty(&serde_json::json!({
        "variables": variables,
        "builders": [peers.cache_builder(region, &source, extra)],
    }))
    .unwrap()
}

/// base → mid → {leaf1, leaf2}, all in one region.
fn chain_workspace(peers: &Peers) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-cloud-",
        "\n\
         [images.mid]\nparents = { base_ami = \"base\" }\n\n\
         [images.leaf1]\nparents = { mid_ami = \"mid\" }\n\n\
         [images.leaf2]\nparents = { mid_ami = \"mid\" }\n",
    );
    let root = dir.path();
    let none = serde_json::json!({});
    write(
        root,
        "images/base/template.json",
        &template(peers, REGION, None, none.clone()),
    );
    write(
        root,
        "images/mid/template.json",
        &template(peers, REGION, Some("base_ami"), none.clone()),
    );
    for leaf in ["leaf1", "leaf2"] {
        write(
            root,
            &format!("images/{leaf}/template.json"),
            &template(peers, REGION, Some("mid_ami"), none.clone()),
        );
    }
    dir
}

/// Plan snapshots: fingerprints, AMI IDs and the workspace path vary between runs.
fn plan_settings(root: &Path) -> insta::Settings {
    let mut s = settings(root);
    s.add_filter(r"\bami-[0-9a-f]+\b", "ami-[ID]");
    s.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[TIME]");
    s
}

fn only_ami(amis: &[(String, String)]) -> String {
    assert_eq!(amis.len(), 1, "{amis:?}");
    amis[0].0.clone()
}

#[test]
fn amis_are_the_cache_when_records_are_gone_or_stale() {
    let peers = Peers::start(KEY_PAIR);
    let ws = chain_workspace(&peers);
    let root = ws.path();
    let images = ["base", "mid", "leaf1", "leaf2"];

    let first = imgs_ok(root, &["build", "--all"]);
    assert!(first.contains("4 images built"), "{first}");
    let built = peers.footprint(REGION);

    // Second run: all fresh from local records, and no build's calls reached EC2.
    let again = imgs_ok(root, &["build", "--all"]);
    assert!(again.contains("0 images built, 4 fresh"), "{again}");
    assert_eq!(peers.footprint(REGION), built);

    // A fresh machine: no cache/. The AMIs are found by their fingerprint tag.
    std::fs::remove_dir_all(root.join("cache")).unwrap();
    let plan = imgs_ok(root, &["plan", "--all"]);
    plan_settings(root).bind(|| insta::assert_snapshot!("plan_without_cache", plan));
    let from_tags = imgs_ok(root, &["build", "--all"]);
    assert!(from_tags.contains("0 images built, 4 fresh"), "{from_tags}");
    assert_eq!(peers.footprint(REGION), built, "nothing was built");
    // The build recorded what it found: the next plan needs no tag to say fresh.
    let ls = imgs_ok(root, &["cache", "ls"]);
    for image in images {
        assert!(ls.contains(image), "{ls}");
    }
    let offline = imgs_ok(root, &["plan", "--all", "--offline"]);
    assert!(offline.contains("0 to build, 4 fresh"), "{offline}");
    assert!(!offline.contains("found by"), "{offline}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("cache/manifest.json")).unwrap())
            .unwrap();
    assert!(
        manifest["builds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["cached"] == true),
        "{manifest}"
    );

    // mid's AMI is deregistered behind imgs's back: mid and what is built on it rebuild.
    let old_mid = only_ami(&peers.amis_of(REGION, "mid"));
    peers
        .rt
        .block_on(peers.ec2.deregister_image().image_id(&old_mid).send())
        .unwrap();
    let plan = imgs_ok(root, &["plan", "--all"]);
    plan_settings(root).bind(|| insta::assert_snapshot!("plan_after_mid_deregistered", plan));
    let offline = imgs_ok(root, &["plan", "--all", "--offline"]);
    assert!(
        offline.contains("0 to build, 4 fresh"),
        "offline trusts records: {offline}"
    );
    let rebuilt = imgs_ok(root, &["build", "--all"]);
    assert!(rebuilt.contains("3 images built, 1 fresh"), "{rebuilt}");
    let new_mid = only_ami(&peers.amis_of(REGION, "mid"));
    assert_ne!(new_mid, old_mid);
    for leaf in ["leaf1", "leaf2"] {
        let sources: BTreeSet<String> = peers.sources_of(REGION, leaf).into_iter().collect();
        assert!(
            sources.contains(&new_mid),
            "{leaf} launched from the new mid: {sources:?}"
        );
    }

    // An input of leaf2 changes: its old AMI is of an older fingerprint, which prune deregisters.
    let fingerprints_before = fingerprints(root);
    append(
        root,
        "Images.toml",
        "\n[images.leaf2.variables]\nflavor = \"spicy\"\n",
    );
    let changed = imgs_ok(root, &["build", "--all"]);
    assert!(changed.contains("1 image built, 3 fresh"), "{changed}");
    let leaf2 = peers.amis_of(REGION, "leaf2");
    assert_eq!(
        leaf2.len(),
        3,
        "two builds under the old fingerprint, one under the new: {leaf2:?}"
    );
    let current_leaf2 = fingerprints(root)["leaf2"].clone();
    assert_ne!(current_leaf2, fingerprints_before["leaf2"]);

    let dry = imgs_ok(root, &["cache", "prune", "--deregister", "--dry-run"]);
    plan_settings(root).bind(|| insta::assert_snapshot!("prune_deregister_dry_run", dry));
    assert_eq!(
        peers.amis_of(REGION, "leaf2").len(),
        3,
        "a dry run removes nothing"
    );

    let refused = imgs(root, &["cache", "prune", "--deregister"]);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    plan_settings(root)
        .bind(|| insta::assert_snapshot!("prune_deregister_refused", refused.stderr));
    assert_eq!(
        peers.amis_of(REGION, "leaf2").len(),
        3,
        "refused: nothing removed"
    );

    let snapshots_before = peers.snapshot_count();
    let pruned = imgs_ok(root, &["cache", "prune", "--deregister", "--yes"]);
    assert_eq!(
        snapshots_before - peers.snapshot_count(),
        2,
        "the AMIs' snapshots went with them"
    );
    plan_settings(root).bind(|| insta::assert_snapshot!("prune_deregister", pruned));
    let left = peers.amis_of(REGION, "leaf2");
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].1, current_leaf2, "the current AMI stays");
    // The other images' AMIs are untouched: all are of current fingerprints (leaf1's first AMI,
    // launched from the deregistered mid, has the same fingerprint as its rebuild and stays).
    assert_eq!(peers.amis_of(REGION, "base").len(), 1);
    assert_eq!(peers.amis_of(REGION, "mid").len(), 1);
    assert_eq!(peers.amis_of(REGION, "leaf1").len(), 2);
    let plan = imgs_ok(root, &["plan", "--all"]);
    assert!(plan.contains("0 to build, 4 fresh"), "{plan}");
}

#[test]
fn a_child_in_another_region_gets_its_parents_ami_of_that_region() {
    let peers = Peers::start(KEY_PAIR);
    let dir = new_workspace_with(
        "imgs-cloud-",
        "\n\
         [images.app]\nparents = { base_ami = \"base\" }\n\n\
         [images.lost]\nparents = { base_ami = \"base\" }\n",
    );
    let root = dir.path();
    write(
        root,
        "images/base/template.json",
        &template(
            &peers,
            REGION,
            None,
            serde_json::json!({ "ami_regions": [OTHER_REGION] }),
        ),
    );
    write(
        root,
        "images/app/template.json",
        &template(
            &peers,
            OTHER_REGION,
            Some("base_ami"),
            serde_json::json!({}),
        ),
    );
    // A region the parent does not copy its AMI to.
    write(
        root,
        "images/lost/template.json",
        &template(&peers, "us-west-2", Some("base_ami"), serde_json::json!({})),
    );

    let out = imgs(root, &["build", "--all", "--keep-going"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let base_here = only_ami(&peers.amis_of(REGION, "base"));
    let base_there = only_ami(&peers.amis_of(OTHER_REGION, "base"));
    assert_ne!(base_here, base_there);
    assert_eq!(peers.sources_of(OTHER_REGION, "app"), [base_there]);
    assert_eq!(peers.amis_of(OTHER_REGION, "app").len(), 1);
    assert!(
        out.stderr
            .contains("parent `base` has no AMI in us-west-2 (it has AMIs in eu-west-1, us-east-1); add us-west-2 to the parent's ami_regions"),
        "{}",
        out.stderr
    );
    assert!(
        peers.sources_of("us-west-2", "lost").is_empty(),
        "nothing launched"
    );

    // With cache/ gone, the parent is found by tag in both its regions.
    std::fs::remove_dir_all(root.join("cache")).unwrap();
    let plan = imgs_ok(root, &["plan", "-i", "base", "-i", "app"]);
    plan_settings(root).bind(|| insta::assert_snapshot!("plan_two_regions_without_cache", plan));
}

#[test]
fn a_failed_lookup_warns_and_plans_from_local_records() {
    // Nothing listens on this port once the listener is dropped: EC2 cannot be reached.
    let port = imgs_test_peers::process::free_port().unwrap();
    let dir = new_workspace("imgs-cloud-");
    let root = dir.path();
    let template = serde_json::json!({
        "builders": [{
            "type": "amazon-ebs",
            "region": REGION,
            "access_key": "testing",
            "secret_key": "testing",
            "custom_endpoint_ec2": format!("http://127.0.0.1:{port}"),
            "max_retries": 1,
            "source_ami": "ami-12345678",
            "instance_type": "t3.micro",
            "ami_name": "imgs-base-{{uuid}}",
            "communicator": "none",
        }],
    });
    write_template(root, "base", &template);
    let out = imgs(root, &["plan", "--all"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("never built"), "{}", out.stdout);
    let mut s = settings(root);
    s.add_filter(&format!(":{port}\\b"), ":[PORT]");
    s.bind(|| insta::assert_snapshot!("lookup_failed_warning", out.stderr));

    let offline = imgs(root, &["plan", "--all", "--offline"]);
    assert_eq!(offline.code, 0);
    assert_eq!(offline.stderr, "", "--offline asks nothing");
}
