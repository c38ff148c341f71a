//! The cloud cache: which fingerprints already have an AMI, asked of EC2 in one DescribeImages per
//! region (filtered by the `imgs:fingerprint` tag; EC2 takes many values per filter), so a fresh
//! machine reuses AMIs another one built.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, Image, ImageState};

use crate::tags::tag_value;
use crate::{AwsError, ClientSettings, RegionAmi, TAG_FINGERPRINT, TAG_REVOKED, TAG_RUN};

/// Every item a paged Describe* `request` lists (the SDK's paginator follows NextToken), or the
/// error, saying it happened during `action`. A macro because the SDK's request builders share no
/// trait a function could take.
macro_rules! list_all {
    ($request:expr, $action:expr) => {
        $request
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err($crate::AwsError::api($action))
    };
}
pub(crate) use list_all;

/// EC2 accepts at most 200 values in one filter.
const VALUES_PER_FILTER: usize = 200;

/// An AMI found by its fingerprint tag, with what a cache record says about a build.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaggedAmi {
    pub ami: RegionAmi,
    /// Its `imgs:run` tag ("" when absent).
    pub run_id: String,
    /// EC2's creation date ("" when EC2 gave none).
    pub created_at: String,
    /// Its `imgs:revoked` tag (`imgs revoke`): why it was revoked.
    pub revoked: Option<String>,
}

/// Our available AMIs in `region` tagged with any of `fingerprints`, by fingerprint. Fingerprints
/// without an AMI are absent from the map.
pub async fn find_images_by_fingerprint(
    client_settings: &ClientSettings,
    region: &str,
    fingerprints: &[String],
) -> Result<BTreeMap<String, Vec<RegionAmi>>, AwsError> {
    let found = find_tagged_images(client_settings, region, fingerprints).await?;
    Ok(found
        .into_iter()
        .map(|(fingerprint, amis)| (fingerprint, amis.into_iter().map(|a| a.ami).collect()))
        .collect())
}

/// As [`find_images_by_fingerprint`], with each AMI's run tag and creation date.
pub async fn find_tagged_images(
    client_settings: &ClientSettings,
    region: &str,
    fingerprints: &[String],
) -> Result<BTreeMap<String, Vec<TaggedAmi>>, AwsError> {
    let mut found: BTreeMap<String, Vec<TaggedAmi>> = BTreeMap::new();
    if fingerprints.is_empty() {
        return Ok(found);
    }
    let client = client_settings.client(region).await;
    let action = format!("Error looking up AMIs in {region}");
    let images = images_tagged(&client, TAG_FINGERPRINT, fingerprints, &action)
        .await
        .map_err(|e| e.counted(client_settings.max_attempts()))?;
    for image in images {
        // A pending or failed AMI cannot be launched from; it is not a cache hit.
        if image.state() != Some(&ImageState::Available) {
            continue;
        }
        let tag = |key: &str| tag_value(image.tags(), key);
        if let (Some(fingerprint), Some(ami_id)) = (tag(TAG_FINGERPRINT), image.image_id()) {
            found
                .entry(fingerprint.to_string())
                .or_default()
                .push(TaggedAmi {
                    ami: RegionAmi {
                        region: region.to_string(),
                        ami_id: ami_id.to_string(),
                    },
                    run_id: tag(TAG_RUN).unwrap_or_default().to_string(),
                    created_at: image.creation_date().unwrap_or_default().to_string(),
                    revoked: tag(TAG_REVOKED).map(str::to_string),
                });
        }
    }
    for amis in found.values_mut() {
        amis.sort();
    }
    Ok(found)
}

/// Our AMIs, in any state, whose tag `key` has one of `values`. EC2 takes at most 200 values in one
/// filter, so a long list is asked for in batches; `action` names the listing in errors.
pub(crate) async fn images_tagged(
    client: &Client,
    key: &str,
    values: &[String],
    action: &str,
) -> Result<Vec<Image>, AwsError> {
    let mut images = Vec::new();
    for batch in values.chunks(VALUES_PER_FILTER) {
        let filter = Filter::builder()
            .name(format!("tag:{key}"))
            .set_values(Some(batch.to_vec()))
            .build();
        let page_items = list_all!(
            client.describe_images().owners("self").filters(filter),
            action
        )?;
        images.extend(page_items);
    }
    Ok(images)
}
