//! EC2 failing calls as it does under load — throttling, 5xx answers, broken connections — through
//! the fault-injecting proxy in front of moto (`imgs_test_peers::faults`): every call gets the
//! retries its settings give it, whatever failed before, and waits outlast failed looks.

use imgs_aws::ClientSettings;
use imgs_test_peers::faults::{FaultKind, FaultPlan, FaultProxy};
use crate::build::moto;

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
