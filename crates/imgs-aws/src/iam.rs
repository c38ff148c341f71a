//! IAM for the instance's profile, as Packer 1.6.6 uses it: a given `iam_instance_profile` is
//! checked to exist (unless `skip_profile_validation`), and
//! `temporary_iam_instance_profile_policy_document` makes a role trusted by EC2 with that policy
//! inline, in an instance profile of the same name, removed again with the build.
//!
//! IAM is called on its usual (global) endpoint; the SDK's `AWS_ENDPOINT_URL_IAM` environment
//! variable points it elsewhere.

use std::collections::BTreeMap;

use aws_sdk_iam::Client;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Tag;

use crate::AwsError;
use crate::build::Log;
use crate::wait::{self, Poll};

/// The trust policy of the temporary role: EC2 may assume it.
const TRUST_EC2: &str = "{\"Version\": \"2012-10-17\",\"Statement\": [{\"Effect\": \"Allow\",\"Principal\": {\"Service\": \"ec2.amazonaws.com\"},\"Action\": \"sts:AssumeRole\"}]}";

/// How long IAM may take to show what was just created.
const IAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// What of the temporary instance profile exists so far: clean-up removes exactly that.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TemporaryProfile {
    /// The name of the profile, the role and the role's policy.
    pub name: String,
    pub profile: bool,
    pub role: bool,
    pub policy: bool,
    pub attached: bool,
}

impl TemporaryProfile {
    pub(crate) fn exists(&self) -> bool {
        self.profile || self.role
    }
}

fn api<E>(action: impl Into<String>) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    AwsError::api(action)
}

/// Packer's check of a given instance profile.
pub(crate) async fn check_profile(iam: &Client, name: &str) -> Result<(), AwsError> {
    iam.get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(api("Couldn't find specified instance profile"))?;
    Ok(())
}

/// Creates the instance profile, the role and its policy, and puts the role in the profile;
/// `made` records each as it comes to exist.
pub(crate) async fn create(
    iam: &Client,
    policy_document: &str,
    tags: &BTreeMap<String, String>,
    made: &mut TemporaryProfile,
    log: Log<'_>,
) -> Result<(), AwsError> {
    let name = made.name.clone();
    let tags: Vec<Tag> = tags
        .iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect();
    log.line(&format!(
        "Creating temporary instance profile for this instance: {name}"
    ));
    iam.create_instance_profile()
        .instance_profile_name(&name)
        .set_tags(Some(tags.clone()))
        .send()
        .await
        .map_err(api("Error creating the temporary instance profile"))?;
    made.profile = true;
    exists(&format!("instance profile {name}"), || async {
        iam.get_instance_profile()
            .instance_profile_name(&name)
            .send()
            .await
            .map(drop)
    })
    .await?;

    log.line(&format!(
        "Creating temporary role for this instance: {name}"
    ));
    iam.create_role()
        .role_name(&name)
        .description("Temporary role for imgs")
        .assume_role_policy_document(TRUST_EC2)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(api("Error creating the temporary role"))?;
    made.role = true;
    exists(&format!("role {name}"), || async {
        iam.get_role().role_name(&name).send().await.map(drop)
    })
    .await?;

    log.line(&format!("Attaching policy to the temporary role: {name}"));
    iam.put_role_policy()
        .role_name(&name)
        .policy_name(&name)
        .policy_document(policy_document)
        .send()
        .await
        .map_err(api("Error attaching the policy to the temporary role"))?;
    made.policy = true;
    iam.add_role_to_instance_profile()
        .role_name(&name)
        .instance_profile_name(&name)
        .send()
        .await
        .map_err(api(
            "Error adding the temporary role to its instance profile",
        ))?;
    made.attached = true;
    Ok(())
}

/// Waits until IAM shows what was just created (`NoSuchEntity` until then).
async fn exists<F, Fut, E>(what: &str, look: F) -> Result<(), AwsError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    wait::until(&format!("{what} to exist"), IAM_TIMEOUT, None, || async {
        match look().await {
            Ok(()) => Ok(Poll::Done(())),
            Err(error) if error.code() == Some("NoSuchEntity") => Ok(Poll::NotYet),
            Err(error) => Err(AwsError::api(format!("Error waiting for {what}"))(error)),
        }
    })
    .await
}

/// Removes what [`create`] made, in the order IAM allows; what is gone is forgotten, so a second
/// call after a failure only retries the rest.
pub(crate) async fn delete(
    iam: &Client,
    made: &mut TemporaryProfile,
    log: Log<'_>,
) -> Result<(), AwsError> {
    let name = made.name.clone();
    let gone = ["NoSuchEntity"];
    if made.attached {
        log.line("Detaching temporary role from instance profile...");
        let answer = iam
            .remove_role_from_instance_profile()
            .instance_profile_name(&name)
            .role_name(&name)
            .send()
            .await;
        crate::build::deleted(answer, "Error detaching the temporary role", &gone)?;
        made.attached = false;
    }
    if made.policy {
        log.line("Removing policy from temporary role...");
        let answer = iam
            .delete_role_policy()
            .role_name(&name)
            .policy_name(&name)
            .send()
            .await;
        crate::build::deleted(answer, "Error removing the temporary role's policy", &gone)?;
        made.policy = false;
    }
    if made.role {
        log.line("Deleting temporary role...");
        let answer = iam.delete_role().role_name(&name).send().await;
        crate::build::deleted(answer, "Error deleting the temporary role", &gone)?;
        made.role = false;
    }
    if made.profile {
        log.line("Deleting temporary instance profile...");
        let answer = iam
            .delete_instance_profile()
            .instance_profile_name(&name)
            .send()
            .await;
        crate::build::deleted(
            answer,
            "Error deleting the temporary instance profile",
            &gone,
        )?;
        made.profile = false;
    }
    Ok(())
}
