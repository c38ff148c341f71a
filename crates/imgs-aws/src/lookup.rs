//! The cloud cache: which fingerprints already have an AMI, asked of EC2 in one DescribeImages per
//! region (filtered by the `imgs:fingerprint` tag; EC2 takes many values per filter), so a fresh
//! machine reuses AMIs another one built.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ImageState};

use crate::{AwsError, ClientSettings, RegionAmi, TAG_FINGERPRINT, TAG_RUN};

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
    for batch in fingerprints.chunks(VALUES_PER_FILTER) {
        let mut next_token: Option<String> = None;
        loop {
            let page = client
                .describe_images()
                .owners("self")
                .filters(
                    Filter::builder()
                        .name(format!("tag:{TAG_FINGERPRINT}"))
                        .set_values(Some(batch.to_vec()))
                        .build(),
                )
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(AwsError::api(format!("Error looking up AMIs in {region}")))?;
            for image in page.images() {
                // A pending or failed AMI cannot be launched from; it is not a cache hit.
                if image.state() != Some(&ImageState::Available) {
                    continue;
                }
                let tag = |key: &str| {
                    image
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some(key))
                        .and_then(|t| t.value())
                };
                if let (Some(fingerprint), Some(ami_id)) = (tag(TAG_FINGERPRINT), image.image_id())
                {
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
                        });
                }
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => break,
            }
        }
    }
    for amis in found.values_mut() {
        amis.sort();
    }
    Ok(found)
}
