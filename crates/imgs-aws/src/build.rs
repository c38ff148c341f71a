//! One amazon-ebs build, in Packer 1.6.6's order: check the AMI name, find the source AMI, make a
//! temporary key pair and security group unless given, launch and wait for the instance; after the
//! caller provisioned it, stop it, replace an AMI of the same name when forced, create the AMI, copy it
//! to more regions, grant launch permissions and tag snapshots. Clean-up is explicit, idempotent and
//! remembers every resource the build made, so whatever stopped the build, nothing is left behind.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, BlockDeviceMapping, CreateVolumePermission,
    CreateVolumePermissionModifications, CreditSpecificationRequest, EbsBlockDevice, Filter,
    IamInstanceProfileSpecification, ImageState, Instance, InstanceNetworkInterfaceSpecification,
    InstanceStateName, IpPermission, IpRange, LaunchPermission, LaunchPermissionModifications,
    OperationType, PermissionGroup, Placement, ResourceType, ShutdownBehavior,
    SnapshotAttributeName, Tenancy, VolumeType,
};
use imgs_settings::Setting;
use imgs_ssh::SshConfig;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::config::{BlockDevice, Communicator, EbsConfig, SshInterface};
use crate::network::{self, Network};
use crate::source::{self, SourceImage};
use crate::spot::{self, SpotRequest};
use crate::tags::{
    ec2_tags, imgs_ami_tags, imgs_tags, lineage_tags, merged, render_map, snapshot_tag_set, spec,
};
use crate::wait::{self, IMAGE_TIMEOUT, INSTANCE_TIMEOUT, Poll, Polling};
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
    /// The launch template a spot instance was launched from.
    launch_template: Option<String>,
    /// The role and instance profile made for `temporary_iam_instance_profile_policy_document`.
    temporary_profile: Option<crate::iam::TemporaryProfile>,
    /// The instance profile the instance is launched with (given, or the temporary one).
    instance_profile: Option<String>,
    instance: Option<String>,
    images: Vec<CreatedImage>,
    /// Set once every AMI is made, copied and tagged: from then on clean-up keeps them.
    completed: bool,
    /// Where the instance runs, once found.
    network: Network,
    /// `aws_polling` with Packer's environment variables.
    polling: Polling,
}

impl EbsBuild {
    pub fn new(config: EbsConfig, tags: ImgsTags, render: RenderDeferred) -> EbsBuild {
        let polling = config
            .polling
            .with_environment(|key| std::env::var(key).ok());
        EbsBuild {
            config,
            imgs: tags,
            render,
            clients: BTreeMap::new(),
            source: None,
            key_dir: None,
            key_pair: None,
            security_group: None,
            launch_template: None,
            temporary_profile: None,
            instance_profile: None,
            instance: None,
            images: Vec::new(),
            completed: false,
            network: Network::default(),
            polling,
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

    /// Checks the AMI name, finds the source AMI, the VPC and subnet, creates a temporary key pair
    /// and security group unless given, launches the instance (a spot instance with `spot_price`)
    /// and waits until it runs. Returns the SSH settings to reach it (`ssh_host` from the instance
    /// unless the template set one), or `None` with `communicator: none`.
    pub async fn launch(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Option<SshConfig>, AwsError> {
        match self.launch_steps(log, cancel).await {
            Ok(ssh) => Ok(ssh),
            Err(error) => Err(self.explained(error).await),
        }
    }

    /// The error as the person running the build reads it: with `decode_authorization_messages`,
    /// an authorization failure decoded by STS; a call EC2 kept throttling or failing says how
    /// often it was tried.
    async fn explained(&self, error: AwsError) -> AwsError {
        crate::credentials::decode_authorization(&self.config.client, error)
            .await
            .counted(self.config.client.max_attempts())
    }

    /// A clean-up failure's reason, saying how often its call was tried.
    fn told(&self, error: AwsError) -> String {
        error.counted(self.config.client.max_attempts()).to_string()
    }

    async fn launch_steps(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Option<SshConfig>, AwsError> {
        log.phase("launching instance");
        let region = self.region();
        let client = self.client(&region).await;
        if self.config.skip_save_build_region && self.config.ami_regions.is_empty() {
            return Err(AwsError::Mismatch {
                message: "skip_save_build_region is set and ami_regions names no other region, \
                          so the build would keep no AMI"
                    .into(),
                hint: "add the regions to copy the AMI to in ami_regions, or remove \
                       skip_save_build_region"
                    .into(),
            });
        }

        let check_name = if self.config.force_deregister {
            log.line("Force Deregister flag found, skipping prevalidating AMI Name");
            false
        } else if self.config.skip_save_build_region {
            log.line("skip_build_region was set; not prevalidating AMI name");
            false
        } else {
            network::check_vpc(&client, &self.config).await?;
            log.line(&format!("Prevalidating AMI Name: {}", self.config.ami_name));
            true
        };
        // Neither look depends on the other, so they share one round trip; their answers are
        // still read in Packer's order, a taken name first.
        let name_taken = async {
            if !check_name {
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
        self.check_enhanced_networking(&source)?;
        self.source = Some(source.clone());
        check_cancel(cancel)?;

        self.network = network::resolve(&client, &self.config, log).await?;
        check_cancel(cancel)?;
        let key_file = self.key_pair(&client, log).await?;
        check_cancel(cancel)?;
        let group_ids = self.security_groups(&client, log).await?;
        check_cancel(cancel)?;
        self.instance_profile(log).await?;
        check_cancel(cancel)?;

        let instance_id = match self.config.spot.is_some() {
            true => {
                self.run_spot_instance(&client, &source, group_ids, log)
                    .await?
            }
            false => self.run_instance(&client, &source, group_ids, log).await?,
        };
        log.line(&format!(
            "Waiting for instance ({instance_id}) to become ready..."
        ));
        let instance = wait_instance(
            &client,
            &instance_id,
            InstanceStateName::Running,
            &self.polling,
            Some(cancel),
        )
        .await?;
        if self.config.spot.is_some() {
            self.tag_spot_instance(&client, &instance, log).await?;
        }
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

    /// The instance profile: a given one (checked to exist unless `skip_profile_validation`), or a
    /// role and profile made for this build from `temporary_iam_instance_profile_policy_document`.
    async fn instance_profile(&mut self, log: Log<'_>) -> Result<(), AwsError> {
        let region = self.region();
        if let Some(name) = self.config.iam_instance_profile.clone() {
            if !self.config.skip_profile_validation {
                let iam = self.config.client.iam(&region).await;
                crate::iam::check_profile(&iam, &name).await?;
            }
            self.instance_profile = Some(name);
            return Ok(());
        }
        let Some(policy) = self.config.temporary_iam_policy.clone() else {
            return Ok(());
        };
        let iam = self.config.client.iam(&region).await;
        let made = self.temporary_profile.insert(crate::iam::TemporaryProfile {
            name: format!("imgs-{}", uuid::Uuid::new_v4().simple()),
            ..Default::default()
        });
        let name = made.name.clone();
        crate::iam::create(&iam, &policy, &imgs_tags(&self.imgs), made, log).await?;
        self.instance_profile = Some(name);
        Ok(())
    }

    /// Packer's check before `ena_support: true` or `sriov_support`: the AMI will be HVM.
    fn check_enhanced_networking(&self, source: &SourceImage) -> Result<(), AwsError> {
        if self.config.ena_support != Some(true) && !self.config.sriov_support {
            return Ok(());
        }
        let hint = "enhanced networking (ena_support, sriov_support) needs an HVM AMI".to_string();
        match self.config.ami_virtualization_type.as_deref() {
            Some("hvm") => Ok(()),
            Some(other) => Err(AwsError::Mismatch {
                message: format!(
                    "Cannot enable enhanced networking, AMIVirtType '{other}' is not HVM"
                ),
                hint,
            }),
            None if source.virtualization_type != "hvm" => Err(AwsError::Mismatch {
                message: format!(
                    "Cannot enable enhanced networking, source AMI '{}' is not HVM",
                    source.id
                ),
                hint,
            }),
            None => Ok(()),
        }
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

    /// The given security groups (once EC2 says they exist), the ones `security_group_filter`
    /// finds, or a temporary one opening the SSH port.
    async fn security_groups(
        &mut self,
        client: &Client,
        log: Log<'_>,
    ) -> Result<Vec<String>, AwsError> {
        if !self.config.security_group_ids.is_empty() {
            network::check_groups(client, &self.config.security_group_ids).await?;
            return Ok(self.config.security_group_ids.clone());
        }
        if !self.config.security_group_filter.is_empty() {
            return network::groups_by_filter(
                client,
                &self.config.security_group_filter,
                self.network.vpc_id.as_deref(),
                log,
            )
            .await;
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
            .set_vpc_id(self.network.vpc_id.clone())
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

    /// What both kinds of launch give EC2: the user data (base64), the instance's and its volumes'
    /// tags (rendered, with imgs's), and the block device mappings (with `no_ephemeral`'s).
    fn launch_inputs(&self, source: &SourceImage) -> Result<LaunchInputs, AwsError> {
        let data = source.build_data(&self.region());
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
        let template_volume_tags = render_map(
            &self.render,
            "run_volume_tags",
            &self.config.run_volume_tags,
            &data,
        )?;
        let volume_tags = merged(template_volume_tags.clone(), imgs_tags(&self.imgs));
        let mut mappings = mappings(&self.config.launch_block_device_mappings);
        if self.config.no_ephemeral {
            // As Packer: every xvdc? device name mapped to nothing, so no instance store is attached.
            mappings.extend(('a'..='z').map(|letter| {
                BlockDeviceMapping::builder()
                    .device_name(format!("xvdc{letter}"))
                    .no_device("")
                    .build()
            }));
        }
        Ok(LaunchInputs {
            user_data: user_data.map(|bytes| user_data_base64(&bytes)),
            run_tags,
            volume_tags,
            template_volume_tags,
            mappings,
        })
    }

    fn key_name(&self) -> Option<String> {
        self.key_pair
            .clone()
            .or_else(|| self.config.ssh_keypair_name.clone())
    }

    async fn run_instance(
        &mut self,
        client: &Client,
        source: &SourceImage,
        group_ids: Vec<String>,
        log: Log<'_>,
    ) -> Result<String, AwsError> {
        let inputs = self.launch_inputs(source)?;
        log.line("Launching a source AWS instance...");
        let mut request = client
            .run_instances()
            .image_id(&source.id)
            .instance_type(self.config.instance_type.as_str().into())
            .min_count(1)
            .max_count(1)
            .set_key_name(self.key_name())
            .set_user_data(inputs.user_data)
            .set_block_device_mappings(Some(inputs.mappings))
            .tag_specifications(spec(ResourceType::Instance, &inputs.run_tags))
            .tag_specifications(spec(ResourceType::Volume, &inputs.volume_tags));
        if self.config.ebs_optimized {
            request = request.ebs_optimized(true);
        }
        if self.config.enable_t2_unlimited {
            request = request.credit_specification(
                CreditSpecificationRequest::builder()
                    .cpu_credits("unlimited")
                    .build(),
            );
        }
        if let Some(profile) = &self.instance_profile {
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
        if self.network.availability_zone.is_some() || self.config.tenancy.is_some() {
            request = request.placement(
                Placement::builder()
                    .set_availability_zone(self.network.availability_zone.clone())
                    .set_tenancy(self.config.tenancy.as_deref().map(Tenancy::from))
                    .build(),
            );
        }
        // As Packer: asking for a public address at all means describing the network interface, which
        // then carries the subnet and groups.
        if let Some(public) = self.config.associate_public_ip_address {
            request = request.network_interfaces(
                InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .associate_public_ip_address(public)
                    .set_subnet_id(self.network.subnet_id.clone())
                    .set_groups(Some(group_ids))
                    .delete_on_termination(true)
                    .build(),
            );
        } else {
            request = request
                .set_subnet_id(self.network.subnet_id.clone())
                .set_security_group_ids(Some(group_ids));
        }
        // A new instance profile takes a while to be usable by EC2; Packer retries as long.
        let mut tries = 0;
        let reservation = loop {
            match request.clone().send().await {
                Ok(reservation) => break reservation,
                Err(error) => {
                    let error = AwsError::api("Error launching source instance")(error);
                    let profile_not_yet = error.code() == Some("InvalidParameterValue")
                        && error.to_string().contains("iamInstanceProfile");
                    tries += 1;
                    if !profile_not_yet || tries >= PROFILE_TRIES {
                        return Err(error);
                    }
                    tokio::time::sleep(profile_retry_delay(tries)).await;
                }
            }
        };
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

    /// `spot_price`: a launch template for the spot market and an instant fleet of one from it.
    async fn run_spot_instance(
        &mut self,
        client: &Client,
        source: &SourceImage,
        group_ids: Vec<String>,
        log: Log<'_>,
    ) -> Result<String, AwsError> {
        log.line("Launching a spot AWS instance...");
        let inputs = self.launch_inputs(source)?;
        let data = source.build_data(&self.region());
        let spot_tags = render_map(&self.render, "spot_tags", &self.config.spot_tags, &data)?;
        let spot = self.config.spot.clone().expect("called for spot builds");
        let name = format!(
            "imgs-fleet-launch-template-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..7]
        );
        let template_tags = imgs_tags(&self.imgs);
        let request = SpotRequest {
            config: &self.config,
            spot: &spot,
            source_ami: &source.id,
            instance_profile: self.instance_profile.clone(),
            network: &self.network,
            group_ids,
            key_name: self.key_name(),
            user_data: inputs.user_data.clone(),
            mappings: inputs.mappings.clone(),
            run_tags: &inputs.run_tags,
            volume_tags: &inputs.volume_tags,
            spot_tags: &spot_tags,
            template_tags: &template_tags,
        };
        spot::create_template(client, &name, &request, log).await?;
        self.launch_template = Some(name.clone());
        let id = spot::run_fleet(client, &name, &self.config).await?;
        self.instance = Some(id.clone());
        log.line(&format!("Instance ID: {id}"));
        Ok(id)
    }

    /// After a spot launch, as Packer: the spot request gets `spot_tags`, the instance its run tags
    /// and its volumes the run volume tags (the launch template gave them imgs's already).
    async fn tag_spot_instance(
        &mut self,
        client: &Client,
        instance: &Instance,
        log: Log<'_>,
    ) -> Result<(), AwsError> {
        let source = self.source.clone().unwrap_or_else(empty_source);
        let inputs = self.launch_inputs(&source)?;
        let data = source.build_data(&self.region());
        let spot_tags = render_map(&self.render, "spot_tags", &self.config.spot_tags, &data)?;
        let instance_id = instance.instance_id().unwrap_or_default();
        spot::tag_request(
            client,
            instance_id,
            instance.spot_instance_request_id().map(str::to_string),
            &spot_tags,
            log,
        )
        .await?;
        client
            .create_tags()
            .resources(instance_id)
            .set_tags(Some(ec2_tags(&inputs.run_tags)))
            .send()
            .await
            .map_err(AwsError::api("Error tagging source instance"))?;
        let volumes: Vec<String> = instance
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs()?.volume_id().map(str::to_string))
            .collect();
        if !volumes.is_empty() && !inputs.template_volume_tags.is_empty() {
            log.line("Adding tags to source EBS Volumes");
            client
                .create_tags()
                .set_resources(Some(volumes))
                .set_tags(Some(ec2_tags(&inputs.volume_tags)))
                .send()
                .await
                .map_err(AwsError::api(format!(
                    "Error tagging source EBS Volumes on {instance_id}"
                )))?;
        }
        Ok(())
    }

    /// Stops the instance, sets its enhanced networking, makes the AMI (replacing one of the same
    /// name when forced), copies it to `ami_regions` (and, for `encrypt_boot` or
    /// `skip_save_build_region`, makes the build region's AMI a copy too, then removes the
    /// original), sets launch and snapshot permissions and product codes, and tags everything.
    /// Returns every AMI, build region first.
    pub async fn create_image(
        &mut self,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Vec<RegionAmi>, AwsError> {
        match self.create_image_steps(log, cancel).await {
            Ok(amis) => Ok(amis),
            Err(error) => Err(self.explained(error).await),
        }
    }

    async fn create_image_steps(
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

        self.stop_instance(&client, &instance_id, log, cancel)
            .await?;
        self.modify_instance(&client, &instance_id, log).await?;

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
        // As Packer: the AMI made from the instance is only an intermediate when the build region
        // keeps an encrypted copy instead, or keeps nothing; it then has a name of its own.
        let intermediate =
            self.config.encrypt_boot == Some(true) || self.config.skip_save_build_region;
        let name = if intermediate {
            uuid::Uuid::new_v4().simple().to_string()[..7].to_string()
        } else {
            self.config.ami_name.clone()
        };
        log.phase("creating AMI");
        log.line(&format!("Creating AMI {name} from instance {instance_id}"));
        let created = client
            .create_image()
            .instance_id(&instance_id)
            .name(&name)
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
        let snapshots = wait_image(&client, &ami_id, &self.polling, Some(cancel)).await?;
        self.know_snapshots(&ami_id, snapshots);

        let mut targets: Vec<String> = Vec::new();
        if intermediate && !self.config.skip_save_build_region {
            targets.push(region.clone());
        }
        targets.extend(self.config.ami_regions.iter().cloned());
        if !targets.is_empty() {
            log.phase("copying to regions");
            log.line(&format!(
                "Copying/Encrypting AMI ({ami_id}) to other regions..."
            ));
            let mut copies = Vec::new();
            for target in targets {
                check_cancel(cancel)?;
                log.line(&format!("Copying to: {target}"));
                let copy_id = self
                    .copy_image(&ami_id, &target, description.clone())
                    .await?;
                self.images.push(CreatedImage {
                    region: target.clone(),
                    ami_id: copy_id.clone(),
                    snapshots: None,
                });
                self.tag_image(&target, &copy_id, log).await?;
                copies.push((target, copy_id));
            }
            log.line("Waiting for all copies to complete...");
            for (target, copy_id) in copies {
                let target_client = self.client(&target).await;
                let snapshots =
                    wait_image(&target_client, &copy_id, &self.polling, Some(cancel)).await?;
                self.know_snapshots(&copy_id, snapshots);
            }
        }
        if intermediate {
            log.line(&format!(
                "Deregistering the intermediate AMI ({ami_id}) and deleting its snapshots..."
            ));
            let position = self
                .images
                .iter()
                .position(|i| i.ami_id == ami_id)
                .expect("the intermediate AMI was recorded when it was created");
            let first = self.images.remove(position);
            if let Err((left, why)) = self.remove_image(&first).await {
                // Still ours to clean up if the build fails later; otherwise it is reported.
                self.images.push(left);
                return Err(AwsError::Api {
                    action: format!("Error removing the intermediate AMI ({ami_id})"),
                    code: None,
                    detail: why,
                    retried: None,
                });
            }
        }

        self.modify_attributes(log).await?;
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

    /// Stops the instance and waits until it is stopped; with `disable_stop_instance` only waits
    /// (a provisioner stops it). A spot instance is made into an AMI as it runs, as in Packer.
    async fn stop_instance(
        &mut self,
        client: &Client,
        instance_id: &str,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<(), AwsError> {
        if self.config.spot.is_some() {
            return Ok(());
        }
        log.phase("stopping instance");
        if self.config.disable_stop_instance {
            log.line("Automatic instance stop disabled. Please stop instance manually.");
        } else {
            log.line("Stopping the source instance...");
            client
                .stop_instances()
                .instance_ids(instance_id)
                .send()
                .await
                .map_err(AwsError::api("Error stopping instance"))?;
        }
        log.line("Waiting for the instance to stop...");
        wait_instance(
            client,
            instance_id,
            InstanceStateName::Stopped,
            &self.polling,
            Some(cancel),
        )
        .await?;
        Ok(())
    }

    /// `sriov_support` and `ena_support`, set on the stopped instance so the AMI carries them.
    async fn modify_instance(
        &mut self,
        client: &Client,
        instance_id: &str,
        log: Log<'_>,
    ) -> Result<(), AwsError> {
        if self.config.sriov_support {
            log.line("Enabling Enhanced Networking (SR-IOV)...");
            client
                .modify_instance_attribute()
                .instance_id(instance_id)
                .sriov_net_support(AttributeValue::builder().value("simple").build())
                .send()
                .await
                .map_err(AwsError::api(format!(
                    "Error enabling Enhanced Networking (SR-IOV) on {instance_id}"
                )))?;
        }
        if let Some(enable) = self.config.ena_support {
            let (say, doing) = if enable {
                ("Enabling", "enabling")
            } else {
                ("Disabling", "disabling")
            };
            log.line(&format!("{say} Enhanced Networking (ENA)..."));
            client
                .modify_instance_attribute()
                .instance_id(instance_id)
                .ena_support(AttributeBooleanValue::builder().value(enable).build())
                .send()
                .await
                .map_err(AwsError::api(format!(
                    "Error {doing} Enhanced Networking (ENA) on {instance_id}"
                )))?;
        }
        Ok(())
    }

    /// Copies the AMI `ami_id` of the build region to `target` as `ami_name`, encrypted with the
    /// target's key under `encrypt_boot` (`kms_key_id` for the build region unless
    /// `region_kms_key_ids` names one, `region_kms_key_ids` for the others, else the account's
    /// default key).
    async fn copy_image(
        &mut self,
        ami_id: &str,
        target: &str,
        description: Option<String>,
    ) -> Result<String, AwsError> {
        let region = self.region();
        let key = match self.config.encrypt_boot {
            Some(true) => {
                let regional = self
                    .config
                    .region_kms_key_ids
                    .get(target)
                    .filter(|k| !k.is_empty())
                    .cloned();
                if target == region {
                    regional.or_else(|| self.config.kms_key_id.clone())
                } else {
                    regional
                }
            }
            _ => None,
        };
        let target_client = self.client(target).await;
        let copied = target_client
            .copy_image()
            .source_region(&region)
            .source_image_id(ami_id)
            .name(&self.config.ami_name)
            .set_description(description)
            .set_encrypted(self.config.encrypt_boot)
            .set_kms_key_id(key)
            .send()
            .await
            .map_err(AwsError::api(format!(
                "Error Copying AMI ({ami_id}) to region ({target})"
            )))?;
        copied.image_id.ok_or_else(|| AwsError::Malformed {
            action: "CopyImage".into(),
            missing: "an image ID".into(),
        })
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
        // Packer renders every region's tags with the build region as `BuildRegion`.
        let source = self.source.clone().unwrap_or_else(empty_source);
        let tags = merged(
            render_map(
                &self.render,
                "tags",
                &self.config.tags,
                &source.build_data(&self.region()),
            )?,
            merged(imgs_ami_tags(&self.imgs), lineage_tags(&source.id)),
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
        let data = source.build_data(&self.region());
        let tags = merged(
            snapshot_tag_set(
                render_map(&self.render, "tags", &self.config.tags, &data)?,
                render_map(
                    &self.render,
                    "snapshot_tags",
                    &self.config.snapshot_tags,
                    &data,
                )?,
                &self.imgs,
            ),
            lineage_tags(&source.id),
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

    /// `ami_users`, `ami_groups` and `ami_product_codes` on every AMI, `snapshot_users` and
    /// `snapshot_groups` on every snapshot of them: one call for each, as Packer makes them.
    async fn modify_attributes(&mut self, log: Log<'_>) -> Result<(), AwsError> {
        let config = self.config.clone();
        let nothing = config.ami_users.is_empty()
            && config.ami_groups.is_empty()
            && config.ami_product_codes.is_empty()
            && config.snapshot_users.is_empty()
            && config.snapshot_groups.is_empty();
        if nothing {
            return Ok(());
        }
        for image in self.images.clone() {
            let client = self.client(&image.region).await;
            log.line(&format!(
                "Modifying attributes on AMI ({})...",
                image.ami_id
            ));
            let launch = |permissions: Vec<LaunchPermission>| {
                client
                    .modify_image_attribute()
                    .image_id(&image.ami_id)
                    .launch_permission(
                        LaunchPermissionModifications::builder()
                            .set_add(Some(permissions))
                            .build(),
                    )
            };
            if !config.ami_groups.is_empty() {
                log.line("Modifying: groups");
                let groups = config
                    .ami_groups
                    .iter()
                    .map(|g| {
                        LaunchPermission::builder()
                            .group(PermissionGroup::from(g.as_str()))
                            .build()
                    })
                    .collect();
                launch(groups)
                    .set_user_groups(Some(config.ami_groups.clone()))
                    .send()
                    .await
                    .map_err(AwsError::api("Error modify AMI attributes"))?;
            }
            if !config.ami_users.is_empty() {
                log.line("Modifying: users");
                let users = config
                    .ami_users
                    .iter()
                    .map(|u| LaunchPermission::builder().user_id(u).build())
                    .collect();
                launch(users)
                    .set_user_ids(Some(config.ami_users.clone()))
                    .send()
                    .await
                    .map_err(AwsError::api("Error modify AMI attributes"))?;
            }
            if !config.ami_product_codes.is_empty() {
                log.line("Modifying: product codes");
                client
                    .modify_image_attribute()
                    .image_id(&image.ami_id)
                    .set_product_codes(Some(config.ami_product_codes.clone()))
                    .send()
                    .await
                    .map_err(AwsError::api("Error modify AMI attributes"))?;
            }
            if config.snapshot_users.is_empty() && config.snapshot_groups.is_empty() {
                continue;
            }
            let snapshots = match &image.snapshots {
                Some(known) => known.clone(),
                None => snapshots_of(&client, &image.ami_id).await?,
            };
            for snapshot in snapshots {
                log.line(&format!("Modifying attributes on snapshot ({snapshot})..."));
                // Each permission both as a list of additions (Packer's form) and as an operation
                // on the attribute (the older form, which some EC2 servers read instead).
                let share = |add: Vec<CreateVolumePermission>| {
                    client
                        .modify_snapshot_attribute()
                        .snapshot_id(&snapshot)
                        .attribute(SnapshotAttributeName::CreateVolumePermission)
                        .operation_type(OperationType::Add)
                        .create_volume_permission(
                            CreateVolumePermissionModifications::builder()
                                .set_add(Some(add))
                                .build(),
                        )
                };
                if !config.snapshot_groups.is_empty() {
                    log.line("Modifying: groups");
                    let groups = config
                        .snapshot_groups
                        .iter()
                        .map(|g| {
                            CreateVolumePermission::builder()
                                .group(PermissionGroup::from(g.as_str()))
                                .build()
                        })
                        .collect();
                    share(groups)
                        .set_group_names(Some(config.snapshot_groups.clone()))
                        .send()
                        .await
                        .map_err(AwsError::api("Error modify snapshot attributes"))?;
                }
                if !config.snapshot_users.is_empty() {
                    log.line("Modifying: users");
                    let users = config
                        .snapshot_users
                        .iter()
                        .map(|u| CreateVolumePermission::builder().user_id(u).build())
                        .collect();
                    share(users)
                        .set_user_ids(Some(config.snapshot_users.clone()))
                        .send()
                        .await
                        .map_err(AwsError::api("Error modify snapshot attributes"))?;
                }
            }
        }
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

        // Whether EC2 refused to terminate the instance: it then surely runs on, holding its group.
        let mut not_terminated = false;
        if let Some(id) = self.instance.clone() {
            log.line("Terminating the source AWS instance...");
            let terminated = match client.terminate_instances().instance_ids(&id).send().await {
                Ok(_) => wait_instance(
                    &client,
                    &id,
                    InstanceStateName::Terminated,
                    &self.polling,
                    None,
                )
                .await
                .map(drop),
                Err(error) => {
                    let error = AwsError::api("Error terminating instance")(error);
                    let outcome = gone_if(error, &["InvalidInstanceID.NotFound"]);
                    not_terminated = outcome.is_err();
                    outcome
                }
            };
            match terminated {
                Ok(()) => self.instance = None,
                Err(error) => {
                    failures.push((self.resource(ResourceKind::Instance, &id), self.told(error)))
                }
            }
        }

        if let Some(mut made) = self.temporary_profile.clone().filter(|m| m.exists())
            && self.instance.is_none()
        {
            let iam = self.config.client.iam(&region).await;
            let result = crate::iam::delete(&iam, &mut made, log).await;
            let name = made.name.clone();
            self.temporary_profile = Some(made).filter(|m| m.exists());
            if let Err(error) = result {
                failures.push((
                    self.resource(ResourceKind::InstanceProfile, &name),
                    self.told(error),
                ));
            }
        }

        if let Some(name) = self.launch_template.clone() {
            log.line("Deleting the spot launch template...");
            match spot::delete_template(&client, &name).await {
                Ok(()) => self.launch_template = None,
                Err(error) => failures.push((
                    self.resource(ResourceKind::LaunchTemplate, &name),
                    self.told(error),
                )),
            }
        }

        if let (Some(id), Some(instance), true) = (
            self.security_group.clone(),
            self.instance.clone(),
            not_terminated,
        ) {
            // The group is in use until its instance is gone: EC2 would answer DependencyViolation
            // to every try for as long as the wait lasts (ten minutes). An instance that is
            // terminating (its end could not be seen) frees it within that wait.
            failures.push((
                self.resource(ResourceKind::SecurityGroup, &id),
                format!("still in use by instance {instance}, which could not be terminated"),
            ));
        } else if let Some(id) = self.security_group.clone() {
            log.line("Deleting temporary security group...");
            match delete_security_group(&client, &id).await {
                Ok(()) => self.security_group = None,
                Err(error) => failures.push((
                    self.resource(ResourceKind::SecurityGroup, &id),
                    self.told(error),
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
                    self.told(error),
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
                .map_err(|e| (image.clone(), self.told(e)))?,
        };
        let answer = client
            .deregister_image()
            .image_id(&image.ami_id)
            .send()
            .await;
        deleted(answer, "Error deregistering AMI", AMI_GONE)
            .map_err(|e| (image.clone(), self.told(e)))?;
        let mut left = Vec::new();
        let mut why = Vec::new();
        for snapshot in snapshots {
            let answer = client.delete_snapshot().snapshot_id(&snapshot).send().await;
            let action = format!("Error deleting snapshot {snapshot}");
            if let Err(error) = deleted(answer, action, SNAPSHOT_GONE) {
                why.push(self.told(error));
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
        if let Some(name) = &self.launch_template {
            out.push(self.resource(ResourceKind::LaunchTemplate, name));
        }
        if let Some(made) = self.temporary_profile.as_ref().filter(|m| m.exists()) {
            out.push(self.resource(ResourceKind::InstanceProfile, &made.name));
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

/// Launches tried while a new instance profile is not usable yet (Packer's 11).
pub(crate) const PROFILE_TRIES: u32 = 11;

/// The pause before the next try: 200 ms doubling to at most 30 s, as Packer's.
pub(crate) fn profile_retry_delay(tries: u32) -> std::time::Duration {
    let millis = 200u64.saturating_mul(1 << tries.min(10));
    std::time::Duration::from_millis(millis.min(30_000))
}

/// What an on-demand and a spot launch both give EC2.
struct LaunchInputs {
    user_data: Option<String>,
    run_tags: BTreeMap<String, String>,
    /// `run_volume_tags` with imgs's tags.
    volume_tags: BTreeMap<String, String>,
    /// `run_volume_tags` alone, rendered.
    template_volume_tags: BTreeMap<String, String>,
    mappings: Vec<BlockDeviceMapping>,
}

/// User data as EC2 takes it: base64. As Packer, text that already is standard base64 is sent as
/// it is, anything else is encoded.
fn user_data_base64(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if is_std_base64(text) => text.to_string(),
        _ => aws_smithy_types::base64::encode(bytes),
    }
}

/// Go's `base64.StdEncoding.DecodeString` accepts it: padded standard alphabet (line breaks are
/// ignored).
fn is_std_base64(text: &str) -> bool {
    let body: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    if !body.len().is_multiple_of(4) {
        return false;
    }
    let unpadded = body
        .iter()
        .rposition(|b| *b != b'=')
        .map_or(0, |last| last + 1);
    body.len() - unpadded <= 2
        && body[..unpadded]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn empty_source() -> SourceImage {
    SourceImage {
        id: String::new(),
        name: String::new(),
        owner_id: String::new(),
        owner_alias: String::new(),
        creation_date: String::new(),
        tags: BTreeMap::new(),
        virtualization_type: String::new(),
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
pub(crate) fn deleted<T, E>(
    answer: Result<T, SdkError<E, HttpResponse>>,
    action: impl Into<String>,
    gone: &[&str],
) -> Result<(), AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
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
    polling: &Polling,
    cancel: Option<&CancellationToken>,
) -> Result<Instance, AwsError> {
    wait::polled(
        &format!("instance {id} to be {}", wanted.as_str()),
        INSTANCE_TIMEOUT,
        polling,
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
    polling: &Polling,
    cancel: Option<&CancellationToken>,
) -> Result<Vec<String>, AwsError> {
    wait::polled(
        &format!("AMI {ami_id} to be available"),
        IMAGE_TIMEOUT,
        polling,
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
    fn user_data_already_in_base64_is_sent_as_it_is() {
        assert_eq!(user_data_base64(b"aGVsbG8="), "aGVsbG8=");
        assert_eq!(
            user_data_base64(b"#!/bin/sh\necho hi\n"),
            "IyEvYmluL3NoCmVjaG8gaGkK"
        );
        assert_eq!(
            user_data_base64(b"abc"),
            "YWJj",
            "not a whole base64 quantum"
        );
        assert_eq!(
            user_data_base64(b"aGVs\nbG8="),
            "aGVs\nbG8=",
            "line breaks are skipped"
        );
    }

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
