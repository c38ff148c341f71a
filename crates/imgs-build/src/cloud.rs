//! Artifacts that live in a cloud, for the plan, `imgs gc` and `imgs cache prune --deregister`: the only
//! way the rest of imgs reaches them, so only the builder types that make them (the registry says which)
//! know where they are and how to ask for them. Today that is amazon-ebs, on imgs-aws:
//!
//! - the cloud half of the cache: before deciding, ask EC2 which AMIs carry the planned fingerprints,
//!   with one batched DescribeImages per (credentials and endpoint, region), all regions at once; a
//!   lookup that fails leaves the images it was for to their local records, with a warning;
//! - what dead runs left, found by their `imgs:run` tag wherever the workspace builds;
//! - the AMIs of workspace images under fingerprints that are no longer current, and retiring them.

use std::collections::BTreeMap;
use std::path::Path;

use imgs_aws::{AwsError, ClientSettings, TaggedAmi};
use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_fingerprint::Fingerprint;
use imgs_plan::{CloudAmi, CloudBuild, CloudImages};
use imgs_template::{BuildFilter, ResolvedVariables, Template};

pub use imgs_aws::{GcReport, GcRuns, ImgsAmi, Leftover, ResourceKind};

use crate::AwsTarget;

/// The builder types whose artifacts live in a cloud, for messages.
pub fn builder_types() -> Vec<&'static str> {
    crate::registry::BUILDERS
        .iter()
        .filter(|b| b.cloud_artifacts)
        .map(|b| b.kind)
        .collect()
}

/// One image's part of the lookup: its fingerprint and where its cloud builds put artifacts.
pub struct CloudQuery {
    pub fingerprint: String,
    targets: Vec<AwsTarget>,
    /// Whether the image also has builds whose artifacts are not in a cloud.
    other_builds: bool,
}

impl CloudQuery {
    /// The query for an image with `fingerprint` whose template, `variables` resolved as for planning,
    /// is `template`. Settings that do not read are the build's to report, located, as without the
    /// lookup; the image is then decided from its records alone.
    pub fn of(
        fingerprint: String,
        template: &Template,
        variables: &ResolvedVariables,
        filter: &BuildFilter,
        working_dir: &Path,
    ) -> CloudQuery {
        CloudQuery {
            fingerprint,
            targets: crate::aws_targets(template, variables, filter, working_dir)
                .unwrap_or_default(),
            other_builds: template
                .builds(filter)
                .iter()
                .any(|b| !crate::registry::has_cloud_artifacts(&b.kind)),
        }
    }
}

/// The region the first of the template's cloud builds runs in, `None` when it has none or its
/// settings do not read (the build itself then says why).
pub fn build_region(
    template: &Template,
    variables: &ResolvedVariables,
    filter: &BuildFilter,
    working_dir: &Path,
) -> Option<String> {
    crate::aws_targets(template, variables, filter, working_dir)
        .ok()?
        .first()
        .map(|target| target.client.region.clone())
}

/// One DescribeImages (paged): every fingerprint wanted from one region as one principal.
struct RegionLookup {
    client: ClientSettings,
    region: String,
    fingerprints: Vec<String>,
}

/// The cloud's answer per query (`None` where the image has no cloud build or a lookup it needed
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
                    .map(|t| CloudBuild {
                        name: t.build.clone(),
                        builder_type: t.builder_type.clone(),
                        regions: t.regions.clone(),
                    })
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
    let rt = runtime()?;
    let settings: Vec<ClientSettings> =
        lookups.iter().map(|l| lookup_settings(&l.client)).collect();
    Ok(rt.block_on(futures_util::future::join_all(
        lookups.iter().zip(&settings).map(|(l, settings)| {
            imgs_aws::find_tagged_images(settings, &l.region, &l.fingerprints)
        }),
    )))
}

/// Retries of a plan's lookup when the template sets no `max_retries`: a lookup only saves a
/// rebuild, and one that fails warns and plans from the local records, so it is not worth Packer's
/// 10 retries (over a minute of backoff when EC2 is out of reach, before `imgs plan` answers).
const LOOKUP_RETRIES: u32 = 2;

/// The build's client settings, with [`LOOKUP_RETRIES`] unless the template set `max_retries`.
fn lookup_settings(build: &ClientSettings) -> ClientSettings {
    let mut settings = build.clone();
    if matches!(settings.max_retries, None | Some(0)) {
        settings.max_retries = Some(LOOKUP_RETRIES);
    }
    settings
}

fn cloud_ami(tagged: &TaggedAmi) -> CloudAmi {
    CloudAmi {
        region: tagged.ami.region.clone(),
        ami_id: tagged.ami.ami_id.clone(),
        run_id: tagged.run_id.clone(),
        created_at: tagged.created_at.clone(),
        revoked: tagged.revoked.clone(),
    }
}

/// Every account and region the images' cloud builds use (build regions and `ami_regions`), each
/// once: the client settings are those of the build with the region set to the one looked in, so the
/// same credentials seen from two builds count once. `images` are templates with variables resolved
/// as for planning.
fn places(
    images: &[(&Template, ResolvedVariables)],
    filter: &BuildFilter,
    working_dir: &Path,
) -> Result<Vec<ClientSettings>, Diagnostics> {
    let mut places: Vec<ClientSettings> = Vec::new();
    for (template, variables) in images {
        for target in crate::aws_targets(template, variables, filter, working_dir)? {
            for region in target.regions {
                let place = ClientSettings {
                    region,
                    ..target.client.clone()
                };
                if !places.contains(&place) {
                    places.push(place);
                }
            }
        }
    }
    Ok(places)
}

/// One account and region to look in for what runs left.
pub struct GcPlace {
    client: ClientSettings,
}

impl GcPlace {
    pub fn region(&self) -> &str {
        &self.client.region
    }
}

/// Every account and region the images' cloud builds use, each once; with `only_region`, that
/// region alone. `images` are templates with variables resolved as for planning.
pub fn gc_places(
    images: &[(&Template, ResolvedVariables)],
    working_dir: &Path,
    only_region: Option<&str>,
) -> Result<Vec<GcPlace>, Diagnostics> {
    Ok(places(images, &BuildFilter::default(), working_dir)?
        .into_iter()
        .filter(|client| only_region.is_none_or(|only| only == client.region))
        .map(|client| GcPlace { client })
        .collect())
}

/// Removes (or with `dry_run` lists) what dead runs left in each place; the first place that cannot
/// be searched stops it, named.
pub fn collect_garbage(
    places: &[GcPlace],
    runs: &GcRuns,
    dry_run: bool,
) -> Result<Vec<GcReport>, String> {
    let rt = runtime()?;
    let mut reports = Vec::new();
    for place in places {
        let report = rt
            .block_on(imgs_aws::collect_garbage(
                &place.client,
                place.region(),
                runs,
                dry_run,
            ))
            .map_err(|e| {
                let hint = e
                    .hint()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                format!("in {}: {e}{hint}", place.region())
            })?;
        reports.push(report);
    }
    Ok(reports)
}

/// An artifact of a workspace image (for `cache prune --deregister`, one under a fingerprint that
/// is not current), and who can retire it.
#[derive(Clone)]
pub struct UnusedArtifact {
    client: ClientSettings,
    pub ami: ImgsAmi,
}

/// The artifacts made for the images named `names` under fingerprints other than `current`'s, looked
/// for wherever the images' cloud builds put them now, as the credentials those builds use; sorted by
/// image, region and ID.
pub fn unused_artifacts(
    images: &[(&Template, ResolvedVariables)],
    filter: &BuildFilter,
    working_dir: &Path,
    names: &[String],
    current: &BTreeMap<String, Fingerprint>,
) -> Result<Vec<UnusedArtifact>, String> {
    let mut all = workspace_artifacts(images, filter, working_dir, names)?;
    all.retain(|u| imgs_cache::unused_ami(&u.ami.image, u.ami.fingerprint.as_deref(), current));
    Ok(all)
}

/// Every artifact made for the images named `names`, whatever its fingerprint, looked for wherever
/// the images' cloud builds put them now (build regions and `ami_regions`), as the credentials those
/// builds use; each once, sorted by image, region and ID. One region that cannot be listed fails
/// the whole listing: what is decided from it must not be decided from part of it.
pub fn workspace_artifacts(
    images: &[(&Template, ResolvedVariables)],
    filter: &BuildFilter,
    working_dir: &Path,
    names: &[String],
) -> Result<Vec<UnusedArtifact>, String> {
    let places = places(images, filter, working_dir).map_err(|d| d.to_string())?;
    if places.is_empty() {
        return Ok(Vec::new());
    }
    let listed = runtime()?.block_on(futures_util::future::join_all(
        places
            .iter()
            .map(|client| imgs_aws::list_imgs_amis(client, &client.region, names)),
    ));
    let mut all: Vec<UnusedArtifact> = Vec::new();
    for (client, found) in places.iter().zip(listed) {
        let found = found.map_err(|e| {
            format!(
                "{e}\nnothing was removed: the AMIs in {} could not be listed",
                client.region
            )
        })?;
        for ami in found {
            let seen = all
                .iter()
                .any(|u| u.ami.region == ami.region && u.ami.ami_id == ami.ami_id);
            if !seen {
                all.push(UnusedArtifact {
                    client: client.clone(),
                    ami,
                });
            }
        }
    }
    all.sort_by(|a, b| {
        (&a.ami.image, &a.ami.region, &a.ami.ami_id).cmp(&(
            &b.ami.image,
            &b.ami.region,
            &b.ami.ami_id,
        ))
    });
    Ok(all)
}

/// Marks each artifact revoked (an AMI: the `imgs:revoked` tag on it and its snapshots, and EC2's
/// deprecation where offered); per artifact, what EC2 did or why it failed.
pub fn revoke(
    artifacts: &[UnusedArtifact],
    reason: &str,
) -> Result<Vec<Result<imgs_aws::Deprecation, String>>, String> {
    let results = runtime()?.block_on(futures_util::future::join_all(
        artifacts
            .iter()
            .map(|u| imgs_aws::revoke_ami(&u.client, &u.ami, reason)),
    ));
    Ok(results
        .into_iter()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect())
}

/// Retires each artifact (an AMI is deregistered with its snapshots); the ones refused, with why.
pub fn retire(artifacts: &[UnusedArtifact]) -> Result<Vec<(String, String)>, String> {
    let results = runtime()?.block_on(futures_util::future::join_all(
        artifacts
            .iter()
            .map(|u| imgs_aws::deregister_ami(&u.client, &u.ami)),
    ));
    Ok(artifacts
        .iter()
        .zip(results)
        .filter_map(|(u, result)| {
            result.err().map(|e| {
                (
                    format!("{} in {}", u.ami.ami_id, u.ami.region),
                    e.to_string(),
                )
            })
        })
        .collect())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(region: &str, regions: &[&str], endpoint: &str) -> AwsTarget {
        AwsTarget {
            build: "ebs".into(),
            builder_type: "amazon-ebs".into(),
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
    fn no_cloud_image_no_lookup() {
        let queries = [CloudQuery {
            fingerprint: "f".into(),
            targets: vec![],
            other_builds: true,
        }];
        let (cloud, warnings) = look_up(&queries);
        assert_eq!(cloud, [None]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_lookup_is_retried_twice_unless_the_template_says_how_often() {
        let unset = ClientSettings::new("us-east-1");
        assert_eq!(lookup_settings(&unset).max_attempts(), 3);
        let zero = ClientSettings {
            max_retries: Some(0),
            ..ClientSettings::new("us-east-1")
        };
        assert_eq!(lookup_settings(&zero).max_attempts(), 3);
        let five = ClientSettings {
            max_retries: Some(5),
            ..ClientSettings::new("us-east-1")
        };
        assert_eq!(lookup_settings(&five).max_attempts(), 6);
        // A build keeps Packer's default.
        assert_eq!(unset.max_attempts(), 11);
    }
}
