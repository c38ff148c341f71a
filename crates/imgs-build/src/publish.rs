//! Publishing AMIs to a channel (`imgs build --channel`, `imgs publish`): where each AMI of a
//! record is and as whom to reach it — the credentials and endpoint of the template's amazon-ebs
//! build that made it — and the calls, all regions at once.

use std::path::Path;

use imgs_aws::{ClientSettings, PublishAmi, PublishedAmi};
use imgs_cache::BuildArtifact;
use imgs_diagnostic::Diagnostics;
use imgs_template::{BuildFilter, ResolvedVariables, Template};

/// One AMI of an image's artifact, and who may call EC2 about it.
#[derive(Clone, Debug)]
pub struct AmiPlace {
    client: ClientSettings,
    pub region: String,
    pub ami_id: String,
}

/// The AMIs of `builds` (a record's builds; those of other builders are left out), each with the
/// client settings of the template build that made it (matched by name, else the first amazon-ebs
/// build), sorted by region. `variables` are resolved as for planning.
pub fn ami_places(
    template: &Template,
    variables: &ResolvedVariables,
    filter: &BuildFilter,
    working_dir: &Path,
    builds: &[BuildArtifact],
) -> Result<Vec<AmiPlace>, Diagnostics> {
    let amis: Vec<(&BuildArtifact, &str, &str)> = builds
        .iter()
        .filter(|b| b.files.is_empty())
        .flat_map(|b| {
            b.artifact_id
                .split(',')
                .filter_map(|pair| pair.split_once(':'))
                .filter(|(_, id)| id.starts_with("ami-"))
                .map(move |(region, id)| (b, region, id))
        })
        .collect();
    if amis.is_empty() {
        return Ok(Vec::new());
    }
    let targets = crate::aws_targets(template, variables, filter, working_dir)?;
    let mut places = Vec::new();
    for (build, region, ami_id) in amis {
        let Some(target) = targets
            .iter()
            .find(|t| t.build == build.name)
            .or(targets.first())
        else {
            continue;
        };
        places.push(AmiPlace {
            client: ClientSettings {
                region: region.to_string(),
                ..target.client.clone()
            },
            region: region.to_string(),
            ami_id: ami_id.to_string(),
        });
    }
    places.sort_by(|a, b| (&a.region, &a.ami_id).cmp(&(&b.region, &b.ami_id)));
    Ok(places)
}

/// Where a template's amazon-ebs builds will put AMIs (the AMI IDs empty): for an image not built
/// yet, whose channel's current AMIs the plan shows.
pub fn target_places(
    template: &Template,
    variables: &ResolvedVariables,
    filter: &BuildFilter,
    working_dir: &Path,
) -> Result<Vec<AmiPlace>, Diagnostics> {
    let mut places: Vec<AmiPlace> = Vec::new();
    for target in crate::aws_targets(template, variables, filter, working_dir)? {
        for region in target.regions {
            if places.iter().any(|p| p.region == region) {
                continue;
            }
            places.push(AmiPlace {
                client: ClientSettings {
                    region: region.clone(),
                    ..target.client.clone()
                },
                region,
                ami_id: String::new(),
            });
        }
    }
    places.sort_by(|a, b| a.region.cmp(&b.region));
    Ok(places)
}

/// Per place, the image's AMIs in its region that are in `channel` now, or why EC2 could not say.
pub fn channel_amis(
    places: &[AmiPlace],
    image: &str,
    channel: &str,
) -> Result<Vec<Result<Vec<String>, String>>, String> {
    let answers = runtime()?.block_on(futures_util::future::join_all(
        places
            .iter()
            .map(|p| imgs_aws::channel_amis(&p.client, &p.region, image, channel)),
    ));
    Ok(answers.into_iter().map(|a| a.map_err(explain)).collect())
}

/// Publishes each AMI (see [`imgs_aws::publish_ami`]); per AMI, what changed or why it failed.
pub fn publish_amis(
    jobs: &[(AmiPlace, PublishAmi)],
) -> Result<Vec<Result<PublishedAmi, String>>, String> {
    let answers = runtime()?.block_on(futures_util::future::join_all(
        jobs.iter()
            .map(|(place, ami)| imgs_aws::publish_ami(&place.client, ami)),
    ));
    Ok(answers.into_iter().map(|a| a.map_err(explain)).collect())
}

fn explain(e: imgs_aws::AwsError) -> String {
    match e.hint() {
        Some(hint) => format!("{e} (hint: {hint})"),
        None => e.to_string(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Tags the docker image `image_id` as `reference` (`repository:channel`) in the engine the docker
/// builder uses (the environment's, through the docker CLI) and pushes it; the push's output is
/// returned with the error when it fails.
pub fn push_docker(image_id: &str, reference: &str) -> Result<(), String> {
    let cli = imgs_docker::DockerCli::new();
    let cancel = tokio_util::sync::CancellationToken::new();
    let explain = |e: imgs_docker::DockerError| match e.hint() {
        Some(hint) => format!("{e} (hint: {hint})"),
        None => e.to_string(),
    };
    runtime()?.block_on(async {
        cli.tag(image_id, reference, &cancel)
            .await
            .map_err(explain)?;
        let mut lines: Vec<String> = Vec::new();
        let mut log = |line: &str| lines.push(line.to_string());
        let pushed = cli.push(reference, &mut log, &cancel).await;
        pushed.map_err(|e| {
            let tail: Vec<&str> = lines
                .iter()
                .rev()
                .take(3)
                .rev()
                .map(String::as_str)
                .collect();
            format!("{}: {}", explain(e), tail.join(" / "))
        })
    })
}
