//! `imgs build` with amazon-ebs's options beyond the basic flow, against moto and the test sshd:
//! a subnet found by filter, ENA and SR-IOV, snapshots and AMIs shared, tags reading the source
//! AMI's tags, an instance the provisioner stops itself (`disable_stop_instance`), a spot instance,
//! a role assumed through STS (`assume_role`, and a shared profile's role with `mfa_code`) — each
//! checked through the EC2 API, and where moto keeps nothing of a request, in moto's request
//! recorder. One template is also built by Packer 1.6.6 against the same server, and both results
//! compared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use imgs_aws::sdk::types::{
    Filter, Image, ResourceType, SnapshotAttributeName, Tag, TagSpecification,
};
use imgs_test_peers::ec2::{tag_filter, tag_map};
use imgs_test_peers::moto::RecordedCall;

use crate::support::ebs::{Peers, REGION};
use crate::support::*;

const KEY_PAIR: &str = "imgs-options-key";

/// An HVM AMI moto ships (enhanced networking needs one), tagged `Team=base-team`.
fn tagged_hvm_source(peers: &Peers) -> String {
    let images = peers
        .rt
        .block_on(
            peers
                .ec2
                .describe_images()
                .owners("amazon")
                .filters(
                    Filter::builder()
                        .name("virtualization-type")
                        .values("hvm")
                        .build(),
                )
                .filters(
                    Filter::builder()
                        .name("root-device-type")
                        .values("ebs")
                        .build(),
                )
                .send(),
        )
        .unwrap();
    let id = images.images()[0].image_id().unwrap().to_string();
    peers
        .rt
        .block_on(
            peers
                .ec2
                .create_tags()
                .resources(&id)
                .tags(Tag::builder().key("Team").value("base-team").build())
                .send(),
        )
        .unwrap();
    id
}

fn source_name(peers: &Peers, id: &str) -> String {
    let images = peers
        .rt
        .block_on(peers.ec2.describe_images().image_ids(id).send())
        .unwrap();
    images.images()[0].name().unwrap().to_string()
}

/// A VPC with two subnets in it; the one tagged `Tier=build` is returned (VPC ID, subnet ID).
fn build_subnet(peers: &Peers) -> (String, String) {
    let spec = |kind: ResourceType, key: &str, value: &str| {
        TagSpecification::builder()
            .resource_type(kind)
            .tags(Tag::builder().key(key).value(value).build())
            .build()
    };
    let vpc = peers
        .rt
        .block_on(
            peers
                .ec2
                .create_vpc()
                .cidr_block("10.50.0.0/16")
                .tag_specifications(spec(ResourceType::Vpc, "Name", "images"))
                .send(),
        )
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut chosen = String::new();
    for (cidr, tier) in [("10.50.1.0/24", "build"), ("10.50.2.0/24", "apps")] {
        let subnet = peers
            .rt
            .block_on(
                peers
                    .ec2
                    .create_subnet()
                    .vpc_id(&vpc_id)
                    .cidr_block(cidr)
                    .tag_specifications(spec(ResourceType::Subnet, "Tier", tier))
                    .send(),
            )
            .unwrap();
        if tier == "build" {
            chosen = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
        }
    }
    (vpc_id, chosen)
}

/// Every AMI of ours in `region` whose tag `key` is `value`.
fn amis_tagged(peers: &Peers, region: &str, key: &str, value: &str) -> Vec<Image> {
    let ec2 = peers.client_in(region);
    let out = peers
        .rt
        .block_on(
            ec2.describe_images()
                .owners("self")
                .filters(tag_filter(key, value))
                .send(),
        )
        .unwrap();
    out.images().to_vec()
}

/// Who may create volumes from each snapshot behind `image` ("all" or account IDs), sorted.
fn snapshot_permissions(peers: &Peers, region: &str, image: &Image) -> Vec<String> {
    let ec2 = peers.client_in(region);
    let mut holders = Vec::new();
    for mapping in image.block_device_mappings() {
        let Some(snapshot) = mapping.ebs().and_then(|e| e.snapshot_id()) else {
            continue;
        };
        let out = peers
            .rt
            .block_on(
                ec2.describe_snapshot_attribute()
                    .snapshot_id(snapshot)
                    .attribute(SnapshotAttributeName::CreateVolumePermission)
                    .send(),
            )
            .unwrap();
        holders.extend(out.create_volume_permissions().iter().map(|p| {
            p.user_id()
                .map(str::to_string)
                .or_else(|| p.group().map(|g| g.as_str().to_string()))
                .unwrap_or_default()
        }));
    }
    holders.sort();
    holders
}

/// The template's tags on an AMI, without imgs's own.
fn template_tags(image: &Image) -> BTreeMap<String, String> {
    tag_map(image.tags())
        .into_iter()
        .filter(|(k, _)| !k.starts_with("imgs:"))
        .collect()
}

/// The one instance tagged `Tool` = `tool`.
fn instance_of(peers: &Peers, tool: &str) -> imgs_aws::sdk::types::Instance {
    let out = peers
        .rt
        .block_on(
            peers
                .ec2
                .describe_instances()
                .filters(tag_filter("Tool", tool))
                .send(),
        )
        .unwrap();
    let instances: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .cloned()
        .collect();
    assert_eq!(instances.len(), 1, "{tool} launched one instance");
    instances[0].clone()
}

fn calls_named<'a>(calls: &'a [RecordedCall], action: &str) -> Vec<&'a RecordedCall> {
    calls
        .iter()
        .filter(|c| c.action() == Some(action))
        .collect()
}

/// The python that runs moto's server, whose boto3 a provisioner can use to call EC2.
fn python_with_boto3() -> String {
    let out = Command::new("python3")
        .args(["-c", "import boto3, sys; print(sys.executable)"])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "boto3 comes with moto: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The amazon-ebs options a template gives both tools in the comparison with Packer, and imgs in
/// the option test: everything here is something Packer 1.6.6 builds against moto too.
fn shared_options(peers: &Peers, source: &str, tool: &str) -> serde_json::Value {
    peers.ebs_builder(
        source,
        serde_json::json!({
            "ami_name": format!("options-{tool}-{{{{timestamp}}}}"),
            "subnet_filter": {"filters": {"tag:Tier": "build"}},
            "associate_public_ip_address": true,
            "ena_support": true,
            "sriov_support": true,
            "snapshot_users": ["111122223333"],
            "snapshot_groups": ["all"],
            "ami_users": ["444455556666"],
            "ami_regions": ["eu-west-1"],
            "tags": {
                "Owner": "{{ .SourceAMITags.Team }}",
                "Built": "{{ .BuildRegion }}",
                "Tool": tool,
            },
            "tag": [{"key": "From", "value": "{{ .SourceAMIName }}"}],
            "run_tags": {"Tool": tool},
            "run_volume_tag": [{"name": "Disk", "value": "root"}],
            "snapshot_tag": [{"key": "Snapshot", "value": "of {{ .SourceAMI }}"}],
        }),
    )
}

#[test]
fn an_ebs_build_with_filters_sharing_enhanced_networking_and_its_own_stop() {
    let peers = Peers::start(KEY_PAIR);
    let source = tagged_hvm_source(&peers);
    let (vpc_id, subnet_id) = build_subnet(&peers);
    let python = python_with_boto3();
    let dir = new_workspace("imgs-ebs-options-");
    let root = dir.path();
    let mut builder = shared_options(&peers, &source, "imgs");
    builder["disable_stop_instance"] = true.into();
    builder["aws_polling"] = serde_json::json!({"delay_seconds": 1, "max_attempts": 60});
    builder["pause_before_connecting"] = "1s".into();
    // What `shutdown -h now` on a real instance does: the instance stops, the build only waits.
    let stop = format!(
        "import boto3\n\
         ec2 = boto3.client('ec2', endpoint_url='{endpoint}', region_name='{REGION}',\n\
         \x20                  aws_access_key_id='provisioner', aws_secret_access_key='x')\n\
         found = ec2.describe_instances(Filters=[\n\
         \x20   {{'Name': 'tag:imgs:image', 'Values': ['app']}},\n\
         \x20   {{'Name': 'instance-state-name', 'Values': ['running']}}])\n\
         ids = [i['InstanceId'] for r in found['Reservations'] for i in r['Instances']]\n\
         ec2.stop_instances(InstanceIds=ids)\n\
         print('stopped', ids)\n",
        endpoint = peers.moto.endpoint(),
    );
    write(root, "images/app/stop.py", &stop);
    let template = serde_json::json!({
        "builders": [builder],
        "provisioners": [
            {"type": "shell", "inline": [format!("{python} {}", root.join("images/app/stop.py").display())]},
        ],
    });
    write_template(root, "app", &template);

    peers.moto.start_recording().unwrap();
    let out = imgs_ok(root, &["build", "--all", "-v"]);
    assert!(out.contains("1 image built"), "{out}");
    assert!(out.contains("Pausing 1s before connecting..."), "{out}");
    let calls = peers.moto.recorded_calls().unwrap();

    let source_name = source_name(&peers, &source);
    for region in [REGION, "eu-west-1"] {
        let amis = amis_tagged(&peers, region, "imgs:image", "app");
        assert_eq!(amis.len(), 1, "one AMI in {region}: {amis:?}");
        let tags = template_tags(&amis[0]);
        assert_eq!(tags["Owner"], "base-team", "SourceAMITags in {region}");
        assert_eq!(tags["Built"], REGION, "BuildRegion is the build region");
        assert_eq!(tags["From"], source_name);
        assert_eq!(
            snapshot_permissions(&peers, region, &amis[0]),
            ["111122223333", "all"],
            "snapshots shared in {region}"
        );
    }

    // The instance ran in the subnet the filter found, and was stopped by the provisioner only.
    let instance = instance_of(&peers, "imgs");
    assert_eq!(instance.subnet_id(), Some(subnet_id.as_str()));
    assert_eq!(instance.vpc_id(), Some(vpc_id.as_str()));
    let stops = calls_named(&calls, "StopInstances");
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0].access_key.as_deref(), Some("provisioner"));
    let modified = calls_named(&calls, "ModifyInstanceAttribute");
    assert!(
        modified
            .iter()
            .any(|c| c.param("EnaSupport.Value") == Some("true"))
    );
    assert!(
        modified
            .iter()
            .any(|c| c.param("SriovNetSupport.Value") == Some("simple"))
    );
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

#[test]
fn a_spot_build_launches_from_a_fleet_and_tags_the_request() {
    let peers = Peers::start(KEY_PAIR);
    let source = peers.public_ami();
    let dir = new_workspace("imgs-ebs-spot-");
    let root = dir.path();
    let mut builder = peers.ebs_builder(
        &source,
        serde_json::json!({
            "ami_name": "spot-{{timestamp}}",
            "spot_price": "auto",
            "spot_instance_types": ["t3.small", "t3a.small"],
            "spot_tags": {"Request": "for {{ .SourceAMI }}"},
            "run_tags": {"Tool": "spot"},
        }),
    );
    builder
        .as_object_mut()
        .unwrap()
        .remove("instance_type")
        .unwrap();
    let template = serde_json::json!({
        "builders": [builder],
        "provisioners": [{"type": "shell", "inline": ["echo on a spot instance"]}],
    });
    write_template(root, "app", &template);

    peers.moto.start_recording().unwrap();
    let out = imgs_ok(root, &["build", "--all"]);
    assert!(out.contains("1 image built"), "{out}");
    let calls = peers.moto.recorded_calls().unwrap();

    let instance = instance_of(&peers, "spot");
    assert_eq!(
        instance.instance_lifecycle().map(|l| l.as_str()),
        Some("spot")
    );
    let requests = peers
        .rt
        .block_on(
            peers
                .ec2
                .describe_spot_instance_requests()
                .filters(
                    Filter::builder()
                        .name("instance-id")
                        .values(instance.instance_id().unwrap())
                        .build(),
                )
                .send(),
        )
        .unwrap();
    let request_tags = tag_map(requests.spot_instance_requests()[0].tags());
    assert_eq!(request_tags["Request"], format!("for {source}"));
    let fleet = calls_named(&calls, "CreateFleet");
    assert_eq!(fleet.len(), 1);
    assert_eq!(fleet[0].param("Type"), Some("instant"));
    assert!(calls_named(&calls, "StopInstances").is_empty());
    assert_eq!(calls_named(&calls, "DeleteLaunchTemplate").len(), 1);
    let templates = peers
        .rt
        .block_on(peers.ec2.describe_launch_templates().send())
        .unwrap();
    assert!(templates.launch_templates().is_empty());
    assert_eq!(amis_tagged(&peers, REGION, "imgs:image", "app").len(), 1);
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

/// `imgs build --all` in `root` as its own process, with `env` added and no AWS credentials from
/// this one's environment.
fn imgs_process(root: &Path, env: &[(&str, String)]) -> String {
    let mut command = Command::new(imgs_exe());
    command.args(["build", "--all"]).current_dir(root);
    for key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_ENDPOINT_URL",
    ] {
        command.env_remove(key);
    }
    command.env("AWS_EC2_METADATA_DISABLED", "true");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "imgs build failed:\n{text}");
    text
}

#[test]
fn assume_role_signs_every_ec2_call_with_the_assumed_role() {
    let peers = Peers::start(KEY_PAIR);
    let source = peers.public_ami();
    let dir = new_workspace("imgs-ebs-role-");
    let root = dir.path();
    let builder = peers.ebs_builder(
        &source,
        serde_json::json!({
            "ami_name": "role-{{timestamp}}",
            "access_key": "base-key",
            "assume_role": {
                "role_arn": "arn:aws:iam::123456789012:role/image-builder",
                "external_id": "imgs-tests",
                "session_name": "images",
                "tags": {"Project": "images"},
                "transitive_tag_keys": ["Project"],
                "policy_arns": ["arn:aws:iam::aws:policy/AmazonEC2FullAccess"],
            },
        }),
    );
    write_template(root, "app", &serde_json::json!({"builders": [builder]}));

    peers.moto.start_recording().unwrap();
    // STS on moto's port: the SDK's endpoint variable, as a user points STS anywhere but AWS.
    let out = imgs_process(root, &[("AWS_ENDPOINT_URL_STS", peers.moto.endpoint())]);
    assert!(out.contains("1 image built"), "{out}");
    let calls = peers.moto.recorded_calls().unwrap();

    let assumed = calls_named(&calls, "AssumeRole");
    assert!(!assumed.is_empty(), "{calls:?}");
    let first = assumed[0];
    assert_eq!(first.access_key.as_deref(), Some("base-key"));
    assert_eq!(
        first.param("RoleArn"),
        Some("arn:aws:iam::123456789012:role/image-builder")
    );
    assert_eq!(first.param("ExternalId"), Some("imgs-tests"));
    assert_eq!(first.param("RoleSessionName"), Some("images"));
    assert_eq!(first.param("DurationSeconds"), Some("900"));
    assert_eq!(first.param("Tags.member.1.Key"), Some("Project"));
    assert_eq!(first.param("TransitiveTagKeys.member.1"), Some("Project"));
    assert_eq!(
        first.param("PolicyArns.member.1.arn"),
        Some("arn:aws:iam::aws:policy/AmazonEC2FullAccess")
    );
    // Every EC2 call is signed with the role's temporary key, none with the base key.
    let ec2_keys: std::collections::BTreeSet<&str> = calls
        .iter()
        .filter(|c| c.action() != Some("AssumeRole"))
        .filter_map(|c| c.access_key.as_deref())
        .collect();
    assert!(!ec2_keys.is_empty());
    assert!(
        ec2_keys.iter().all(|k| k.starts_with("ASIA")),
        "{ec2_keys:?}"
    );
    assert_eq!(amis_tagged(&peers, REGION, "imgs:image", "app").len(), 1);
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

#[test]
fn mfa_code_assumes_a_shared_profiles_role() {
    let peers = Peers::start(KEY_PAIR);
    let source = peers.public_ami();
    let dir = new_workspace("imgs-ebs-mfa-");
    let root = dir.path();
    let aws = root.join("aws");
    write(
        root,
        "aws/config",
        "[profile builder]\n\
         role_arn = arn:aws:iam::123456789012:role/mfa-builder\n\
         mfa_serial = arn:aws:iam::123456789012:mfa/builder\n\
         source_profile = base\n",
    );
    write(
        root,
        "aws/build-credentials",
        "[base]\naws_access_key_id = mfa-base-key\naws_secret_access_key = x\n",
    );
    let mut builder = peers.ebs_builder(
        &source,
        serde_json::json!({
            "ami_name": "mfa-{{timestamp}}",
            "profile": "builder",
            "mfa_code": "123456",
            "shared_credentials_file": aws.join("build-credentials").display().to_string(),
        }),
    );
    let fields = builder.as_object_mut().unwrap();
    fields.remove("access_key");
    fields.remove("secret_key");
    write_template(root, "app", &serde_json::json!({"builders": [builder]}));

    peers.moto.start_recording().unwrap();
    let out = imgs_process(
        root,
        &[
            ("AWS_ENDPOINT_URL_STS", peers.moto.endpoint()),
            ("AWS_CONFIG_FILE", aws.join("config").display().to_string()),
        ],
    );
    assert!(out.contains("1 image built"), "{out}");
    let calls = peers.moto.recorded_calls().unwrap();
    let assumed = calls_named(&calls, "AssumeRole");
    assert!(!assumed.is_empty(), "{calls:?}");
    assert_eq!(assumed[0].access_key.as_deref(), Some("mfa-base-key"));
    assert_eq!(
        assumed[0].param("RoleArn"),
        Some("arn:aws:iam::123456789012:role/mfa-builder")
    );
    assert_eq!(
        assumed[0].param("SerialNumber"),
        Some("arn:aws:iam::123456789012:mfa/builder")
    );
    assert_eq!(assumed[0].param("TokenCode"), Some("123456"));
    let run = calls_named(&calls, "RunInstances");
    assert!(
        run[0]
            .access_key
            .as_deref()
            .is_some_and(|k| k.starts_with("ASIA"))
    );
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

#[test]
fn a_temporary_instance_profile_is_made_from_the_policy_and_removed_after_the_build() {
    let peers = Peers::start(KEY_PAIR);
    let source = peers.public_ami();
    let dir = new_workspace("imgs-ebs-iam-");
    let root = dir.path();
    let builder = peers.ebs_builder(
        &source,
        serde_json::json!({
            "ami_name": "iam-{{timestamp}}",
            "run_tags": {"Tool": "iam"},
            "temporary_iam_instance_profile_policy_document": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}],
            },
        }),
    );
    write_template(root, "app", &serde_json::json!({"builders": [builder]}));
    let iam_endpoint = [("AWS_ENDPOINT_URL_IAM", peers.moto.endpoint())];

    peers.moto.start_recording().unwrap();
    let out = imgs_process(root, &iam_endpoint);
    assert!(out.contains("1 image built"), "{out}");
    let calls = peers.moto.recorded_calls().unwrap();

    let created = calls_named(&calls, "CreateRole");
    assert_eq!(created.len(), 1, "{calls:?}");
    let name = created[0].param("RoleName").unwrap().to_string();
    assert!(name.starts_with("imgs-"), "{name}");
    assert!(
        created[0]
            .param("AssumeRolePolicyDocument")
            .is_some_and(|d| d.contains("ec2.amazonaws.com"))
    );
    let policy = calls_named(&calls, "PutRolePolicy");
    assert_eq!(
        policy[0].param("PolicyDocument"),
        Some(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["*"]}]}"#
        )
    );
    let run = calls_named(&calls, "RunInstances");
    assert_eq!(run[0].param("IamInstanceProfile.Name"), Some(name.as_str()));
    // moto associated the profile with the instance (it would have refused a profile it does not
    // know) and drops the association when the instance terminates, so the request is what shows.
    // Removed in IAM's order once the instance is gone: nothing of it is left.
    let order: Vec<&str> = calls.iter().filter_map(|c| c.action()).collect();
    let at = |action: &str| order.iter().position(|a| *a == action).unwrap();
    assert!(at("TerminateInstances") < at("RemoveRoleFromInstanceProfile"));
    assert!(at("RemoveRoleFromInstanceProfile") < at("DeleteRolePolicy"));
    assert!(at("DeleteRole") < at("DeleteInstanceProfile"));
    let roles = peers
        .moto
        .query("iam", "2010-05-08", REGION, &[("Action", "ListRoles")])
        .unwrap();
    assert!(!roles.contains(&name), "{roles}");
    let profiles = peers
        .moto
        .query(
            "iam",
            "2010-05-08",
            REGION,
            &[("Action", "ListInstanceProfiles")],
        )
        .unwrap();
    assert!(!profiles.contains(&name), "{profiles}");
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());

    // A given profile is looked up first, as Packer does, unless skip_profile_validation.
    let builder = peers.ebs_builder(
        &source,
        serde_json::json!({"ami_name": "iam-given-{{timestamp}}", "iam_instance_profile": "no-such-profile"}),
    );
    write_template(root, "app", &serde_json::json!({"builders": [builder]}));
    let mut command = Command::new(imgs_exe());
    let failed = command
        .args(["build", "--all"])
        .current_dir(root)
        .env("AWS_ENDPOINT_URL_IAM", peers.moto.endpoint())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        text.contains("Couldn't find specified instance profile"),
        "{text}"
    );
}

/// `packer build` of the template in `dir`, with an environment that holds nothing of the caller's.
fn packer_build_clean(packer: &Path, dir: &Path) {
    crate::support::ebs::packer_isolated(
        packer,
        dir,
        &["build", "-machine-readable", "template.json"],
        &[],
    );
}

/// The parameters of each `action` call, without the resource it names and the API version.
fn modifications(calls: &[RecordedCall], action: &str) -> Vec<BTreeSet<(String, String)>> {
    calls_named(calls, action)
        .into_iter()
        .map(|c| {
            c.params
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "Action" | "Version" | "ImageId" | "SnapshotId" | "InstanceId"
                    )
                })
                .cloned()
                .collect()
        })
        .collect()
}

/// Who may launch `image` ("all" or account IDs), sorted.
fn launch_permissions(peers: &Peers, region: &str, image: &Image) -> Vec<String> {
    let ec2 = peers.client_in(region);
    let out = peers
        .rt
        .block_on(
            ec2.describe_image_attribute()
                .image_id(image.image_id().unwrap())
                .attribute(imgs_aws::sdk::types::ImageAttributeName::LaunchPermission)
                .send(),
        )
        .unwrap();
    let mut holders: Vec<String> = out
        .launch_permissions()
        .iter()
        .map(|p| {
            p.user_id()
                .map(str::to_string)
                .or_else(|| p.group().map(|g| g.as_str().to_string()))
                .unwrap_or_default()
        })
        .collect();
    holders.sort();
    holders
}

#[test]
fn packer_and_imgs_agree_on_filters_sharing_enhanced_networking_and_source_ami_tags() {
    let Some(packer) =
        imgs_test_peers::packer::packer_for("amazon-ebs's options compared with Packer's")
    else {
        return;
    };
    let peers = Peers::start(KEY_PAIR);
    let source = tagged_hvm_source(&peers);
    let (_, subnet_id) = build_subnet(&peers);
    let mut recorded = BTreeMap::new();
    for tool in ["packer", "imgs"] {
        let dir = tempfile::tempdir().unwrap();
        let template = serde_json::json!({"builders": [shared_options(&peers, &source, tool)]});
        write(
            dir.path(),
            "template.json",
            &serde_json::to_string_pretty(&template).unwrap(),
        );
        peers.moto.start_recording().unwrap();
        match tool {
            "packer" => packer_build_clean(&packer, dir.path()),
            _ => {
                imgs_ok(dir.path(), &["build", "template.json"]);
            }
        }
        recorded.insert(tool, peers.moto.recorded_calls().unwrap());
    }
    for region in [REGION, "eu-west-1"] {
        let by = |tool: &str| {
            let amis = amis_tagged(&peers, region, "Tool", tool);
            assert_eq!(amis.len(), 1, "{tool} made one AMI in {region}");
            amis[0].clone()
        };
        let (packer_ami, imgs_ami) = (by("packer"), by("imgs"));
        let mut packer_tags = template_tags(&packer_ami);
        let mut imgs_tags = template_tags(&imgs_ami);
        assert_eq!(packer_tags.remove("Tool").as_deref(), Some("packer"));
        assert_eq!(imgs_tags.remove("Tool").as_deref(), Some("imgs"));
        assert_eq!(imgs_tags, packer_tags, "AMI tags in {region}");
        assert_eq!(
            launch_permissions(&peers, region, &imgs_ami),
            launch_permissions(&peers, region, &packer_ami),
            "launch permissions in {region}"
        );
    }
    for tool in ["packer", "imgs"] {
        assert_eq!(
            instance_of(&peers, tool).subnet_id(),
            Some(subnet_id.as_str()),
            "{tool}'s instance ran in the subnet the filter found"
        );
    }
    // moto keeps nothing of Packer's snapshot permissions (it reads only the older form of the
    // call, which imgs sends as well), nor of ENA: every modification Packer asked for, imgs asked
    // for too.
    for action in [
        "ModifySnapshotAttribute",
        "ModifyImageAttribute",
        "ModifyInstanceAttribute",
    ] {
        let by_imgs = modifications(&recorded["imgs"], action);
        let by_packer = modifications(&recorded["packer"], action);
        assert!(!by_packer.is_empty(), "Packer made {action} calls");
        for asked in &by_packer {
            assert!(
                by_imgs.iter().any(|made| asked.is_subset(made)),
                "Packer's {action} {asked:?} is not among imgs's {by_imgs:?}"
            );
        }
        assert_eq!(by_imgs.len(), by_packer.len(), "{action} calls");
    }
}
