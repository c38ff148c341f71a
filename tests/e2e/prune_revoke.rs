//! `imgs prune` and `imgs revoke` against a real EC2 API server (moto) on loopback, and on local
//! artifacts: a two-image amazon-ebs workspace (`app` launched from `base`'s AMI) built three times
//! with `base`'s script changed in between; the prune keeps the newest, what a channel points at and
//! the parent a kept child was built on, and deregisters the rest with their snapshots. A revoked
//! base (with its descendants) is tagged on EC2 and in `cache/revoked.json`, a plan of its child fails
//! naming it, the graph says so, and a forced rebuild of the base replaces it.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::ebs::{Peers, REGION};
use crate::support::*;

const KEY_PAIR: &str = "imgs-prune-revoke-key";

impl Peers {
    /// Every tag of `resource` (an AMI or snapshot) in the build region.
    fn tags_on(&self, resource: &str) -> BTreeMap<String, String> {
        self.tags_in(REGION, resource)
    }

    /// The snapshots of `ami`, as EC2 describes it (none once it is deregistered).
    fn snapshots_of_ami(&self, ami: &str) -> Vec<String> {
        let out = self
            .rt
            .block_on(self.ec2.describe_images().image_ids(ami).send());
        let Ok(out) = out else { return vec![] };
        out.images()
            .iter()
            .flat_map(|i| i.block_device_mappings())
            .filter_map(|m| m.ebs()?.snapshot_id())
            .map(str::to_string)
            .collect()
    }

    /// Our snapshot IDs in the build region.
    fn our_snapshots(&self) -> Vec<String> {
        self.rt
            .block_on(self.ec2.describe_snapshots().owner_ids("self").send())
            .unwrap()
            .snapshots()
            .iter()
            .filter_map(|s| s.snapshot_id().map(str::to_string))
            .collect()
    }

    fn tag(&self, resource: &str, key: &str, value: &str) {
        self.rt
            .block_on(
                self.ec2
                    .create_tags()
                    .resources(resource)
                    .tags(
                        imgs_aws::sdk::types::Tag::builder()
                            .key(key)
                            .value(value)
                            .build(),
                    )
                    .send(),
            )
            .unwrap();
    }
}

/// `base` (from moto's public AMI, running `setup.sh` locally) and `app` (from `base`'s AMI).
fn ebs_workspace(peers: &Peers) -> tempfile::TempDir {
    ebs_workspace_copied_to(peers, &[])
}

/// [`ebs_workspace`], with `base`'s AMIs also copied to `ami_regions`.
fn ebs_workspace_copied_to(peers: &Peers, ami_regions: &[&str]) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-prune-",
        "\n[images.app]\nparents = { base_ami = \"base\" }\n",
    );
    let root = dir.path();
    let builder = |source: &str| {
        peers.ebs_settings(
            REGION,
            serde_json::json!({
                "source_ami": source,
                "ami_name": "imgs-{{build_name}}-{{uuid}}",
                "communicator": "none",
            }),
        )
    };
    let mut base = builder(&peers.public_ami());
    if !ami_regions.is_empty() {
        base["ami_regions"] = serde_json::json!(ami_regions);
    }
    write_template(
        root,
        "base",
        &serde_json::json!({
            "builders": [base],
            "provisioners": [{ "type": "shell-local", "script": "{{template_dir}}/setup.sh" }],
        }),
    );
    write_script(root, 1);
    write_template(
        root,
        "app",
        &serde_json::json!({
            "variables": { "base_ami": null },
            "builders": [builder("{{user `base_ami`}}")],
        }),
    );
    dir
}

/// `base`'s script, changed for each version.
fn write_script(root: &Path, version: u32) {
    use std::os::unix::fs::PermissionsExt;
    write(
        root,
        "images/base/setup.sh",
        &format!("#!/bin/sh\necho v{version}\n"),
    );
    let path = root.join("images/base/setup.sh");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Prune and revoke output: AMI and snapshot IDs, fingerprints, times and the workspace vary.
fn ids_settings(root: &Path) -> insta::Settings {
    let mut s = settings(root);
    s.add_filter(r"\bami-[0-9a-f]+\b", "ami-[ID]");
    s.add_filter(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
        "[TIME]",
    );
    s.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[TIME]");
    s
}

#[test]
fn prune_keeps_the_newest_the_channels_and_what_kept_children_stand_on() {
    let peers = Peers::start(KEY_PAIR);
    let ws = ebs_workspace(&peers);
    let root = ws.path();
    let mut builds: Vec<BTreeMap<String, String>> = Vec::new();
    for version in 1..=3 {
        write_script(root, version);
        let out = imgs_ok(root, &["build", "--all"]);
        assert!(out.contains("2 images built"), "{out}");
        builds.push(fingerprints(root));
    }
    let ami = |image: &str, build: usize| peers.only_ami(image, &builds[build][image]);
    // Lineage on EC2: every AMI names the AMI it was launched from, its snapshots too.
    for build in 0..3 {
        let app = peers.tags_on(&ami("app", build));
        assert_eq!(app["imgs:source-ami"], ami("base", build));
        for snapshot in peers.snapshots_of_ami(&ami("app", build)) {
            assert_eq!(
                peers.tags_on(&snapshot)["imgs:source-ami"],
                ami("base", build)
            );
        }
    }
    assert_eq!(
        peers.tags_on(&ami("base", 0))["imgs:source-ami"],
        peers.public_ami()
    );
    // The first app is in a channel: it stays, and so does the base it was built on.
    peers.tag(&ami("app", 0), "imgs:channel:prod", "2026-01-01T00:00:00Z");
    let first_base_snapshots = peers.snapshots_of_ami(&ami("base", 0));
    let second: Vec<String> = ["base", "app"].iter().map(|i| ami(i, 1)).collect();
    let second_snapshots: Vec<String> = second
        .iter()
        .flat_map(|a| peers.snapshots_of_ami(a))
        .collect();
    assert!(!second_snapshots.is_empty());

    let dry = imgs_ok(root, &["prune", "--keep", "1", "--dry-run"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("prune_dry_run", dry));
    assert_eq!(
        peers.amis_of(REGION, "base").len(),
        3,
        "a dry run removes nothing"
    );

    let out = imgs_ok(root, &["prune", "--keep", "1"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("prune_ebs", out));
    let left = |image: &str| -> Vec<String> {
        peers
            .amis_of(REGION, image)
            .into_iter()
            .map(|(a, _)| a)
            .collect()
    };
    let mut want_base = vec![ami("base", 0), ami("base", 2)];
    want_base.sort();
    assert_eq!(left("base"), want_base);
    let mut want_app = vec![ami("app", 0), ami("app", 2)];
    want_app.sort();
    assert_eq!(left("app"), want_app);
    let snapshots = peers.our_snapshots();
    for gone in &second_snapshots {
        assert!(!snapshots.contains(gone), "snapshot {gone} was left");
    }
    for kept in &first_base_snapshots {
        assert!(snapshots.contains(kept), "snapshot {kept} was deleted");
    }
    // Their records went with them; the current ones are still fresh, with nothing built.
    for image in ["base", "app"] {
        assert!(
            !root
                .join(format!("cache/records/{image}/{}.json", builds[1][image]))
                .exists()
        );
    }
    let plan = imgs_ok(root, &["plan", "--all"]);
    assert!(plan.contains("0 to build, 2 fresh"), "{plan}");
    // Nothing more to remove.
    let again = imgs_ok(root, &["prune", "--keep", "1"]);
    assert!(again.contains("Removed 0 versions"), "{again}");
}

#[test]
fn revoke_with_descendants_tags_them_fails_plans_on_them_and_shows_in_the_graph() {
    let peers = Peers::start(KEY_PAIR);
    let ws = ebs_workspace(&peers);
    let root = ws.path();
    imgs_ok(root, &["build", "--all"]);
    let fps = fingerprints(root);
    let base_ami = peers.only_ami("base", &fps["base"]);
    let app_ami = peers.only_ami("app", &fps["app"]);

    let prefix = &fps["base"][..12];
    let out = imgs_ok(
        root,
        &[
            "revoke",
            &format!("base@{prefix}"),
            "--descendants",
            "--reason",
            "CVE-2026-0001",
        ],
    );
    ids_settings(root).bind(|| insta::assert_snapshot!("revoke_descendants", out));
    for ami in [&base_ami, &app_ami] {
        assert_eq!(peers.tags_on(ami)["imgs:revoked"], "CVE-2026-0001");
        for snapshot in peers.snapshots_of_ami(ami) {
            assert_eq!(peers.tags_on(&snapshot)["imgs:revoked"], "CVE-2026-0001");
        }
    }
    let listed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("cache/revoked.json")).unwrap()).unwrap();
    let revoked: Vec<(&str, &str)> = listed["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["image"].as_str().unwrap(),
                r["fingerprint"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        revoked,
        [("app", fps["app"].as_str()), ("base", fps["base"].as_str())]
    );

    // A plan of the child fails, from EC2's tag and, offline, from cache/revoked.json.
    let err = imgs_input_error(root, &["plan", "-i", "app"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("plan_on_revoked_parent", err));
    let offline = imgs_input_error(root, &["plan", "-i", "app", "--offline"]);
    assert!(offline.contains("CVE-2026-0001"), "{offline}");
    let build = imgs(root, &["build", "-i", "app"]);
    assert_eq!(build.code, 2, "{}{}", build.stdout, build.stderr);
    let graph = imgs_ok(root, &["graph"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("graph_revoked", graph));

    // An ambiguous or unknown version is refused with what to do.
    let unknown = imgs_input_error(root, &["revoke", "base@ffffffff"]);
    assert!(unknown.contains("has no version ffffffff"), "{unknown}");

    // A forced rebuild of the base is a new version: not revoked, and the child plans again.
    imgs_ok(root, &["build", "--force", "-i", "base"]);
    let plan = imgs_ok(root, &["plan", "-i", "app"]);
    assert!(plan.contains("fresh"), "{plan}");
    let new_base = peers
        .amis_of(REGION, "base")
        .into_iter()
        .map(|(a, _)| a)
        .find(|a| *a != base_ami)
        .unwrap();
    assert!(!peers.tags_on(&new_base).contains_key("imgs:revoked"));
    let graph = imgs_ok(root, &["graph"]);
    assert!(
        graph.contains("base [") && !graph.contains("base [fp] revoked"),
        "{graph}"
    );
}

#[test]
fn revoke_by_ami_id_without_descendants() {
    let peers = Peers::start(KEY_PAIR);
    let ws = ebs_workspace(&peers);
    let root = ws.path();
    imgs_ok(root, &["build", "--all"]);
    let fps = fingerprints(root);
    let base_ami = peers.only_ami("base", &fps["base"]);
    let app_ami = peers.only_ami("app", &fps["app"]);
    let out = imgs_ok(root, &["revoke", &base_ami]);
    assert!(out.contains("1 version revoked: revoked"), "{out}");
    assert!(
        out.contains("only the imgs:revoked tag was set"),
        "moto has no EnableImageDeprecation: {out}"
    );
    assert_eq!(peers.tags_on(&base_ami)["imgs:revoked"], "revoked");
    assert!(!peers.tags_on(&app_ami).contains_key("imgs:revoked"));
}

#[test]
fn copies_in_ami_regions_carry_the_lineage_and_are_revoked_and_pruned_with_their_version() {
    const OTHER: &str = "eu-west-1";
    let peers = Peers::start(KEY_PAIR);
    let ws = ebs_workspace_copied_to(&peers, &[OTHER]);
    let root = ws.path();
    imgs_ok(root, &["build", "--all"]);
    let first = fingerprints(root);
    let copies = peers.amis_of(OTHER, "base");
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy = &copies[0].0;
    // A copy is the same image: it names the same source as the AMI it was copied from.
    assert_eq!(
        peers.tags_in(OTHER, copy)["imgs:source-ami"],
        peers.public_ami()
    );
    let out = imgs_ok(root, &["revoke", &format!("base@{}", &first["base"][..12])]);
    assert!(out.contains(&format!("{OTHER}:{copy}")), "{out}");
    assert_eq!(peers.tags_in(OTHER, copy)["imgs:revoked"], "revoked");

    write_script(root, 2);
    imgs_ok(root, &["build", "--all"]);
    let out = imgs_ok(root, &["prune", "--keep", "1"]);
    assert!(out.contains("Removed 2 versions (3 AMIs"), "{out}");
    let left = peers.amis_of(OTHER, "base");
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(&left[0].0, copy, "the old copy went with its version");
}

/// File-builder images: `base` writes a file, `app` (built on it) another; `check` is a null build;
/// `disk` is recorded with a disk in its version directory (`record_builds`).
fn local_workspace() -> tempfile::TempDir {
    new_workspace_with(
        "imgs-prune-local-",
        "\n[images.app]\nparents = { base_file = \"base\" }\n",
    )
}

fn write_local(root: &Path, version: u32) {
    write_template(
        root,
        "base",
        &serde_json::json!({
            "builders": [{ "type": "file", "content": format!("base v{version}\n"), "target": "base.txt" }],
        }),
    );
    write_template(
        root,
        "app",
        &serde_json::json!({
            "variables": { "base_file": null },
            "builders": [{ "type": "file", "content": "app\n", "target": "app.txt" }],
        }),
    );
    write_template(
        root,
        "disk",
        &serde_json::json!({
            "variables": { "version": version.to_string() },
            "builders": [{ "type": "null", "communicator": "none" }],
        }),
    );
    write_template(
        root,
        "check",
        &serde_json::json!({
            "variables": { "version": version.to_string() },
            "builders": [{ "type": "null", "communicator": "none" }],
        }),
    );
}

#[test]
fn local_versions_are_pruned_with_their_records_and_directories() {
    let ws = local_workspace();
    let root = ws.path();
    let mut builds = Vec::new();
    for version in 1..=3 {
        write_local(root, version);
        imgs_ok(root, &["build", "--all"]);
        // A disk in its version directory, as a qemu build leaves it.
        record_builds(root, &["disk"]);
        builds.push(fingerprints(root));
    }
    // A channel file points at the first app: it stays, and so does the base it was built on.
    write(
        root,
        "cache/channels/prod.json",
        &serde_json::json!({ "images": { "app": { "fingerprint": builds[0]["app"] } } })
            .to_string(),
    );
    let out = imgs_ok(root, &["prune", "--keep", "1"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("prune_local", out));
    let record = |image: &str, build: usize| {
        root.join(format!(
            "cache/records/{image}/{}.json",
            builds[build][image]
        ))
    };
    for image in ["base", "app", "check", "disk"] {
        assert!(record(image, 2).exists(), "{image} current");
        assert!(!record(image, 1).exists(), "{image} second");
    }
    assert!(record("app", 0).exists() && record("base", 0).exists());
    assert!(!record("check", 0).exists() && !record("disk", 0).exists());
    let dirs = |image: &str| -> usize {
        std::fs::read_dir(root.join(format!("cache/artifacts/{image}")))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(dirs("disk"), 1, "older version directories removed");
    assert!(
        root.join(format!("cache/artifacts/disk/{}", &builds[2]["disk"][..12]))
            .exists()
    );
    let plan = imgs_ok(root, &["plan", "--all", "--offline"]);
    assert!(plan.contains("0 to build, 4 fresh"), "{plan}");

    // Only one image, and --older-than keeps what is recent.
    let recent = imgs_ok(
        root,
        &["prune", "--keep", "0", "--older-than", "1", "-i", "app"],
    );
    assert!(recent.contains("Removed 0 versions"), "{recent}");

    // A channel file that does not read would protect nothing: the prune refuses.
    write(root, "cache/channels/broken.json", "{");
    let refused = imgs_input_error(root, &["prune", "--keep", "1"]);
    assert!(
        refused.contains("cannot read the channel file") && refused.contains("nothing was removed"),
        "{refused}"
    );
}
