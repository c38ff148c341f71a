//! One amazon-ebs build, in Packer 1.6.6's order: check the AMI name, find the source AMI, make a
//! temporary key pair and security group unless given, launch and wait for the instance; after the
//! caller provisioned it, stop it, replace an AMI of the same name when forced, create the AMI, copy it
//! to more regions, grant launch permissions and tag snapshots. Clean-up is explicit, idempotent and
//! remembers every resource the build made, so whatever stopped the build, nothing is left behind.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, IamInstanceProfileSpecification, ImageState,
    Instance, InstanceNetworkInterfaceSpecification, InstanceStateName, IpPermission, IpRange,
    LaunchPermission, LaunchPermissionModifications, PermissionGroup, Placement, ResourceType,
    ShutdownBehavior, VolumeType,
};
use imgs_settings::Setting;
use imgs_ssh::SshConfig;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::config::{BlockDevice, Communicator, EbsConfig, SshInterface};
use crate::source::{self, SourceImage};
use crate::tags::{ec2_tags, imgs_ami_tags, imgs_tags, merged, render_map, snapshot_tag_set, spec};
use crate::wait::{self, IMAGE_TIMEOUT, INSTANCE_TIMEOUT, Poll};
use crate::{AwsError, ImgsTags, RegionAmi, RenderDeferred, Resource, ResourceKind};

pub use imgs_log::Log;

/// An AMI this build registered, and its snapshots once known.
#[derive(Clone, Debug)]
struct CreatedImage {
    region: String,
    ami_id: String,
    snapshots: Option<Vec<String>>,
}

pub struct EbsBuild {
    config: EbsConfig,
    imgs: ImgsTags,
    render: RenderDeferred,
    clients: BTreeMap<String, Client>,
    source: Option<SourceImage>,
    /// Holds the temporary private key; removed when the build is dropped.
    key_dir: Option<TempDir>,
    key_pair: Option<String>,
    security_group: Option<String>,
    instance: Option<String>,
    images: Vec<CreatedImage>,
    /// Set once every AMI is made, copied and tagged: from then on clean-up keeps them.
    completed: bool,
}

impl EbsBuild {
    pub fn new(config: EbsConfig, tags: ImgsTags, render: RenderDeferred) -> EbsBuild {
        EbsBuild {
            config,
            imgs: tags,
            render,
            clients: BTreeMap::new(),
            source: None,
            key_dir: None,
            key_pair: None,
            security_group: None,
            instance: None,
            images: Vec::new(),
            completed: false,
        }
    }

    pub fn config(&self) -> &EbsConfig {
        &self.config
    }

    fn region(&self) -> String {
        self.config.client.region.clone()
    }

    async fn client(&mut self, region: &str) -> Client {
        if let Some(client) = self.clients.get(region) {
            return client.clone();
        }
        let client = self.config.client.client(region).await;
        self.clients.insert(region.to_string(), client.clone());
        client
    }

    /// Checks the AMI name, finds the source AMI, creates a temporary key pair and security group
    /// unless given, launches the instance and waits until it runs. Returns the SSH settings to reach
    /// it (`ssh_host` from the instance unless the template set one), or `None` with
    /// `communicator: none`.
    pub async fn launch(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Option<SshConfig>, AwsError> {
        log.phase("launching instance");
        let region = self.region();
        let client = self.client(&region).await;

        if self.config.force_deregister {
            log.line("Force Deregister flag found, skipping prevalidating AMI Name");
        } else {
            log.line(&format!("Prevalidating AMI Name: {}", self.config.ami_name));
        }
        // Neither look depends on the other, so they share one round trip; their answers are
        // still read in Packer's order, a taken name first.
        let name_taken = async {
            if self.config.force_deregister {
                return Ok(None);
            }
            let named = images_named(&client, &self.config.ami_name).await?;
            Ok::<_, AwsError>(named.into_iter().next())
        };
        let (name_taken, source) =
            tokio::join!(name_taken, source::resolve(&client, &self.config.source));
        if let Some((ami_id, _)) = name_taken? {
            return Err(AwsError::AmiNameTaken {
                name: self.config.ami_name.clone(),
                ami_id,
            });
        }
        check_cancel(cancel)?;

        let source = source?;
        log.line(&format!("Found Image ID: {}", source.id));
        self.source = Some(source.clone());
        check_cancel(cancel)?;

        let key_file = self.key_pair(&client, log).await?;
        check_cancel(cancel)?;
        let group_ids = self.security_groups(&client, log).await?;
        check_cancel(cancel)?;

        let instance_id = self.run_instance(&client, &source, group_ids, log).await?;
        log.line(&format!(
            "Waiting for instance ({instance_id}) to become ready..."
        ));
        let instance = wait_instance(
            &client,
            &instance_id,
            InstanceStateName::Running,
            Some(cancel),
        )
        .await?;
        for (label, address) in [
            ("Public DNS", instance.public_dns_name()),
            ("Public IP", instance.public_ip_address()),
            ("Private IP", instance.private_ip_address()),
        ] {
            if let Some(address) = address.filter(|a| !a.is_empty()) {
                log.line(&format!("{label}: {address}"));
            }
        }

        if self.config.communicator == Communicator::None {
            return Ok(None);
        }
        let mut settings = self.config.ssh_settings.clone();
        let host_given = settings
            .object
            .get("ssh_host")
            .is_some_and(|h| !h.is_zero());
        if !host_given {
            let host = ssh_address(&instance, self.config.ssh_interface).ok_or_else(|| {
                AwsError::Malformed {
                    action: format!("DescribeInstances for {instance_id}"),
                    missing: "an address to connect to (set ssh_interface or ssh_host)".into(),
                }
            })?;
            settings.object.set("ssh_host", Setting::string(host));
        }
        if let Some(key_file) = key_file {
            settings.object.set(
                "ssh_private_key_file",
                Setting::string(key_file.display().to_string()),
            );
        }
        SshConfig::read(&settings).map(Some).map_err(AwsError::Ssh)
    }

    /// Creates the temporary key pair when the build has one, and returns the file its private key
    /// is in.
    async fn key_pair(
        &mut self,
        client: &Client,
        log: Log<'_>,
    ) -> Result<Option<PathBuf>, AwsError> {
        let Some(name) = self.config.temporary_key_pair_name.clone() else {
            if self
                .config
                .ssh_settings
                .object
                .get("ssh_private_key_file")
                .is_some()
            {
                log.line("Using existing SSH private key");
            }
            return Ok(None);
        };
        log.line(&format!("Creating temporary keypair: {name}"));
        let created = client
            .create_key_pair()
            .key_name(&name)
            .tag_specifications(spec(ResourceType::KeyPair, &imgs_tags(&self.imgs)))
            .send()
            .await
            .map_err(AwsError::api("Error creating temporary keypair"))?;
        self.key_pair = Some(name.clone());
        let material = created.key_material.ok_or_else(|| AwsError::Malformed {
            action: "CreateKeyPair".into(),
            missing: "the private key".into(),
        })?;
        let dir = tempfile::Builder::new()
            .prefix("imgs-ec2-key-")
            .tempdir()
            .map_err(|source| AwsError::Io {
                what: "cannot create a directory for the temporary key".into(),
                source,
            })?;
        let path = dir.path().join("id_rsa");
        write_private(&path, material.as_bytes()).map_err(|source| AwsError::Io {
            what: format!("cannot write the temporary key to {}", path.display()),
            source,
        })?;
        self.key_dir = Some(dir);
        Ok(Some(path))
    }

    /// The given security groups, or a temporary one opening the SSH port.
    async fn security_groups(
        &mut self,
        client: &Client,
        log: Log<'_>,
    ) -> Result<Vec<String>, AwsError> {
        if !self.config.security_group_ids.is_empty() {
            return Ok(self.config.security_group_ids.clone());
        }
        let name = format!("imgs_{}", uuid::Uuid::new_v4().simple());
        log.line(&format!(
            "Creating temporary security group for this instance: {name}"
        ));
        let created = client
            .create_security_group()
            .group_name(&name)
            .description(format!(
                "Temporary group for imgs image {}",
                self.imgs.image
            ))
            .set_vpc_id(self.config.vpc_id.clone())
            .tag_specifications(spec(ResourceType::SecurityGroup, &imgs_tags(&self.imgs)))
            .send()
            .await
            .map_err(AwsError::api("Error creating temporary security group"))?;
        let id = created.group_id.ok_or_else(|| AwsError::Malformed {
            action: "CreateSecurityGroup".into(),
            missing: "the group's ID".into(),
        })?;
        self.security_group = Some(id.clone());
        let port = i32::from(self.config.ssh_port);
        let ranges = self
            .config
            .temporary_sg_source_cidrs
            .iter()
            .map(|cidr| IpRange::builder().cidr_ip(cidr).build())
            .collect();
        log.line(&format!(
            "Authorizing access to port {port} from {:?} in the temporary security groups...",
            self.config.temporary_sg_source_cidrs
        ));
        client
            .authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(port)
                    .to_port(port)
                    .set_ip_ranges(Some(ranges))
                    .build(),
            )
            .send()
            .await
            .map_err(AwsError::api("Error authorizing temporary security group"))?;
        Ok(vec![id])
    }

    async fn run_instance(
        &mut self,
        client: &Client,
        source: &SourceImage,
        group_ids: Vec<String>,
        log: Log<'_>,
    ) -> Result<String, AwsError> {
        let region = self.region();
        let data = source.build_data(&region);
        let user_data = match (&self.config.user_data, &self.config.user_data_file) {
            (Some(text), _) => Some(text.clone().into_bytes()),
            (None, Some(path)) => Some(std::fs::read(path).map_err(|source| AwsError::Io {
                what: format!("Problem reading user data file {}", path.display()),
                source,
            })?),
            (None, None) => None,
        };
        let mut run_tags = render_map(&self.render, "run_tags", &self.config.run_tags, &data)?;
        run_tags
            .entry("Name".into())
            .or_insert_with(|| "Packer Builder".into());
        let run_tags = merged(run_tags, imgs_tags(&self.imgs));
        let volume_tags = merged(
            render_map(
                &self.render,
                "run_volume_tags",
                &self.config.run_volume_tags,
                &data,
            )?,
            imgs_tags(&self.imgs),
        );

        log.line("Launching a source AWS instance...");
        let key_name = self
            .key_pair
            .clone()
            .or_else(|| self.config.ssh_keypair_name.clone());
        let mut request = client
            .run_instances()
            .image_id(&source.id)
            .instance_type(self.config.instance_type.as_str().into())
            .min_count(1)
            .max_count(1)
            .set_key_name(key_name)
            .set_user_data(user_data.map(|bytes| aws_smithy_types::base64::encode(&bytes)))
            .set_block_device_mappings(Some(mappings(&self.config.launch_block_device_mappings)))
            .tag_specifications(spec(ResourceType::Instance, &run_tags))
            .tag_specifications(spec(ResourceType::Volume, &volume_tags));
        if self.config.ebs_optimized {
            request = request.ebs_optimized(true);
        }
        if let Some(profile) = &self.config.iam_instance_profile {
            request = request.iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(profile)
                    .build(),
            );
        }
        if let Some(behavior) = &self.config.shutdown_behavior {
            request = request
                .instance_initiated_shutdown_behavior(ShutdownBehavior::from(behavior.as_str()));
        }
        if let Some(zone) = &self.config.availability_zone {
            request = request.placement(Placement::builder().availability_zone(zone).build());
        }
        // As Packer: asking for a public address at all means describing the network interface, which
        // then carries the subnet and groups.
        if let Some(public) = self.config.associate_public_ip_address {
            request = request.network_interfaces(
                InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .associate_public_ip_address(public)
                    .set_subnet_id(self.config.subnet_id.clone())
                    .set_groups(Some(group_ids))
                    .delete_on_termination(true)
                    .build(),
            );
        } else {
            request = request
                .set_subnet_id(self.config.subnet_id.clone())
                .set_security_group_ids(Some(group_ids));
        }
        let reservation = request
            .send()
            .await
            .map_err(AwsError::api("Error launching source instance"))?;
        let id = reservation
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::Malformed {
                action: "RunInstances".into(),
                missing: "an instance ID".into(),
            })?;
        self.instance = Some(id.clone());
        log.line(&format!("Instance ID: {id}"));
        Ok(id)
    }

    /// Stops the instance, makes the AMI (replacing one of the same name when forced), copies it to
    /// `ami_regions`, grants launch permissions and tags everything. Returns every AMI, build region
    /// first.
    pub async fn create_image(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Vec<RegionAmi>, AwsError> {
        let region = self.region();
        let client = self.client(&region).await;
        let instance_id = self.instance.clone().ok_or_else(|| AwsError::Malformed {
            action: "create_image".into(),
            missing: "a launched instance (launch first)".into(),
        })?;
        let source = self.source.clone().ok_or_else(|| AwsError::Malformed {
            action: "create_image".into(),
            missing: "a source AMI (launch first)".into(),
        })?;

        log.phase("stopping instance");
        log.line("Stopping the source instance...");
        client
            .stop_instances()
            .instance_ids(&instance_id)
            .send()
            .await
            .map_err(AwsError::api("Error stopping instance"))?;
        log.line("Waiting for the instance to stop...");
        wait_instance(
            &client,
            &instance_id,
            InstanceStateName::Stopped,
            Some(cancel),
        )
        .await?;

        if self.config.force_deregister {
            self.deregister_same_name(log).await?;
        }
        check_cancel(cancel)?;

        let description = match &self.config.ami_description {
            Some(template) => Some(
                (self.render)(template, &source.build_data(&region)).map_err(|message| {
                    AwsError::Render {
                        key: "ami_description".into(),
                        message,
                    }
                })?,
            ),
            None => None,
        };
        log.phase("creating AMI");
        log.line(&format!(
            "Creating AMI {} from instance {instance_id}",
            self.config.ami_name
        ));
        let created = client
            .create_image()
            .instance_id(&instance_id)
            .name(&self.config.ami_name)
            .set_description(description.clone())
            .set_block_device_mappings(Some(mappings(&self.config.ami_block_device_mappings)))
            .send()
            .await
            .map_err(AwsError::api("Error creating AMI"))?;
        let ami_id = created.image_id.ok_or_else(|| AwsError::Malformed {
            action: "CreateImage".into(),
            missing: "an image ID".into(),
        })?;
        self.images.push(CreatedImage {
            region: region.clone(),
            ami_id: ami_id.clone(),
            snapshots: None,
        });
        log.line(&format!("AMI: {ami_id}"));
        // Tagged at once rather than at the end as Packer does, so an AMI left by an interrupted
        // build can still be found by its run.
        self.tag_image(&region, &ami_id, log).await?;
        log.line("Waiting for AMI to become ready...");
        let snapshots = wait_image(&client, &ami_id, Some(cancel)).await?;
        self.know_snapshots(&ami_id, snapshots);
        let ami_id = match self.config.encrypt_boot {
            Some(true) => {
                self.encrypted_copy(&region, &ami_id, description.clone(), log, cancel)
                    .await?
            }
            _ => ami_id,
        };

        if !self.config.ami_regions.is_empty() {
            log.phase("copying to regions");
            log.line(&format!(
                "Copying/Encrypting AMI ({ami_id}) to other regions..."
            ));
            for target in self.config.ami_regions.clone() {
                check_cancel(cancel)?;
                log.line(&format!("Copying to: {target}"));
                let target_client = self.client(&target).await;
                let copied = target_client
                    .copy_image()
                    .source_region(&region)
                    .source_image_id(&ami_id)
                    .name(&self.config.ami_name)
                    .set_description(description.clone())
                    .set_encrypted(self.config.encrypt_boot)
                    .send()
                    .await
                    .map_err(AwsError::api(format!(
                        "Error Copying AMI ({ami_id}) to region ({target})"
                    )))?;
                let copy_id = copied.image_id.ok_or_else(|| AwsError::Malformed {
                    action: "CopyImage".into(),
                    missing: "an image ID".into(),
                })?;
                self.images.push(CreatedImage {
                    region: target.clone(),
                    ami_id: copy_id.clone(),
                    snapshots: None,
                });
                self.tag_image(&target, &copy_id, log).await?;
            }
            log.line("Waiting for all copies to complete...");
            for image in self.images.clone().iter().skip(1) {
                let target_client = self.client(&image.region).await;
                let snapshots = wait_image(&target_client, &image.ami_id, Some(cancel)).await?;
                self.know_snapshots(&image.ami_id, snapshots);
            }
        }

        if !self.config.ami_users.is_empty() || !self.config.ami_groups.is_empty() {
            for image in self.images.clone() {
                log.line(&format!(
                    "Modifying attributes on AMI ({})...",
                    image.ami_id
                ));
                self.grant_launch(&image).await?;
            }
        }

        for index in 0..self.images.len() {
            let image = self.images[index].clone();
            let snapshots = self.tag_snapshots(&image, log).await?;
            self.images[index].snapshots = Some(snapshots);
        }
        self.completed = true;
        Ok(self
            .images
            .iter()
            .map(|i| RegionAmi {
                region: i.region.clone(),
                ami_id: i.ami_id.clone(),
            })
            .collect())
    }

    /// `encrypt_boot`, as Packer does it: the AMI just made is copied within its region with its
    /// volumes encrypted, and the unencrypted one (an intermediate) is removed with its snapshots.
    /// Returns the encrypted AMI, which takes the intermediate's place among the build's images.
    async fn encrypted_copy(
        &mut self,
        region: &str,
        ami_id: &str,
        description: Option<String>,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<String, AwsError> {
        let client = self.client(region).await;
        log.line(&format!(
            "Copying AMI ({ami_id}) to an encrypted AMI in {region}..."
        ));
        let copied = client
            .copy_image()
            .source_region(region)
            .source_image_id(ami_id)
            .name(&self.config.ami_name)
            .set_description(description)
            .encrypted(true)
            .set_kms_key_id(self.config.kms_key_id.clone())
            .send()
            .await
            .map_err(AwsError::api(format!("Error Copying AMI ({ami_id})")))?;
        let encrypted = copied.image_id.ok_or_else(|| AwsError::Malformed {
            action: "CopyImage".into(),
            missing: "an image ID".into(),
        })?;
        self.images.push(CreatedImage {
            region: region.to_string(),
            ami_id: encrypted.clone(),
            snapshots: None,
        });
        self.tag_image(region, &encrypted, log).await?;
        let snapshots = wait_image(&client, &encrypted, Some(cancel)).await?;
        self.know_snapshots(&encrypted, snapshots);
        log.line(&format!(
            "Deregistering the unencrypted intermediate AMI ({ami_id})..."
        ));
        let position = self
            .images
            .iter()
            .position(|i| i.ami_id == ami_id)
            .expect("the intermediate AMI was recorded when it was created");
        let intermediate = self.images.remove(position);
        if let Err((left, why)) = self.remove_image(&intermediate).await {
            // Still ours to clean up if the build fails later; otherwise it is reported.
            self.images.push(left);
            return Err(AwsError::Api {
                action: format!("Error removing the unencrypted AMI ({ami_id})"),
                code: None,
                detail: why,
            });
        }
        Ok(encrypted)
    }

    /// `force_deregister`: every AMI of ours named `ami_name`, in the build region and the copy
    /// regions, goes (with its snapshots under `force_delete_snapshot`).
    async fn deregister_same_name(&mut self, log: Log<'_>) -> Result<(), AwsError> {
        let regions: Vec<String> = std::iter::once(self.region())
            .chain(self.config.ami_regions.iter().cloned())
            .collect();
        for region in regions {
            let client = self.client(&region).await;
            for (ami_id, snapshots) in images_named(&client, &self.config.ami_name).await? {
                client
                    .deregister_image()
                    .image_id(&ami_id)
                    .send()
                    .await
                    .map_err(AwsError::api("Error deregistering existing AMI"))?;
                log.line(&format!(
                    "Deregistered AMI {}, id: {ami_id}",
                    self.config.ami_name
                ));
                if self.config.force_delete_snapshot {
                    for snapshot in snapshots {
                        client
                            .delete_snapshot()
                            .snapshot_id(&snapshot)
                            .send()
                            .await
                            .map_err(AwsError::api("Error deleting existing snapshot"))?;
                        log.line(&format!("Deleted snapshot: {snapshot}"));
                    }
                }
            }
        }
        Ok(())
    }

    async fn tag_image(
        &mut self,
        region: &str,
        ami_id: &str,
        log: Log<'_>,
    ) -> Result<(), AwsError> {
        let source = self.source.clone().unwrap_or_else(empty_source);
        let tags = merged(
            render_map(
                &self.render,
                "tags",
                &self.config.tags,
                &source.build_data(region),
            )?,
            imgs_ami_tags(&self.imgs),
        );
        log.line(&format!("Adding tags to AMI ({ami_id})..."));
        let client = self.client(region).await;
        client
            .create_tags()
            .resources(ami_id)
            .set_tags(Some(ec2_tags(&tags)))
            .send()
            .await
            .map_err(AwsError::api(format!(
                "Error adding tags to AMI ({ami_id})"
            )))?;
        Ok(())
    }

    /// Tags the AMI's snapshots after the fact: EC2 (and the test server, which does not implement
    /// snapshot TagSpecifications on CreateImage) gives their IDs only once the AMI is available.
    async fn tag_snapshots(
        &mut self,
        image: &CreatedImage,
        log: Log<'_>,
    ) -> Result<Vec<String>, AwsError> {
        let client = self.client(&image.region).await;
        let snapshots = match &image.snapshots {
            Some(known) => known.clone(),
            None => snapshots_of(&client, &image.ami_id).await?,
        };
        if snapshots.is_empty() {
            return Ok(snapshots);
        }
        let source = self.source.clone().unwrap_or_else(empty_source);
        let data = source.build_data(&image.region);
        let tags = snapshot_tag_set(
            render_map(&self.render, "tags", &self.config.tags, &data)?,
            render_map(
                &self.render,
                "snapshot_tags",
                &self.config.snapshot_tags,
                &data,
            )?,
            &self.imgs,
        );
        for snapshot in &snapshots {
            log.line(&format!("Tagging snapshot: {snapshot}"));
        }
        client
            .create_tags()
            .set_resources(Some(snapshots.clone()))
            .set_tags(Some(ec2_tags(&tags)))
            .send()
            .await
            .map_err(AwsError::api("Error adding tags to snapshots"))?;
        Ok(snapshots)
    }

    async fn grant_launch(&mut self, image: &CreatedImage) -> Result<(), AwsError> {
        let client = self.client(&image.region).await;
        let mut add: Vec<LaunchPermission> = self
            .config
            .ami_users
            .iter()
            .map(|user| LaunchPermission::builder().user_id(user).build())
            .collect();
        add.extend(self.config.ami_groups.iter().map(|group| {
            LaunchPermission::builder()
                .group(PermissionGroup::from(group.as_str()))
                .build()
        }));
        client
            .modify_image_attribute()
            .image_id(&image.ami_id)
            .launch_permission(
                LaunchPermissionModifications::builder()
                    .set_add(Some(add))
                    .build(),
            )
            .send()
            .await
            .map_err(AwsError::api("Error modify AMI attributes"))?;
        Ok(())
    }

    /// Terminates the instance and deletes the temporary security group and key pair; unless the
    /// build completed, also deregisters its AMIs in every region and deletes their snapshots. Safe to
    /// call again: what is gone is forgotten, what could not be removed is reported and kept for the
    /// next call.
    pub async fn cleanup(&mut self, log: Log<'_>) -> Result<(), AwsError> {
        let region = self.region();
        let client = self.client(&region).await;
        let mut failures: Vec<(Resource, String)> = Vec::new();

        if let Some(id) = self.instance.clone() {
            log.line("Terminating the source AWS instance...");
            let terminated = match client.terminate_instances().instance_ids(&id).send().await {
                Ok(_) => wait_instance(&client, &id, InstanceStateName::Terminated, None)
                    .await
                    .map(drop),
                Err(error) => {
                    let error = AwsError::api("Error terminating instance")(error);
                    gone_if(error, &["InvalidInstanceID.NotFound"])
                }
            };
            match terminated {
                Ok(()) => self.instance = None,
                Err(error) => failures.push((
                    self.resource(ResourceKind::Instance, &id),
                    error.to_string(),
                )),
            }
        }

        if let Some(id) = self.security_group.clone() {
            log.line("Deleting temporary security group...");
            match delete_security_group(&client, &id).await {
                Ok(()) => self.security_group = None,
                Err(error) => failures.push((
                    self.resource(ResourceKind::SecurityGroup, &id),
                    error.to_string(),
                )),
            }
        }

        if let Some(name) = self.key_pair.clone() {
            log.line("Deleting temporary keypair...");
            let answer = client.delete_key_pair().key_name(&name).send().await;
            match deleted(answer, "Error deleting temporary keypair", &[]) {
                Ok(()) => self.key_pair = None,
                Err(error) => failures.push((
                    self.resource(ResourceKind::KeyPair, &name),
                    error.to_string(),
                )),
            }
        }
        self.key_dir = None;

        if !self.completed {
            let mut kept = Vec::new();
            for image in std::mem::take(&mut self.images) {
                log.line(&format!(
                    "Deregistering the AMI {} ({}) because the build did not complete",
                    image.ami_id, image.region
                ));
                match self.remove_image(&image).await {
                    Ok(()) => {}
                    Err((left, why)) => {
                        failures.push((
                            Resource {
                                kind: ResourceKind::Image,
                                id: image.ami_id.clone(),
                                region: image.region.clone(),
                            },
                            why,
                        ));
                        kept.push(left);
                    }
                }
            }
            self.images = kept;
        }

        if failures.is_empty() {
            Ok(())
        } else {
            Err(AwsError::Leftovers(failures))
        }
    }

    /// Records the snapshots of an AMI this build made, as the answer that found it available listed
    /// them, so tagging and removing it need not ask again.
    fn know_snapshots(&mut self, ami_id: &str, snapshots: Vec<String>) {
        if let Some(image) = self.images.iter_mut().find(|i| i.ami_id == ami_id) {
            image.snapshots = Some(snapshots);
        }
    }

    /// Deregisters an AMI and deletes its snapshots; on failure returns what is left of it.
    async fn remove_image(&mut self, image: &CreatedImage) -> Result<(), (CreatedImage, String)> {
        let client = self.client(&image.region).await;
        let snapshots = match &image.snapshots {
            Some(known) => known.clone(),
            None => snapshots_of(&client, &image.ami_id)
                .await
                .map_err(|e| (image.clone(), e.to_string()))?,
        };
        let answer = client
            .deregister_image()
            .image_id(&image.ami_id)
            .send()
            .await;
        deleted(answer, "Error deregistering AMI", AMI_GONE)
            .map_err(|e| (image.clone(), e.to_string()))?;
        let mut left = Vec::new();
        let mut why = Vec::new();
        for snapshot in snapshots {
            let answer = client.delete_snapshot().snapshot_id(&snapshot).send().await;
            let action = format!("Error deleting snapshot {snapshot}");
            if let Err(error) = deleted(answer, action, SNAPSHOT_GONE) {
                why.push(error.to_string());
                left.push(snapshot);
            }
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err((
                CreatedImage {
                    snapshots: Some(left),
                    ..image.clone()
                },
                why.join("; "),
            ))
        }
    }

    fn resource(&self, kind: ResourceKind, id: &str) -> Resource {
        Resource {
            kind,
            id: id.to_string(),
            region: self.region(),
        }
    }

    /// Resources that exist right now because of this build: what `--on-error=abort` leaves behind.
    /// AMIs count only while the build has not completed (after that they are its result).
    pub fn leftovers(&self) -> Vec<Resource> {
        let mut out = Vec::new();
        if let Some(id) = &self.instance {
            out.push(self.resource(ResourceKind::Instance, id));
        }
        if let Some(id) = &self.security_group {
            out.push(self.resource(ResourceKind::SecurityGroup, id));
        }
        if let Some(name) = &self.key_pair {
            out.push(self.resource(ResourceKind::KeyPair, name));
        }
        if !self.completed {
            for image in &self.images {
                out.push(Resource {
                    kind: ResourceKind::Image,
                    id: image.ami_id.clone(),
                    region: image.region.clone(),
                });
                for snapshot in image.snapshots.iter().flatten() {
                    out.push(Resource {
                        kind: ResourceKind::Snapshot,
                        id: snapshot.clone(),
                        region: image.region.clone(),
                    });
                }
            }
        }
        out
    }
}

fn empty_source() -> SourceImage {
    SourceImage {
        id: String::new(),
        name: String::new(),
        owner_id: String::new(),
        owner_alias: String::new(),
        creation_date: String::new(),
    }
}

fn check_cancel(cancel: &CancellationToken) -> Result<(), AwsError> {
    if cancel.is_cancelled() {
        Err(AwsError::Cancelled)
    } else {
        Ok(())
    }
}

/// EC2's answers to deleting an AMI that is already deregistered.
pub(crate) const AMI_GONE: &[&str] = &["InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"];
/// EC2's answer to deleting a snapshot that is already deleted.
pub(crate) const SNAPSHOT_GONE: &[&str] = &["InvalidSnapshot.NotFound"];

/// Success when the error says the resource is already gone (another clean-up, or gc, got there
/// first).
fn gone_if(error: AwsError, codes: &[&str]) -> Result<(), AwsError> {
    match error.code() {
        Some(code) if codes.contains(&code) => Ok(()),
        _ => Err(error),
    }
}

/// A delete call's answer as an outcome; the `gone` error codes (EC2's for a resource that no longer
/// exists) count as removed too.
pub(crate) fn deleted<T, E, R>(
    answer: Result<T, SdkError<E, R>>,
    action: impl Into<String>,
    gone: &[&str],
) -> Result<(), AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    answer
        .map(drop)
        .map_err(AwsError::api(action))
        .or_else(|error| gone_if(error, gone))
}

/// A security group stays in use for a while after its instance terminated; EC2 says
/// DependencyViolation until it is free.
pub(crate) async fn delete_security_group(client: &Client, id: &str) -> Result<(), AwsError> {
    wait::until(
        &format!("security group {id} to be deletable"),
        wait::INSTANCE_TIMEOUT,
        None,
        || async {
            match client.delete_security_group().group_id(id).send().await {
                Ok(_) => Ok(Poll::Done(())),
                Err(error) => {
                    let error = AwsError::api("Error deleting security group")(error);
                    match error.code() {
                        Some("DependencyViolation") => Ok(Poll::NotYet),
                        _ => gone_if(error, &["InvalidGroup.NotFound"]).map(Poll::Done),
                    }
                }
            }
        },
    )
    .await
}

/// Our AMIs named `name`, with their snapshots.
async fn images_named(client: &Client, name: &str) -> Result<Vec<(String, Vec<String>)>, AwsError> {
    let images = client
        .describe_images()
        .owners("self")
        .filters(Filter::builder().name("name").values(name).build())
        .send()
        .await
        .map_err(AwsError::api("Error querying AMI"))?
        .images
        .unwrap_or_default();
    Ok(images
        .into_iter()
        .filter_map(|image| {
            let snapshots = image_snapshots(&image);
            Some((image.image_id?, snapshots))
        })
        .collect())
}

async fn snapshots_of(client: &Client, ami_id: &str) -> Result<Vec<String>, AwsError> {
    let images = client
        .describe_images()
        .image_ids(ami_id)
        .send()
        .await
        .map_err(AwsError::api(format!(
            "Error retrieving details for AMI ({ami_id})"
        )))?
        .images
        .unwrap_or_default();
    Ok(images.first().map(image_snapshots).unwrap_or_default())
}

/// The snapshots behind an AMI's block devices.
pub(crate) fn image_snapshots(image: &aws_sdk_ec2::types::Image) -> Vec<String> {
    image
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs()?.snapshot_id().map(str::to_string))
        .collect()
}

pub(crate) async fn wait_instance(
    client: &Client,
    id: &str,
    wanted: InstanceStateName,
    cancel: Option<&CancellationToken>,
) -> Result<Instance, AwsError> {
    wait::until(
        &format!("instance {id} to be {}", wanted.as_str()),
        INSTANCE_TIMEOUT,
        cancel,
        || async {
            let described = client.describe_instances().instance_ids(id).send().await;
            let reservations = match described {
                Ok(out) => out.reservations.unwrap_or_default(),
                Err(error) => {
                    let error = AwsError::api(format!("Error describing instance ({id})"))(error);
                    // A new instance may not be visible yet (EC2 is eventually consistent).
                    if error.code() == Some("InvalidInstanceID.NotFound")
                        && wanted != InstanceStateName::Terminated
                    {
                        return Ok(Poll::NotYet);
                    }
                    return gone_if(error, &["InvalidInstanceID.NotFound"])
                        .map(|()| Poll::Done(Instance::builder().build()));
                }
            };
            let Some(instance) = reservations
                .into_iter()
                .flat_map(|r| r.instances.unwrap_or_default())
                .next()
            else {
                // Not listed: not visible yet when it is new, long gone when it was terminated.
                return Ok(if wanted == InstanceStateName::Terminated {
                    Poll::Done(Instance::builder().build())
                } else {
                    Poll::NotYet
                });
            };
            let state = instance
                .state()
                .and_then(|s| s.name())
                .cloned()
                .unwrap_or(InstanceStateName::Pending);
            if state == wanted {
                return Ok(Poll::Done(instance));
            }
            let hopeless = match wanted {
                InstanceStateName::Running => !matches!(state, InstanceStateName::Pending),
                InstanceStateName::Stopped => matches!(
                    state,
                    InstanceStateName::Terminated | InstanceStateName::ShuttingDown
                ),
                _ => false,
            };
            if hopeless {
                return Err(AwsError::UnexpectedState {
                    what: format!("instance {id}"),
                    state: state.as_str().to_string(),
                    wanted: wanted.as_str().to_string(),
                    reason: instance
                        .state_reason()
                        .and_then(|r| r.message())
                        .map(str::to_string),
                });
            }
            Ok(Poll::NotYet)
        },
    )
    .await
}

/// Waits until the AMI is available, and returns its snapshots, which EC2 lists from then on.
async fn wait_image(
    client: &Client,
    ami_id: &str,
    cancel: Option<&CancellationToken>,
) -> Result<Vec<String>, AwsError> {
    wait::until(
        &format!("AMI {ami_id} to be available"),
        IMAGE_TIMEOUT,
        cancel,
        || async {
            let described = client.describe_images().image_ids(ami_id).send().await;
            let images = match described {
                Ok(out) => out.images.unwrap_or_default(),
                Err(error) => {
                    let error = AwsError::api(format!("Error waiting for AMI ({ami_id})"))(error);
                    if error.code() == Some("InvalidAMIID.NotFound") {
                        return Ok(Poll::NotYet);
                    }
                    return Err(error);
                }
            };
            let Some(image) = images.first() else {
                return Ok(Poll::NotYet);
            };
            match image.state() {
                Some(ImageState::Available) => Ok(Poll::Done(image_snapshots(image))),
                Some(ImageState::Pending) | None => Ok(Poll::NotYet),
                Some(other) => Err(AwsError::UnexpectedState {
                    what: format!("AMI {ami_id}"),
                    state: other.as_str().to_string(),
                    wanted: "available".into(),
                    reason: image
                        .state_reason()
                        .and_then(|r| r.message())
                        .map(str::to_string),
                }),
            }
        },
    )
    .await
}

/// The address SSH connects to, as `ssh_interface` picks it.
fn ssh_address(instance: &Instance, interface: SshInterface) -> Option<String> {
    let public_ip = instance.public_ip_address();
    let private_ip = instance.private_ip_address();
    let public_dns = instance.public_dns_name();
    let private_dns = instance.private_dns_name();
    let candidates: Vec<Option<&str>> = match interface {
        SshInterface::Default => vec![public_ip, private_ip, public_dns, private_dns],
        SshInterface::PublicIp => vec![public_ip],
        SshInterface::PrivateIp => vec![private_ip],
        SshInterface::PublicDns => vec![public_dns],
        SshInterface::PrivateDns => vec![private_dns],
    };
    candidates
        .into_iter()
        .flatten()
        .find(|a| !a.is_empty())
        .map(str::to_string)
}

/// Packer's block device mapping: no device, an instance store, or an EBS volume.
fn mappings(devices: &[BlockDevice]) -> Vec<BlockDeviceMapping> {
    devices
        .iter()
        .map(|d| {
            let mapping = BlockDeviceMapping::builder().device_name(&d.device_name);
            if d.no_device {
                return mapping.no_device("").build();
            }
            // Packer treats any virtual_name as an instance-store device: only `ephemeral*` names are
            // passed on, and never with an EBS volume.
            if let Some(virtual_name) = d.virtual_name.as_deref().filter(|v| !v.is_empty()) {
                if virtual_name.starts_with("ephemeral") {
                    return mapping.virtual_name(virtual_name).build();
                }
                return mapping.build();
            }
            // Packer sends iops only for the volume types that take it; EC2 refuses it on the others.
            let takes_iops = matches!(d.volume_type.as_deref(), Some("io1" | "io2" | "gp3"));
            let ebs = EbsBlockDevice::builder()
                .delete_on_termination(d.delete_on_termination)
                .set_encrypted(d.encrypted)
                .set_iops(d.iops.filter(|_| takes_iops))
                .set_throughput(d.throughput)
                .set_snapshot_id(d.snapshot_id.clone())
                .set_kms_key_id(d.kms_key_id.clone())
                .set_volume_size(d.volume_size)
                .set_volume_type(d.volume_type.as_deref().map(VolumeType::from))
                .build();
            mapping.ebs(ebs).build()
        })
        .collect()
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_interface_prefers_the_public_ip() {
        let instance = Instance::builder()
            .private_ip_address("10.0.0.5")
            .public_ip_address("54.1.2.3")
            .build();
        assert_eq!(
            ssh_address(&instance, SshInterface::Default).as_deref(),
            Some("54.1.2.3")
        );
        assert_eq!(
            ssh_address(&instance, SshInterface::PrivateIp).as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(ssh_address(&instance, SshInterface::PublicDns), None);
        let private_only = Instance::builder().private_ip_address("10.0.0.5").build();
        assert_eq!(
            ssh_address(&private_only, SshInterface::Default).as_deref(),
            Some("10.0.0.5")
        );
    }

    #[test]
    fn mappings_follow_packer() {
        let devices = [
            BlockDevice {
                device_name: "/dev/xvda".into(),
                volume_size: Some(20),
                volume_type: Some("gp3".into()),
                delete_on_termination: true,
                ..BlockDevice::default()
            },
            BlockDevice {
                device_name: "/dev/xvdb".into(),
                virtual_name: Some("ephemeral0".into()),
                ..BlockDevice::default()
            },
            BlockDevice {
                device_name: "/dev/xvdc".into(),
                no_device: true,
                ..BlockDevice::default()
            },
        ];
        let out = mappings(&devices);
        let ebs = out[0].ebs().unwrap();
        assert_eq!(ebs.volume_size(), Some(20));
        assert_eq!(ebs.volume_type(), Some(&VolumeType::Gp3));
        assert_eq!(out[1].virtual_name(), Some("ephemeral0"));
        assert_eq!(out[2].no_device(), Some(""));
    }

    #[test]
    fn mappings_drop_what_packer_drops() {
        let devices = [
            BlockDevice {
                device_name: "/dev/xvdf".into(),
                volume_type: Some("gp2".into()),
                iops: Some(300),
                ..BlockDevice::default()
            },
            BlockDevice {
                device_name: "/dev/xvdg".into(),
                volume_type: Some("io1".into()),
                iops: Some(300),
                ..BlockDevice::default()
            },
            BlockDevice {
                device_name: "/dev/xvdh".into(),
                virtual_name: Some("swap".into()),
                volume_size: Some(8),
                ..BlockDevice::default()
            },
        ];
        let out = mappings(&devices);
        assert_eq!(out[0].ebs().unwrap().iops(), None, "no iops on gp2");
        assert_eq!(out[1].ebs().unwrap().iops(), Some(300));
        assert_eq!(out[2].device_name(), Some("/dev/xvdh"));
        assert!(out[2].ebs().is_none() && out[2].virtual_name().is_none());
    }
}
