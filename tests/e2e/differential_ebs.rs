//! Differential test of amazon-ebs: one template built by Packer 1.6.6 (`packer build`) and by imgs
//! (`imgs build FILE`) against the same EC2 API server (moto) and the same OpenSSH server standing in
//! for the instances. What each tool left on EC2 is then compared through the EC2 API: the AMI's name
//! pattern, description, tags, block device mappings and snapshot tags, the manifest each wrote, and
//! that neither left a running instance, a security group or a key pair behind.
//!
//! Where the tools differ by design (imgs adds its `imgs:*` tags, its manifest carries more keys), the
//! test says so by name; everything else must be equal.
//!
//! What moto hides, so the test looks elsewhere: its CreateImage ignores `BlockDeviceMappings` (an
//! AMI gets only its instance's root), so the launch mappings are compared through the volumes they
//! leave; and its ModifyImageAttribute ignores `Description`, which is how Packer sets it, so only
//! imgs's AMI (which gives the description to CreateImage) can show one here.
//!
//! Packer is run for real; without it the test is skipped, or fails where `CI` is set
//! (`imgs_test_peers::packer`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use imgs_aws::sdk::types::{BlockDeviceMapping, Filter, Image};
use imgs_test_peers::ec2::{tag_filter, tag_map};

use crate::support::ebs::{Peers, REGION};
use crate::support::*;

const KEY_PAIR: &str = "diff-test-key";

/// imgs's manifest entries carry these beyond Packer's keys (the workspace cache needs them).
const IMGS_ONLY_MANIFEST_KEYS: [&str; 3] = ["image", "fingerprint", "cached"];

impl Peers {
    /// The one AMI named `name`.
    fn ami_named(&self, name: &str) -> Image {
        let out = self
            .rt
            .block_on(
                self.ec2
                    .describe_images()
                    .owners("self")
                    .filters(Filter::builder().name("name").values(name).build())
                    .send(),
            )
            .unwrap();
        assert_eq!(out.images().len(), 1, "one AMI named {name}: {out:?}");
        out.images()[0].clone()
    }

    /// Tags of every snapshot behind the AMI's EBS mappings, by device name (compared as
    /// [`without_imgs_tags`] says).
    fn snapshot_tags(&self, image: &Image) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut by_device = BTreeMap::new();
        for mapping in image.block_device_mappings() {
            let Some(snapshot) = mapping.ebs().and_then(|e| e.snapshot_id()) else {
                continue;
            };
            let out = self
                .rt
                .block_on(self.ec2.describe_snapshots().snapshot_ids(snapshot).send())
                .unwrap();
            let tags = out
                .snapshots()
                .first()
                .map(|s| without_imgs_tags(tag_map(s.tags())))
                .unwrap_or_default();
            by_device.insert(mapping.device_name().unwrap_or_default().to_string(), tags);
        }
        by_device
    }

    /// Volumes tagged by `tool`'s run_volume_tags, as "size=… type=… tags={…}" (tags compared as
    /// [`without_imgs_tags`] says).
    fn volumes_of(&self, tool: &str) -> Vec<String> {
        let out = self
            .rt
            .block_on(
                self.ec2
                    .describe_volumes()
                    .filters(tag_filter("Tool", tool))
                    .send(),
            )
            .unwrap();
        let mut volumes: Vec<String> = out
            .volumes()
            .iter()
            .map(|v| {
                format!(
                    "size={:?} type={:?} tags={:?}",
                    v.size(),
                    v.volume_type().map(|t| t.as_str().to_string()),
                    without_imgs_tags(tag_map(v.tags())),
                )
            })
            .collect();
        volumes.sort();
        volumes
    }

    /// Tags of the one instance `tool` launched (compared as [`without_imgs_tags`] says).
    fn instance_tags_of(&self, tool: &str) -> BTreeMap<String, String> {
        let out = self
            .rt
            .block_on(
                self.ec2
                    .describe_instances()
                    .filters(tag_filter("Tool", tool))
                    .send(),
            )
            .unwrap();
        let instances: Vec<_> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .collect();
        assert_eq!(instances.len(), 1, "{tool} launched one instance");
        without_imgs_tags(tag_map(instances[0].tags()))
    }

    /// Instances not terminated, as "ID (state)".
    fn running_instances(&self) -> Vec<String> {
        let out = self
            .rt
            .block_on(self.ec2.describe_instances().send())
            .unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| {
                let state = i.state().and_then(|s| s.name()).map(|n| n.as_str())?;
                (state != "terminated")
                    .then(|| format!("{} ({state})", i.instance_id().unwrap_or_default()))
            })
            .collect()
    }

    /// Security groups other than the VPC defaults, and key pairs other than the test's own: what
    /// either tool made (Packer's carry no imgs tag).
    fn left_by_either_tool(&self) -> Vec<String> {
        let groups = self
            .rt
            .block_on(self.ec2.describe_security_groups().send())
            .unwrap();
        let keys = self
            .rt
            .block_on(self.ec2.describe_key_pairs().send())
            .unwrap();
        groups
            .security_groups()
            .iter()
            .filter(|g| g.group_name() != Some("default"))
            .map(|g| format!("security group {}", g.group_name().unwrap_or_default()))
            .chain(
                keys.key_pairs()
                    .iter()
                    .filter(|k| k.key_name() != Some(KEY_PAIR))
                    .map(|k| format!("key pair {}", k.key_name().unwrap_or_default())),
            )
            .collect()
    }

    /// The template both tools build: every amazon-ebs setting the comparison looks at.
    fn diff_template(&self, source_ami: &str) -> serde_json::Value {
        // The launch copy of the data disk is kept after termination so the test can read it back.
        let data_disk = |size: u32, delete_on_termination: bool| {
            serde_json::json!({
                "device_name": "/dev/sdf",
                "volume_size": size,
                "volume_type": "gp2",
                "delete_on_termination": delete_on_termination,
            })
        };
        let builder = self.ebs_builder(
            source_ami,
            serde_json::json!({
                "skip_region_validation": true,
                "ami_name": "diff-{{user `tool`}}",
                "ami_description": "diff built from {{ .SourceAMI }}",
                "tags": {
                    "Name": "diff",
                    "Source": "{{ .SourceAMI }}",
                    "Region": "{{ .BuildRegion }}",
                },
                // `Name` is in both maps: the snapshots must get snapshot_tags' value.
                "snapshot_tags": { "Kind": "diff-snapshot", "Name": "diff-snapshot-{{ .BuildRegion }}" },
                "run_tags": { "Purpose": "diff-run", "Tool": "{{user `tool`}}" },
                "run_volume_tags": { "Tool": "{{user `tool`}}", "Source": "{{ .SourceAMI }}" },
                "launch_block_device_mappings": [data_disk(4, false)],
                "ami_block_device_mappings": [data_disk(8, true)],
                "ssh_port": self.sshd.port,
            }),
        );
        serde_json::json!({
            "variables": { "tool": "" },
            "builders": [builder],
            "provisioners": [
                { "type": "shell", "inline": ["echo built by {{user `tool`}}"] },
            ],
            "post-processors": [
                { "type": "manifest", "output": "manifest.json" },
            ],
        })
    }
}

/// Tags as the tools are compared on: without imgs's own, and without `Tool`, which names the tool.
fn without_imgs_tags(mut tags: BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.retain(|key, _| !key.starts_with("imgs:") && key != "Tool");
    tags
}

/// A mapping as the comparison sees it: device, size, type, delete-on-termination (snapshot IDs differ).
fn mapping_shape(mapping: &BlockDeviceMapping) -> String {
    let ebs = mapping.ebs();
    format!(
        "{} size={:?} type={:?} delete_on_termination={:?}",
        mapping.device_name().unwrap_or_default(),
        ebs.and_then(|e| e.volume_size()),
        ebs.and_then(|e| e.volume_type())
            .map(|t| t.as_str().to_string()),
        ebs.and_then(|e| e.delete_on_termination()),
    )
}

/// `packer build -var tool=packer template.json` in `dir`, with an environment that holds nothing of the
/// caller's (credentials, HOME) so no lookup leaves loopback.
fn packer_build(packer: &Path, dir: &Path) {
    crate::support::ebs::packer_isolated(
        packer,
        dir,
        &[
            "build",
            "-machine-readable",
            "-var",
            "tool=packer",
            "template.json",
        ],
        crate::support::ebs::PACKER_AWS_ENV,
    );
}

fn manifest_build(dir: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let builds = manifest["builds"].as_array().expect("builds[]");
    assert_eq!(builds.len(), 1, "{manifest}");
    builds[0].as_object().unwrap().clone()
}

fn assert_artifact_id(tool: &str, id: &serde_json::Value, ami: &Image) {
    assert_eq!(
        id.as_str(),
        Some(format!("{REGION}:{}", ami.image_id().unwrap()).as_str()),
        "{tool}'s manifest artifact_id"
    );
}

#[test]
fn packer_and_imgs_build_the_same_ami_from_one_template() {
    let Some(packer) =
        imgs_test_peers::packer::packer_for("the amazon-ebs build compared with Packer's")
    else {
        return;
    };
    let peers = Peers::start(KEY_PAIR);
    let source = peers.public_ami();
    let template = serde_json::to_string_pretty(&peers.diff_template(&source)).unwrap();

    let packer_dir = tempfile::tempdir().unwrap();
    write(packer_dir.path(), "template.json", &template);
    let started = Instant::now();
    packer_build(&packer, packer_dir.path());
    let packer_took = started.elapsed();

    let imgs_dir = tempfile::tempdir().unwrap();
    write(imgs_dir.path(), "template.json", &template);
    let started = Instant::now();
    imgs_ok(
        imgs_dir.path(),
        &["build", "template.json", "--var", "tool=imgs"],
    );
    // Reported, never asserted: how the two compare on one trivial build.
    eprintln!(
        "packer build took {packer_took:.2?}, imgs build {:.2?}",
        started.elapsed()
    );

    let by_packer = peers.ami_named("diff-packer");
    let by_imgs = peers.ami_named("diff-imgs");

    // Packer 1.6.6 sets the description after CreateImage, with ModifyImageAttribute, which moto
    // accepts and ignores (it only handles launch permissions there); imgs gives it to CreateImage.
    // So on this server Packer's AMI has none, and imgs's must have the rendered one.
    assert_eq!(by_packer.description().unwrap_or_default(), "");
    assert_eq!(
        by_imgs.description(),
        Some(format!("diff built from {source}").as_str())
    );

    // Tags: Packer's set exactly, plus imgs's own.
    let packer_tags = tag_map(by_packer.tags());
    let mut imgs_tags = tag_map(by_imgs.tags());
    assert_eq!(packer_tags["Source"], source);
    assert_eq!(packer_tags["Region"], REGION);
    for own in ["imgs:run", "imgs:image"] {
        assert!(imgs_tags.contains_key(own), "imgs tags its AMI with {own}");
    }
    imgs_tags.retain(|key, _| !key.starts_with("imgs:"));
    assert_eq!(imgs_tags, packer_tags, "AMI tags apart from imgs:*");

    // Block device mappings: the same devices, sizes, types and deletion rule.
    let shapes = |image: &Image| -> BTreeSet<String> {
        image
            .block_device_mappings()
            .iter()
            .map(mapping_shape)
            .collect()
    };
    // moto's CreateImage ignores BlockDeviceMappings: an AMI gets the mappings of its instance's root
    // only. So on this server both AMIs hold the same one root mapping, and what each tool asked for
    // is compared at launch instead (below).
    assert_eq!(shapes(&by_imgs), shapes(&by_packer), "AMI block devices");

    // Launch mappings: the data volume each tool launched with outlives its instance (the template
    // keeps it), carrying the run_volume_tags; its size, type and tags must agree.
    let packer_volumes = peers.volumes_of("packer");
    assert!(
        packer_volumes
            .iter()
            .any(|v| v.starts_with("size=Some(4) type=Some(\"gp2\")")),
        "Packer's data volume: {packer_volumes:?}"
    );
    assert_eq!(peers.volumes_of("imgs"), packer_volumes, "launched volumes");

    // The instances' run tags (terminated instances keep theirs).
    let packer_run_tags = peers.instance_tags_of("packer");
    assert_eq!(packer_run_tags["Purpose"], "diff-run");
    assert_eq!(peers.instance_tags_of("imgs"), packer_run_tags, "run tags");

    // Snapshot tags, device by device.
    let packer_snapshots = peers.snapshot_tags(&by_packer);
    assert!(
        packer_snapshots
            .values()
            .any(
                |tags| tags.get("Kind").map(String::as_str) == Some("diff-snapshot")
                    && tags.get("Name").map(String::as_str) == Some("diff-snapshot-us-east-1")
                    && tags.get("Region").map(String::as_str) == Some(REGION)
            ),
        "Packer tagged its snapshots with the AMI's tags and snapshot_tags over them: {packer_snapshots:?}"
    );
    // Packer 1.6.6 tags the snapshots with the AMI's `tags` first and `snapshot_tags` over them.
    assert_eq!(
        peers.snapshot_tags(&by_imgs),
        packer_snapshots,
        "snapshot tags"
    );

    // Manifests: the same keys apart from imgs's own, and the artifact in `region:ami-…` form.
    let packer_build = manifest_build(packer_dir.path());
    let imgs_build = manifest_build(imgs_dir.path());
    assert_artifact_id("packer", &packer_build["artifact_id"], &by_packer);
    assert_artifact_id("imgs", &imgs_build["artifact_id"], &by_imgs);
    let keys = |build: &serde_json::Map<String, serde_json::Value>| -> BTreeSet<String> {
        build
            .keys()
            .filter(|k| !IMGS_ONLY_MANIFEST_KEYS.contains(&k.as_str()))
            .cloned()
            .collect()
    };
    assert_eq!(
        keys(&imgs_build),
        keys(&packer_build),
        "manifest build keys"
    );
    for key in ["name", "builder_type", "files", "custom_data"] {
        assert_eq!(imgs_build[key], packer_build[key], "manifest {key}");
    }
    for (tool, build) in [("packer", &packer_build), ("imgs", &imgs_build)] {
        assert!(
            build["build_time"].is_u64(),
            "{tool}: build_time in seconds"
        );
        let run = build["packer_run_uuid"].as_str().unwrap_or_default();
        assert!(
            run.len() == 36 && run.chars().filter(|c| *c == '-').count() == 4,
            "{tool}: packer_run_uuid is a UUID: {run:?}"
        );
    }
    for dir in [packer_dir.path(), imgs_dir.path()] {
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(
            manifest["last_run_uuid"], manifest["builds"][0]["packer_run_uuid"],
            "{manifest}"
        );
    }

    // Nothing temporary is left by either tool.
    assert_eq!(peers.running_instances(), Vec::<String>::new());
    assert_eq!(peers.left_by_either_tool(), Vec::<String>::new());
}
