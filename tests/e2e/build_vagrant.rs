//! The `vagrant` post-processor end to end.
//!
//! - An `aws` box: an amazon-ebs build against a private moto EC2 server (and a private sshd standing
//!   in for the instance) copied to a second region, boxed with an include and a Vagrantfile
//!   template. Packer 1.6.6 builds the same template against the same servers; the boxes must hold
//!   the same entries with the same contents, but for the AMI IDs each build made. Vagrant must
//!   accept the box imgs wrote.
//! - A box of an artifact vagrant cannot box (the `file` builder's) is refused before the build
//!   starts, naming the builder.
//!
//! The `libvirt` box of a qemu build is compared with Packer's in imgs-post (Packer's qemu builder
//! with a stand-in for qemu), and built from a booted disk in `build_qemu`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::ebs::Peers;
use crate::support::*;

const KEY_PAIR: &str = "vagrant-test-key";
const COPY_REGION: &str = "eu-west-1";

/// The template both tools build; `tool` names the AMI apart.
fn aws_template(peers: &Peers, source_ami: &str) -> serde_json::Value {
    let builder = peers.ebs_builder(
        source_ami,
        serde_json::json!({
            "skip_region_validation": true,
            "ami_name": "vagrant-{{user `tool`}}",
            "ami_regions": [COPY_REGION],
            "ssh_port": peers.sshd.port,
        }),
    );
    serde_json::json!({
        "variables": { "tool": "" },
        "builders": [builder],
        "provisioners": [{ "type": "shell", "inline": ["echo boxing"] }],
        "post-processors": [{
            "type": "vagrant",
            "output": "boxes/{{.BuildName}}_{{.Provider}}.box",
            "include": ["box/info.json"],
            "vagrantfile_template": "box/extra.rb",
        }],
    })
}

fn write_box_inputs(dir: &Path) {
    write(dir, "box/info.json", "{\"author\":\"imgs\"}\n");
    write(
        dir,
        "box/extra.rb",
        "# {{.Provider}} box of {{.BuildName}} by {{user `tool`}}: {{.ArtifactId}}\n",
    );
}

/// `packer build -var tool=packer t.json` in `dir`, with nothing of this machine's environment.
fn packer_build_ebs(packer: &Path, dir: &Path) {
    crate::support::ebs::packer_isolated(
        packer,
        dir,
        &["build", "-color=false", "-var", "tool=packer", "t.json"],
        crate::support::ebs::PACKER_AWS_ENV,
    );
}

/// A box's entries in order, each with its mode and owner as `tar -tv` shows them, and contents
/// with every AMI ID written `ami-…`.
fn box_entries(box_file: &Path) -> (Vec<String>, BTreeMap<String, String>) {
    let tar = |flags: &str, names: &[&str]| {
        let out = Command::new("tar")
            .arg(flags)
            .arg(box_file)
            .args(names)
            .output()
            .unwrap();
        assert!(out.status.success(), "tar {flags} {names:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let listing = tar("-tvzf", &[])
        .lines()
        .map(|l| {
            // mode owner/group size date time name: the date and time differ.
            let fields: Vec<&str> = l.split_whitespace().collect();
            format!("{} {} {}", fields[0], fields[1], fields[5])
        })
        .collect();
    let names: Vec<String> = tar("-tzf", &[]).lines().map(str::to_string).collect();
    let contents = names
        .iter()
        .map(|name| (name.clone(), without_ami_ids(&tar("-xOzf", &[name]))))
        .collect();
    (listing, contents)
}

fn without_ami_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("ami-") {
        out.push_str(&rest[..at]);
        out.push_str("ami-…");
        rest = rest[at + 4..].trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    }
    out.push_str(rest);
    out
}

#[test]
fn an_aws_box_lists_each_regions_ami_as_packers_does() {
    let peers = Peers::start(KEY_PAIR);
    let source = peers.public_ami();
    let template = aws_template(&peers, &source);

    let ours_dir = tempfile::Builder::new()
        .prefix("imgs-vagrant-")
        .tempdir()
        .unwrap();
    let root = ours_dir.path();
    write(
        root,
        "t.json",
        &serde_json::to_string_pretty(&template).unwrap(),
    );
    write_box_inputs(root);
    let log = imgs_ok(root, &["build", "-var", "tool=imgs", "t.json"]);
    for line in [
        "Creating Vagrant box for 'aws' provider",
        "Using custom Vagrantfile: box/extra.rb",
        "'aws' provider box: boxes/amazon-ebs_aws.box",
    ] {
        assert!(log.contains(line), "{line:?} not in:\n{log}");
    }
    let ours_box = root.join("boxes/amazon-ebs_aws.box");
    let (listing, contents) = box_entries(&ours_box);
    let names: Vec<&str> = contents.keys().map(String::as_str).collect();
    assert_eq!(names, ["Vagrantfile", "info.json", "metadata.json"]);
    assert_eq!(contents["metadata.json"], "{\"provider\":\"aws\"}\n");
    assert_eq!(contents["info.json"], "{\"author\":\"imgs\"}\n");
    insta::assert_snapshot!(contents["Vagrantfile"]);
    assert!(
        peers.left_by_imgs().is_empty(),
        "{:?}",
        peers.left_by_imgs()
    );

    if let Some(vagrant) =
        imgs_test_peers::vagrant::vagrant_for("`vagrant box add` of an aws box imgs wrote")
    {
        assert_eq!(
            imgs_test_peers::vagrant::box_add(&vagrant, "imgs-aws", &ours_box),
            "aws"
        );
    }

    let Some(packer) = imgs_test_peers::packer::packer_for("the aws box compared with Packer's")
    else {
        return;
    };
    let theirs_dir = tempfile::Builder::new()
        .prefix("packer-vagrant-")
        .tempdir()
        .unwrap();
    write(
        theirs_dir.path(),
        "t.json",
        &serde_json::to_string_pretty(&template).unwrap(),
    );
    write_box_inputs(theirs_dir.path());
    packer_build_ebs(&packer, theirs_dir.path());
    let (their_listing, their_contents) =
        box_entries(&theirs_dir.path().join("boxes/amazon-ebs_aws.box"));
    assert_eq!(listing, their_listing);
    let ours_by_tool = contents["Vagrantfile"].replace("by imgs", "by TOOL");
    let theirs_by_tool = their_contents["Vagrantfile"].replace("by packer", "by TOOL");
    assert_eq!(ours_by_tool, theirs_by_tool);
    for name in ["info.json", "metadata.json"] {
        assert_eq!(contents[name], their_contents[name], "{name}");
    }
}

#[test]
fn a_box_of_an_artifact_vagrant_cannot_box_is_refused_before_the_build() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t.json",
        r#"{
  "builders": [{ "type": "file", "content": "x", "target": "out/x.txt" }],
  "post-processors": [{ "type": "vagrant" }]
}"#,
    );
    let out = imgs(dir.path(), &["build", "t.json"]);
    assert_ne!(out.code, 0);
    insta::assert_snapshot!(out.stderr);
    assert!(!dir.path().join("out/x.txt").exists(), "nothing was built");
}
