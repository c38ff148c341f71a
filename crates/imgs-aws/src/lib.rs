//! Packer 1.6.6's `amazon-ebs` builder on the AWS SDK: launch an instance from a source AMI, let the
//! caller provision it over SSH, stop it, make an AMI of it (copied to more regions when asked), and
//! remove everything temporary whatever happened. Every resource a build creates is tagged with the
//! imgs run and image; AMIs also with their fingerprint, which is how [`find_images_by_fingerprint`]
//! finds an image another machine already built.
//!
//! This is the only crate that talks to AWS.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

mod build;
mod client;
mod config;
mod credentials;
mod deregister;
mod error;
mod gc;
mod iam;
mod insecure_tls;
mod lock;
mod lookup;
mod network;
mod publish;
mod regions;
mod retry;
mod revoke;
mod s3;
mod source;
mod spot;
mod tags;
mod wait;

/// The EC2 SDK itself, for tests that check what a build left on the server; other crates never
/// depend on the SDK directly, so it is built once, for this crate.
pub use aws_sdk_ec2 as sdk;
pub use build::EbsBuild;
pub use client::AssumeRole;
pub use client::ClientSettings;
pub use config::{
    BlockDevice, Communicator, EbsConfig, SourceAmi, SourceAmiFilter, Spot, SshInterface,
    SubnetFilter,
};
pub use deregister::{CHANNEL_TAG_PREFIX, ImgsAmi, deregister_ami, list_imgs_amis};
pub use error::AwsError;
pub use gc::{GcReport, GcRuns, InProgress, Leftover, collect_garbage};
pub use lock::{filter_spec, resolve_source_ami};
pub use lookup::{TaggedAmi, find_images_by_fingerprint, find_tagged_images};
pub use publish::{
    PublishAmi, PublishedAmi, channel_amis, channel_tag, publish_ami, ssm_parameter,
};
pub use revoke::{Deprecation, revoke_ami};
pub use s3::{MULTIPART_THRESHOLD, S3Error, S3Settings, S3Store};
pub use wait::Polling;

/// Renders a deferred template (a tag key or value, the AMI description) with flat build data such as
/// `SourceAMI` and `BuildRegion`. The caller supplies it: it owns the template engine's context.
pub type RenderDeferred =
    Arc<dyn Fn(&str, &BTreeMap<String, String>) -> Result<String, String> + Send + Sync>;

/// Tag keys imgs puts on what it creates.
pub const TAG_RUN: &str = "imgs:run";
pub const TAG_IMAGE: &str = "imgs:image";
pub const TAG_FINGERPRINT: &str = "imgs:fingerprint";
/// The AMI an AMI was launched from: its lineage, read by `imgs prune` and `imgs revoke`.
pub const TAG_SOURCE_AMI: &str = "imgs:source-ami";
/// On a revoked AMI and its snapshots: why it was revoked.
pub const TAG_REVOKED: &str = "imgs:revoked";

/// What ties a resource to imgs: the run that created it, the image it was for, and (AMIs only) the
/// fingerprint of that image's inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImgsTags {
    pub run_id: String,
    pub image: String,
    pub fingerprint: Option<String>,
}

/// An AMI in one region.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RegionAmi {
    pub region: String,
    pub ami_id: String,
}

/// Packer's artifact ID: `region:ami-id` pairs joined by commas, sorted by region as Packer sorts them.
pub fn artifact_id(amis: &[RegionAmi]) -> String {
    let mut pairs: Vec<&RegionAmi> = amis.iter().collect();
    pairs.sort();
    pairs
        .iter()
        .map(|a| format!("{}:{}", a.region, a.ami_id))
        .collect::<Vec<_>>()
        .join(",")
}

/// Something on EC2 that exists because of a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub kind: ResourceKind,
    /// The ID, or for a key pair its name.
    pub id: String,
    pub region: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    Instance,
    KeyPair,
    SecurityGroup,
    Image,
    Snapshot,
    Volume,
    /// The launch template a spot instance was launched from.
    LaunchTemplate,
    /// The IAM role and instance profile of `temporary_iam_instance_profile_policy_document`
    /// (one name for both).
    InstanceProfile,
}

impl ResourceKind {
    /// What a person calls it: `security group`, `AMI`.
    pub fn noun(self) -> &'static str {
        match self {
            ResourceKind::Instance => "instance",
            ResourceKind::KeyPair => "key pair",
            ResourceKind::SecurityGroup => "security group",
            ResourceKind::Image => "AMI",
            ResourceKind::Snapshot => "snapshot",
            ResourceKind::Volume => "volume",
            ResourceKind::LaunchTemplate => "launch template",
            ResourceKind::InstanceProfile => "IAM role and instance profile",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.kind.noun(), self.id, self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ami(region: &str, id: &str) -> RegionAmi {
        RegionAmi {
            region: region.into(),
            ami_id: id.into(),
        }
    }

    #[test]
    fn artifact_id_sorts_by_region() {
        let amis = [
            ami("us-west-2", "ami-2"),
            ami("eu-west-1", "ami-3"),
            ami("us-east-1", "ami-1"),
        ];
        assert_eq!(
            artifact_id(&amis),
            "eu-west-1:ami-3,us-east-1:ami-1,us-west-2:ami-2"
        );
        assert_eq!(artifact_id(&[]), "");
    }

    #[test]
    fn resources_say_what_and_where() {
        let r = Resource {
            kind: ResourceKind::Instance,
            id: "i-0123".into(),
            region: "us-east-1".into(),
        };
        assert_eq!(r.to_string(), "instance i-0123 (us-east-1)");
    }
}
