//! Publishing to channels against a real EC2 and SSM API server (moto) on loopback: a three-image
//! amazon-ebs workspace (`app` launched from `base`'s AMI, `tool` on its own) built with `--channel
//! dev` gets the channel tag on every AMI, the SSM parameters and launch permissions of
//! `[images.NAME.publish]`, and `cache/channels/dev.json`; after a change to `base`, the channel
//! moves to the new AMIs of `base` and `app` only; a run where one image fails publishes nothing
//! (and the next run, fixed, finds the built images fresh and publishes); `imgs publish --channel
//! prod` promotes the built set, and refuses an image that is not built, naming it.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::ebs::{Peers, REGION};
use crate::support::*;

const KEY_PAIR: &str = "imgs-publish-key";
const ACCOUNT: &str = "123456789012";
/// Where `base`'s AMIs are copied to.
const COPY_REGION: &str = "us-west-2";

/// Every tag of `resource` in the build region.
fn tags_of(peers: &Peers, resource: &str) -> BTreeMap<String, String> {
    peers.tags_in(REGION, resource)
}

/// The AMIs of `image` in the build region that carry channel `channel`'s tag.
fn in_channel(peers: &Peers, image: &str, channel: &str) -> Vec<String> {
    in_channel_in(peers, REGION, image, channel)
}

/// The AMIs of `image` in `region` that carry channel `channel`'s tag.
fn in_channel_in(peers: &Peers, region: &str, image: &str, channel: &str) -> Vec<String> {
    peers
        .amis_of(region, image)
        .into_iter()
        .map(|(ami, _)| ami)
        .filter(|ami| {
            peers
                .tags_in(region, ami)
                .contains_key(&format!("imgs:channel:{channel}"))
        })
        .collect()
}

/// The value of SSM parameter `name` in the build region, read through imgs-aws as imgs writes it.
fn parameter(peers: &Peers, name: &str) -> Option<String> {
    parameter_in(peers, REGION, name)
}

fn parameter_in(peers: &Peers, region: &str, name: &str) -> Option<String> {
    let settings = imgs_aws::ClientSettings {
        access_key: Some("testing".into()),
        secret_key: Some("testing".into()),
        custom_endpoint_ec2: Some(peers.moto.endpoint()),
        ..imgs_aws::ClientSettings::new(region)
    };
    peers
        .rt
        .block_on(imgs_aws::ssm_parameter(&settings, region, name))
        .unwrap()
}

/// Who may launch `ami`: (account IDs, groups).
fn launch_permissions(peers: &Peers, ami: &str) -> (Vec<String>, Vec<String>) {
    let out = peers
        .rt
        .block_on(
            peers
                .ec2
                .describe_image_attribute()
                .image_id(ami)
                .attribute(imgs_aws::sdk::types::ImageAttributeName::LaunchPermission)
                .send(),
        )
        .unwrap();
    let mut accounts = Vec::new();
    let mut groups = Vec::new();
    for p in out.launch_permissions() {
        if let Some(user) = p.user_id() {
            accounts.push(user.to_string());
        }
        if let Some(group) = p.group() {
            groups.push(group.as_str().to_string());
        }
    }
    (accounts, groups)
}

/// `base` (from moto's public AMI), `app` (from `base`'s AMI) and `tool` (from the public AMI), each
/// running its `setup.sh` locally; `app` and `base` have SSM parameters, `app` launch permissions.
fn workspace(peers: &Peers) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-publish-",
        &format!(
            "\n[images.base.publish]\nssm_parameter = \"/images/{{channel}}/{{image}}\"\n\
             \n[images.app]\nparents = {{ base_ami = \"base\" }}\n\
             \n[images.app.publish]\nssm_parameter = \"/images/{{channel}}/{{image}}\"\n\
             launch_permission_accounts = [\"{ACCOUNT}\"]\nlaunch_permission_groups = [\"all\"]\n"
        ),
    );
    let root = dir.path();
    let template = |source: &str, variables: serde_json::Value, copies: &[&str]| {
        let mut builder = peers.ebs_settings(
            REGION,
            serde_json::json!({
                "source_ami": source,
                "ami_name": "imgs-{{build_name}}-{{uuid}}",
                "communicator": "none",
            }),
        );
        if !copies.is_empty() {
            builder["ami_regions"] = serde_json::json!(copies);
        }
        serde_json::json!({
            "variables": variables,
            "builders": [builder],
            "provisioners": [{ "type": "shell-local", "script": "{{template_dir}}/setup.sh" }],
        })
    };
    let public = peers.public_ami();
    // base's AMIs are also copied to a second region: the channel moves in each.
    write_template(
        root,
        "base",
        &template(&public, serde_json::json!({}), &[COPY_REGION]),
    );
    write_template(
        root,
        "app",
        &template(
            "{{user `base_ami`}}",
            serde_json::json!({ "base_ami": null }),
            &[],
        ),
    );
    write_template(root, "tool", &template(&public, serde_json::json!({}), &[]));
    for image in ["base", "app", "tool"] {
        write_script(root, image, "echo v1");
    }
    dir
}

fn write_script(root: &Path, image: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let rel = format!("images/{image}/setup.sh");
    write(root, &rel, &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// AMI IDs, fingerprints, times and the workspace vary between runs.
fn ids_settings(root: &Path) -> insta::Settings {
    let mut s = settings(root);
    s.add_filter(r"\bami-[0-9a-f]+\b", "ami-[ID]");
    s.add_filter(r"\d+\.\d\ds", "[T]s");
    s.add_filter(r"\(run [0-9a-f-]+\)", "(run [RUN])");
    s
}

/// The lines of a build's output from the publish summary on.
fn published_lines(out: &str) -> String {
    out.lines()
        .skip_while(|l| !l.trim_start().starts_with("Published"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn build_with_a_channel_publishes_after_the_whole_graph_and_moves_the_channel() {
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers);
    let root = ws.path();

    // The plan says what publishing would do, before anything is built.
    let plan = imgs_ok(root, &["plan", "--all", "--channel", "dev"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("plan_channel_unbuilt", plan));
    let json: serde_json::Value = serde_json::from_str(&imgs_ok(
        root,
        &[
            "plan",
            "--all",
            "--channel",
            "dev",
            "--message-format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(json["publish"]["channel"], "dev");
    assert_eq!(json["publish"]["images"].as_array().unwrap().len(), 3);

    let out = imgs_ok(root, &["build", "--all", "--channel", "dev"]);
    assert!(out.contains("3 images built"), "{out}");
    ids_settings(root).bind(|| insta::assert_snapshot!("build_published", published_lines(&out)));
    let first = fingerprints(root);
    let ami = |fps: &BTreeMap<String, String>, image: &str| peers.only_ami(image, &fps[image]);
    for image in ["base", "app", "tool"] {
        assert_eq!(
            in_channel(&peers, image, "dev"),
            [ami(&first, image)],
            "{image}"
        );
        let value = &tags_of(&peers, &ami(&first, image))["imgs:channel:dev"];
        // RFC 3339, to the second, in UTC.
        assert!(
            value.len() == 20 && value.ends_with('Z') && value.contains('T'),
            "{value}"
        );
    }
    assert_eq!(
        parameter(&peers, "/images/dev/app").as_deref(),
        Some(ami(&first, "app").as_str())
    );
    assert_eq!(
        parameter(&peers, "/images/dev/base").as_deref(),
        Some(ami(&first, "base").as_str())
    );
    assert_eq!(
        parameter(&peers, "/images/dev/tool"),
        None,
        "tool has no parameter"
    );
    // base's copy: in the channel, and its parameter, in its own region.
    let copy_of = |fps: &BTreeMap<String, String>| {
        let copies: Vec<String> = peers
            .amis_of(COPY_REGION, "base")
            .into_iter()
            .filter(|(_, fp)| *fp == fps["base"])
            .map(|(ami, _)| ami)
            .collect();
        assert_eq!(copies.len(), 1, "{copies:?}");
        copies[0].clone()
    };
    assert_eq!(
        in_channel_in(&peers, COPY_REGION, "base", "dev"),
        [copy_of(&first)]
    );
    assert_eq!(
        parameter_in(&peers, COPY_REGION, "/images/dev/base").as_deref(),
        Some(copy_of(&first).as_str())
    );
    assert_eq!(
        launch_permissions(&peers, &ami(&first, "app")),
        (vec![ACCOUNT.to_string()], vec!["all".to_string()])
    );
    assert_eq!(
        launch_permissions(&peers, &ami(&first, "base")),
        (vec![], vec![])
    );
    let channel: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("cache/channels/dev.json")).unwrap())
            .unwrap();
    for image in ["base", "app", "tool"] {
        assert_eq!(
            channel["images"][image]["fingerprint"],
            first[image].as_str()
        );
        // Packer's artifact ID: `region:ami` pairs (base's copy after its AMI).
        let artifact = channel["images"][image]["artifacts"][0].as_str().unwrap();
        assert!(
            artifact.starts_with(&format!("{REGION}:{}", ami(&first, image))),
            "{artifact}"
        );
    }

    // Nothing changed: nothing built, every image already in the channel.
    let again = imgs_ok(root, &["build", "--all", "--dry-run", "--channel", "dev"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("dry_run_channel_fresh", again));

    // A new base: the channel moves to the new base and app, tool stays where it is.
    write_script(root, "base", "echo v2");
    let plan = imgs_ok(root, &["plan", "--all", "--channel", "dev"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("plan_channel_moves", plan));
    let out = imgs_ok(root, &["build", "--all", "--channel", "dev"]);
    assert!(out.contains("2 images built, 1 fresh"), "{out}");
    ids_settings(root).bind(|| insta::assert_snapshot!("build_moved", published_lines(&out)));
    let second = fingerprints(root);
    assert_ne!(first["base"], second["base"]);
    for image in ["base", "app"] {
        assert_eq!(
            in_channel(&peers, image, "dev"),
            [ami(&second, image)],
            "{image}"
        );
        assert!(
            !tags_of(&peers, &ami(&first, image)).contains_key("imgs:channel:dev"),
            "the old {image} left the channel"
        );
    }
    assert_eq!(in_channel(&peers, "tool", "dev"), [ami(&first, "tool")]);
    assert_eq!(
        in_channel_in(&peers, COPY_REGION, "base", "dev"),
        [copy_of(&second)]
    );
    assert_eq!(
        parameter_in(&peers, COPY_REGION, "/images/dev/base").as_deref(),
        Some(copy_of(&second).as_str())
    );
    assert_eq!(
        parameter(&peers, "/images/dev/app").as_deref(),
        Some(ami(&second, "app").as_str())
    );

    // Promotion: a dry run says what would happen and changes nothing; then prod gets the current
    // set, and dev keeps it.
    let dry = imgs_ok(root, &["publish", "--channel", "prod", "--dry-run"]);
    assert!(
        dry.contains("Publish app to prod: us-east-1 (none) → ami-"),
        "{dry}"
    );
    assert!(in_channel(&peers, "app", "prod").is_empty());
    assert_eq!(parameter(&peers, "/images/prod/app"), None);
    let out = imgs_ok(root, &["publish", "--channel", "prod"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("publish_prod", out));
    for image in ["base", "app", "tool"] {
        assert_eq!(in_channel(&peers, image, "prod"), [ami(&second, image)]);
        assert_eq!(in_channel(&peers, image, "dev"), [ami(&second, image)]);
    }
    assert_eq!(
        parameter(&peers, "/images/prod/base").as_deref(),
        Some(ami(&second, "base").as_str())
    );

    // The graph shows which channels point at each image.
    let graph = imgs_ok(root, &["graph"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("graph_channels", graph));

    // An image whose current version is not built cannot be published: named, with the command.
    write_script(root, "tool", "echo v2");
    let err = imgs_input_error(root, &["publish", "--channel", "prod", "-i", "tool"]);
    ids_settings(root).bind(|| insta::assert_snapshot!("publish_unbuilt", err));
    assert_eq!(in_channel(&peers, "tool", "prod"), [ami(&second, "tool")]);
}

#[test]
fn a_failure_anywhere_publishes_nothing_and_the_next_run_publishes_what_was_built() {
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers);
    let root = ws.path();
    write_script(root, "tool", "echo broken; exit 3");
    let out = imgs(
        root,
        &["build", "--all", "--channel", "dev", "--keep-going"],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("Published"), "{}", out.stdout);
    // base and app were built and recorded, but nothing is in the channel.
    assert_eq!(peers.amis_of(REGION, "base").len(), 1);
    assert_eq!(peers.amis_of(REGION, "app").len(), 1);
    for image in ["base", "app", "tool"] {
        assert!(in_channel(&peers, image, "dev").is_empty(), "{image}");
    }
    assert_eq!(parameter(&peers, "/images/dev/base"), None);
    assert_eq!(parameter(&peers, "/images/dev/app"), None);
    assert!(!root.join("cache/channels/dev.json").exists());

    // Fixed: the built images are fresh, tool is built, and all three are published.
    write_script(root, "tool", "echo v1");
    let out = imgs_ok(
        root,
        &[
            "build",
            "--all",
            "--channel",
            "dev",
            "--message-format",
            "json",
        ],
    );
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = events.iter().find(|e| e["event"] == "summary").unwrap();
    assert_eq!(
        (&summary["built"], &summary["fresh"]),
        (&1.into(), &2.into())
    );
    // The publish comes after the summary, as data.
    let last = events.last().unwrap();
    assert_eq!(last["event"], "published", "{out}");
    assert_eq!(last["channel"], "dev");
    let published: Vec<&str> = last["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert_eq!(published, ["base", "app", "tool"]);
    let fps = fingerprints(root);
    for image in ["base", "app", "tool"] {
        assert_eq!(
            in_channel(&peers, image, "dev"),
            [peers.only_ami(image, &fps[image])],
            "{image}"
        );
    }
    assert!(parameter(&peers, "/images/dev/app").is_some());
}

/// A docker image with `docker_repository`: `imgs build --channel dev` tags it `<repository>:dev`
/// and pushes it to the registry (a private Docker daemon and registry on loopback; skipped where
/// the machine cannot run them), and the channel file names its image ID.
#[test]
fn a_docker_image_is_tagged_with_the_channel_and_pushed() {
    use crate::build_docker::{BASE, Peers as Docker, imgs_command};
    let Some(docker) = Docker::start("publish docker", true) else {
        return;
    };
    let registry = docker.registry.as_ref().expect("a registry was asked for");
    let repository = format!("{}/app", registry.address());
    let ws = new_workspace_with(
        "imgs-publish-docker-",
        &format!("\n[images.app.publish]\ndocker_repository = \"{repository}\"\n"),
    );
    let root = ws.path();
    write_template(
        root,
        "app",
        &serde_json::json!({
            "builders": [{ "type": "docker", "image": BASE, "pull": false, "commit": true }],
            "provisioners": [{ "type": "shell", "inline": ["echo published > /published"] }],
        }),
    );
    let out = imgs_command(root, &["build", "--all", "--channel", "dev"], &docker.env())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("docker {repository}:dev")),
        "{stdout}"
    );
    assert_eq!(registry.tags("app").unwrap(), ["dev"]);
    let channel: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("cache/channels/dev.json")).unwrap())
            .unwrap();
    let id = channel["images"]["app"]["artifacts"][0].as_str().unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
}

/// Ctrl-C while one image is still building: the run stops (exit 130) and publishes nothing, though
/// the images that finished are recorded; the next `--channel` run finds them fresh and publishes.
#[test]
fn ctrl_c_publishes_nothing() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers);
    let root = ws.path();
    let stop = root.join("stop");
    write_script(
        root,
        "tool",
        &format!(
            "i=0; while [ ! -e {} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done",
            stop.display()
        ),
    );
    let mut child = Command::new(imgs_exe())
        .args([
            "build",
            "--all",
            "--channel",
            "dev",
            "--message-format",
            "json",
        ])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut lines = stdout.lines();
    // base, then app, are built while tool waits.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("\"event\":\"built\"") && line.contains("\"image\":\"app\"");
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("\"event\":\"started\"") && l.contains("\"tool\"")),
        "{seen:?}"
    );
    let status = Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let code = child.wait().unwrap().code();
    let _ = std::fs::write(&stop, "");
    assert_eq!(code, Some(130), "{rest:?}");
    assert!(
        !rest.iter().any(|l| l.contains("\"event\":\"published\"")),
        "{rest:?}"
    );
    for image in ["base", "app", "tool"] {
        assert!(in_channel(&peers, image, "dev").is_empty(), "{image}");
    }
    assert_eq!(parameter(&peers, "/images/dev/app"), None);
    assert!(!root.join("cache/channels/dev.json").exists());

    // The next run builds only tool, and publishes all three.
    write_script(root, "tool", "echo v1");
    let out = imgs_ok(root, &["build", "--all", "--channel", "dev"]);
    assert!(out.contains("1 image built, 2 fresh"), "{out}");
    assert!(out.contains("3 images published to dev"), "{out}");
    assert!(parameter(&peers, "/images/dev/app").is_some());
}
