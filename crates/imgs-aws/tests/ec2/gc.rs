//! `collect_garbage` against a real EC2 API server (moto) on loopback: resources of two runs are made
//! directly through the SDK, tagged as builds tag them; collecting one run leaves the other, runs in
//! progress are skipped, available AMIs (artifacts) and their snapshots are kept.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use imgs_aws::{ClientSettings, GcRuns, ResourceKind, collect_garbage};
use imgs_test_peers::TestMoto;
use imgs_test_peers::ec2::{Leftovers, Runs};

/// An HVM Amazon Linux AMI moto ships in every region.
const SOURCE_AMI: &str = "ami-760aaa0f";
const REGION: &str = "us-east-1";

fn settings(moto: &TestMoto) -> ClientSettings {
    imgs_test_peers::ec2::client_settings(&moto.endpoint(), REGION)
}

fn spec(kind: ResourceType, run: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key("imgs:run").value(run).build())
        .tags(Tag::builder().key("imgs:image").value("app").build())
        .build()
}

/// What one run's build would leave when killed: a key pair, a security group, a running instance
/// (with its root volume), a detached volume and a snapshot of it. Returns the instance ID.
async fn leave(ec2: &Client, run: &str) -> String {
    ec2.create_key_pair()
        .key_name(format!("imgs_{run}"))
        .tag_specifications(spec(ResourceType::KeyPair, run))
        .send()
        .await
        .unwrap();
    let group = ec2
        .create_security_group()
        .group_name(format!("imgs_{run}"))
        .description("temporary")
        .tag_specifications(spec(ResourceType::SecurityGroup, run))
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let instance = ec2
        .run_instances()
        .image_id(SOURCE_AMI)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .key_name(format!("imgs_{run}"))
        .security_group_ids(&group)
        .tag_specifications(spec(ResourceType::Instance, run))
        .tag_specifications(spec(ResourceType::Volume, run))
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let volume = ec2
        .create_volume()
        .availability_zone(format!("{REGION}a"))
        .size(1)
        .tag_specifications(spec(ResourceType::Volume, run))
        .send()
        .await
        .unwrap()
        .volume_id
        .unwrap();
    ec2.create_snapshot()
        .volume_id(&volume)
        .tag_specifications(spec(ResourceType::Snapshot, run))
        .send()
        .await
        .unwrap();
    instance
}

/// Everything tagged with `run` that still holds something: instances not terminated, groups, key
/// pairs, volumes, snapshots, as `kind id` lines.
async fn tagged(ec2: &Client, run: &str) -> BTreeSet<String> {
    Leftovers::of(ec2, Runs::One(run)).await.all()
}

fn kinds(report: &imgs_aws::GcReport) -> Vec<ResourceKind> {
    report.removed.iter().map(|l| l.resource.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_then_all_runs() {
    let moto = TestMoto::start().unwrap_or_else(|why| panic!("{why}"));
    let settings = settings(&moto);
    let ec2 = settings.client(REGION).await;
    leave(&ec2, "run-a").await;
    leave(&ec2, "run-b").await;
    let left_by_b = tagged(&ec2, "run-b").await;
    assert!(
        left_by_b.len() >= 6,
        "the setup leaves something of every kind: {left_by_b:?}"
    );

    let only_a = GcRuns::new(Some("run-a".into()));
    let planned = collect_garbage(&settings, REGION, &only_a, true)
        .await
        .unwrap();
    assert!(planned.failed.is_empty(), "{:?}", planned.failed);
    assert!(
        !tagged(&ec2, "run-a").await.is_empty(),
        "a dry run removes nothing"
    );

    let report = collect_garbage(&settings, REGION, &only_a, false)
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    // Volumes aside (moto does not say which attached volumes go with their instance, so the dry
    // run cannot leave those out as it does on EC2), the dry run names what the real one removes.
    let not_volumes = |r: &imgs_aws::GcReport| {
        r.removed
            .iter()
            .filter(|l| l.resource.kind != ResourceKind::Volume)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(not_volumes(&report), not_volumes(&planned));
    assert!(report.removed.iter().all(|l| l.run_id == "run-a"));
    assert!(
        report
            .removed
            .iter()
            .all(|l| l.image.as_deref() == Some("app"))
    );
    // The order EC2 needs: the instance before its security group and key pair.
    let order = kinds(&report);
    assert_eq!(order[0], ResourceKind::Instance, "{order:?}");
    assert_eq!(order[1], ResourceKind::SecurityGroup, "{order:?}");
    assert_eq!(order[2], ResourceKind::KeyPair, "{order:?}");
    assert!(order.contains(&ResourceKind::Volume), "{order:?}");
    assert!(order.contains(&ResourceKind::Snapshot), "{order:?}");
    assert_eq!(tagged(&ec2, "run-a").await, BTreeSet::new());
    assert_eq!(
        tagged(&ec2, "run-b").await,
        left_by_b,
        "the other run is untouched"
    );

    let report = collect_garbage(&settings, REGION, &GcRuns::new(None), false)
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(report.removed.iter().all(|l| l.run_id == "run-b"));
    assert_eq!(tagged(&ec2, "run-b").await, BTreeSet::new());

    let again = collect_garbage(&settings, REGION, &GcRuns::new(None), false)
        .await
        .unwrap();
    assert_eq!(again.removed, Vec::new(), "nothing is left to collect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_in_progress_and_available_amis_are_kept() {
    let moto = TestMoto::start().unwrap_or_else(|why| panic!("{why}"));
    let settings = settings(&moto);
    let ec2 = settings.client(REGION).await;
    let done = leave(&ec2, "run-done").await;
    leave(&ec2, "run-busy").await;
    let ami = ec2
        .create_image()
        .instance_id(&done)
        .name("imgs-app")
        .tag_specifications(spec(ResourceType::Image, "run-done"))
        .send()
        .await
        .unwrap()
        .image_id
        .unwrap();
    let busy = tagged(&ec2, "run-busy").await;

    let runs = GcRuns {
        run: None,
        in_progress: Arc::new(|run| run == "run-busy"),
    };
    let report = collect_garbage(&settings, REGION, &runs, false)
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.skipped_runs,
        BTreeSet::from(["run-busy".to_string()])
    );
    assert_eq!(tagged(&ec2, "run-busy").await, busy);
    assert!(
        !report
            .removed
            .iter()
            .any(|l| l.resource.kind == ResourceKind::Image),
        "an available AMI is an artifact"
    );
    let image = ec2.describe_images().image_ids(&ami).send().await.unwrap();
    let image = &image.images()[0];
    assert_eq!(image.state().unwrap().as_str(), "available");
    for snapshot in image
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs()?.snapshot_id())
    {
        let found = ec2.describe_snapshots().snapshot_ids(snapshot).send().await;
        assert!(found.is_ok(), "the AMI's snapshot {snapshot} is kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_builds_launch_template_is_collected_with_its_run() {
    let moto = TestMoto::start().unwrap_or_else(|why| panic!("{why}"));
    let settings = settings(&moto);
    let ec2 = settings.client(REGION).await;
    let template = |name: &str| {
        ec2.create_launch_template()
            .launch_template_name(name)
            .launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                    .image_id(SOURCE_AMI)
                    .build(),
            )
    };
    template("imgs-fleet-launch-template-a")
        .tag_specifications(spec(ResourceType::LaunchTemplate, "run-a"))
        .send()
        .await
        .unwrap();
    template("someone-elses").send().await.unwrap();

    let report = collect_garbage(&settings, REGION, &GcRuns::new(None), false)
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let removed: Vec<(ResourceKind, &str)> = report
        .removed
        .iter()
        .map(|l| (l.resource.kind, l.resource.id.as_str()))
        .collect();
    assert_eq!(
        removed,
        [(ResourceKind::LaunchTemplate, "imgs-fleet-launch-template-a")]
    );
    let left = ec2.describe_launch_templates().send().await.unwrap();
    let names: Vec<&str> = left
        .launch_templates()
        .iter()
        .filter_map(|t| t.launch_template_name())
        .collect();
    assert_eq!(names, ["someone-elses"]);
}
