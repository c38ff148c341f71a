//! The amazon-ebs options beyond the basic flow, against moto: spot instances, network filters,
//! snapshot and AMI attributes, enhanced networking, per-region KMS keys, skipping the build
//! region, an instance stopped by someone else, the source AMI's tags, waits that look as
//! `aws_polling` says, and an HTTPS endpoint with a self-signed certificate. Where moto accepts a
//! call but keeps nothing of it (product codes, ENA, KMS keys, tenancy), the request imgs sent is
//! checked in moto's request recorder.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, SnapshotAttributeName, Tag, TagSpecification};
use imgs_aws::{ResourceKind, artifact_id};
use imgs_test_peers::TestMoto;
use imgs_test_peers::ec2::tag_map;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::build::{
    REGION, SOURCE_AMI, assert_no_temporary_key_pair_or_group, build, build_without_communicator,
    client, image, instance_state, logger, moto,
};

/// The parameters of every recorded request whose `Action` is `action`.
fn requests(recorded: &[Vec<(String, String)>], action: &str) -> Vec<BTreeMap<String, String>> {
    recorded
        .iter()
        .filter(|params| params.iter().any(|(k, v)| k == "Action" && v == action))
        .map(|params| params.iter().cloned().collect())
        .collect()
}

fn actions(recorded: &[Vec<(String, String)>]) -> Vec<String> {
    recorded
        .iter()
        .filter_map(|params| {
            params
                .iter()
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.clone())
        })
        .collect()
}

fn recorded(moto: &TestMoto) -> Vec<Vec<(String, String)>> {
    moto.recorded_requests()
        .unwrap_or_else(|why| panic!("{why}"))
}

fn name_tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn tagged(kind: aws_sdk_ec2::types::ResourceType, key: &str, value: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .tags(name_tag(key, value))
        .build()
}

async fn described_instance(ec2: &Client, id: &str) -> aws_sdk_ec2::types::Instance {
    ec2.describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_instance_comes_from_a_fleet_and_its_launch_template_is_removed() {
    let moto = moto();
    let ec2 = client(&moto, REGION).await;
    let mut settings = json!({
        "communicator": "none",
        "spot_price": "auto",
        "spot_instance_types": ["t3.small"],
        "spot_tags": {"Bid": "from {{ .SourceAMI }}"},
        "run_tags": {"Purpose": "spot"},
        "run_volume_tag": [{"name": "Disk", "value": "root"}],
    });
    settings["instance_type"] = json!("");
    let mut build = build(&moto, settings, "fp-spot");
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    moto.start_recording().unwrap();
    build
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    let leftovers = build.leftovers();
    let instance_id = leftovers
        .iter()
        .find(|r| r.kind == ResourceKind::Instance)
        .unwrap()
        .id
        .clone();
    let template = leftovers
        .iter()
        .find(|r| r.kind == ResourceKind::LaunchTemplate)
        .expect("the launch template is the build's until clean-up")
        .id
        .clone();

    let instance = described_instance(&ec2, &instance_id).await;
    assert_eq!(
        instance.instance_lifecycle().map(|l| l.as_str()),
        Some("spot")
    );
    assert_eq!(
        instance.instance_type().map(|t| t.as_str()),
        Some("t3.small")
    );
    let instance_tags = tag_map(instance.tags());
    assert_eq!(instance_tags["Purpose"], "spot");
    assert_eq!(instance_tags["Name"], "Packer Builder");
    assert_eq!(instance_tags["imgs:run"], "run-1");
    // The spot request carries spot_tags, rendered with build data.
    let spot_requests = ec2
        .describe_spot_instance_requests()
        .filters(
            Filter::builder()
                .name("instance-id")
                .values(&instance_id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let request_tags = tag_map(spot_requests.spot_instance_requests()[0].tags());
    assert_eq!(request_tags["Bid"], format!("from {SOURCE_AMI}"));
    let templates = ec2
        .describe_launch_templates()
        .launch_template_names(&template)
        .send()
        .await
        .unwrap();
    let template_tags = tag_map(templates.launch_templates()[0].tags());
    assert_eq!(template_tags["Bid"], format!("from {SOURCE_AMI}"));
    assert_eq!(template_tags["imgs:run"], "run-1");

    let amis = build
        .create_image(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    build.cleanup(&mut logger(&mut lines)).await.unwrap();
    let calls = recorded(&moto);
    let fleet = &requests(&calls, "CreateFleet")[0];
    assert_eq!(fleet["Type"], "instant");
    assert_eq!(
        fleet["TargetCapacitySpecification.DefaultTargetCapacityType"],
        "spot"
    );
    assert_eq!(
        fleet["LaunchTemplateConfigs.1.Overrides.1.InstanceType"],
        "t3.small"
    );
    let created = &requests(&calls, "CreateLaunchTemplate")[0];
    assert_eq!(
        created["LaunchTemplateData.InstanceMarketOptions.MarketType"],
        "spot"
    );
    assert!(
        !created.contains_key("LaunchTemplateData.InstanceMarketOptions.SpotOptions.MaxPrice"),
        "auto: no maximum price"
    );
    // As Packer: a spot instance is made into an AMI without being stopped.
    assert!(
        !actions(&calls).contains(&"StopInstances".to_string()),
        "{calls:?}"
    );
    assert_eq!(amis.len(), 1);
    assert!(image(&ec2, &amis[0].ami_id).await.is_some());
    assert_eq!(instance_state(&ec2, &instance_id).await, "terminated");
    let templates = ec2.describe_launch_templates().send().await.unwrap();
    assert!(
        templates.launch_templates().is_empty(),
        "{:?}",
        templates.launch_templates()
    );
    assert!(build.leftovers().is_empty());
    assert_no_temporary_key_pair_or_group(&ec2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_price_and_block_duration_are_asked_for() {
    let moto = moto();
    moto.start_recording().unwrap();
    let extra = json!({"spot_price": "0.05", "block_duration_minutes": 60});
    build_without_communicator(&moto, extra, "fp-price", &mut Vec::new()).await;
    let calls = recorded(&moto);
    let created = &requests(&calls, "CreateLaunchTemplate")[0];
    let options = "LaunchTemplateData.InstanceMarketOptions.SpotOptions";
    assert_eq!(created[&format!("{options}.MaxPrice")], "0.05");
    assert_eq!(created[&format!("{options}.BlockDurationMinutes")], "60");
    assert_eq!(created["LaunchTemplateData.InstanceType"], "t3.micro");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_choose_the_vpc_subnet_and_security_groups() {
    let moto = moto();
    let ec2 = client(&moto, REGION).await;
    use aws_sdk_ec2::types::ResourceType;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .tag_specifications(tagged(ResourceType::Vpc, "Name", "build-vpc"))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (cidr, tier) in [("10.42.1.0/24", "build"), ("10.42.2.0/24", "other")] {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(cidr)
            .availability_zone("us-east-1b")
            .tag_specifications(tagged(ResourceType::Subnet, "Tier", tier))
            .send()
            .await
            .unwrap();
        subnets.push(subnet.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let group = ec2
        .create_security_group()
        .group_name("imgs-test-ssh")
        .description("ssh for builds")
        .vpc_id(&vpc_id)
        .tag_specifications(tagged(ResourceType::SecurityGroup, "Role", "ssh"))
        .send()
        .await
        .unwrap();
    let group_id = group.group_id().unwrap().to_string();

    let mut build = build(
        &moto,
        json!({
            "communicator": "none",
            "vpc_filter": {"filters": {"tag:Name": "build-vpc"}},
            "subnet_filter": {"filter": [{"name": "tag:Tier", "value": "build"}]},
            "security_group_filter": {"filters": {"tag:Role": "ssh"}},
            "tenancy": "dedicated",
            "enable_t2_unlimited": true,
            "no_ephemeral": true,
        }),
        "fp-net",
    );
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    moto.start_recording().unwrap();
    build
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    let instance_id = build
        .leftovers()
        .iter()
        .find(|r| r.kind == ResourceKind::Instance)
        .unwrap()
        .id
        .clone();
    let instance = described_instance(&ec2, &instance_id).await;
    assert_eq!(instance.subnet_id(), Some(subnets[0].as_str()));
    assert_eq!(instance.vpc_id(), Some(vpc_id.as_str()));
    let groups: Vec<&str> = instance
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    assert_eq!(groups, [group_id.as_str()]);
    assert!(
        !build
            .leftovers()
            .iter()
            .any(|r| r.kind == ResourceKind::SecurityGroup),
        "found groups are not the build's to delete"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("Found VPC ID: {vpc_id}"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("Found Subnet ID: {}", subnets[0]))
    );
    build.cleanup(&mut logger(&mut lines)).await.unwrap();

    // moto keeps neither tenancy nor credits; the request asked for them, in the subnet's zone.
    let calls = recorded(&moto);
    let run = &requests(&calls, "RunInstances")[0];
    assert_eq!(run["Placement.Tenancy"], "dedicated");
    assert_eq!(run["Placement.AvailabilityZone"], "us-east-1b");
    assert_eq!(run["CreditSpecification.CpuCredits"], "unlimited");
    let no_devices: Vec<&String> = run
        .iter()
        .filter(|(k, _)| k.ends_with(".DeviceName"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(no_devices.len(), 26, "xvdca to xvdcz: {no_devices:?}");
    let subnet_lookup = &requests(&calls, "DescribeSubnets")[0];
    let filters: BTreeMap<&str, &str> = (1..=4)
        .filter_map(|i| {
            Some((
                subnet_lookup.get(&format!("Filter.{i}.Name"))?.as_str(),
                subnet_lookup.get(&format!("Filter.{i}.Value.1"))?.as_str(),
            ))
        })
        .collect();
    assert_eq!(filters["state"], "available");
    assert_eq!(filters["tag:Tier"], "build");
    assert_eq!(filters["vpc-id"], vpc_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subnet_filter_that_matches_several_says_how_to_pick_one() {
    let moto = moto();
    let ec2 = client(&moto, REGION).await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.43.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    for cidr in ["10.43.1.0/24", "10.43.2.0/25"] {
        ec2.create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(cidr)
            .tag_specifications(tagged(
                aws_sdk_ec2::types::ResourceType::Subnet,
                "Tier",
                "pool",
            ))
            .send()
            .await
            .unwrap();
    }
    let cancel = CancellationToken::new();
    let mut several = build(
        &moto,
        json!({"communicator": "none", "subnet_filter": {"filters": {"tag:Tier": "pool"}}}),
        "fp-several",
    );
    let error = several
        .launch(&mut logger(&mut Vec::new()), &cancel)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("Your filter matched 2 Subnets. Please try a more specific search, or set random or most_free to true."),
        "{error}"
    );
    assert!(several.leftovers().is_empty(), "nothing launched");

    let mut most_free = build(
        &moto,
        json!({
            "communicator": "none",
            "subnet_filter": {"filters": {"tag:Tier": "pool"}, "most_free": true},
        }),
        "fp-most-free",
    );
    most_free
        .launch(&mut logger(&mut Vec::new()), &cancel)
        .await
        .unwrap();
    let instance_id = most_free
        .leftovers()
        .iter()
        .find(|r| r.kind == ResourceKind::Instance)
        .unwrap()
        .id
        .clone();
    let instance = described_instance(&ec2, &instance_id).await;
    let subnet = ec2
        .describe_subnets()
        .subnet_ids(instance.subnet_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        subnet.subnets()[0].cidr_block(),
        Some("10.43.1.0/24"),
        "the /24 has more free addresses than the /25"
    );
    most_free
        .cleanup(&mut logger(&mut Vec::new()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_and_amis_are_shared_and_enhanced_networking_is_set() {
    let moto = moto();
    let ec2 = client(&moto, REGION).await;
    moto.start_recording().unwrap();
    let extra = json!({
        "snapshot_users": ["111122223333"],
        "snapshot_groups": ["all"],
        "ami_users": ["444455556666"],
        "ami_groups": ["all"],
        "ami_product_codes": ["imgsproductcode"],
        "ena_support": true,
        "sriov_support": true,
    });
    let amis = build_without_communicator(&moto, extra, "fp-shared", &mut Vec::new()).await;
    let ami = image(&ec2, &amis[0].ami_id).await.unwrap();
    let launch = ec2
        .describe_image_attribute()
        .image_id(&amis[0].ami_id)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .unwrap();
    let mut holders: Vec<String> = launch
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
    assert_eq!(holders, ["444455556666", "all"]);
    let snapshot = ami.block_device_mappings()[0]
        .ebs()
        .unwrap()
        .snapshot_id()
        .unwrap()
        .to_string();
    let permissions = ec2
        .describe_snapshot_attribute()
        .snapshot_id(&snapshot)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .unwrap();
    let mut holders: Vec<String> = permissions
        .create_volume_permissions()
        .iter()
        .map(|p| {
            p.user_id()
                .map(str::to_string)
                .or_else(|| p.group().map(|g| g.as_str().to_string()))
                .unwrap_or_default()
        })
        .collect();
    holders.sort();
    assert_eq!(holders, ["111122223333", "all"]);

    let calls = recorded(&moto);
    let modified = requests(&calls, "ModifyInstanceAttribute");
    assert!(
        modified
            .iter()
            .any(|m| m.get("SriovNetSupport.Value").map(String::as_str) == Some("simple")),
        "{modified:?}"
    );
    assert!(
        modified
            .iter()
            .any(|m| m.get("EnaSupport.Value").map(String::as_str) == Some("true")),
        "{modified:?}"
    );
    // Set on the stopped instance, before the AMI is made from it.
    let order = actions(&calls);
    let position = |action: &str| order.iter().position(|a| a == action).unwrap();
    assert!(position("StopInstances") < position("ModifyInstanceAttribute"));
    assert!(position("ModifyInstanceAttribute") < position("CreateImage"));
    assert!(
        requests(&calls, "ModifyImageAttribute")
            .iter()
            .any(|m| m.get("ProductCode.1").map(String::as_str) == Some("imgsproductcode")),
        "{calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_kms_keys_encrypt_each_copy_and_skip_save_build_region_keeps_none_here() {
    let moto = moto();
    moto.start_recording().unwrap();
    let extra = json!({
        "encrypt_boot": true,
        "kms_key_id": "alias/build",
        "ami_regions": ["eu-west-1", "us-west-2"],
        "region_kms_key_ids": {"eu-west-1": "alias/eu", "us-west-2": "alias/usw2"},
        "skip_save_build_region": true,
    });
    let mut lines = Vec::new();
    let amis = build_without_communicator(&moto, extra, "fp-kms", &mut lines).await;
    let regions: Vec<&str> = amis.iter().map(|a| a.region.as_str()).collect();
    assert_eq!(regions, ["eu-west-1", "us-west-2"]);
    assert!(!artifact_id(&amis).contains(REGION), "{amis:?}");
    // The AMI made in the build region was only the source of the copies.
    let ec2 = client(&moto, REGION).await;
    let ours = ec2.describe_images().owners("self").send().await.unwrap();
    assert!(ours.images().is_empty(), "{:?}", ours.images());
    for ami in &amis {
        let regional = client(&moto, &ami.region).await;
        let copy = image(&regional, &ami.ami_id).await.unwrap();
        assert_eq!(copy.name(), Some("imgs-test-app"));
        assert_eq!(tag_map(copy.tags())["imgs:fingerprint"], "fp-kms");
    }
    let calls = recorded(&moto);
    let copies = requests(&calls, "CopyImage");
    let mut keys: Vec<(&str, &str)> = copies
        .iter()
        .map(|c| (c["KmsKeyId"].as_str(), c["Encrypted"].as_str()))
        .collect();
    keys.sort();
    assert_eq!(keys, [("alias/eu", "true"), ("alias/usw2", "true")]);
    // The intermediate had a name of its own, so no AMI name was checked beforehand either.
    let created = &requests(&calls, "CreateImage")[0];
    assert_ne!(created["Name"], "imgs-test-app");
    assert!(
        lines
            .iter()
            .any(|l| l == "skip_build_region was set; not prevalidating AMI name")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_boot_copies_in_the_build_region_with_its_key() {
    let moto = moto();
    moto.start_recording().unwrap();
    let extra = json!({
        "encrypt_boot": true,
        "kms_key_id": "alias/build",
        "ami_regions": ["eu-west-1"],
        "region_kms_key_ids": {"eu-west-1": "alias/eu"},
    });
    let amis = build_without_communicator(&moto, extra, "fp-enc", &mut Vec::new()).await;
    let regions: Vec<&str> = amis.iter().map(|a| a.region.as_str()).collect();
    assert_eq!(regions, [REGION, "eu-west-1"]);
    let calls = recorded(&moto);
    let mut keys: Vec<String> = requests(&calls, "CopyImage")
        .iter()
        .map(|c| c["KmsKeyId"].clone())
        .collect();
    keys.sort();
    assert_eq!(keys, ["alias/build", "alias/eu"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_stop_instance_waits_for_someone_else_to_stop_it() {
    let moto = moto();
    let ec2 = client(&moto, REGION).await;
    let mut build = build(
        &moto,
        json!({
            "communicator": "none",
            "disable_stop_instance": true,
            "aws_polling": {"delay_seconds": 1, "max_attempts": 30},
        }),
        "fp-nostop",
    );
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    build
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    let instance_id = build
        .leftovers()
        .iter()
        .find(|r| r.kind == ResourceKind::Instance)
        .unwrap()
        .id
        .clone();
    moto.start_recording().unwrap();
    // What a provisioner running `shutdown` would do, a moment after the build starts waiting.
    let stopper = {
        let ec2 = ec2.clone();
        let id = instance_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            ec2.stop_instances().instance_ids(id).send().await.unwrap();
        })
    };
    let amis = build
        .create_image(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    stopper.await.unwrap();
    build.cleanup(&mut logger(&mut lines)).await.unwrap();
    let calls = recorded(&moto);
    let stops = requests(&calls, "StopInstances");
    assert_eq!(stops.len(), 1, "only the test stopped it: {stops:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "Automatic instance stop disabled. Please stop instance manually.")
    );
    // aws_polling: a look a second, so the stop 1.5 s in was seen on the second or third look.
    let looks = requests(&calls, "DescribeInstances")
        .iter()
        .filter(|d| d.get("InstanceId.1") == Some(&instance_id))
        .count();
    assert!((2..=4).contains(&looks), "{looks} looks");
    assert_eq!(amis.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_polling_max_attempts_gives_up_on_an_instance_that_never_stops() {
    let moto = moto();
    let mut build = build(
        &moto,
        json!({
            "communicator": "none",
            "disable_stop_instance": true,
            "aws_polling": {"delay_seconds": 1, "max_attempts": 2},
        }),
        "fp-never",
    );
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    build
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = build
        .create_image(&mut logger(&mut lines), &cancel)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("to be stopped"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    build.cleanup(&mut logger(&mut lines)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_read_the_source_amis_tags() {
    let moto = moto();
    let ec2 = client(&moto, REGION).await;
    ec2.create_tags()
        .resources(SOURCE_AMI)
        .tags(name_tag("Team", "base-team"))
        .send()
        .await
        .unwrap();
    let extra = json!({
        "tags": {"Owner": "{{ .SourceAMITags.Team }}"},
        "tag": [{"key": "From", "value": "{{ .SourceAMI }}"}],
        "snapshot_tag": {"key": "Snap", "value": "{{ .BuildRegion }}"},
    });
    let amis = build_without_communicator(&moto, extra, "fp-source-tags", &mut Vec::new()).await;
    let ami = image(&ec2, &amis[0].ami_id).await.unwrap();
    let tags = tag_map(ami.tags());
    assert_eq!(tags["Owner"], "base-team");
    assert_eq!(tags["From"], SOURCE_AMI);
    let snapshot = ami.block_device_mappings()[0]
        .ebs()
        .unwrap()
        .snapshot_id()
        .unwrap()
        .to_string();
    let snapshots = ec2
        .describe_snapshots()
        .snapshot_ids(&snapshot)
        .send()
        .await
        .unwrap();
    let snapshot_tags = tag_map(snapshots.snapshots()[0].tags());
    assert_eq!(snapshot_tags["Snap"], REGION);
    assert_eq!(
        snapshot_tags["Owner"], "base-team",
        "AMI tags go on snapshots too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_endpoint_needs_insecure_skip_tls_verify() {
    let moto = TestMoto::start_https().unwrap_or_else(|why| panic!("{why}"));
    let cancel = CancellationToken::new();
    let mut checked = build(&moto, json!({"communicator": "none"}), "fp-tls");
    let error = checked
        .launch(&mut logger(&mut Vec::new()), &cancel)
        .await
        .unwrap_err();
    assert!(
        format!("{error}").to_lowercase().contains("certificate")
            || format!("{error}").contains("dispatch failure"),
        "{error}"
    );
    let mut trusting = build(
        &moto,
        json!({"communicator": "none", "insecure_skip_tls_verify": true}),
        "fp-tls",
    );
    let mut lines = Vec::new();
    trusting
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    let amis = trusting
        .create_image(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    assert_eq!(amis.len(), 1);
    trusting.cleanup(&mut logger(&mut lines)).await.unwrap();
}
