//! amazon-ebs builds against a real EC2 API server (moto) on loopback: what the builder creates, tags,
//! copies and removes is checked through the SDK, as a person would check it in the console.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, Image};
use imgs_aws::{
    AwsError, EbsBuild, EbsConfig, ImgsTags, RegionAmi, RenderDeferred, ResourceKind, artifact_id,
    find_images_by_fingerprint,
};
use imgs_test_peers::TestMoto;
use imgs_test_peers::ec2::tag_map;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// An HVM Amazon Linux AMI moto ships in every region.
pub(crate) const SOURCE_AMI: &str = "ami-760aaa0f";
pub(crate) const REGION: &str = "us-east-1";

pub(crate) fn moto() -> TestMoto {
    TestMoto::start().unwrap_or_else(|why| panic!("{why}"))
}

pub(crate) fn settings(moto: &TestMoto, extra: Value) -> BTreeMap<String, Value> {
    let mut all: BTreeMap<String, Value> = serde_json::from_value(json!({
        "type": "amazon-ebs",
        "region": REGION,
        "access_key": "testing",
        "secret_key": "testing",
        "custom_endpoint_ec2": moto.endpoint(),
        "source_ami": SOURCE_AMI,
        "instance_type": "t3.micro",
        "ami_name": "imgs-test-app",
        "ssh_username": "ec2-user",
    }))
    .unwrap();
    all.extend(serde_json::from_value::<BTreeMap<String, Value>>(extra).unwrap());
    all
}

/// `{{ .Name }}` replaced by build data; enough of the template engine for these tests.
pub(crate) fn render() -> RenderDeferred {
    Arc::new(|text: &str, data: &BTreeMap<String, String>| {
        let mut out = text.to_string();
        for (key, value) in data {
            out = out.replace(&format!("{{{{ .{key} }}}}"), value);
        }
        if out.contains("{{") {
            return Err(format!("cannot render `{text}`"));
        }
        Ok(out)
    })
}

pub(crate) fn tags(fingerprint: &str) -> ImgsTags {
    ImgsTags {
        run_id: "run-1".into(),
        image: "app".into(),
        fingerprint: Some(fingerprint.into()),
    }
}

pub(crate) fn build(moto: &TestMoto, extra: Value, fingerprint: &str) -> EbsBuild {
    let config = EbsConfig::from_settings(
        &imgs_settings::Settings::from_json_map(&settings(moto, extra)),
        "app",
    )
    .unwrap_or_else(|problems| panic!("{problems}"));
    EbsBuild::new(config, tags(fingerprint), render())
}

/// Builds `extra` with no communicator from start to end: launch, create the AMI (and its copies),
/// clean up. Its log lines are added to `lines`.
pub(crate) async fn build_without_communicator(
    moto: &TestMoto,
    mut extra: Value,
    fingerprint: &str,
    lines: &mut Vec<String>,
) -> Vec<RegionAmi> {
    extra["communicator"] = json!("none");
    let mut build = build(moto, extra, fingerprint);
    let cancel = CancellationToken::new();
    let ssh = build.launch(&mut logger(lines), &cancel).await.unwrap();
    assert!(ssh.is_none());
    let amis = build
        .create_image(&mut logger(lines), &cancel)
        .await
        .unwrap();
    build.cleanup(&mut logger(lines)).await.unwrap();
    amis
}

pub(crate) async fn client(moto: &TestMoto, region: &str) -> Client {
    imgs_test_peers::ec2::client(&moto.endpoint(), region).await
}

pub(crate) fn logger(lines: &mut Vec<String>) -> impl FnMut(&str) + Send + '_ {
    move |line: &str| lines.push(line.to_string())
}

pub(crate) async fn image(client: &Client, ami_id: &str) -> Option<Image> {
    client
        .describe_images()
        .image_ids(ami_id)
        .send()
        .await
        .ok()?
        .images?
        .into_iter()
        .next()
}

pub(crate) async fn instance_state(client: &Client, id: &str) -> String {
    let out = client
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    out.reservations()[0].instances()[0]
        .state()
        .unwrap()
        .name()
        .unwrap()
        .as_str()
        .to_string()
}

async fn key_pair_names(client: &Client) -> Vec<String> {
    let out = client.describe_key_pairs().send().await.unwrap();
    out.key_pairs()
        .iter()
        .filter_map(|k| k.key_name().map(str::to_string))
        .collect()
}

/// Neither a key pair nor a security group a build made (named `imgs_…`) is left.
pub(crate) async fn assert_no_temporary_key_pair_or_group(ec2: &Client) {
    let pairs = key_pair_names(ec2).await;
    assert!(pairs.iter().all(|k| !k.starts_with("imgs_")), "{pairs:?}");
    let groups = group_names(ec2).await;
    assert!(groups.iter().all(|g| !g.starts_with("imgs_")), "{groups:?}");
}

async fn group_names(client: &Client) -> Vec<String> {
    let out = client.describe_security_groups().send().await.unwrap();
    out.security_groups()
        .iter()
        .filter_map(|g| g.group_name().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_create_image_and_clean_up() {
    let moto = moto();
    let mut build = build(
        &moto,
        json!({
            "ami_description": "app from {{ .SourceAMI }}",
            "tags": {"Name": "app", "Base": "{{ .SourceAMIName }}", "Region": "{{ .BuildRegion }}"},
            "run_tags": {"Purpose": "build"},
            "snapshot_tags": {"Kind": "root"},
            "ami_block_device_mappings": [
                {"device_name": "/dev/sdf", "volume_size": 10, "volume_type": "gp2",
                 "delete_on_termination": true}
            ],
            "ssh_host": "127.0.0.1",
            "ssh_port": 2222,
        }),
        "fp-1",
    );
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    let ssh = build
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap()
        .expect("an SSH communicator");
    assert_eq!(ssh.host, "127.0.0.1");
    assert_eq!(ssh.port, 2222);
    let key = match &ssh.auth[..] {
        [imgs_ssh::AuthMethod::PrivateKeyFile(path)] => path.clone(),
        other => panic!("expected the temporary key, got {other:?}"),
    };
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert!(key_text.contains("PRIVATE KEY"), "{key_text}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let ec2 = client(&moto, REGION).await;
    let leftovers = build.leftovers();
    let instance = leftovers
        .iter()
        .find(|r| r.kind == ResourceKind::Instance)
        .expect("the instance is a leftover until clean-up")
        .id
        .clone();
    assert_eq!(instance_state(&ec2, &instance).await, "running");
    let described = ec2
        .describe_instances()
        .instance_ids(&instance)
        .send()
        .await
        .unwrap();
    let instance_tags = tag_map(described.reservations()[0].instances()[0].tags());
    assert_eq!(instance_tags["Purpose"], "build");
    assert_eq!(instance_tags["Name"], "Packer Builder");
    assert_eq!(instance_tags["imgs:run"], "run-1");
    assert_eq!(instance_tags["imgs:image"], "app");
    assert!(leftovers.iter().any(|r| r.kind == ResourceKind::KeyPair));
    assert!(
        leftovers
            .iter()
            .any(|r| r.kind == ResourceKind::SecurityGroup)
    );

    let amis = build
        .create_image(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    assert_eq!(amis.len(), 1);
    assert_eq!(amis[0].region, REGION);
    assert_eq!(artifact_id(&amis), format!("{REGION}:{}", amis[0].ami_id));

    let ami = image(&ec2, &amis[0].ami_id).await.expect("the AMI exists");
    assert_eq!(ami.name(), Some("imgs-test-app"));
    assert_eq!(
        ami.description(),
        Some(format!("app from {SOURCE_AMI}").as_str())
    );
    let ami_tags = tag_map(ami.tags());
    assert_eq!(ami_tags["Name"], "app");
    assert_eq!(ami_tags["Region"], REGION);
    assert_eq!(
        ami_tags["Base"],
        "amzn-ami-hvm-2017.09.1.20171103-x86_64-gp2"
    );
    assert_eq!(ami_tags["imgs:run"], "run-1");
    assert_eq!(ami_tags["imgs:image"], "app");
    assert_eq!(ami_tags["imgs:fingerprint"], "fp-1");
    // moto records only the source's root device for CreateImage and ignores the mappings asked for
    // (ami_block_device_mappings); the request side is unit-tested in `build::tests`.
    let devices: Vec<&str> = ami
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.device_name())
        .collect();
    assert!(devices.contains(&"/dev/sda1"), "{devices:?}");
    let snapshots: Vec<String> = ami
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs()?.snapshot_id().map(str::to_string))
        .collect();
    assert!(!snapshots.is_empty());
    let described = ec2
        .describe_snapshots()
        .set_snapshot_ids(Some(snapshots.clone()))
        .send()
        .await
        .unwrap();
    for snapshot in described.snapshots() {
        let tags = tag_map(snapshot.tags());
        assert_eq!(
            tags.get("Kind").map(String::as_str),
            Some("root"),
            "{tags:?}"
        );
        assert_eq!(tags.get("imgs:run").map(String::as_str), Some("run-1"));
    }

    build.cleanup(&mut logger(&mut lines)).await.unwrap();
    assert_eq!(instance_state(&ec2, &instance).await, "terminated");
    assert_no_temporary_key_pair_or_group(&ec2).await;
    assert!(build.leftovers().is_empty(), "{:?}", build.leftovers());
    // A completed build keeps its AMI; clean-up again changes nothing.
    assert!(image(&ec2, &amis[0].ami_id).await.is_some());
    build.cleanup(&mut logger(&mut lines)).await.unwrap();

    for expected in [
        "Creating temporary keypair: ",
        "Launching a source AWS instance...",
        "Instance ID: i-",
        "Waiting for AMI to become ready...",
        "Deleting temporary keypair...",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(expected)),
            "no line starting {expected:?} in {lines:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_to_more_regions_and_tags_each_copy() {
    let moto = moto();
    let extra = json!({
        "ami_regions": ["eu-west-1", REGION],
        "tags": {"Region": "{{ .BuildRegion }}"},
        "ami_users": ["123456789012"],
    });
    let amis = build_without_communicator(&moto, extra, "fp-copy", &mut Vec::new()).await;
    let regions: Vec<&str> = amis.iter().map(|a| a.region.as_str()).collect();
    assert_eq!(regions, [REGION, "eu-west-1"]);
    assert_eq!(
        artifact_id(&amis),
        format!("eu-west-1:{},{REGION}:{}", amis[1].ami_id, amis[0].ami_id)
    );
    let eu = client(&moto, "eu-west-1").await;
    let copy = image(&eu, &amis[1].ami_id).await.expect("the copy exists");
    assert_eq!(copy.name(), Some("imgs-test-app"));
    let copy_tags = tag_map(copy.tags());
    // Packer renders every region's tags with the build region as BuildRegion.
    assert_eq!(copy_tags["Region"], REGION);
    assert_eq!(copy_tags["imgs:fingerprint"], "fp-copy");

    let found = find_images_by_fingerprint(
        &imgs_test_peers::ec2::client_settings(&moto.endpoint(), REGION),
        "eu-west-1",
        &["fp-copy".to_string(), "fp-missing".to_string()],
    )
    .await
    .unwrap();
    assert_eq!(
        found,
        BTreeMap::from([(
            "fp-copy".to_string(),
            vec![RegionAmi {
                region: "eu-west-1".into(),
                ami_id: amis[1].ami_id.clone()
            }]
        )])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_ami_name_is_refused_unless_forced() {
    let moto = moto();
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    let old = build_without_communicator(&moto, json!({}), "fp-a", &mut lines).await;

    let mut second = build(&moto, json!({"communicator": "none"}), "fp-b");
    let error = second
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "Error: AMI Name: 'imgs-test-app' is used by an existing AMI: {}",
            old[0].ami_id
        )
    );
    assert!(error.hint().unwrap().contains("force_deregister"));
    second.cleanup(&mut logger(&mut lines)).await.unwrap();
    assert!(second.leftovers().is_empty());

    let ec2 = client(&moto, REGION).await;
    let old_snapshots: Vec<String> = image(&ec2, &old[0].ami_id)
        .await
        .unwrap()
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs()?.snapshot_id().map(str::to_string))
        .collect();
    let forcing = json!({"force_deregister": true, "force_delete_snapshot": true});
    let new = build_without_communicator(&moto, forcing, "fp-c", &mut lines).await;
    assert!(
        image(&ec2, &old[0].ami_id).await.is_none(),
        "the old AMI is deregistered"
    );
    assert!(image(&ec2, &new[0].ami_id).await.is_some());
    let remaining = ec2
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap();
    for snapshot in old_snapshots {
        assert!(
            remaining
                .snapshots()
                .iter()
                .all(|s| s.snapshot_id() != Some(snapshot.as_str())),
            "snapshot {snapshot} of the old AMI was deleted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_create_image_deregisters_it() {
    let moto = moto();
    // The copy region exists nowhere, so CopyImage fails after the AMI was made in the build region.
    // moto answers it with a 500, which is retried: once is enough here.
    let mut build = build(
        &moto,
        json!({
            "communicator": "none",
            "ami_regions": ["xx-nowhere-1"],
            "skip_region_validation": true,
            "max_retries": 1,
        }),
        "fp-fail",
    );
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    build
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    let error = build.create_image(&mut logger(&mut lines), &cancel).await;
    let ec2 = client(&moto, REGION).await;
    let made = build
        .leftovers()
        .into_iter()
        .find(|r| r.kind == ResourceKind::Image && r.region == REGION)
        .expect("the AMI made before the failure is a leftover");
    assert!(
        error.is_err(),
        "copying to a region that does not exist fails"
    );
    assert!(image(&ec2, &made.id).await.is_some());
    build.cleanup(&mut logger(&mut lines)).await.unwrap();
    assert!(
        image(&ec2, &made.id).await.is_none(),
        "the unfinished AMI is deregistered"
    );
    assert!(build.leftovers().is_empty(), "{:?}", build.leftovers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_ami_filter_finds_one_or_says_why_not() {
    let moto = moto();
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    let mut one = build(
        &moto,
        json!({
            "source_ami": "",
            "source_ami_filter": {
                "filters": {"name": "amzn-ami-hvm-2017.09.1.*-gp2"},
                "owners": ["137112412989"]
            },
            "communicator": "none",
        }),
        "fp-f",
    );
    one.launch(&mut logger(&mut lines), &cancel).await.unwrap();
    assert!(
        lines.contains(&"Found Image ID: ami-760aaa0f".to_string()),
        "{lines:#?}"
    );
    one.cleanup(&mut logger(&mut lines)).await.unwrap();

    let several = json!({
        "source_ami": "",
        "source_ami_filter": {"filters": {"name": "ubuntu/images/*"}, "owners": ["099720109477"]},
        "communicator": "none",
    });
    let mut ambiguous = build(&moto, several.clone(), "fp-f");
    let error = ambiguous
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AwsError::SeveralSourceAmis { count: 2 }),
        "{error}"
    );
    ambiguous.cleanup(&mut logger(&mut lines)).await.unwrap();

    let mut newest = several;
    newest["source_ami_filter"]["most_recent"] = json!(true);
    let mut newest = build(&moto, newest, "fp-f");
    newest
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    newest.cleanup(&mut logger(&mut lines)).await.unwrap();

    let mut none = build(
        &moto,
        json!({
            "source_ami": "",
            "source_ami_filter": {"filters": {"name": "no-such-image-*"}, "owners": ["self"]},
            "communicator": "none",
        }),
        "fp-f",
    );
    let error = none
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "No AMI was found matching filters: name=no-such-image-* owners=self"
    );
    none.cleanup(&mut logger(&mut lines)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_the_build_and_clean_up_removes_everything() {
    let moto = moto();
    let mut build = build(&moto, json!({"ssh_host": "127.0.0.1"}), "fp-x");
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    build
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    cancel.cancel();
    let error = build
        .create_image(&mut logger(&mut lines), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(error, AwsError::Cancelled), "{error}");
    let left = build.leftovers();
    assert_eq!(left.len(), 3, "{left:?}");
    build.cleanup(&mut logger(&mut lines)).await.unwrap();
    assert!(build.leftovers().is_empty());
    let ec2 = client(&moto, REGION).await;
    let instance = left
        .iter()
        .find(|r| r.kind == ResourceKind::Instance)
        .unwrap();
    assert_eq!(instance_state(&ec2, &instance.id).await, "terminated");
    assert_no_temporary_key_pair_or_group(&ec2).await;
    let ours = ec2
        .describe_images()
        .owners("self")
        .filters(
            Filter::builder()
                .name("tag:imgs:run")
                .values("run-1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(ours.images().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_key_pair_and_security_group_are_used_and_kept() {
    let moto = moto();
    let ec2 = client(&moto, REGION).await;
    ec2.create_key_pair()
        .key_name("team-key")
        .send()
        .await
        .unwrap();
    let group = ec2
        .create_security_group()
        .group_name("team-ssh")
        .description("ssh")
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let mut build = build(
        &moto,
        json!({
            "ssh_keypair_name": "team-key",
            "ssh_private_key_file": "/nonexistent/but/not/read/here",
            "security_group_id": group,
            "ssh_interface": "private_ip",
        }),
        "fp-k",
    );
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    let ssh = build
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap()
        .unwrap();
    assert!(
        ssh.host.starts_with("10.") || ssh.host.starts_with("172."),
        "{}",
        ssh.host
    );
    let left = build.leftovers();
    assert_eq!(left.len(), 1, "only the instance is ours: {left:?}");
    let instance = &left[0].id;
    let described = ec2
        .describe_instances()
        .instance_ids(instance)
        .send()
        .await
        .unwrap();
    let launched = &described.reservations()[0].instances()[0];
    assert_eq!(launched.key_name(), Some("team-key"));
    build.cleanup(&mut logger(&mut lines)).await.unwrap();
    assert!(key_pair_names(&ec2).await.contains(&"team-key".to_string()));
    assert!(group_names(&ec2).await.contains(&"team-ssh".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_boot_replaces_the_ami_with_an_encrypted_copy() {
    let moto = moto();
    let mut lines = Vec::new();
    let extra = json!({ "encrypt_boot": true });
    let amis = build_without_communicator(&moto, extra, "fp-encrypted", &mut lines).await;
    assert_eq!(amis.len(), 1, "only the encrypted AMI is the artifact");
    let ec2 = client(&moto, REGION).await;
    let encrypted = image(&ec2, &amis[0].ami_id)
        .await
        .expect("the encrypted AMI exists");
    assert_eq!(encrypted.name(), Some("imgs-test-app"));
    assert_eq!(
        tag_map(encrypted.tags())["imgs:fingerprint"],
        "fp-encrypted"
    );
    // The unencrypted intermediate is gone: no other AMI of ours carries the name.
    let ours = ec2.describe_images().owners("self").send().await.unwrap();
    let named: Vec<_> = ours
        .images()
        .iter()
        .filter(|i| i.name() == Some("imgs-test-app"))
        .filter_map(|i| i.image_id())
        .collect();
    assert_eq!(named, [amis[0].ami_id.as_str()]);
    assert!(
        lines.iter().any(|l| l.contains("intermediate AMI")),
        "{lines:?}"
    );
}
