//! `imgs build` of amazon-ebs images against a real EC2 API server (moto) and a real OpenSSH server on
//! loopback standing in for the instances (moto runs no machines): the AMIs, their tags and lineage
//! are checked through the EC2 API, what the provisioners did through the sshd's filesystem, and after
//! every build, failed or not, that nothing temporary is left on EC2.

use std::collections::BTreeMap;
use std::path::Path;

use imgs_aws::sdk::types::Image;
use imgs_test_peers::ec2::{tag_filter, tag_map};

use crate::support::ebs::{Peers, REGION};
use crate::support::*;

const KEY_PAIR: &str = "imgs-test-key";

impl Peers {
    /// The AMIs imgs made for `image` (by its tag).
    fn images_of(&self, image: &str) -> Vec<Image> {
        let out = self
            .rt
            .block_on(
                self.ec2
                    .describe_images()
                    .owners("self")
                    .filters(tag_filter("imgs:image", image))
                    .send(),
            )
            .unwrap();
        out.images().to_vec()
    }

    /// (instance ID, state, AMI it was launched from) of every instance imgs launched for `image`.
    fn instances_of(&self, image: &str) -> Vec<(String, String, String)> {
        self.launches_of(REGION, image)
            .into_iter()
            .map(|l| (l.instance_id, l.state, l.source_ami))
            .collect()
    }

    /// The amazon-ebs builder block for this server and sshd.
    fn builder(&self, source_ami: &str, ami_name: &str) -> serde_json::Value {
        self.ebs_builder(
            source_ami,
            serde_json::json!({
                "ami_name": ami_name,
                "ami_description": "built from {{ .SourceAMI }}",
                "tags": { "Name": "{{build_name}}", "Source": "{{ .SourceAMI }}", "Team": "{{user `team`}}" },
                "run_tags": { "Purpose": "imgs-test" },
            }),
        )
    }
}

fn tags(image: &Image) -> BTreeMap<String, String> {
    tag_map(image.tags())
}

/// base (shell inline + script + a directory upload) → app (launched from base's AMI).
fn ebs_workspace(peers: &Peers, remote: &Path) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-ebs-",
        "variables = { team = \"platform\" }\n\n\
         [images.app]\nparents = { base_ami = \"base\" }\n",
    );
    let root = dir.path();
    let remote = remote.display().to_string();
    let source = peers.public_ami();
    let base = serde_json::json!({
        "variables": { "remote": remote, "team": "" },
        "builders": [peers.builder(&source, "imgs-base-{{timestamp}}")],
        "provisioners": [
            { "type": "shell", "inline": ["echo inline ran > {{user `remote`}}/inline.txt"] },
            { "type": "shell", "script": "images/base/setup.sh", "environment_vars": ["REMOTE={{user `remote`}}"] },
            { "type": "file", "source": "images/base/files", "destination": "{{user `remote`}}" },
        ],
    });
    write_template(root, "base", &base);
    write(
        root,
        "images/base/setup.sh",
        "#!/bin/sh\necho script ran > \"$REMOTE/script.txt\"\n",
    );
    write(root, "images/base/files/motd", "welcome\n");
    write(root, "images/base/files/conf.d/app.conf", "threads = 4\n");
    let app = serde_json::json!({
        "variables": { "remote": remote, "team": "", "base_ami": null },
        "builders": [peers.builder("{{user `base_ami`}}", "imgs-app-{{timestamp}}")],
        "provisioners": [
            { "type": "shell", "inline": ["echo 'app on {{user `base_ami`}}' > {{user `remote`}}/app.txt"] },
        ],
    });
    write_template(root, "app", &app);
    dir
}

#[test]
fn an_ebs_chain_builds_amis_tagged_with_their_lineage_and_leaves_nothing_temporary() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = ebs_workspace(&peers, remote.path());
    let root = ws.path();
    let fingerprints = fingerprints(root);

    let out = imgs_ok(root, &["build", "--all"]);
    assert!(out.contains("2 images built"), "{out}");

    // The base AMI: its name, the template's tags rendered with build data, and imgs's own tags.
    let base = peers.images_of("base");
    assert_eq!(base.len(), 1, "{base:?}");
    let base_ami = base[0].image_id().unwrap().to_string();
    assert!(base[0].name().unwrap().starts_with("imgs-base-"));
    let base_tags = tags(&base[0]);
    let source = peers.public_ami();
    assert_eq!(base_tags["Name"], "amazon-ebs");
    assert_eq!(base_tags["Source"], source);
    assert_eq!(base_tags["Team"], "platform");
    assert_eq!(base_tags["imgs:image"], "base");
    assert_eq!(base_tags["imgs:fingerprint"], fingerprints["base"]);
    assert!(
        out.contains(&base_tags["imgs:run"]),
        "the run ID is in the log"
    );
    assert_eq!(
        base[0].description(),
        Some(format!("built from {source}").as_str())
    );

    // The child was launched from its parent's AMI, and knew it.
    let app = peers.images_of("app");
    assert_eq!(app.len(), 1);
    assert_eq!(tags(&app[0])["Source"], base_ami);
    let app_instances = peers.instances_of("app");
    assert_eq!(app_instances.len(), 1);
    assert_eq!(app_instances[0].2, base_ami);
    let read = |rel: &str| std::fs::read_to_string(remote.path().join(rel)).unwrap();
    assert_eq!(read("app.txt"), format!("app on {base_ami}\n"));

    // The provisioners ran on the "instance", and the directory arrived whole.
    assert_eq!(read("inline.txt"), "inline ran\n");
    assert_eq!(read("script.txt"), "script ran\n");
    assert_eq!(read("files/motd"), "welcome\n");
    assert_eq!(read("files/conf.d/app.conf"), "threads = 4\n");

    // Nothing temporary is left: instances terminated, no imgs security group, key pair or volume.
    for image in ["base", "app"] {
        for (id, state, _) in peers.instances_of(image) {
            assert_eq!(state, "terminated", "instance {id} of {image}");
        }
    }
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());

    // The workspace manifest lists both AMIs, in Packer's manifest format.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("cache/manifest.json")).unwrap())
            .unwrap();
    let ids: Vec<&str> = manifest["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["artifact_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            format!("{REGION}:{base_ami}"),
            format!("{REGION}:{}", app[0].image_id().unwrap())
        ]
    );

    // A second run finds both fresh and launches nothing.
    let again = imgs_ok(root, &["build", "--all"]);
    assert!(again.contains("0 images built, 2 fresh"), "{again}");
    assert_eq!(peers.instances_of("base").len(), 1);
}

#[test]
fn a_failing_script_fails_the_build_and_cleans_up_everything() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = ebs_workspace(&peers, remote.path());
    let root = ws.path();
    write(
        root,
        "images/base/setup.sh",
        "#!/bin/sh\necho about to fail\nexit 3\n",
    );

    let out = imgs(root, &["build", "--all"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("exited with status 3"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("Skipped app: `base` was not built"),
        "{}",
        out.stdout
    );
    assert!(
        peers.images_of("base").is_empty(),
        "no AMI of a failed build"
    );
    for (id, state, _) in peers.instances_of("base") {
        assert_eq!(state, "terminated", "instance {id}");
    }
    assert!(
        peers.instances_of("app").is_empty(),
        "the child never launched"
    );
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
    assert!(
        !root.join("cache/records/base").exists(),
        "no record of a failed build"
    );
}

#[test]
fn on_error_abort_leaves_the_instance_and_says_which() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = ebs_workspace(&peers, remote.path());
    let root = ws.path();
    write(root, "images/base/setup.sh", "#!/bin/sh\nexit 3\n");

    let out = imgs(root, &["build", "-i", "base", "--on-error=abort"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let instances = peers.instances_of("base");
    assert_eq!(instances.len(), 1);
    let (id, state, _) = &instances[0];
    assert_eq!(state, "running", "left for debugging");
    assert!(
        out.stdout.contains(&format!("instance {id} ({REGION})")),
        "the log names what was left: {}",
        out.stdout
    );
}

#[test]
fn an_unreachable_instance_times_out_clearly_and_is_terminated() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = ebs_workspace(&peers, remote.path());
    let root = ws.path();
    let closed_port = imgs_test_peers::process::free_port().unwrap();
    let template = std::fs::read_to_string(root.join("images/base/template.json")).unwrap();
    let mut template: serde_json::Value = serde_json::from_str(&template).unwrap();
    template["builders"][0]["ssh_port"] = closed_port.into();
    template["builders"][0]["ssh_timeout"] = "3s".into();
    write(root, "images/base/template.json", &template.to_string());

    let out = imgs(root, &["build", "-i", "base"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{closed_port}")) && out.stderr.contains("3s"),
        "the error names the address and the timeout: {}",
        out.stderr
    );
    for (id, state, _) in peers.instances_of("base") {
        assert_eq!(state, "terminated", "instance {id}");
    }
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

#[test]
fn an_ami_name_already_taken_is_refused_before_anything_launches() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = ebs_workspace(&peers, remote.path());
    let root = ws.path();
    let template = std::fs::read_to_string(root.join("images/base/template.json")).unwrap();
    write(
        root,
        "images/base/template.json",
        &template.replace("imgs-base-{{timestamp}}", "imgs-base-fixed"),
    );
    imgs_ok(root, &["build", "-i", "base"]);
    let launched = peers.instances_of("base").len();

    let out = imgs(root, &["build", "-i", "base", "--force"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("imgs-base-fixed"), "{}", out.stderr);
    assert!(
        out.stderr.contains("force_deregister"),
        "the hint: {}",
        out.stderr
    );
    assert_eq!(
        peers.instances_of("base").len(),
        launched,
        "nothing launched"
    );
}

#[test]
fn the_aws_example_workspace_builds_against_the_local_server() {
    let peers = Peers::start(KEY_PAIR);
    let ws = tempfile::Builder::new()
        .prefix("imgs-example-aws-")
        .tempdir()
        .unwrap();
    copy_dir(&repo_root().join("examples/aws"), ws.path());
    let ssh = peers.sshd.settings();
    // What `cargo xtask env up` exports, given as variables instead (tests share one environment).
    let vars = [
        "aws_access_key=testing".to_string(),
        "aws_secret_key=testing".to_string(),
        format!("region={REGION}"),
        format!("ec2_endpoint={}", peers.moto.endpoint()),
        format!("ssh_host={}", ssh["ssh_host"]),
        format!("ssh_port={}", ssh["ssh_port"]),
        format!("ssh_username={}", ssh["ssh_username"]),
        format!("ssh_private_key_file={}", ssh["ssh_private_key_file"]),
    ];
    let mut args = vec!["build", "--all"];
    for var in &vars {
        args.extend(["--var", var.as_str()]);
    }
    let out = imgs_ok(ws.path(), &args);
    assert!(out.contains("3 images built"), "{out}");
    let ami = |image: &str| {
        let images = peers.images_of(image);
        assert_eq!(images.len(), 1, "{image}: {images:?}");
        images[0].clone()
    };
    let (base, hardened, app) = (ami("base"), ami("hardened"), ami("app"));
    assert_eq!(tags(&hardened)["SourceAMI"], base.image_id().unwrap());
    assert_eq!(tags(&app)["SourceAMI"], hardened.image_id().unwrap());
    assert_eq!(tags(&app)["Owner"], "platform-team");
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}
