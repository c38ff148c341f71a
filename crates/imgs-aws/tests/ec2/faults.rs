//! EC2 failing calls as it does under load — throttling, 5xx answers, broken connections — through
//! the fault-injecting proxy in front of moto (`imgs_test_peers::faults`): every call gets the
//! retries its settings give it, whatever failed before, and waits outlast failed looks.

use imgs_aws::ClientSettings;
use imgs_test_peers::faults::{FaultKind, FaultPlan, FaultProxy};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::build::{build, logger, moto};

fn proxy(moto: &imgs_test_peers::TestMoto, plan: FaultPlan) -> FaultProxy {
    FaultProxy::start(moto.port(), 1, plan).unwrap_or_else(|why| panic!("{why}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_gets_its_retries_however_many_calls_failed_before() {
    let moto = moto();
    let proxy = proxy(
        &moto,
        FaultPlan::always("DescribeImages", FaultKind::InternalError),
    );
    // A region no other test of this binary uses: the SDK's default retry quota is shared by
    // every client of a region in the process.
    let region = "ap-northeast-3";
    let settings = ClientSettings {
        max_retries: Some(1),
        ..imgs_test_peers::ec2::client_settings(&proxy.endpoint(), region)
    };
    let client = settings.client(region).await;
    // Sixty calls at once, as many builds of a run make them, each failing every time.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let client = client.clone();
        calls.spawn(async move { client.describe_images().owners("self").send().await });
    }
    while let Some(answer) = calls.join_next().await {
        assert!(answer.unwrap().is_err());
    }
    assert_eq!(
        proxy.counts().faults_of("DescribeImages"),
        120,
        "each call tried twice (max_retries 1)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_outlasts_four_failures_by_default_as_in_packer() {
    let moto = moto();
    let plan = FaultPlan::always("DescribeImages", FaultKind::RequestLimitExceeded).at_most(4);
    let proxy = proxy(&moto, plan);
    let client = imgs_test_peers::ec2::client(&proxy.endpoint(), "us-east-1").await;
    let answer = client.describe_images().owners("amazon").send().await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(proxy.counts().faults_of("DescribeImages"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_outlasts_looks_that_failed() {
    let moto = moto();
    // With one retry a call, the first two looks of the wait for the instance fail.
    let plan = FaultPlan::always("DescribeInstances", FaultKind::Unavailable).at_most(4);
    let proxy = proxy(&moto, plan);
    let mut build = build(
        &moto,
        json!({
            "communicator": "none",
            "custom_endpoint_ec2": proxy.endpoint(),
            "max_retries": 1,
            "aws_polling": { "delay_seconds": 1, "max_attempts": 4 },
        }),
        "fp-wait",
    );
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    let launched = build.launch(&mut logger(&mut lines), &cancel).await;
    assert!(launched.is_ok(), "{launched:?}\n{}", lines.join("\n"));
    assert_eq!(proxy.counts().faults_of("DescribeInstances"), 4);
    build.cleanup(&mut logger(&mut lines)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_instance_could_not_be_terminated_is_left_for_later_not_waited_for() {
    let moto = moto();
    let plan = FaultPlan::always("TerminateInstances", FaultKind::Unavailable);
    let proxy = proxy(&moto, plan);
    let mut build = build(
        &moto,
        json!({
            "communicator": "none",
            "custom_endpoint_ec2": proxy.endpoint(),
            "max_retries": 1,
        }),
        "fp-group",
    );
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    build
        .launch(&mut logger(&mut lines), &cancel)
        .await
        .unwrap();
    let error = build.cleanup(&mut logger(&mut lines)).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("could not remove instance i-"), "{text}");
    assert!(
        text.contains("(TerminateInstances retried 1 time)"),
        "{text}"
    );
    assert!(
        text.contains("which could not be terminated"),
        "the group is left with its instance: {text}"
    );
    assert_eq!(
        proxy.counts().actions.get("DeleteSecurityGroup"),
        None,
        "nothing asked of a group still in use"
    );
    // Once EC2 answers again, a second clean-up removes both.
    proxy.set_plan(FaultPlan::none());
    build.cleanup(&mut logger(&mut lines)).await.unwrap();
    assert!(build.leftovers().is_empty(), "{:?}", build.leftovers());
}
