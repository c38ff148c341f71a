//! `imgs gc` on EC2: what imgs runs left in a region, found by the `imgs:run` tag every build puts on
//! what it creates, and removed in the order EC2 allows: instances first (terminated, and waited for,
//! since their security group and volumes stay in use until then), then spot builds' launch
//! templates, security groups, key pairs, volumes, AMIs that never became usable, and last the
//! snapshots no registered AMI uses.
//!
//! AMIs are artifacts: an `available` AMI is never touched, whatever run made it (the cache may name
//! it, and `find_images_by_fingerprint` reuses it). An AMI of a selected run that is not `available`
//! (`pending`, `failed`, ...) is deregistered: its run is over, so nothing will finish it (copy it,
//! share it, tag its snapshots), and a failed one can never be launched.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, ImageState, InstanceStateName, Tag};

use crate::build::{
    AMI_GONE, SNAPSHOT_GONE, delete_security_group, deleted, image_snapshots, wait_instance,
};
use crate::lookup::list_all;
use crate::tags::tag_value;
use crate::{AwsError, ClientSettings, Resource, ResourceKind, TAG_IMAGE, TAG_RUN};

/// Says whether a run is still building.
pub type InProgress = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Which runs' resources to remove.
#[derive(Clone)]
pub struct GcRuns {
    /// Only this run; every run when `None`.
    pub run: Option<String>,
    /// Runs still building are never touched, even when named in `run`. Asked when a resource of the
    /// run is found rather than once up front: a build marks itself running before it creates
    /// anything, so a run that started after gc did is seen too.
    pub in_progress: InProgress,
}

impl GcRuns {
    /// Every run, or only `run`, none of them in progress.
    pub fn new(run: Option<String>) -> GcRuns {
        GcRuns {
            run,
            in_progress: Arc::new(|_| false),
        }
    }
}

impl fmt::Debug for GcRuns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcRuns")
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

/// A resource an imgs run left, with the run and image its tags name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    pub resource: Resource,
    pub run_id: String,
    pub image: Option<String>,
}

/// What a collection did in one region (with `dry_run`: what it would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub region: String,
    /// Removed, in the order they were removed.
    pub removed: Vec<Leftover>,
    /// Could not be removed, each with EC2's reason.
    pub failed: Vec<(Leftover, String)>,
    /// Runs that tagged resources here but were skipped because they are still building.
    pub skipped_runs: BTreeSet<String>,
}

/// Removes (or with `dry_run` only lists) what the selected runs left in `region`.
pub async fn collect_garbage(
    settings: &ClientSettings,
    region: &str,
    runs: &GcRuns,
    dry_run: bool,
) -> Result<GcReport, AwsError> {
    let client = settings.client(region).await;
    let max_attempts = settings.max_attempts();
    let mut gc = Collector {
        client: &client,
        region,
        runs,
        dry_run,
        max_attempts,
        report: GcReport {
            region: region.to_string(),
            ..GcReport::default()
        },
        instances: BTreeSet::new(),
    };
    let collected = async {
        gc.instances().await?;
        gc.launch_templates().await?;
        gc.security_groups().await?;
        gc.key_pairs().await?;
        gc.volumes().await?;
        let from_unusable_amis = gc.unusable_images().await?;
        gc.snapshots(from_unusable_amis).await
    };
    collected.await.map_err(|e| e.counted(max_attempts))?;
    Ok(gc.report)
}

struct Collector<'a> {
    client: &'a Client,
    region: &'a str,
    runs: &'a GcRuns,
    dry_run: bool,
    /// How often a call is tried: what a failure says.
    max_attempts: u32,
    report: GcReport,
    /// The selected instances, terminated (or, in a dry run, to be).
    instances: BTreeSet<String>,
}

impl Collector<'_> {
    /// The leftover for a resource with these tags, when its run is selected; notes skipped runs.
    fn select(&mut self, kind: ResourceKind, id: Option<&str>, tags: &[Tag]) -> Option<Leftover> {
        let run = tag_value(tags, TAG_RUN)?;
        let id = id?;
        if self.runs.run.as_deref().is_some_and(|only| only != run) {
            return None;
        }
        if (self.runs.in_progress)(run) {
            self.report.skipped_runs.insert(run.to_string());
            return None;
        }
        Some(Leftover {
            resource: Resource {
                kind,
                id: id.to_string(),
                region: self.region.to_string(),
            },
            run_id: run.to_string(),
            image: tag_value(tags, TAG_IMAGE).map(str::to_string),
        })
    }

    fn outcome(&mut self, leftover: Leftover, result: Result<(), AwsError>) {
        match result {
            Ok(()) => self.report.removed.push(leftover),
            Err(error) => {
                let why = error.counted(self.max_attempts).to_string();
                self.report.failed.push((leftover, why));
            }
        }
    }

    /// The filter that finds imgs's resources server-side; the run is checked on the tags too.
    fn filter(&self) -> Filter {
        match &self.runs.run {
            Some(run) => Filter::builder()
                .name(format!("tag:{TAG_RUN}"))
                .values(run)
                .build(),
            None => Filter::builder().name("tag-key").values(TAG_RUN).build(),
        }
    }

    /// Removes each leftover with `delete`, noting what became of it; a dry run only lists them.
    async fn remove(
        &mut self,
        found: impl IntoIterator<Item = Leftover>,
        delete: impl AsyncFn(&str) -> Result<(), AwsError>,
    ) {
        for leftover in found {
            if self.dry_run {
                self.report.removed.push(leftover);
                continue;
            }
            let result = delete(&leftover.resource.id).await;
            self.outcome(leftover, result);
        }
    }

    async fn instances(&mut self) -> Result<(), AwsError> {
        let reservations = list_all!(
            self.client.describe_instances().filters(self.filter()),
            "Error listing instances"
        )?;
        let found: Vec<Leftover> = reservations
            .iter()
            .flat_map(|r| r.instances())
            // Terminated instances linger in listings for a while; they hold nothing.
            .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated))
            .filter_map(|i| self.select(ResourceKind::Instance, i.instance_id(), i.tags()))
            .collect();
        self.instances = found.iter().map(|l| l.resource.id.clone()).collect();
        if self.dry_run || found.is_empty() {
            self.report.removed.extend(found);
            return Ok(());
        }
        // One call terminates them all; each is then waited for on its own.
        let ids: Vec<String> = found.iter().map(|l| l.resource.id.clone()).collect();
        let terminated = self
            .client
            .terminate_instances()
            .set_instance_ids(Some(ids))
            .send()
            .await
            .map_err(AwsError::api("Error terminating instances"));
        if let Err(error) = terminated {
            let why = error.counted(self.max_attempts).to_string();
            self.report
                .failed
                .extend(found.into_iter().map(|l| (l, why.clone())));
            return Ok(());
        }
        // Security groups and volumes are in use until their instance is gone.
        let client = self.client;
        self.remove(found, async |id| {
            wait_instance(
                client,
                id,
                InstanceStateName::Terminated,
                &crate::Polling::default(),
                None,
            )
            .await
            .map(drop)
        })
        .await;
        Ok(())
    }

    /// The launch templates spot builds launched from.
    async fn launch_templates(&mut self) -> Result<(), AwsError> {
        let templates = list_all!(
            self.client
                .describe_launch_templates()
                .filters(self.filter()),
            "Error listing launch templates"
        )?;
        let found: Vec<Leftover> = templates
            .iter()
            .filter_map(|t| {
                self.select(
                    ResourceKind::LaunchTemplate,
                    t.launch_template_name(),
                    t.tags(),
                )
            })
            .collect();
        let client = self.client;
        self.remove(found, async |name| {
            crate::spot::delete_template(client, name).await
        })
        .await;
        Ok(())
    }

    async fn security_groups(&mut self) -> Result<(), AwsError> {
        let groups = list_all!(
            self.client
                .describe_security_groups()
                .filters(self.filter()),
            "Error listing security groups"
        )?;
        let found: Vec<Leftover> = groups
            .iter()
            .filter_map(|g| self.select(ResourceKind::SecurityGroup, g.group_id(), g.tags()))
            .collect();
        let client = self.client;
        self.remove(found, async |id| delete_security_group(client, id).await)
            .await;
        Ok(())
    }

    /// Key pairs, unlike the other kinds, come in one answer: DescribeKeyPairs does not page.
    async fn key_pairs(&mut self) -> Result<(), AwsError> {
        let pairs = self
            .client
            .describe_key_pairs()
            .filters(self.filter())
            .send()
            .await
            .map_err(AwsError::api("Error listing key pairs"))?;
        let found: Vec<Leftover> = pairs
            .key_pairs()
            .iter()
            .filter_map(|pair| self.select(ResourceKind::KeyPair, pair.key_name(), pair.tags()))
            .collect();
        let client = self.client;
        self.remove(found, async |name| {
            let answer = client.delete_key_pair().key_name(name).send().await;
            deleted(answer, "Error deleting key pair", &[])
        })
        .await;
        Ok(())
    }

    /// Volumes a build tagged that outlived their instance (`delete_on_termination: false`, or an
    /// instance killed mid-launch).
    async fn volumes(&mut self) -> Result<(), AwsError> {
        let volumes = list_all!(
            self.client.describe_volumes().filters(self.filter()),
            "Error listing volumes"
        )?;
        let mut found = Vec::new();
        for volume in &volumes {
            // Goes with its instance (in a dry run, the instance is still there).
            let goes_with_instance = !volume.attachments().is_empty()
                && volume.attachments().iter().all(|a| {
                    a.delete_on_termination() == Some(true)
                        && a.instance_id()
                            .is_some_and(|id| self.instances.contains(id))
                });
            if goes_with_instance {
                continue;
            }
            found.extend(self.select(ResourceKind::Volume, volume.volume_id(), volume.tags()));
        }
        let client = self.client;
        self.remove(found, async |id| {
            let answer = client.delete_volume().volume_id(id).send().await;
            deleted(answer, "Error deleting volume", &["InvalidVolume.NotFound"])
        })
        .await;
        Ok(())
    }

    /// Deregisters the selected runs' AMIs that are not `available`; returns the snapshots they
    /// used (those carry no imgs tags yet: a build tags snapshots only once the AMI is available).
    async fn unusable_images(&mut self) -> Result<BTreeMap<String, Leftover>, AwsError> {
        let images = list_all!(
            self.client
                .describe_images()
                .owners("self")
                .filters(self.filter()),
            "Error listing AMIs"
        )?;
        let mut snapshots = BTreeMap::new();
        let mut found = Vec::new();
        for image in &images {
            if image.state() == Some(&ImageState::Available) {
                continue;
            }
            let Some(leftover) = self.select(ResourceKind::Image, image.image_id(), image.tags())
            else {
                continue;
            };
            for snapshot in image_snapshots(image) {
                let of_image = Leftover {
                    resource: Resource {
                        kind: ResourceKind::Snapshot,
                        id: snapshot.clone(),
                        region: self.region.to_string(),
                    },
                    ..leftover.clone()
                };
                snapshots.insert(snapshot, of_image);
            }
            found.push(leftover);
        }
        let client = self.client;
        self.remove(found, async |id| {
            let answer = client.deregister_image().image_id(id).send().await;
            // A build's own clean-up may have deregistered it a moment ago (`Unavailable`).
            deleted(answer, "Error deregistering AMI", AMI_GONE)
        })
        .await;
        Ok(snapshots)
    }

    /// Tagged snapshots of the selected runs, and those of the AMIs just deregistered, unless a
    /// registered AMI still uses them.
    async fn snapshots(
        &mut self,
        mut candidates: BTreeMap<String, Leftover>,
    ) -> Result<(), AwsError> {
        let tagged = list_all!(
            self.client
                .describe_snapshots()
                .owner_ids("self")
                .filters(self.filter()),
            "Error listing snapshots"
        )?;
        for snapshot in &tagged {
            if let Some(leftover) = self.select(
                ResourceKind::Snapshot,
                snapshot.snapshot_id(),
                snapshot.tags(),
            ) {
                candidates.insert(leftover.resource.id.clone(), leftover);
            }
        }
        if candidates.is_empty() {
            return Ok(());
        }
        let in_use = self.snapshots_of_registered_images().await?;
        let found = candidates
            .into_values()
            .filter(|l| !in_use.contains(&l.resource.id));
        let client = self.client;
        self.remove(found, async |id| {
            let answer = client.delete_snapshot().snapshot_id(id).send().await;
            deleted(answer, "Error deleting snapshot", SNAPSHOT_GONE)
        })
        .await;
        Ok(())
    }

    /// Every snapshot our registered AMIs use (in a dry run, the AMIs it would deregister do not
    /// count as registered).
    async fn snapshots_of_registered_images(&self) -> Result<BTreeSet<String>, AwsError> {
        let images = list_all!(
            self.client.describe_images().owners("self"),
            "Error listing AMIs"
        )?;
        let would_go: BTreeSet<&str> = self
            .report
            .removed
            .iter()
            .filter(|l| l.resource.kind == ResourceKind::Image)
            .map(|l| l.resource.id.as_str())
            .collect();
        Ok(images
            .iter()
            .filter(|image| !image.image_id().is_some_and(|id| would_go.contains(id)))
            .flat_map(image_snapshots)
            .collect())
    }
}
