//! The cloud side of `imgs cache prune --deregister`: list the AMIs imgs made for a workspace's
//! images (by their `imgs:image` tag), and deregister the ones no current fingerprint uses together
//! with their snapshots (a deregistered AMI's snapshots are otherwise billed forever).

use crate::build::{AMI_GONE, SNAPSHOT_GONE, deleted, image_snapshots};
use crate::lookup::images_tagged;
use crate::tags::tag_value;
use crate::{
    AwsError, ClientSettings, TAG_FINGERPRINT, TAG_IMAGE, TAG_REVOKED, TAG_RUN, TAG_SOURCE_AMI,
};

/// An AMI imgs made, as its tags describe it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImgsAmi {
    pub region: String,
    pub ami_id: String,
    /// The `imgs:image` tag.
    pub image: String,
    /// The `imgs:fingerprint` tag (absent on AMIs built outside a workspace).
    pub fingerprint: Option<String>,
    /// The `imgs:run` tag ("" when absent).
    pub run_id: String,
    /// EC2's creation date ("" when EC2 gave none).
    pub created_at: String,
    /// Snapshots of its block devices.
    pub snapshots: Vec<String>,
    /// The `imgs:source-ami` tag: the AMI it was launched from (absent on AMIs older than the tag).
    pub source_ami: Option<String>,
    /// The `imgs:revoked` tag: why it was revoked.
    pub revoked: Option<String>,
    /// The channels it is in: the NAME of each `imgs:channel:NAME` tag.
    pub channels: Vec<String>,
}

/// The tag key prefix of the channels an AMI is published in (`imgs:channel:prod`).
pub const CHANNEL_TAG_PREFIX: &str = "imgs:channel:";

/// Our AMIs in `region` tagged `imgs:image` with one of `images`, in any state.
pub async fn list_imgs_amis(
    client_settings: &ClientSettings,
    region: &str,
    images: &[String],
) -> Result<Vec<ImgsAmi>, AwsError> {
    let mut found = Vec::new();
    if images.is_empty() {
        return Ok(found);
    }
    let client = client_settings.client(region).await;
    let action = format!("Error listing AMIs in {region}");
    let listed = images_tagged(&client, TAG_IMAGE, images, &action)
        .await
        .map_err(|e| e.counted(client_settings.max_attempts()))?;
    for image in listed {
        let tag = |key: &str| tag_value(image.tags(), key).map(str::to_string);
        let (Some(ami_id), Some(name)) = (image.image_id(), tag(TAG_IMAGE)) else {
            continue;
        };
        found.push(ImgsAmi {
            region: region.to_string(),
            ami_id: ami_id.to_string(),
            image: name,
            fingerprint: tag(TAG_FINGERPRINT),
            run_id: tag(TAG_RUN).unwrap_or_default(),
            created_at: image.creation_date().unwrap_or_default().to_string(),
            snapshots: image_snapshots(&image),
            source_ami: tag(TAG_SOURCE_AMI),
            revoked: tag(TAG_REVOKED),
            channels: image
                .tags()
                .iter()
                .filter_map(|t| t.key()?.strip_prefix(CHANNEL_TAG_PREFIX))
                .map(str::to_string)
                .collect(),
        });
    }
    found.sort();
    Ok(found)
}

/// Deregisters `ami` and deletes its snapshots. An AMI or snapshot that is already gone counts as
/// removed (another prune may have run).
pub async fn deregister_ami(
    client_settings: &ClientSettings,
    ami: &ImgsAmi,
) -> Result<(), AwsError> {
    let client = client_settings.client(&ami.region).await;
    let counted = |e: AwsError| e.counted(client_settings.max_attempts());
    let answer = client.deregister_image().image_id(&ami.ami_id).send().await;
    let action = format!("Error deregistering AMI {} in {}", ami.ami_id, ami.region);
    deleted(answer, action, AMI_GONE).map_err(counted)?;
    for snapshot in &ami.snapshots {
        let answer = client.delete_snapshot().snapshot_id(snapshot).send().await;
        let action = format!(
            "Error deleting snapshot {snapshot} of AMI {} in {}",
            ami.ami_id, ami.region
        );
        deleted(answer, action, SNAPSHOT_GONE).map_err(counted)?;
    }
    Ok(())
}
