//! Publishing to a channel, the second phase of `imgs build --channel NAME` (run only once the whole
//! selected graph is built) and all of `imgs publish --channel NAME`: per image, the channel moves to
//! the AMIs of its current artifact (the `imgs:channel:NAME` tag, taken off the image's other AMIs),
//! `[images.NAME.publish]` grants launch permissions and writes an SSM parameter, and
//! `cache/channels/NAME.json` records which fingerprint and artifacts of each image the channel
//! points at (every artifact kind: `imgs prune` keeps them, `imgs graph` shows them).
//!
//! The plan (`imgs plan --channel`, `imgs build --dry-run --channel`) shows the same per image,
//! computed the same way, before anything is built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imgs_build::publish::{AmiPlace, ami_places};
use imgs_cache::CacheRecord;
use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_plan::{Action, Plan};
use imgs_template::{BuildFilter, ResolvedVariables, Template};
use imgs_workspace::{Selection, Workspace};
use serde::{Deserialize, Serialize};

use super::fingerprint::{cache_dir, planning_variables};
use super::{CloudLookup, Context, Failure, Output, compute_plan};
use crate::options::VariableOptions;

/// `imgs publish`'s options.
#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    pub channel: String,
    /// These images and the images they are built on (default: every image).
    pub images: Vec<String>,
    /// Say what would be published and change nothing.
    pub dry_run: bool,
    /// Fail at once, rather than wait, when another imgs command holds the workspace lock.
    pub no_wait: bool,
    pub variables: VariableOptions,
}

/// What publishing a set of images to a channel does (or did), per image.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChannelPublication {
    pub channel: String,
    pub images: Vec<ImagePublication>,
}

/// One image's part of a publication.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImagePublication {
    pub image: String,
    pub fingerprint: String,
    /// Not built yet (a plan): its artifacts are known once the build ran.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub to_build: bool,
    /// Its artifact IDs (`region:ami-…` lists, file paths, docker image IDs), one per build.
    pub artifacts: Vec<String>,
    /// Per region: how the channel moves.
    pub amis: Vec<ChannelMove>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssm_parameter: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub launch_permission_accounts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub launch_permission_groups: Vec<String>,
    /// `docker_repository:channel`: the docker image is tagged so and pushed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_tag: Option<String>,
}

/// The channel in one region: the AMIs of the image in it before, and the one it moves to.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChannelMove {
    pub region: String,
    pub from: Vec<String>,
    /// `None` while the image is still to be built.
    pub to: Option<String>,
    /// The AMI is in the channel already: nothing moves.
    pub already: bool,
    /// EC2 could not say which AMIs are in the channel now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

/// `cache/channels/NAME.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ChannelFile {
    channel: String,
    images: BTreeMap<String, ChannelEntry>,
}

/// What a channel points at for one image.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ChannelEntry {
    fingerprint: String,
    /// One artifact ID per build (`region:ami-…,…`, a file, a docker image ID).
    #[serde(default)]
    artifacts: Vec<String>,
    /// The files of its builds, relative to the workspace root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    files: Vec<String>,
    published_at: String,
}

/// The file a channel's state is kept in.
pub(crate) fn channel_file(ws: &Workspace, channel: &str) -> PathBuf {
    cache_dir(ws)
        .join("channels")
        .join(format!("{channel}.json"))
}

/// `--channel NAME` checked: it becomes part of a tag key, a parameter name and a file name.
pub(crate) fn check_channel(channel: &str) -> Result<(), Failure> {
    imgs_workspace::publish::check_channel_name(channel).map_err(|why| {
        Diagnostic::error(format!("`{channel}` is not a channel name: {why}"))
            .key("--channel")
            .hint("channels are names such as `dev`, `staging` or `prod`")
            .into()
    })
}

/// Every image's template and variables resolved as for planning, by name.
type Templates<'w> = BTreeMap<String, (std::borrow::Cow<'w, Template>, ResolvedVariables)>;

fn templates<'w>(
    cx: &Context,
    ws: &'w Workspace,
    variables: &VariableOptions,
) -> Result<Templates<'w>, Failure> {
    Ok(ws
        .images
        .iter()
        .map(|i| i.name.clone())
        .zip(planning_variables(cx, ws, variables)?)
        .collect())
}

/// The AMIs of `record`, each with who may call EC2 about it.
fn places_of(
    ws: &Workspace,
    templates: &Templates<'_>,
    filter: &BuildFilter,
    record: &CacheRecord,
) -> Result<Vec<AmiPlace>, Failure> {
    let Some((template, variables)) = templates.get(&record.image) else {
        return Ok(Vec::new());
    };
    Ok(ami_places(
        template,
        variables,
        filter,
        &ws.root,
        &record.builds,
    )?)
}

/// What every image of one publication is published with.
#[derive(Clone, Copy)]
struct Scope<'a, 'w> {
    ws: &'a Workspace,
    templates: &'a Templates<'w>,
    filter: &'a BuildFilter,
    channel: &'a str,
}

/// The image's part, before anything changes: where the channel is now in each region, and where
/// publishing moves it. `lookup` asks EC2 (else the channel's current AMIs are left unknown).
fn image_preview(
    scope: &Scope<'_, '_>,
    image: &str,
    fingerprint: String,
    record: Option<&CacheRecord>,
    lookup: bool,
) -> Result<ImagePublication, Failure> {
    let Scope {
        ws,
        templates,
        filter,
        channel,
    } = *scope;
    let settings = ws
        .image(image)
        .map(|i| i.publish.clone())
        .unwrap_or_default();
    let mut publication = ImagePublication {
        image: image.to_string(),
        fingerprint,
        to_build: record.is_none(),
        artifacts: record
            .map(|r| r.builds.iter().map(|b| b.artifact_id.clone()).collect())
            .unwrap_or_default(),
        ssm_parameter: settings.ssm_parameter_for(channel, image),
        launch_permission_accounts: settings.launch_permission_accounts.clone(),
        launch_permission_groups: settings.launch_permission_groups.clone(),
        docker_tag: settings
            .docker_repository
            .as_ref()
            .map(|r| format!("{r}:{channel}")),
        amis: Vec::new(),
    };
    let places: Vec<(AmiPlace, Option<String>)> = match record {
        Some(record) => places_of(ws, templates, filter, record)?
            .into_iter()
            .map(|p| {
                let id = p.ami_id.clone();
                (p, Some(id))
            })
            .collect(),
        // Not built yet: the regions its amazon-ebs builds will put AMIs in.
        None => match templates.get(image) {
            Some((template, variables)) => {
                imgs_build::publish::target_places(template, variables, filter, &ws.root)?
                    .into_iter()
                    .map(|p| (p, None))
                    .collect()
            }
            None => Vec::new(),
        },
    };
    let now: Vec<Result<Vec<String>, String>> = if lookup && !places.is_empty() {
        let just: Vec<AmiPlace> = places.iter().map(|(p, _)| p.clone()).collect();
        imgs_build::publish::channel_amis(&just, image, channel).map_err(Failure::Other)?
    } else {
        places
            .iter()
            .map(|_| Err("not looked up (--offline)".to_string()))
            .collect()
    };
    for ((place, to), now) in places.into_iter().zip(now) {
        let (from, unknown) = match now {
            Ok(amis) => (amis, None),
            Err(why) => (Vec::new(), Some(why)),
        };
        publication.amis.push(ChannelMove {
            region: place.region.clone(),
            already: to
                .as_ref()
                .is_some_and(|to| from.contains(to) && from.len() == 1),
            from: from
                .into_iter()
                .filter(|a| Some(a) != to.as_ref())
                .collect(),
            to,
            unknown,
        });
    }
    Ok(publication)
}

/// What publishing `plan`'s images to `channel` would do: `imgs plan --channel` and `imgs build
/// --dry-run --channel`.
pub fn preview(
    cx: &Context,
    plan: &Plan,
    channel: &str,
    variables: &VariableOptions,
    filter: &BuildFilter,
    lookup: CloudLookup,
) -> Result<ChannelPublication, Failure> {
    check_channel(channel)?;
    let ws = cx.load_workspace()?;
    let templates = templates(cx, &ws, variables)?;
    let mut images = Vec::new();
    for image in &plan.images {
        let record = match &image.action {
            Action::Fresh { record, .. } => Some(&**record),
            Action::Build { .. } => None,
        };
        let scope = Scope {
            ws: &ws,
            templates: &templates,
            filter,
            channel,
        };
        images.push(image_preview(
            &scope,
            &image.name,
            image.fingerprint.to_string(),
            record,
            lookup == CloudLookup::Online,
        )?);
    }
    Ok(ChannelPublication {
        channel: channel.to_string(),
        images,
    })
}

/// Publishes every image of `records` (each image's current, built artifact) to `channel` and
/// records it in `cache/channels/NAME.json`: the second phase of `imgs build --channel`, and `imgs
/// publish`. The caller holds the workspace lock. On an error, what was published so far is in the
/// channel file too, and running it again finishes the rest (every step is idempotent).
pub(crate) fn publish_records(
    cx: &Context,
    ws: &Workspace,
    variables: &VariableOptions,
    filter: &BuildFilter,
    channel: &str,
    records: &[CacheRecord],
) -> Result<ChannelPublication, (ChannelPublication, String)> {
    let mut publication = ChannelPublication {
        channel: channel.to_string(),
        images: Vec::new(),
    };
    let fail =
        |publication: &ChannelPublication, message: String| Err((publication.clone(), message));
    let templates = match templates(cx, ws, variables) {
        Ok(t) => t,
        Err(f) => return fail(&publication, failure_text(f)),
    };
    let published_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = channel_file(ws, channel);
    let mut file = read_channel_file(&path, channel);
    let mut errors = Vec::new();
    for record in records {
        let scope = Scope {
            ws,
            templates: &templates,
            filter,
            channel,
        };
        let mut image = match image_preview(
            &scope,
            &record.image,
            record.fingerprint.to_string(),
            Some(record),
            false,
        ) {
            Ok(image) => image,
            Err(f) => return fail(&publication, failure_text(f)),
        };
        let places = match places_of(ws, &templates, filter, record) {
            Ok(places) => places,
            Err(f) => return fail(&publication, failure_text(f)),
        };
        let jobs: Vec<(AmiPlace, imgs_aws::PublishAmi)> = places
            .into_iter()
            .map(|place| {
                let ami = imgs_aws::PublishAmi {
                    region: place.region.clone(),
                    ami_id: place.ami_id.clone(),
                    image: record.image.clone(),
                    channel: channel.to_string(),
                    published_at: published_at.clone(),
                    accounts: image.launch_permission_accounts.clone(),
                    groups: image.launch_permission_groups.clone(),
                    ssm_parameter: image.ssm_parameter.clone(),
                };
                (place, ami)
            })
            .collect();
        let results = match imgs_build::publish::publish_amis(&jobs) {
            Ok(results) => results,
            Err(message) => return fail(&publication, message),
        };
        let mut failed = false;
        image.amis = jobs
            .iter()
            .zip(results)
            .map(|((place, _), result)| match result {
                Ok(done) => ChannelMove {
                    region: place.region.clone(),
                    already: done.already && done.moved_from.is_empty(),
                    from: done.moved_from,
                    to: Some(place.ami_id.clone()),
                    unknown: None,
                },
                Err(why) => {
                    failed = true;
                    errors.push(format!("`{}` in {}: {why}", record.image, place.region));
                    ChannelMove {
                        region: place.region.clone(),
                        to: Some(place.ami_id.clone()),
                        unknown: Some(why),
                        ..ChannelMove::default()
                    }
                }
            })
            .collect();
        // A docker image is tagged `<docker_repository>:<channel>` and pushed, after the AMIs.
        if let Some(reference) = &image.docker_tag {
            let docker_images: Vec<&str> = record
                .builds
                .iter()
                .filter(|b| b.builder_type == "docker" && b.files.is_empty())
                .map(|b| b.artifact_id.as_str())
                .collect();
            if docker_images.is_empty() {
                failed = true;
                errors.push(format!(
                    "`{}` has docker_repository but no docker image to push (a docker build with `commit = true`)",
                    record.image
                ));
            }
            for id in docker_images {
                if let Err(why) = imgs_build::publish::push_docker(id, reference) {
                    failed = true;
                    errors.push(format!(
                        "`{}`: pushing {reference} failed: {why}",
                        record.image
                    ));
                }
            }
        }
        if !failed {
            file.images.insert(
                record.image.clone(),
                ChannelEntry {
                    fingerprint: record.fingerprint.to_string(),
                    artifacts: image.artifacts.clone(),
                    files: record
                        .builds
                        .iter()
                        .flat_map(|b| b.files.iter().cloned())
                        .collect(),
                    published_at: published_at.clone(),
                },
            );
        }
        publication.images.push(image);
    }
    if let Err(e) = write_channel_file(&path, &file) {
        errors.push(format!("cannot write {}: {e}", path.display()));
    }
    if errors.is_empty() {
        Ok(publication)
    } else {
        fail(&publication, errors.join("\n"))
    }
}

fn failure_text(failure: Failure) -> String {
    match failure {
        Failure::Input(d) => d.to_string(),
        Failure::Other(m) | Failure::Locked { message: m, .. } => m,
    }
}

/// The channel file as it is, or an empty one (a file that does not read is replaced: EC2's tags
/// say the same, and this publish rewrites what it covers).
fn read_channel_file(path: &Path, channel: &str) -> ChannelFile {
    let read = std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<ChannelFile>(&bytes).ok());
    let mut file = read.unwrap_or_default();
    file.channel = channel.to_string();
    file
}

fn write_channel_file(path: &Path, file: &ChannelFile) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
    text.push(b'\n');
    // A directory in its place is damage (imgs never makes one there): the publish replaces a
    // channel file that does not read, and the prune refuses until it is replaced.
    imgs_atomic_file::remove_damage(path)?;
    imgs_atomic_file::write_atomically(path, &text)
}

/// Per image, the fingerprints of the channels that point at it (`cache/channels/*.json`), for
/// `imgs graph`: image → (channel, fingerprint).
pub(crate) fn channels_by_image(ws: &Workspace) -> BTreeMap<String, Vec<(String, String)>> {
    let mut by_image: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(cache_dir(ws).join("channels")) else {
        return by_image;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let Some(channel) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let file = read_channel_file(&path, channel);
        for (image, entry) in file.images {
            by_image
                .entry(image)
                .or_default()
                .push((channel.to_string(), entry.fingerprint));
        }
    }
    by_image
}

/// `imgs publish --channel NAME`: every selected image (and the images it is built on) must be
/// fresh at its current fingerprint; then each is published.
pub fn publish(cx: &Context, args: &PublishOptions) -> Result<Output, Failure> {
    check_channel(&args.channel)?;
    let ws = cx.load_workspace()?;
    let selected = ws.select(&Selection {
        include: args.images.clone(),
        exclude: Vec::new(),
    })?;
    let _lock = if args.dry_run {
        None
    } else {
        Some(super::cache::lock_workspace(
            &ws.root,
            "imgs publish",
            args.no_wait,
        )?)
    };
    let filter = BuildFilter::default();
    let planned = compute_plan(
        cx,
        &ws,
        &selected,
        &args.variables,
        &filter,
        false,
        CloudLookup::Online,
    )?;
    let mut problems = Vec::new();
    let mut records = Vec::new();
    for image in &planned.plan.images {
        match &image.action {
            Action::Fresh { record, .. } => {
                if let Some(revoked) = planned.plan.revoked.get(&image.name) {
                    problems.push(
                        Diagnostic::error(format!(
                            "`{}` is revoked ({}): {}",
                            image.name, revoked.version, revoked.reason
                        ))
                        .key(image.name.clone())
                        .hint(format!(
                            "a revoked version is never published; `imgs build --force -i {}` builds a new one",
                            image.name
                        )),
                    );
                }
                records.push((**record).clone());
            }
            Action::Build { reasons } => {
                let why = reasons
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                problems.push(
                    Diagnostic::error(format!(
                        "`{}` is not built at its current fingerprint {} ({why}): there is nothing to publish",
                        image.name,
                        image.fingerprint.short()
                    ))
                    .key(image.name.clone())
                    .hint(format!(
                        "`imgs build -i {0}` builds it (`imgs build -i {0} --channel {1}` builds and publishes)",
                        image.name, args.channel
                    )),
                );
            }
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Input(Diagnostics(problems)));
    }
    if args.dry_run {
        let publication = preview(
            cx,
            &planned.plan,
            &args.channel,
            &args.variables,
            &filter,
            CloudLookup::Online,
        )?;
        return Ok(Output {
            stdout: render_preview(&publication),
            warnings: planned.warnings,
        });
    }
    match publish_records(cx, &ws, &args.variables, &filter, &args.channel, &records) {
        Ok(publication) => Ok(Output {
            stdout: render_published(&publication),
            warnings: planned.warnings,
        }),
        Err((publication, message)) => Err(Failure::Other(format!(
            "{}publishing to {} failed:\n  {}\nrun `imgs publish --channel {}` again to finish it",
            render_published(&publication),
            args.channel,
            message.replace('\n', "\n  "),
            args.channel
        ))),
    }
}

/// One line per image: what publishing it would do.
pub fn render_preview(publication: &ChannelPublication) -> String {
    let mut out = String::new();
    for image in &publication.images {
        out.push_str(&format!(
            "{:>12} {} to {}: {}\n",
            "Publish",
            image.image,
            publication.channel,
            details(image)
        ));
    }
    out
}

/// One line per image: what publishing it did; and the count.
pub fn render_published(publication: &ChannelPublication) -> String {
    let mut out = String::new();
    for image in &publication.images {
        out.push_str(&format!(
            "{:>12} {}@{} to {}: {}\n",
            "Published",
            image.image,
            &image.fingerprint[..image.fingerprint.len().min(12)],
            publication.channel,
            details(image)
        ));
    }
    let n = publication.images.len();
    out.push_str(&format!(
        "{n} image{} published to {}\n",
        if n == 1 { "" } else { "s" },
        publication.channel
    ));
    out
}

/// The channel moves, then the SSM parameter, launch permissions and docker tag.
fn details(image: &ImagePublication) -> String {
    let mut parts: Vec<String> = Vec::new();
    for ami in &image.amis {
        let to = ami.to.as_deref().unwrap_or("the AMI this run builds");
        parts.push(if ami.already {
            format!("{} {to} already in channel", ami.region)
        } else if let Some(why) = &ami.unknown {
            let why = why.lines().next().unwrap_or_default();
            format!("{} → {to} (channel now unknown: {why})", ami.region)
        } else if ami.from.is_empty() {
            format!("{} (none) → {to}", ami.region)
        } else {
            format!("{} {} → {to}", ami.region, ami.from.join(","))
        });
    }
    if image.amis.is_empty() {
        parts.push(if image.to_build {
            "the artifact this run builds".to_string()
        } else {
            image.artifacts.join(", ")
        });
    }
    if let Some(parameter) = &image.ssm_parameter {
        parts.push(format!("SSM {parameter}"));
    }
    if !image.launch_permission_accounts.is_empty() {
        parts.push(format!(
            "accounts {}",
            image.launch_permission_accounts.join(",")
        ));
    }
    if !image.launch_permission_groups.is_empty() {
        parts.push(format!(
            "groups {}",
            image.launch_permission_groups.join(",")
        ));
    }
    if let Some(tag) = &image.docker_tag {
        parts.push(format!("docker {tag}"));
    }
    parts.join("; ")
}

/// The second phase of `imgs build --channel NAME`, once every image of the run is done: publish
/// them all (`records`, in plan order) and say what was done.
pub(crate) fn after_build(
    cx: &Context,
    ws: &Workspace,
    variables: &VariableOptions,
    filter: &BuildFilter,
    channel: &str,
    records: &[CacheRecord],
    emit: &dyn Fn(super::events::Event<'_>),
) -> Result<(), String> {
    match publish_records(cx, ws, variables, filter, channel, records) {
        Ok(publication) => {
            emit(super::events::Event::Published {
                publication: &publication,
            });
            Ok(())
        }
        Err((publication, message)) => Err(format!(
            "every image was built, but publishing to {channel} failed:\n{}  {}\n  = hint: `imgs publish --channel {channel}` publishes the built images (each step can be repeated)",
            render_published(&publication),
            message.replace('\n', "\n  "),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_in_place_of_the_channel_file_is_replaced_by_the_next_write() {
        let cache = tempfile::tempdir().unwrap();
        let path = cache.path().join("channels/prod.json");
        std::fs::create_dir_all(path.join("inside")).unwrap();
        let file = read_channel_file(&path, "prod");
        assert!(file.images.is_empty());
        write_channel_file(&path, &file).unwrap();
        assert_eq!(read_channel_file(&path, "other").images.len(), 0);
        assert!(path.is_file());
    }
}
