//! The cloud side of `imgs revoke`: an `imgs:revoked` tag on the AMI and its snapshots, always, and
//! EC2's own deprecation time where the account (or endpoint) offers it.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_ec2::primitives::DateTime;

use crate::tags::ec2_tags;
use crate::{AwsError, ClientSettings, ImgsAmi, TAG_REVOKED};

/// What EC2 made of a revocation beyond the tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deprecation {
    /// EC2 deprecates the AMI from this time (RFC 3339) on.
    Set(String),
    /// EC2 refused or does not implement EnableImageDeprecation (its error code, or why not):
    /// only the tag says it is revoked.
    NotSet(String),
}

/// Tags `ami` and its snapshots `imgs:revoked` = `reason`, then asks EC2 to deprecate it. A failed
/// tag is an error; a refused deprecation is not (the tag is what imgs reads), it is reported.
pub async fn revoke_ami(
    client_settings: &ClientSettings,
    ami: &ImgsAmi,
    reason: &str,
) -> Result<Deprecation, AwsError> {
    let client = client_settings.client(&ami.region).await;
    let tags = ec2_tags(&[(TAG_REVOKED.to_string(), reason.to_string())].into());
    let mut resources = vec![ami.ami_id.clone()];
    resources.extend(ami.snapshots.iter().cloned());
    client
        .create_tags()
        .set_resources(Some(resources))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(AwsError::api(format!(
            "Error tagging AMI {} in {} as revoked",
            ami.ami_id, ami.region
        )))
        .map_err(|e| e.counted(client_settings.max_attempts()))?;
    // EC2 takes no time in the past and rounds to the minute: the next whole minute.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let at = DateTime::from_secs((now / 60 + 1) * 60);
    // An endpoint without the action answers with a server error the SDK would retry as often as
    // the template allows; one retry is enough to tell a passing fault from a missing action.
    let once = ClientSettings {
        max_retries: Some(1),
        ..client_settings.clone()
    };
    let answer = once
        .client(&ami.region)
        .await
        .enable_image_deprecation()
        .image_id(&ami.ami_id)
        .deprecate_at(at)
        .send()
        .await;
    Ok(match answer {
        Ok(_) => Deprecation::Set(
            at.fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
                .unwrap_or_default(),
        ),
        // EC2's error code says why (`UnauthorizedOperation`); an endpoint without the action
        // answers with no code at all.
        Err(e) => Deprecation::NotSet(match AwsError::api("EnableImageDeprecation")(e) {
            AwsError::Api {
                code: Some(code), ..
            } => code,
            _ => "not offered by this endpoint".to_string(),
        }),
    })
}
