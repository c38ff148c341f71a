//! Where the instance runs, as Packer 1.6.6 decides it: the VPC (`vpc_id`, else the one VPC
//! `vpc_filter` finds), the subnet (`subnet_id`, else one `subnet_filter` finds in that VPC and zone,
//! the first, the one with most free addresses, or any), the zone and VPC of a known subnet, and
//! security groups given by ID (checked to exist) or found by `security_group_filter`.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, Subnet};

use crate::AwsError;
use crate::build::Log;
use crate::config::EbsConfig;

/// The VPC, subnet and zone the instance is launched in; each `None` leaves it to EC2.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Network {
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
}

/// EC2 filters, one value each, as Packer builds them.
fn filters(map: &BTreeMap<String, String>) -> Vec<Filter> {
    map.iter()
        .map(|(name, value)| Filter::builder().name(name).values(value).build())
        .collect()
}

fn described(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Packer's pre-validation of a `vpc_id` given without a subnet: the VPC must exist and be the
/// account's default one, where EC2 picks a subnet itself.
pub(crate) async fn check_vpc(client: &Client, config: &EbsConfig) -> Result<(), AwsError> {
    let Some(vpc_id) = &config.vpc_id else {
        return Ok(());
    };
    if config.subnet_id.is_some() || !config.subnet_filter.filters.is_empty() {
        return Ok(());
    }
    let vpcs = client
        .describe_vpcs()
        .vpc_ids(vpc_id)
        .send()
        .await
        .map_err(AwsError::api(format!(
            "Error retrieving VPC information for vpc_id {vpc_id}"
        )))?;
    if let [vpc] = vpcs.vpcs()
        && vpc.is_default() != Some(true)
    {
        return Err(AwsError::Mismatch {
            message: format!(
                "Error: subnet_id or subnet_filter must be provided for non-default VPCs ({vpc_id})"
            ),
            hint: "set subnet_id, or subnet_filter to find a subnet of that VPC".into(),
        });
    }
    Ok(())
}

/// The VPC, subnet and zone, found as the template says.
pub(crate) async fn resolve(
    client: &Client,
    config: &EbsConfig,
    log: Log<'_>,
) -> Result<Network, AwsError> {
    let mut network = Network {
        vpc_id: config.vpc_id.clone(),
        subnet_id: config.subnet_id.clone(),
        availability_zone: config.availability_zone.clone(),
    };

    if network.vpc_id.is_none() && !config.vpc_filter.is_empty() {
        // Packer adds `state=available` only after it has built the request, so it never applies.
        let vpcs = client
            .describe_vpcs()
            .set_filters(Some(filters(&config.vpc_filter)))
            .send()
            .await
            .map_err(AwsError::api("Error querying VPCs"))?;
        let [vpc] = vpcs.vpcs() else {
            return Err(AwsError::Mismatch {
                message: format!(
                    "Exactly one VPC should match the filter, but {} VPC's was found matching filters: {}",
                    vpcs.vpcs().len(),
                    described(&config.vpc_filter)
                ),
                hint: "make vpc_filter match exactly one VPC, or set vpc_id".into(),
            });
        };
        let id = vpc.vpc_id().unwrap_or_default().to_string();
        log.line(&format!("Found VPC ID: {id}"));
        network.vpc_id = Some(id);
    }

    if network.subnet_id.is_none() && !config.subnet_filter.filters.is_empty() {
        let mut wanted = config.subnet_filter.filters.clone();
        wanted.insert("state".into(), "available".into());
        if let Some(vpc_id) = &network.vpc_id {
            wanted.insert("vpc-id".into(), vpc_id.clone());
        }
        if let Some(zone) = &network.availability_zone {
            wanted.insert("availabilityZone".into(), zone.clone());
        }
        let subnets = client
            .describe_subnets()
            .set_filters(Some(filters(&wanted)))
            .send()
            .await
            .map_err(AwsError::api("Error querying Subnets"))?
            .subnets
            .unwrap_or_default();
        let subnet = pick_subnet(subnets, &config.subnet_filter, &wanted)?;
        let id = subnet.subnet_id().unwrap_or_default().to_string();
        log.line(&format!("Found Subnet ID: {id}"));
        network.subnet_id = Some(id);
    }

    if let Some(subnet_id) = &network.subnet_id
        && (network.availability_zone.is_none() || network.vpc_id.is_none())
    {
        let subnets = client
            .describe_subnets()
            .subnet_ids(subnet_id)
            .send()
            .await
            .map_err(AwsError::api(format!("Describing the subnet: {subnet_id}")))?;
        if let Some(subnet) = subnets.subnets().first() {
            if network.availability_zone.is_none() {
                network.availability_zone = subnet.availability_zone().map(str::to_string);
            }
            if network.vpc_id.is_none() {
                network.vpc_id = subnet.vpc_id().map(str::to_string);
            }
        }
    }
    Ok(network)
}

fn pick_subnet(
    mut subnets: Vec<Subnet>,
    filter: &crate::config::SubnetFilter,
    wanted: &BTreeMap<String, String>,
) -> Result<Subnet, AwsError> {
    if subnets.is_empty() {
        return Err(AwsError::Mismatch {
            message: format!(
                "No Subnets was found matching filters: {}",
                described(wanted)
            ),
            hint: "check subnet_filter (and vpc_id/vpc_filter, availability_zone, which narrow it)"
                .into(),
        });
    }
    if subnets.len() > 1 && !filter.random && !filter.most_free {
        return Err(AwsError::Mismatch {
            message: format!(
                "Your filter matched {} Subnets. Please try a more specific search, or set random or most_free to true.",
                subnets.len()
            ),
            hint: "narrow subnet_filter, or set \"most_free\": true or \"random\": true in it"
                .into(),
        });
    }
    let index = if filter.most_free {
        // The last of the subnets sorted by free addresses, as Packer picks it.
        subnets.sort_by_key(|s| s.available_ip_address_count().unwrap_or(0));
        subnets.len() - 1
    } else if filter.random {
        (uuid::Uuid::new_v4().as_u128() % subnets.len() as u128) as usize
    } else {
        0
    };
    Ok(subnets.swap_remove(index))
}

/// `security_group_ids`, once EC2 says they exist, as Packer checks them.
pub(crate) async fn check_groups(client: &Client, ids: &[String]) -> Result<(), AwsError> {
    client
        .describe_security_groups()
        .set_group_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(AwsError::api("Couldn't find specified security group"))?;
    Ok(())
}

/// Every security group `security_group_filter` finds (in the build's VPC when known).
pub(crate) async fn groups_by_filter(
    client: &Client,
    filter: &BTreeMap<String, String>,
    vpc_id: Option<&str>,
    log: Log<'_>,
) -> Result<Vec<String>, AwsError> {
    let mut wanted = filter.clone();
    if let Some(vpc_id) = vpc_id {
        wanted.insert("vpc-id".into(), vpc_id.to_string());
    }
    let groups = client
        .describe_security_groups()
        .set_filters(Some(filters(&wanted)))
        .send()
        .await
        .map_err(AwsError::api("Couldn't find security groups for filter"))?;
    let ids: Vec<String> = groups
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect();
    log.line(&format!("Found Security Group(s): {}", ids.join(", ")));
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SubnetFilter;

    fn subnet(id: &str, free: i32) -> Subnet {
        Subnet::builder()
            .subnet_id(id)
            .available_ip_address_count(free)
            .build()
    }

    fn filter(most_free: bool, random: bool) -> SubnetFilter {
        SubnetFilter {
            filters: BTreeMap::from([("tag:Tier".to_string(), "build".to_string())]),
            most_free,
            random,
        }
    }

    #[test]
    fn one_subnet_or_a_rule_to_pick_one() {
        let wanted = BTreeMap::new();
        let several = || vec![subnet("a", 10), subnet("b", 250), subnet("c", 40)];
        let picked = pick_subnet(several(), &filter(true, false), &wanted).unwrap();
        assert_eq!(picked.subnet_id(), Some("b"), "the most free addresses");
        let error = pick_subnet(several(), &filter(false, false), &wanted).unwrap_err();
        assert!(error.to_string().contains("matched 3 Subnets"), "{error}");
        let any = pick_subnet(several(), &filter(false, true), &wanted).unwrap();
        assert!(["a", "b", "c"].contains(&any.subnet_id().unwrap()));
        let only = pick_subnet(vec![subnet("a", 1)], &filter(false, false), &wanted).unwrap();
        assert_eq!(only.subnet_id(), Some("a"));
        assert!(pick_subnet(Vec::new(), &filter(false, false), &wanted).is_err());
    }
}
