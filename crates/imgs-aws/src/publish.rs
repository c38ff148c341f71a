//! The cloud side of publishing an image to a channel (`imgs build --channel`, `imgs publish`):
//! the channel moves to the new AMI (its `imgs:channel:NAME` tag is set on it and taken off this
//! image's other AMIs in the region), launch permissions are granted, and an SSM String parameter
//! names the AMI.
//!
//! SSM is called as EC2 is: the same credentials, HTTPS client and retries. Its endpoint is the
//! SDK's (`AWS_ENDPOINT_URL_SSM` or `AWS_ENDPOINT_URL` when set); otherwise, when the template gives
//! `custom_endpoint_ec2`, that endpoint serves SSM too (a local API server such as moto or
//! LocalStack answers every service on one port).

use aws_sdk_ec2::types::{
    Filter, LaunchPermission, LaunchPermissionModifications, PermissionGroup,
};
use aws_sdk_ssm::types::ParameterType;

use crate::lookup::list_all;
use crate::tags::ec2_tags;
use crate::{AwsError, CHANNEL_TAG_PREFIX, ClientSettings, TAG_IMAGE, retry};

/// What publishing one AMI asks for beyond the channel tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishAmi {
    pub region: String,
    pub ami_id: String,
    /// The workspace image it is an artifact of (its `imgs:image` tag).
    pub image: String,
    pub channel: String,
    /// The tag's value: when it was published (RFC 3339).
    pub published_at: String,
    /// `launch_permission_accounts`: account IDs allowed to launch it.
    pub accounts: Vec<String>,
    /// `launch_permission_groups`: `all` makes it public.
    pub groups: Vec<String>,
    /// The SSM String parameter to write the AMI ID to, in the AMI's region.
    pub ssm_parameter: Option<String>,
}

/// What publishing one AMI changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishedAmi {
    /// This image's AMIs in the region that left the channel.
    pub moved_from: Vec<String>,
    /// Whether it was in the channel already.
    pub already: bool,
}

/// The tag key of channel `channel`.
pub fn channel_tag(channel: &str) -> String {
    format!("{CHANNEL_TAG_PREFIX}{channel}")
}

/// This account's AMIs of workspace image `image` in `region` that are in `channel` (tagged
/// `imgs:image=IMAGE` and with the key `imgs:channel:CHANNEL`), sorted.
pub async fn channel_amis(
    client_settings: &ClientSettings,
    region: &str,
    image: &str,
    channel: &str,
) -> Result<Vec<String>, AwsError> {
    let client = client_settings.client(region).await;
    let request = client
        .describe_images()
        .owners("self")
        .filters(
            Filter::builder()
                .name(format!("tag:{TAG_IMAGE}"))
                .values(image)
                .build(),
        )
        .filters(
            Filter::builder()
                .name("tag-key")
                .values(channel_tag(channel))
                .build(),
        );
    let images: Vec<aws_sdk_ec2::types::Image> = list_all!(
        request,
        format!("Error listing the AMIs of `{image}` in channel {channel} in {region}")
    )
    .map_err(|e: AwsError| e.counted(client_settings.max_attempts()))?;
    let mut found: Vec<String> = images
        .iter()
        .filter_map(|i| i.image_id().map(str::to_string))
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

/// Publishes one AMI: launch permissions first (so nothing points at an AMI its users cannot
/// launch), then the channel tag on it, then the tag off this image's other AMIs in the region,
/// then the SSM parameter. Each step is idempotent, so a publish that failed half-way is repeated
/// whole.
pub async fn publish_ami(
    client_settings: &ClientSettings,
    ami: &PublishAmi,
) -> Result<PublishedAmi, AwsError> {
    let counted = |e: AwsError| e.counted(client_settings.max_attempts());
    let region = ami.region.as_str();
    let before = channel_amis(client_settings, region, &ami.image, &ami.channel).await?;
    let client = client_settings.client(region).await;
    if !ami.accounts.is_empty() || !ami.groups.is_empty() {
        let mut add = Vec::new();
        for account in &ami.accounts {
            add.push(LaunchPermission::builder().user_id(account).build());
        }
        for group in &ami.groups {
            add.push(
                LaunchPermission::builder()
                    .group(PermissionGroup::from(group.as_str()))
                    .build(),
            );
        }
        client
            .modify_image_attribute()
            .image_id(&ami.ami_id)
            .launch_permission(
                LaunchPermissionModifications::builder()
                    .set_add(Some(add))
                    .build(),
            )
            .send()
            .await
            .map_err(AwsError::api(format!(
                "Error granting launch permissions on AMI {} in {region}",
                ami.ami_id
            )))
            .map_err(counted)?;
    }
    let key = channel_tag(&ami.channel);
    client
        .create_tags()
        .resources(&ami.ami_id)
        .set_tags(Some(ec2_tags(
            &[(key.clone(), ami.published_at.clone())].into(),
        )))
        .send()
        .await
        .map_err(AwsError::api(format!(
            "Error tagging AMI {} in {region} for channel {}",
            ami.ami_id, ami.channel
        )))
        .map_err(counted)?;
    let moved_from: Vec<String> = before
        .iter()
        .filter(|id| **id != ami.ami_id)
        .cloned()
        .collect();
    if !moved_from.is_empty() {
        client
            .delete_tags()
            .set_resources(Some(moved_from.clone()))
            .tags(aws_sdk_ec2::types::Tag::builder().key(&key).build())
            .send()
            .await
            .map_err(AwsError::api(format!(
                "Error removing channel {} from the other AMIs of `{}` in {region}",
                ami.channel, ami.image
            )))
            .map_err(counted)?;
    }
    if let Some(name) = &ami.ssm_parameter {
        ssm_client(client_settings, region)
            .await
            .put_parameter()
            .name(name)
            .value(&ami.ami_id)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(AwsError::api(format!(
                "Error writing SSM parameter {name} in {region}"
            )))
            .map_err(counted)?;
    }
    Ok(PublishedAmi {
        already: before.contains(&ami.ami_id),
        moved_from,
    })
}

/// An SSM client for `region`, as the EC2 client: same credentials, HTTPS client and retries.
async fn ssm_client(client_settings: &ClientSettings, region: &str) -> aws_sdk_ssm::Client {
    let shared = client_settings.sdk_config(region).await;
    let mut config = aws_sdk_ssm::config::Builder::from(&shared)
        .retry_partition(retry::own_retry_quota())
        .retry_classifier(retry::refused_certificates_are_final());
    let sdk_endpoint = ["AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if let (Some(endpoint), false) = (&client_settings.custom_endpoint_ec2, sdk_endpoint) {
        config = config.endpoint_url(crate::client::endpoint_url(endpoint));
    }
    aws_sdk_ssm::Client::from_conf(config.build())
}

/// The value of SSM parameter `name` in `region` (tests and tools read back what was published).
pub async fn ssm_parameter(
    client_settings: &ClientSettings,
    region: &str,
    name: &str,
) -> Result<Option<String>, AwsError> {
    let answer = ssm_client(client_settings, region)
        .await
        .get_parameter()
        .name(name)
        .send()
        .await;
    match answer {
        Ok(out) => Ok(out.parameter().and_then(|p| p.value()).map(str::to_string)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            Ok(None)
        }
        Err(e) => Err(AwsError::api(format!("Error reading SSM parameter {name}"))(e)),
    }
}
