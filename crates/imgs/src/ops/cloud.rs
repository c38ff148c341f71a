//! The cloud half of the cache: before deciding, ask EC2 which AMIs carry the planned fingerprints,
//! with one batched DescribeImages per (credentials and endpoint, region), all regions at once. A
//! lookup that fails leaves the images it was for to their local records, with a warning.

use imgs_aws::{AwsError, ClientSettings, TaggedAmi};
use imgs_build::AwsTarget;
use imgs_diagnostic::Diagnostic;
use imgs_plan::{CloudAmi, CloudImages};

/// Whether a plan asks EC2 for AMIs by fingerprint (`--offline` says no).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloudLookup {
    Online,
    Offline,
}

/// One image's part of the lookup: its fingerprint and where its amazon-ebs builds put AMIs.
pub struct CloudQuery {
    pub fingerprint: String,
    pub targets: Vec<AwsTarget>,
    pub other_builds: bool,
}

/// One DescribeImages (paged): every fingerprint wanted from one region as one principal.
struct RegionLookup {
    client: ClientSettings,
    region: String,
    fingerprints: Vec<String>,
}

/// EC2's answer per query (`None` where the image has no amazon-ebs build or a lookup it needed
/// failed), and a warning per failed region.
pub fn look_up(queries: &[CloudQuery]) -> (Vec<Option<CloudImages>>, Vec<Diagnostic>) {
    let lookups = group(queries);
    if lookups.is_empty() {
        return (queries.iter().map(|_| None).collect(), Vec::new());
    }
    let answers = match run_all(&lookups) {
        Ok(answers) => answers,
        Err(message) => {
            let warning = Diagnostic::warning(format!("could not look up AMIs: {message}"))
                .hint("the plan uses local records only; `--offline` skips the lookup");
            return (queries.iter().map(|_| None).collect(), vec![warning]);
        }
    };
    let mut warnings = Vec::new();
    for (lookup, answer) in lookups.iter().zip(&answers) {
        if let Err(error) = answer {
            // The API error already says what was being done, and where; only its detail is new.
            let detail = match error {
                AwsError::Api { detail, .. } => detail.clone(),
                other => other.to_string(),
            };
            warnings.push(
                Diagnostic::warning(format!(
                    "could not look up AMIs in {}: {detail}",
                    lookup.region
                ))
                .hint(
                    "images built there are planned from local records only; check the \
                     credentials and endpoint, or pass `--offline` to skip the lookup",
                ),
            );
        }
    }
    let cloud = queries
        .iter()
        .map(|query| {
            if query.targets.is_empty() {
                return None;
            }
            let mut found = Vec::new();
            for target in &query.targets {
                for region in &target.regions {
                    let i = lookups
                        .iter()
                        .position(|l| l.client == target.client && &l.region == region)
                        .expect("every target region was grouped");
                    let amis = answers[i].as_ref().ok()?;
                    found.extend(
                        amis.get(&query.fingerprint)
                            .into_iter()
                            .flatten()
                            .map(cloud_ami),
                    );
                }
            }
            found.sort();
            found.dedup();
            Some(CloudImages {
                builds: query
                    .targets
                    .iter()
                    .map(|t| (t.build.clone(), t.regions.clone()))
                    .collect(),
                other_builds: query.other_builds,
                found,
            })
        })
        .collect();
    (cloud, warnings)
}

/// The queries' regions, each (principal, region) once with every fingerprint wanted there.
fn group(queries: &[CloudQuery]) -> Vec<RegionLookup> {
    let mut lookups: Vec<RegionLookup> = Vec::new();
    for query in queries {
        for target in &query.targets {
            for region in &target.regions {
                let at = lookups
                    .iter()
                    .position(|l| l.client == target.client && &l.region == region);
                let lookup = match at {
                    Some(i) => &mut lookups[i],
                    None => {
                        lookups.push(RegionLookup {
                            client: target.client.clone(),
                            region: region.clone(),
                            fingerprints: Vec::new(),
                        });
                        lookups.last_mut().expect("just pushed")
                    }
                };
                if !lookup.fingerprints.contains(&query.fingerprint) {
                    lookup.fingerprints.push(query.fingerprint.clone());
                }
            }
        }
    }
    lookups
}

type Answer = Result<std::collections::BTreeMap<String, Vec<TaggedAmi>>, AwsError>;

/// Every lookup at once on one thread: they only wait on the network.
fn run_all(lookups: &[RegionLookup]) -> Result<Vec<Answer>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    Ok(
        rt.block_on(futures_util::future::join_all(lookups.iter().map(|l| {
            imgs_aws::find_tagged_images(&l.client, &l.region, &l.fingerprints)
        }))),
    )
}

fn cloud_ami(tagged: &TaggedAmi) -> CloudAmi {
    CloudAmi {
        region: tagged.ami.region.clone(),
        ami_id: tagged.ami.ami_id.clone(),
        run_id: tagged.run_id.clone(),
        created_at: tagged.created_at.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(region: &str, regions: &[&str], endpoint: &str) -> AwsTarget {
        AwsTarget {
            build: "ebs".into(),
            client: ClientSettings {
                custom_endpoint_ec2: Some(endpoint.into()),
                ..ClientSettings::new(region)
            },
            regions: regions.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn one_lookup_per_principal_and_region_with_every_fingerprint() {
        let queries = [
            CloudQuery {
                fingerprint: "f1".into(),
                targets: vec![target("us-east-1", &["us-east-1", "eu-west-1"], "a")],
                other_builds: false,
            },
            CloudQuery {
                fingerprint: "f2".into(),
                targets: vec![target("us-east-1", &["us-east-1"], "a")],
                other_builds: false,
            },
            CloudQuery {
                fingerprint: "f3".into(),
                targets: vec![target("us-east-1", &["us-east-1"], "b")],
                other_builds: false,
            },
            CloudQuery {
                fingerprint: "f4".into(),
                targets: vec![],
                other_builds: true,
            },
        ];
        let grouped: Vec<(String, Option<String>, Vec<String>)> = group(&queries)
            .into_iter()
            .map(|l| (l.region, l.client.custom_endpoint_ec2, l.fingerprints))
            .collect();
        let s = |v: &[&str]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            grouped,
            [
                (
                    "us-east-1".to_string(),
                    Some("a".to_string()),
                    s(&["f1", "f2"])
                ),
                ("eu-west-1".into(), Some("a".into()), s(&["f1"])),
                ("us-east-1".into(), Some("b".into()), s(&["f3"])),
            ]
        );
    }

    #[test]
    fn no_amazon_ebs_image_no_lookup() {
        let queries = [CloudQuery {
            fingerprint: "f".into(),
            targets: vec![],
            other_builds: true,
        }];
        let (cloud, warnings) = look_up(&queries);
        assert_eq!(cloud, [None]);
        assert!(warnings.is_empty());
    }
}
