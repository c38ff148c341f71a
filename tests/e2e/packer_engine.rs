//! The `packer` engine: builds imgs does not run natively (or whose image asks for Packer in
//! Images.toml) run through the installed Packer 1.6.6, and the workspace treats them as its own —
//! fingerprints, chaining, the cache, plan and graph. The same workspace built with each engine
//! gives the same artifacts in the same places, and the same cache behaviour.

use std::path::Path;

use imgs_test_peers::TestSshd;
use imgs_test_peers::ec2::tag_map;
use imgs_test_peers::packer::packer_for;

use crate::support::ebs::{Peers, REGION};
use crate::support::*;

/// A sensitive value that must never show in output or in the cache.
const SECRET: &str = "s3cret-marker-7f2a";

/// `base` (null over SSH: a script that writes under `remote/`) → `child` (the file builder:
/// writes the artifact it received into `cache/artifacts/child/`, then a checksum of it, at its
/// default name). `engine` goes into both images' tables.
fn chained_workspace(sshd: &TestSshd, engine: &str) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-packer-engine-",
        &format!(
            "\n[images.base]\nengine = \"{engine}\"\n\n[images.child]\nparents = {{ base_artifact = \"base\" }}\nengine = \"{engine}\"\n"
        ),
    );
    let root = dir.path();
    std::fs::create_dir_all(root.join("remote")).unwrap();
    let base = serde_json::json!({
        "variables": { "remote": root.join("remote"), "password": SECRET },
        "sensitive-variables": ["password"],
        "builders": [sshd.builder("null", serde_json::json!({}))],
        "provisioners": [
            { "type": "shell", "script": "images/base/setup.sh",
              "environment_vars": ["REMOTE={{user `remote`}}", "PASSWORD={{user `password`}}"] },
        ],
    });
    write_template(root, "base", &base);
    write(
        root,
        "images/base/setup.sh",
        "#!/bin/sh\necho \"password is $PASSWORD\"\necho v1 > \"$REMOTE/base.txt\"\n",
    );
    let child = serde_json::json!({
        "variables": { "base_artifact": null },
        "builders": [{ "type": "file", "content": "built on {{user `base_artifact`}}\n",
                       "target": "cache/artifacts/child/child.txt" }],
        "post-processors": [{ "type": "checksum", "checksum_types": ["sha256"] }],
    });
    write_template(root, "child", &child);
    dir
}

/// Every file under `cache/artifacts/` (the `current` links left out), relative to it with the
/// version directory shown as `V` (its name is the fingerprint, which holds the workspace's path
/// here), with its contents.
fn artifact_files(root: &Path) -> Vec<(String, String)> {
    let base = root.join("cache/artifacts");
    let mut files: Vec<(String, String)> = walkdir(&base)
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "current"))
        .map(|p| {
            let text = std::fs::read_to_string(base.join(&p)).unwrap();
            let mut parts: Vec<String> = p
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.len() > 2 {
                parts[1] = "V".into();
            }
            (parts.join("/"), text)
        })
        .collect();
    files.sort();
    files
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(
                walkdir(&path)
                    .into_iter()
                    .map(|p| Path::new(&entry.file_name()).join(p)),
            );
        } else if meta.is_file() {
            out.push(entry.file_name().into());
        }
    }
    out
}

/// Every byte imgs left in the cache, for looking for a secret.
fn cache_text(root: &Path) -> String {
    let base = root.join("cache");
    walkdir(&base)
        .into_iter()
        .map(|p| {
            String::from_utf8_lossy(&std::fs::read(base.join(p)).unwrap_or_default()).into_owned()
        })
        .collect()
}

#[test]
fn packer_builds_a_chained_workspace_like_the_native_engine() {
    if packer_for("the packer engine").is_none() {
        return;
    }
    let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    let packer = chained_workspace(&sshd, "packer");
    let native = chained_workspace(&sshd, "native");
    let (p, n) = (packer.path(), native.path());

    // The plan says who builds what; the engine is not an input of the fingerprint.
    let plan = imgs_ok(p, &["plan"]);
    assert!(
        plan.contains("(packer: engine = \"packer\" in Images.toml)"),
        "{plan}"
    );
    assert!(!imgs_ok(n, &["plan"]).contains("packer"));
    let manifest = std::fs::read_to_string(p.join("Images.toml")).unwrap();
    let before = fingerprints(p);
    write(
        p,
        "Images.toml",
        &manifest.replace("\"packer\"", "\"auto\""),
    );
    assert_eq!(fingerprints(p), before);
    write(p, "Images.toml", &manifest);

    let out = imgs(p, &["build", "--all", "-v"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("Building with Packer 1.6.6"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("password is <sensitive>"),
        "{}",
        out.stdout
    );
    imgs_ok(n, &["build", "--all"]);
    for (root, out) in [(p, &out.stdout), (n, &String::new())] {
        assert!(!out.contains(SECRET));
        assert!(
            !cache_text(root).contains(SECRET),
            "a secret in {}",
            root.display()
        );
        // Nothing of the run is left beside the templates.
        let left: Vec<_> = std::fs::read_dir(root.join("images/child"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("template.json")]);
        assert!(!root.join("packer_cache").exists());
    }
    // The same files in the same places, the parent's artifact handed on the same way.
    let files = artifact_files(p);
    assert_eq!(files, artifact_files(n));
    assert!(
        files
            .iter()
            .any(|(name, text)| name.ends_with("child.txt") && text == "built on Null\n"),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|(name, _)| name == "child/V/packer_file_file_sha256.checksum"),
        "{files:?}"
    );

    // Fresh on the second run; a changed script rebuilds its image and the child; reverting it
    // finds the first versions fresh again.
    for root in [p, n] {
        let again = imgs_ok(root, &["build", "--all"]);
        assert!(again.contains("0 images built, 2 fresh"), "{again}");
        append(root, "images/base/setup.sh", "echo v2\n");
        let changed = imgs_ok(root, &["build", "--all"]);
        assert!(changed.contains("2 images built, 0 fresh"), "{changed}");
        let script = std::fs::read_to_string(root.join("images/base/setup.sh")).unwrap();
        write(
            root,
            "images/base/setup.sh",
            script.trim_end_matches("echo v2\n"),
        );
        let reverted = imgs_ok(root, &["build", "--all"]);
        assert!(reverted.contains("0 images built, 2 fresh"), "{reverted}");
    }
}

#[test]
fn engine_settings_are_checked_and_shown() {
    let dir = new_workspace_with(
        "imgs-engine-",
        "\n[images.box]\nengine = \"native\"\n\n[images.other]\nengine = { nul = \"packer\" }\n\n[images.third]\nengine = \"docker\"\n",
    );
    let root = dir.path();
    write(
        root,
        "images/box/template.json",
        r#"{ "builders": [{ "type": "file", "content": "x", "target": "out/x.txt" }],
             "post-processors": [{ "type": "vagrant-cloud", "box_tag": "a/b", "version": "1" }] }"#,
    );
    write(
        root,
        "images/other/template.json",
        r#"{ "builders": [{ "type": "null", "communicator": "none" }] }"#,
    );
    write(
        root,
        "images/third/template.json",
        r#"{ "builders": [{ "type": "null", "communicator": "none" }] }"#,
    );
    let err = imgs_input_error(root, &["plan"]);
    settings(root).bind(|| insta::assert_snapshot!("engine_settings_errors", err));
    // With the table fixed, `native` for a type imgs does not run is the plan's error.
    write(
        root,
        "Images.toml",
        "[workspace]\nmembers = [\"images/*\"]\n\n[images.box]\nengine = \"native\"\n",
    );
    let err = imgs_input_error(root, &["plan"]);
    settings(root).bind(|| insta::assert_snapshot!("engine_native_refused", err));
    assert!(!root.join("out").exists());
}

/// A builder type only Packer has (`virtualbox-iso`, its box made by `vagrant`) is a member like
/// any other: planned, graphed, fingerprinted over the files its settings name, and
/// validated by `packer validate`, whose problems come back located.
#[test]
fn a_member_only_packer_builds_is_planned_graphed_and_validated() {
    let dir = new_workspace_with(
        "imgs-foreign-",
        "\n[images.vbox]\nparents = { base = \"base\" }\n",
    );
    let root = dir.path();
    write(
        root,
        "images/base/template.json",
        r#"{ "builders": [{ "type": "null", "communicator": "none" }] }"#,
    );
    write(
        root,
        "images/vbox/http/preseed.cfg",
        "d-i debian-installer/locale string en_US\n",
    );
    write(root, "images/vbox/floppy/answer.txt", "yes\n");
    let vbox = serde_json::json!({
        "variables": { "base": null },
        "builders": [{
            "type": "virtualbox-iso",
            "guest_os_type": "Debian_64",
            "iso_url": "https://example.invalid/debian.iso",
            "iso_checksum": "none",
            "http_directory": "{{template_dir}}/http",
            "floppy_files": ["{{template_dir}}/floppy/answer.txt"],
            "ssh_username": "vagrant",
            "ssh_password": "vagrant",
            "shutdown_command": "echo 'vagrant' | sudo -S shutdown -P now",
        }],
        // (Not `vagrant-cloud`: Packer asks Vagrant Cloud to check its token while validating.)
        "post-processors": [[
            { "type": "vagrant", "output": "out/{{.Provider}}.box", "compression_level": 9 },
            { "type": "docker-tag", "repository": "imgs/debian", "tag": ["{{user `base`}}"] },
        ]],
    });
    write_template(root, "vbox", &vbox);
    let plan = imgs_ok(root, &["plan"]);
    settings(root).bind(|| insta::assert_snapshot!("foreign_member_plan", plan));
    let graph = imgs_ok(root, &["graph"]);
    settings(root).bind(|| insta::assert_snapshot!("foreign_member_graph", graph));

    // Its fingerprint covers the files its settings name.
    let before = fingerprints(root);
    append(
        root,
        "images/vbox/http/preseed.cfg",
        "d-i passwd/root-login boolean false\n",
    );
    let after = fingerprints(root);
    assert_ne!(before["vbox"], after["vbox"]);
    assert_eq!(before["base"], after["base"]);
    append(root, "images/vbox/floppy/answer.txt", "no\n");
    assert_ne!(fingerprints(root)["vbox"], after["vbox"]);

    if packer_for("validating a virtualbox-iso member with packer validate").is_none() {
        return;
    }
    let valid = imgs_ok(root, &["validate"]);
    assert!(valid.contains("2 images valid"), "{valid}");
    // Settings Packer refuses: reported at the build, once, with where they came from.
    let mut broken = vbox.clone();
    broken["builders"][0]["disk_size"] = "big".into();
    broken["builders"][0]["guest_additions_mode"] = "sideways".into();
    write_template(root, "vbox", &broken);
    let err = imgs_input_error(root, &["validate"]);
    settings(root).bind(|| insta::assert_snapshot!("foreign_member_invalid", err));
    // Without Packer, imgs says once what it could not check, and checks the rest.
    let out = imgs_exe_with_env(
        root,
        &["validate"],
        &[("IMGS_PACKER", "/nonexistent/packer")],
    );
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("were not validated").count(), 1, "{stderr}");
    assert!(stderr.contains("the `virtualbox-iso` builder"), "{stderr}");
}

/// `imgs ARGS` as its own process with `env` added (the in-process runner shares the test's
/// environment, and Packer is found once per process).
fn imgs_exe_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(imgs_exe())
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// amazon-ebs through Packer and natively in one workspace on the EC2 server: Packer's AMI carries
/// imgs's tags (so the plan finds it by fingerprint on a machine without the local cache), its
/// instance carries the run's, and nothing temporary is left. A builder type only Packer builds
/// here, `amazon-ebsvolume`, makes the volumes a child receives.
#[test]
fn packer_builds_amazon_ebs_and_ebsvolume_members_on_the_ec2_server() {
    if packer_for("the packer engine against the EC2 server").is_none() {
        return;
    }
    let peers = Peers::start("imgs-packer-engine-key");
    let source = peers
        .rt
        .block_on(imgs_test_peers::ec2::public_ebs_ami(&peers.ec2));
    let dir = new_workspace_with(
        "imgs-packer-ebs-",
        "\n[images.base]\nengine = \"packer\"\n\n[images.app]\nparents = { parent_ami = \"base\" }\n\n[images.data]\n\n[images.user]\nparents = { volume = \"data\" }\n",
    );
    let root = dir.path();
    let ebs = |name: &str, parent: bool| {
        let mut builder = peers.ebs_builder(
            &source,
            serde_json::json!({ "ami_name": format!("{name}-{{{{timestamp}}}}") }),
        );
        // moto registers the AMIs it makes with a root device type Packer refuses to launch from,
        // so the child names its parent's AMI in a tag rather than launching from it.
        builder["tags"] = serde_json::json!({ "Parent": "{{user `parent_ami`}}" });
        let parent_ami = if parent {
            serde_json::Value::Null
        } else {
            "".into()
        };
        serde_json::json!({
            "variables": { "parent_ami": parent_ami },
            "builders": [builder],
            "provisioners": [{ "type": "shell", "inline": ["echo {{user `parent_ami`}}"] }],
        })
    };
    write_template(root, "base", &ebs("base", false));
    write_template(root, "app", &ebs("app", true));
    let mut volume = peers.ebs_settings(
        REGION,
        serde_json::json!({
            "source_ami": source,
            "communicator": "none",
            "ebs_volumes": [{ "device_name": "/dev/xvdf", "volume_size": 1, "volume_type": "gp2",
                              "delete_on_termination": false, "tags": { "Name": "data" } }],
        }),
    );
    volume["type"] = "amazon-ebsvolume".into();
    write_template(root, "data", &serde_json::json!({ "builders": [volume] }));
    write_template(
        root,
        "user",
        &serde_json::json!({
            "variables": { "volume": null },
            "builders": [{ "type": "file", "content": "{{user `volume`}}", "target": "cache/artifacts/user/volume.txt" }],
        }),
    );

    let out = imgs(root, &["build", "--all"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let base_amis = peers.amis_of(REGION, "base");
    let app_amis = peers.amis_of(REGION, "app");
    assert_eq!(base_amis.len(), 1, "{base_amis:?}");
    assert_eq!(app_amis.len(), 1, "{app_amis:?}");
    let prints = fingerprints(root);
    assert_eq!(
        base_amis[0].1, prints["base"],
        "Packer's AMI carries the fingerprint"
    );
    let app = peers
        .rt
        .block_on(peers.ec2.describe_images().image_ids(&app_amis[0].0).send())
        .unwrap();
    assert_eq!(
        tag_map(app.images()[0].tags()).get("Parent"),
        Some(&base_amis[0].0),
        "the native child got Packer's AMI"
    );
    // Packer's instance is tagged with the run, and terminated.
    let launches = peers.launches_of(REGION, "base");
    assert_eq!(launches.len(), 1, "{launches:?}");
    assert_eq!(launches[0].state, "terminated");
    assert!(
        peers.left_by_imgs().is_empty(),
        "{:?}",
        peers.left_by_imgs()
    );
    // The volume reached the child.
    let handed =
        std::fs::read_to_string(root.join("cache/artifacts/user/current/volume.txt")).unwrap();
    assert!(handed.starts_with(&format!("{REGION}:vol-")), "{handed}");

    // Without the local cache, the plan finds both AMIs by their tags; the volume image is rebuilt
    // (only AMIs are found in EC2).
    std::fs::remove_dir_all(root.join("cache")).unwrap();
    let plan = imgs_ok(root, &["plan"]);
    assert!(plan.contains("Fresh base"), "{plan}");
    assert!(plan.contains("Fresh app"), "{plan}");
    assert!(plan.contains("Build data"), "{plan}");
}

/// An HCL2 member built by Packer: given the JSON template imgs lowered the configuration to, it
/// makes what the native engine makes from the same locals, functions and parent variable.
#[test]
fn an_hcl2_member_built_by_packer_matches_the_native_one() {
    if packer_for("an HCL2 member through the packer engine").is_none() {
        return;
    }
    const HCL: &str = r#"
variable "base" {
  type = string
}

variable "token" {
  type      = string
  default   = "hcl-secret-marker"
  sensitive = true
}

locals {
  greeting = upper("hello")
  names    = join(",", sort(["b", "a"]))
}

source "file" "note" {
  content = "${local.greeting} ${local.names} on ${var.base}\n"
  target  = "cache/artifacts/note/note.txt"
}

build {
  sources = ["source.file.note"]

  provisioner "shell-local" {
    inline = ["echo token ${var.token}"]
  }

  post-processor "checksum" {
    checksum_types = ["md5"]
  }
}
"#;
    let mut outputs = Vec::new();
    for engine in ["packer", "native"] {
        let dir = new_workspace_with(
            "imgs-packer-hcl-",
            &format!("\n[images.note]\nparents = {{ base = \"base\" }}\nengine = \"{engine}\"\n"),
        );
        let root = dir.path();
        write(
            root,
            "images/base/template.json",
            r#"{ "builders": [{ "type": "null", "communicator": "none" }] }"#,
        );
        write(root, "images/note/note.pkr.hcl", HCL);
        let out = imgs(root, &["build", "--all", "-v"]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("token <sensitive>"), "{}", out.stdout);
        assert!(!out.stdout.contains("hcl-secret-marker"));
        assert!(!cache_text(root).contains("hcl-secret-marker"));
        let left: Vec<_> = std::fs::read_dir(root.join("images/note"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("note.pkr.hcl")]);
        outputs.push(artifact_files(root));
        let again = imgs_ok(root, &["build", "--all"]);
        assert!(again.contains("0 images built, 2 fresh"), "{again}");
    }
    assert_eq!(outputs[0], outputs[1]);
    assert!(
        outputs[0]
            .iter()
            .any(|(name, text)| name == "note/V/note.txt" && text == "HELLO a,b on Null\n"),
        "{:?}",
        outputs[0]
    );
}
