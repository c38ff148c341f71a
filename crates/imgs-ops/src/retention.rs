//! `imgs prune --keep N`: per image, keep the newest versions (local records with their artifact
//! directories, and AMIs in every region the workspace builds or copies to), never the current one,
//! one a channel points at, or one a kept version was built on; remove the rest. The decision is
//! imgs-cache's [`decide_retention`]; this gathers its input and carries it out, with the local
//! removal done by `imgs cache prune`'s own code.

use std::collections::BTreeMap;
use std::path::Path;

use imgs_build::cloud::{self, UnusedArtifact};
use imgs_cache::{
    BuiltOn, Cache, CacheRecord, ImageState, Inventory, Kept, RetentionPolicy, Status, Verdict,
    Version, apply_prune, decide_prune, decide_retention,
};
use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_fingerprint::{Fingerprint, InputKey};
use imgs_workspace::{Selection, Workspace};

use super::fingerprint::{cache_dir, planning_variables};
use super::{Context, Failure, Output};
use crate::options::VariableOptions;

/// `imgs prune`'s options.
#[derive(Clone, Debug, Default)]
pub struct PruneOptions {
    pub images: Vec<String>,
    pub keep: usize,
    pub older_than_days: Option<u64>,
    pub channel_keep: bool,
    pub dry_run: bool,
    pub no_wait: bool,
    pub variables: VariableOptions,
}

/// Every version of the workspace's images: what the decision sees, and where each one is.
pub(crate) struct Gathered {
    pub versions: Vec<Version>,
    /// Per version, its AMIs and who can reach them.
    pub amis: Vec<Vec<UnusedArtifact>>,
    /// Per version, its local record.
    pub records: Vec<Option<CacheRecord>>,
    /// Channel files that do not read.
    pub channel_problems: Vec<Diagnostic>,
}

/// Reads every local record and lists every AMI of the workspace's images (unless `cloud` is
/// false), grouped by image and fingerprint.
pub(crate) fn gather(
    cx: &Context,
    ws: &Workspace,
    variables: &VariableOptions,
    records: Vec<CacheRecord>,
) -> Result<Gathered, Failure> {
    let names: Vec<String> = ws.images.iter().map(|i| i.name.clone()).collect();
    let planned = planning_variables(cx, ws, variables)?;
    let templates: Vec<_> = planned
        .iter()
        .map(|(t, r)| (t.as_ref(), r.clone()))
        .collect();
    let artifacts = cloud::workspace_artifacts(
        &templates,
        &imgs_template::BuildFilter::default(),
        &ws.root,
        &names,
    )
    .map_err(Failure::Other)?;
    let (channels, channel_problems) = channel_files(&cache_dir(ws));
    let mut gathered = Gathered {
        versions: Vec::new(),
        amis: Vec::new(),
        records: Vec::new(),
        channel_problems,
    };
    let at = |gathered: &mut Gathered, image: &str, fingerprint: &str| -> usize {
        if let Some(i) = gathered
            .versions
            .iter()
            .position(|v| v.image == image && v.fingerprint == fingerprint)
        {
            return i;
        }
        gathered.versions.push(Version {
            image: image.to_string(),
            fingerprint: fingerprint.to_string(),
            channels: channels
                .iter()
                .filter(|(_, images)| images.get(image).map(String::as_str) == Some(fingerprint))
                .map(|(channel, _)| channel.clone())
                .collect(),
            ..Version::default()
        });
        gathered.amis.push(Vec::new());
        gathered.records.push(None);
        gathered.versions.len() - 1
    };
    for record in records {
        if !names.contains(&record.image) {
            continue;
        }
        let i = at(
            &mut gathered,
            &record.image,
            &record.fingerprint.to_string(),
        );
        let version = &mut gathered.versions[i];
        version.local = true;
        later(&mut version.created_at, &record.created_at);
        for (key, hash) in record.inputs.iter() {
            if let InputKey::Parent(parent) = key {
                version.built_on.push(BuiltOn::Version {
                    image: parent.clone(),
                    fingerprint: Fingerprint::from(*hash).to_string(),
                });
            }
        }
        gathered.records[i] = Some(record);
    }
    for artifact in artifacts {
        // An AMI made outside a workspace build has no fingerprint: not a version imgs knows.
        let Some(fingerprint) = artifact.ami.fingerprint.clone() else {
            continue;
        };
        let i = at(&mut gathered, &artifact.ami.image, &fingerprint);
        let version = &mut gathered.versions[i];
        version.amis.push(artifact.ami.ami_id.clone());
        later(&mut version.created_at, &artifact.ami.created_at);
        for channel in &artifact.ami.channels {
            if !version.channels.contains(channel) {
                version.channels.push(channel.clone());
            }
        }
        if let Some(source) = &artifact.ami.source_ami {
            version.built_on.push(BuiltOn::Ami(source.clone()));
        }
        gathered.amis[i].push(artifact);
    }
    Ok(gathered)
}

fn later(at: &mut String, other: &str) {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    if at.is_empty() || parse(other) > parse(at) {
        *at = other.to_string();
    }
}

/// `cache/channels/NAME.json`: per channel, image → fingerprint. Read leniently (`{"images":
/// {"base": {"fingerprint": "…"}}}`, `{"base": {"fingerprint": "…"}}` or `{"base": "…"}`). A
/// channel file that does not read would protect nothing, so it is returned as a problem, and the
/// prune refuses.
fn channel_files(cache_dir: &Path) -> ChannelFiles {
    let mut channels = Vec::new();
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(cache_dir.join("channels")) else {
        return (channels, problems);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let read = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| e.to_string())
            });
        // JSON of another shape (images that are not an object, an image without a fingerprint)
        // protects nothing just as unreadable bytes do: it is a problem too, not an empty channel.
        let read = read.and_then(|value| channel_images(&value));
        match read {
            Ok(map) => channels.push((name.to_string(), map)),
            Err(why) => problems.push(
                Diagnostic::error(format!("cannot read the channel file: {why}"))
                    .in_file(&path)
                    .hint("the prune keeps what channels point at, so it removes nothing until every channel file reads; `imgs publish --channel NAME` writes it anew"),
            ),
        }
    }
    channels.sort();
    (channels, problems)
}

/// A channel file's image → fingerprint, in any of the forms [`channel_files`] reads.
fn channel_images(value: &serde_json::Value) -> Result<BTreeMap<String, String>, String> {
    let images = value.get("images").unwrap_or(value);
    let object = images
        .as_object()
        .ok_or("its images are not an object of image names")?;
    let mut map = BTreeMap::new();
    for (image, v) in object {
        let fingerprint = v
            .as_str()
            .or_else(|| v.get("fingerprint").and_then(|f| f.as_str()))
            .ok_or_else(|| format!("`{image}` names no fingerprint"))?;
        map.insert(image.clone(), fingerprint.to_string());
    }
    Ok(map)
}

/// Per channel, image → fingerprint; and the channel files that did not read.
type ChannelFiles = (Vec<(String, BTreeMap<String, String>)>, Vec<Diagnostic>);

/// `imgs prune`.
pub fn prune(cx: &Context, args: &PruneOptions) -> Result<Output, Failure> {
    let ws = cx.load_workspace()?;
    // Checks the names.
    ws.select(&Selection {
        include: args.images.clone(),
        exclude: vec![],
    })?;
    let cache_dir = cache_dir(&ws);
    let _lock = if args.dry_run {
        None
    } else {
        Some(super::cache::lock_workspace(
            &ws.root,
            "imgs prune",
            args.no_wait,
        )?)
    };
    let cache = Cache::open(&cache_dir);
    let io = |e: std::io::Error| Failure::Other(format!("cannot read the cache: {e}"));
    let scanned = cache.scan().map_err(io)?;
    let mut records = Vec::new();
    for item in &scanned {
        match item {
            imgs_cache::Scanned::Record(record) => records.push(record.clone()),
            imgs_cache::Scanned::Unreadable(u) => {
                return Err(Diagnostic::error(format!(
                    "cannot read a cache record of `{}`: {}",
                    u.image, u.error
                ))
                .in_file(&u.path)
                .hint("move the file out of the cache (or delete it if its artifacts are not needed), then prune again; nothing was removed")
                .into());
            }
        }
    }
    let current = current_fingerprints(cx, &ws, &args.variables)?;
    let gathered = gather(cx, &ws, &args.variables, records)?;
    if !gathered.channel_problems.is_empty() {
        let mut diagnostics = gathered.channel_problems.clone();
        diagnostics.push(Diagnostic::warning("nothing was removed"));
        return Err(Failure::Input(Diagnostics(diagnostics)));
    }
    let images: Vec<ImageState> = ws
        .images
        .iter()
        .map(|i| ImageState {
            name: i.name.clone(),
            current: current.get(&i.name).map(ToString::to_string),
            selected: args.images.is_empty() || args.images.contains(&i.name),
        })
        .collect();
    let verdicts = decide_retention(
        &images,
        &gathered.versions,
        &RetentionPolicy {
            keep: args.keep,
            older_than_days: args.older_than_days,
            channel_keep: args.channel_keep,
            now: chrono::Utc::now(),
        },
    );

    // Local: `imgs cache prune`'s decision and removal, with the records this policy removes as
    // the ones that are not current.
    let removed_records: Vec<(String, Fingerprint)> = gathered
        .versions
        .iter()
        .zip(&verdicts)
        .zip(&gathered.records)
        .filter(|((_, verdict), record)| !verdict.is_kept() && record.is_some())
        .map(|((v, _), record)| {
            let record = record.as_ref().expect("filtered");
            (v.image.clone(), record.fingerprint)
        })
        .collect();
    let selected = |image: &str| images.iter().any(|i| i.name == image && i.selected);
    let inventory = Inventory::gather(&ws.root, scanned, |record| {
        if removed_records
            .iter()
            .any(|(image, fp)| *image == record.image && *fp == record.fingerprint)
        {
            Status::Older
        } else {
            Status::Current
        }
    })
    .and_then(|inventory| {
        inventory.with_versions(cache.versions()?, |run| {
            super::gc::still_running(&cache_dir, run)
        })
    })
    .map_err(io)?;
    // Version directories of images not selected are theirs to prune.
    let mut inventory = inventory;
    inventory.versions.retain(|v| selected(&v.image));
    let local_plan = decide_prune(&inventory).map_err(|refusals| {
        let mut diagnostics: Vec<Diagnostic> = refusals
            .into_iter()
            .map(|r| Diagnostic::error(r.message).hint(r.hint))
            .collect();
        diagnostics.push(Diagnostic::warning("nothing was removed"));
        Failure::Input(Diagnostics(diagnostics))
    })?;

    let removed_amis: Vec<UnusedArtifact> = gathered
        .amis
        .iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| !verdict.is_kept())
        .flat_map(|(amis, _)| amis.iter().cloned())
        .collect();
    let mut failed = Vec::new();
    if !args.dry_run {
        // AMIs first: a record removed before its AMI would make the next plan look the AMI up
        // and keep it fresh, so a half-done prune is finished by running it again.
        failed = cloud::retire(&removed_amis).map_err(Failure::Other)?;
        apply_prune(&cache, &local_plan).map_err(|e| {
            Failure::Other(format!(
                "{e}\nthe prune stopped part way; run it again to finish"
            ))
        })?;
    }
    let stdout = render(
        &gathered,
        &verdicts,
        &images,
        &local_plan,
        args.dry_run,
        &failed,
    );
    if !failed.is_empty() {
        return Err(Failure::Other(format!(
            "{stdout}could not deregister {} AMI{}; run the prune again to retry",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" }
        )));
    }
    Ok(Output {
        stdout,
        warnings: Diagnostics::default(),
    })
}

/// Every image's fingerprint now, as `imgs plan --all --offline` computes it (all builds: a prune
/// has no `--only`).
fn current_fingerprints(
    cx: &Context,
    ws: &Workspace,
    variables: &VariableOptions,
) -> Result<BTreeMap<String, Fingerprint>, Failure> {
    super::cache::current_fingerprints(cx, ws, variables, &Default::default()).map_err(|f| match f {
        Failure::Input(mut d) => {
            d.0.push(Diagnostic::warning(
                "nothing was removed: which versions are current is not known while the workspace has errors",
            ));
            Failure::Input(d)
        }
        other => other,
    })
}

/// The table: one row per version of a selected image, newest first, then the totals.
fn render(
    gathered: &Gathered,
    verdicts: &[Verdict],
    images: &[ImageState],
    local: &imgs_cache::PrunePlan,
    dry_run: bool,
    failed: &[(String, String)],
) -> String {
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut order: Vec<usize> = (0..gathered.versions.len())
        .filter(|&i| verdicts[i] != Verdict::Keep(Kept::NotSelected))
        .collect();
    order.sort_by(|&a, &b| {
        let (va, vb) = (&gathered.versions[a], &gathered.versions[b]);
        let pos = |name: &str| images.iter().position(|i| i.name == name);
        pos(&va.image)
            .cmp(&pos(&vb.image))
            .then_with(|| vb.created_at.cmp(&va.created_at))
    });
    let (mut removed, mut kept) = (0, 0);
    for i in order {
        let version = &gathered.versions[i];
        let mut places: Vec<String> = gathered.amis[i]
            .iter()
            .map(|a| format!("{}:{}", a.ami.region, a.ami.ami_id))
            .collect();
        places.sort();
        if version.local {
            places.insert(0, "local".to_string());
        }
        let what = match &verdicts[i] {
            Verdict::Remove => {
                removed += 1;
                if dry_run {
                    "would remove".to_string()
                } else {
                    "removed".to_string()
                }
            }
            Verdict::Keep(why) => {
                kept += 1;
                format!("kept: {}", kept_why(why))
            }
        };
        rows.push([
            version.image.clone(),
            short(&version.fingerprint),
            places.join(","),
            version.created_at.clone(),
            what,
        ]);
    }
    let header = ["IMAGE", "FINGERPRINT", "WHERE", "CREATED", "VERDICT"].map(str::to_string);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let amis: usize = gathered
        .amis
        .iter()
        .zip(verdicts)
        .filter(|(_, v)| !v.is_kept())
        .map(|(a, _)| a.len())
        .sum();
    let amis = amis - failed.len();
    out.push_str(&format!(
        "{} {removed} version{} ({amis} AMI{} with their snapshots, {} local record{}, {} artifact director{}), kept {kept}\n",
        if dry_run { "Would remove" } else { "Removed" },
        plural(removed),
        plural(amis),
        local.records.len(),
        plural(local.records.len()),
        local.dirs(),
        if local.dirs() == 1 { "y" } else { "ies" },
    ));
    for (what, why) in failed {
        out.push_str(&format!("could not deregister {what}: {why}\n"));
    }
    out
}

fn kept_why(why: &Kept) -> String {
    match why {
        Kept::Current => "current".into(),
        Kept::Newest => "newest".into(),
        Kept::Channel(channels) => format!("channel {}", channels.join(",")),
        Kept::Recent => "newer than --older-than".into(),
        Kept::Parent { image, fingerprint } => {
            format!("{image}@{} built on it", short(fingerprint))
        }
        Kept::NotSelected => "not selected".into(),
    }
}

pub(crate) fn short(fingerprint: &str) -> String {
    fingerprint.chars().take(Fingerprint::SHORT_LEN).collect()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_file_of_another_shape_is_a_problem_not_an_empty_channel() {
        let cache = tempfile::tempdir().unwrap();
        let channels = cache.path().join("channels");
        std::fs::create_dir_all(&channels).unwrap();
        let file = |name: &str, text: &str| std::fs::write(channels.join(name), text).unwrap();
        file("a.json", r#"{"images": {"base": {"fingerprint": "f1"}}}"#);
        file("b.json", r#"{"base": "f2"}"#);
        file("c.json", r#"{"channel": "c", "images": 17}"#);
        file("d.json", r#"{"images": {"base": {"fingerprint": 17}}}"#);
        file("e.json", "[1]");
        let (read, problems) = channel_files(cache.path());
        let names: Vec<&str> = read.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(read[0].1["base"], "f1");
        assert_eq!(problems.len(), 3);
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("`base` names no fingerprint")),
            "{text:?}"
        );
    }
}
