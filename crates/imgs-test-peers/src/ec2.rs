//! EC2 as the tests see it on a [`TestMoto`](crate::moto::TestMoto) server: clients, the test's key
//! pair, moto's public AMIs, and what a run left on EC2 — what must be gone once a build finished,
//! failed, was cancelled or collected by `imgs gc`.

use std::collections::BTreeSet;
use std::path::Path;

use imgs_aws::ClientSettings;
use imgs_aws::sdk::Client;
use imgs_aws::sdk::primitives::Blob;
use imgs_aws::sdk::types::{Filter, InstanceStateName, Tag};

/// The credentials the tests give: moto accepts any, the SDK wants some.
pub const CREDENTIALS: &str = "testing";

/// Client settings for `region` on the server at `endpoint`, with [`CREDENTIALS`].
pub fn client_settings(endpoint: &str, region: &str) -> ClientSettings {
    ClientSettings {
        access_key: Some(CREDENTIALS.into()),
        secret_key: Some(CREDENTIALS.into()),
        custom_endpoint_ec2: Some(endpoint.to_string()),
        ..ClientSettings::new(region)
    }
}

/// An EC2 client for `region` on the server at `endpoint`.
pub async fn client(endpoint: &str, region: &str) -> Client {
    client_settings(endpoint, region).client(region).await
}

/// Imports the public half of `private_key` (the file beside it with `.pub` added) as the key pair
/// `name`: what a template names in `ssh_keypair_name`.
///
/// # Panics
/// When the key cannot be read or EC2 refuses it.
pub async fn import_key_pair(ec2: &Client, name: &str, private_key: &Path) {
    let public = std::fs::read_to_string(private_key.with_extension("pub")).unwrap_or_else(|e| {
        panic!(
            "cannot read the public key of {}: {e}",
            private_key.display()
        )
    });
    let imported = ec2
        .import_key_pair()
        .key_name(name)
        .public_key_material(Blob::new(public))
        .send()
        .await;
    match imported {
        Ok(_) => {}
        // The SDK retries a request whose answer was slow to come (a loaded machine); when the first
        // try had imported the key, the retry finds it there. Each test's moto is its own, so the key
        // that exists is this one.
        Err(e)
            if e.as_service_error()
                .and_then(|s| s.meta().code())
                .is_some_and(|code| code == "InvalidKeyPair.Duplicate") => {}
        Err(e) => panic!("cannot import the key pair {name}: {e:?}"),
    }
}

/// One of the public EBS-backed AMIs moto ships, as a source.
pub async fn public_ebs_ami(ec2: &Client) -> String {
    let images = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .expect("DescribeImages");
    images
        .images()
        .iter()
        .find(|i| i.root_device_type().map(|t| t.as_str()) == Some("ebs"))
        .and_then(|i| i.image_id())
        .expect("moto ships public EBS-backed AMIs")
        .to_string()
}

/// The filter for resources tagged `key` = `value`.
pub fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// Tags as a sorted map, key to value.
pub fn tag_map(tags: &[Tag]) -> std::collections::BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Whose resources [`Leftovers::of`] looks at.
#[derive(Clone, Copy, Debug)]
pub enum Runs<'a> {
    /// Every imgs run's: whatever carries an `imgs:run` tag, and every key pair but `keep`, tagged or
    /// not (a key pair is all a build makes that moto could show untagged).
    Every { keep_key_pair: &'a str },
    /// One run's: whatever is tagged `imgs:run` = this run ID.
    One(&'a str),
}

/// What runs left on EC2 that still holds something, each as `kind ID` (`instance i-…`, `key pair
/// imgs_…`), sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Instances not terminated (moto keeps terminated ones listed).
    pub instances: Vec<String>,
    pub security_groups: Vec<String>,
    pub key_pairs: Vec<String>,
    pub volumes: Vec<String>,
    /// Snapshots owned by this account; an AMI's snapshots are among them while the AMI exists.
    pub snapshots: Vec<String>,
}

impl Leftovers {
    /// What `runs` left in the client's region.
    ///
    /// # Panics
    /// When an EC2 call fails.
    pub async fn of(ec2: &Client, runs: Runs<'_>) -> Leftovers {
        let filter = || match runs {
            Runs::Every { .. } => Filter::builder().name("tag-key").values("imgs:run").build(),
            Runs::One(run) => tag_filter("imgs:run", run),
        };
        let instances = ec2
            .describe_instances()
            .filters(filter())
            .send()
            .await
            .expect("DescribeInstances");
        let groups = ec2
            .describe_security_groups()
            .filters(filter())
            .send()
            .await
            .expect("DescribeSecurityGroups");
        let key_pairs = match runs {
            Runs::Every { .. } => ec2.describe_key_pairs(),
            Runs::One(_) => ec2.describe_key_pairs().filters(filter()),
        }
        .send()
        .await
        .expect("DescribeKeyPairs");
        let volumes = ec2
            .describe_volumes()
            .filters(filter())
            .send()
            .await
            .expect("DescribeVolumes");
        let snapshots = ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(filter())
            .send()
            .await
            .expect("DescribeSnapshots");
        let sorted = |lines: Vec<String>| {
            let mut lines = lines;
            lines.sort();
            lines
        };
        Leftovers {
            instances: sorted(
                instances
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .filter(|i| {
                        i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated)
                    })
                    .map(|i| format!("instance {}", i.instance_id().unwrap_or_default()))
                    .collect(),
            ),
            security_groups: sorted(
                groups
                    .security_groups()
                    .iter()
                    .map(|g| format!("security group {}", g.group_id().unwrap_or_default()))
                    .collect(),
            ),
            key_pairs: sorted(
                key_pairs
                    .key_pairs()
                    .iter()
                    .filter_map(|k| k.key_name())
                    .filter(|name| match runs {
                        Runs::Every { keep_key_pair } => *name != keep_key_pair,
                        Runs::One(_) => true,
                    })
                    .map(|name| format!("key pair {name}"))
                    .collect(),
            ),
            volumes: sorted(
                volumes
                    .volumes()
                    .iter()
                    .map(|v| format!("volume {}", v.volume_id().unwrap_or_default()))
                    .collect(),
            ),
            snapshots: sorted(
                snapshots
                    .snapshots()
                    .iter()
                    .map(|s| format!("snapshot {}", s.snapshot_id().unwrap_or_default()))
                    .collect(),
            ),
        }
    }

    /// What a build makes for itself and removes when it ends: security groups, key pairs and
    /// volumes (instances are checked on their own; snapshots stay with the AMIs a build made).
    pub fn temporaries(&self) -> Vec<String> {
        [&self.security_groups, &self.key_pairs, &self.volumes]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// Everything listed, as one sorted set.
    pub fn all(&self) -> BTreeSet<String> {
        [
            &self.instances,
            &self.security_groups,
            &self.key_pairs,
            &self.volumes,
            &self.snapshots,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

/// Every instance ever launched in the client's region (terminated ones included) and every AMI of
/// this account: what a build always adds to, so an unchanged pair means nothing was built.
pub async fn footprint(ec2: &Client) -> (usize, usize) {
    let instances = ec2
        .describe_instances()
        .send()
        .await
        .expect("DescribeInstances")
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum();
    let images = ec2
        .describe_images()
        .owners("self")
        .send()
        .await
        .expect("DescribeImages")
        .images()
        .len();
    (instances, images)
}
