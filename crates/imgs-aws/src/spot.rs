//! A spot instance, launched as Packer 1.6.6 launches one: a launch template asking for the spot
//! market (`spot_price`, or up to the on-demand price for `auto`; `block_duration_minutes`), tagged
//! with `spot_tags`, and an `instant` EC2 fleet of one spot instance from it (of `instance_type`, or
//! of one of `spot_instance_types`). The instance, its volumes and its spot request are then tagged;
//! the launch template goes when the build is cleaned up.
//!
//! The template also carries imgs's run and image tags for the instance and its volumes, so a spot
//! instance is never untagged, even for a moment `imgs gc` might look.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, DefaultTargetCapacityType, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest, FleetType,
    InstanceType, LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMarketOptionsRequest,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest, LaunchTemplatePlacementRequest,
    LaunchTemplateSpotMarketOptionsRequest, LaunchTemplateTagSpecificationRequest, MarketType,
    RequestLaunchTemplateData, ResourceType, TargetCapacitySpecificationRequest,
};

use crate::AwsError;
use crate::build::Log;
use crate::config::{EbsConfig, Spot};
use crate::network::Network;
use crate::tags::{ec2_tags, spec};

/// Everything the launch template says, rendered and resolved.
pub(crate) struct SpotRequest<'a> {
    pub config: &'a EbsConfig,
    pub spot: &'a Spot,
    pub source_ami: &'a str,
    /// The instance profile (given, or made for the build).
    pub instance_profile: Option<String>,
    pub network: &'a Network,
    pub group_ids: Vec<String>,
    pub key_name: Option<String>,
    /// Base64, as EC2 takes it.
    pub user_data: Option<String>,
    pub mappings: Vec<BlockDeviceMapping>,
    /// The instance's tags (imgs's among them) and its volumes'.
    pub run_tags: &'a BTreeMap<String, String>,
    pub volume_tags: &'a BTreeMap<String, String>,
    /// `spot_tags` rendered; the launch template also carries imgs's tags.
    pub spot_tags: &'a BTreeMap<String, String>,
    pub template_tags: &'a BTreeMap<String, String>,
}

/// Creates the launch template `name` the spot fleet launches from.
pub(crate) async fn create_template(
    client: &Client,
    name: &str,
    request: &SpotRequest<'_>,
    log: Log<'_>,
) -> Result<(), AwsError> {
    log.line("Creating Spot Fleet launch template...");
    let config = request.config;
    let mut spot_options = LaunchTemplateSpotMarketOptionsRequest::builder()
        .set_max_price(request.spot.max_price.clone());
    if let Some(minutes) = request.spot.block_duration_minutes {
        spot_options = spot_options.block_duration_minutes(i32::try_from(minutes).unwrap_or(0));
    }
    let market = LaunchTemplateInstanceMarketOptionsRequest::builder()
        .market_type(MarketType::Spot)
        .spot_options(spot_options.build())
        .build();
    let mut data = RequestLaunchTemplateData::builder()
        .set_block_device_mappings(Some(
            request.mappings.iter().map(template_mapping).collect(),
        ))
        .disable_api_termination(false)
        .ebs_optimized(config.ebs_optimized)
        .iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .set_name(request.instance_profile.clone())
                .build(),
        )
        .image_id(request.source_ami)
        .instance_market_options(market)
        .placement(
            LaunchTemplatePlacementRequest::builder()
                .set_availability_zone(request.network.availability_zone.clone())
                .build(),
        )
        .set_user_data(request.user_data.clone())
        .set_key_name(request.key_name.clone())
        .tag_specifications(
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(ec2_tags(request.run_tags)))
                .build(),
        )
        .tag_specifications(
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ResourceType::Volume)
                .set_tags(Some(ec2_tags(request.volume_tags)))
                .build(),
        );
    if let Some(subnet_id) = &request.network.subnet_id {
        let mut interface = LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
            .set_groups(Some(request.group_ids.clone()))
            .delete_on_termination(true)
            .device_index(0)
            .subnet_id(subnet_id);
        if config.associate_public_ip_address == Some(true) {
            interface = interface.associate_public_ip_address(true);
        }
        data = data.network_interfaces(interface.build());
    } else {
        data = data.set_security_group_ids(Some(request.group_ids.clone()));
    }
    if !config.instance_type.is_empty() {
        data = data.instance_type(InstanceType::from(config.instance_type.as_str()));
    }
    let mut create = client
        .create_launch_template()
        .launch_template_name(name)
        .version_description("template generated by imgs for launching spot instances")
        .launch_template_data(data.build());
    let mut template_tags = request.template_tags.clone();
    template_tags.extend(request.spot_tags.clone());
    create = create.tag_specifications(spec(ResourceType::LaunchTemplate, &template_tags));
    create.send().await.map_err(AwsError::api(
        "Error creating launch template for spot instance",
    ))?;
    Ok(())
}

/// An `instant` fleet of one spot instance from the launch template `name`; returns its ID.
pub(crate) async fn run_fleet(
    client: &Client,
    name: &str,
    config: &EbsConfig,
) -> Result<String, AwsError> {
    // A new instance profile takes a while to be usable by EC2; Packer retries as long.
    let mut tries = 0;
    loop {
        let id = launch_once(client, name, config).await;
        match id {
            Err(error)
                if error
                    .to_string()
                    .contains("Invalid IAM Instance Profile name")
                    && tries + 1 < crate::build::PROFILE_TRIES =>
            {
                tries += 1;
                tokio::time::sleep(crate::build::profile_retry_delay(tries)).await;
            }
            other => return other,
        }
    }
}

async fn launch_once(client: &Client, name: &str, config: &EbsConfig) -> Result<String, AwsError> {
    let overrides = config
        .spot_instance_types
        .iter()
        .map(|t| {
            FleetLaunchTemplateOverridesRequest::builder()
                .instance_type(InstanceType::from(t.as_str()))
                .build()
        })
        .collect();
    let fleet = client
        .create_fleet()
        .launch_template_configs(
            FleetLaunchTemplateConfigRequest::builder()
                .launch_template_specification(
                    FleetLaunchTemplateSpecificationRequest::builder()
                        .launch_template_name(name)
                        .version("1")
                        .build(),
                )
                .set_overrides(Some(overrides))
                .build(),
        )
        .replace_unhealthy_instances(false)
        .target_capacity_specification(
            TargetCapacitySpecificationRequest::builder()
                .total_target_capacity(1)
                .default_target_capacity_type(DefaultTargetCapacityType::Spot)
                .build(),
        )
        .r#type(FleetType::Instant)
        .send()
        .await
        .map_err(AwsError::api("Error launching spot instance"))?;
    if let Some(id) = fleet
        .instances()
        .iter()
        .flat_map(|i| i.instance_ids())
        .next()
    {
        return Ok(id.clone());
    }
    let reasons: Vec<String> = fleet
        .errors()
        .iter()
        .filter_map(|e| e.error_message().map(str::to_string))
        .collect();
    Err(AwsError::Api {
        action: format!(
            "Error waiting for fleet request ({}) to become ready",
            fleet.fleet_id().unwrap_or_default()
        ),
        code: fleet
            .errors()
            .first()
            .and_then(|e| e.error_code())
            .map(str::to_string),
        detail: if reasons.is_empty() {
            "the fleet launched no instance".into()
        } else {
            reasons.join("; ")
        },
        retried: None,
    })
}

/// Tags the spot request behind `instance_id` with `spot_tags` (when any), as Packer does once the
/// instance exists. EC2 names the request on the instance; a server that does not is asked for the
/// request by instance.
pub(crate) async fn tag_request(
    client: &Client,
    instance_id: &str,
    request_id: Option<String>,
    spot_tags: &BTreeMap<String, String>,
    log: Log<'_>,
) -> Result<(), AwsError> {
    if spot_tags.is_empty() {
        return Ok(());
    }
    let request_id = match request_id {
        Some(id) => Some(id),
        None => client
            .describe_spot_instance_requests()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("instance-id")
                    .values(instance_id)
                    .build(),
            )
            .send()
            .await
            .map_err(AwsError::api("Error finding the spot request"))?
            .spot_instance_requests()
            .iter()
            .find_map(|r| r.spot_instance_request_id().map(str::to_string)),
    };
    let Some(request_id) = request_id else {
        return Ok(());
    };
    for (key, value) in spot_tags {
        log.line(&format!("Adding tag: \"{key}\": \"{value}\""));
    }
    client
        .create_tags()
        .resources(&request_id)
        .set_tags(Some(ec2_tags(spot_tags)))
        .send()
        .await
        .map_err(AwsError::api("Error tagging spot request"))?;
    Ok(())
}

/// Deletes the launch template; one already gone counts as deleted.
pub(crate) async fn delete_template(client: &Client, name: &str) -> Result<(), AwsError> {
    let answer = client
        .delete_launch_template()
        .launch_template_name(name)
        .send()
        .await;
    crate::build::deleted(
        answer,
        "Error deleting the spot launch template",
        &["InvalidLaunchTemplateName.NotFoundException"],
    )
}

/// A block device mapping as a launch template takes it.
fn template_mapping(mapping: &BlockDeviceMapping) -> LaunchTemplateBlockDeviceMappingRequest {
    let ebs = mapping.ebs().map(|e| {
        LaunchTemplateEbsBlockDeviceRequest::builder()
            .set_delete_on_termination(e.delete_on_termination())
            .set_encrypted(e.encrypted())
            .set_iops(e.iops())
            .set_kms_key_id(e.kms_key_id().map(str::to_string))
            .set_snapshot_id(e.snapshot_id().map(str::to_string))
            .set_throughput(e.throughput())
            .set_volume_size(e.volume_size())
            .set_volume_type(e.volume_type().cloned())
            .build()
    });
    LaunchTemplateBlockDeviceMappingRequest::builder()
        .set_device_name(mapping.device_name().map(str::to_string))
        .set_virtual_name(mapping.virtual_name().map(str::to_string))
        .set_no_device(mapping.no_device().map(str::to_string))
        .set_ebs(ebs)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{EbsBlockDevice, VolumeType};

    #[test]
    fn mappings_keep_every_field_in_the_launch_template() {
        let mapping = BlockDeviceMapping::builder()
            .device_name("/dev/xvda")
            .ebs(
                EbsBlockDevice::builder()
                    .volume_size(20)
                    .volume_type(VolumeType::Gp3)
                    .iops(3000)
                    .throughput(125)
                    .delete_on_termination(true)
                    .build(),
            )
            .build();
        let request = template_mapping(&mapping);
        let ebs = request.ebs().unwrap();
        assert_eq!(request.device_name(), Some("/dev/xvda"));
        assert_eq!(ebs.volume_size(), Some(20));
        assert_eq!(ebs.volume_type(), Some(&VolumeType::Gp3));
        assert_eq!((ebs.iops(), ebs.throughput()), (Some(3000), Some(125)));
        assert_eq!(ebs.delete_on_termination(), Some(true));
        let none = template_mapping(
            &BlockDeviceMapping::builder()
                .device_name("xvdca")
                .no_device("")
                .build(),
        );
        assert_eq!(none.no_device(), Some(""));
        assert!(none.ebs().is_none());
    }
}
