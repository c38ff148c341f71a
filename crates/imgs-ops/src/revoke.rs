//! `imgs revoke NAME@FINGERPRINT|AMI-ID [--descendants]`: marks versions revoked — the
//! `imgs:revoked` tag on their AMIs and snapshots in every region (and EC2's deprecation where
//! offered), and `cache/revoked.json` — and, for every plan, which images stand on a revoked
//! version: a plan or build of such an image fails, naming the parent, the version and the reason.

use std::path::Path;

use imgs_cache::{Cache, CacheRecord, Revocations, RevokedVersion, descendants};
use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_plan::{Action, CloudImages, Revoked};
use imgs_workspace::Workspace;

use super::fingerprint::cache_dir;
use super::retention::{gather, short};
use super::{Context, Failure, Output, PlanWithWarnings};
use crate::options::VariableOptions;

/// `imgs revoke`'s options.
#[derive(Clone, Debug, Default)]
pub struct RevokeOptions {
    /// `NAME@FINGERPRINT` (a prefix of it will do) or an AMI ID.
    pub target: String,
    pub descendants: bool,
    pub reason: Option<String>,
    pub no_wait: bool,
    pub variables: VariableOptions,
}

/// The revocation list of the workspace; one that does not read stops the plan (read as empty, it
/// would let builds on revoked parents through).
pub(crate) fn load_revocations(ws: &Workspace, cache_dir: &Path) -> Result<Revocations, Failure> {
    Revocations::load(cache_dir).map_err(|e| {
        Diagnostic::error(format!("cannot read the revocation list: {e}"))
            .in_file(&ws.root.join("cache").join(imgs_cache::REVOKED_FILE))
            .hint("it is what `imgs revoke` writes; restore it from a backup, or revoke the versions again")
            .into()
    })
}

/// Whether the image's current artifact — the record a fresh image stands on — is revoked: by an
/// `imgs:revoked` tag EC2 gave with its AMIs, or in `cache/revoked.json` for that build.
pub(crate) fn revoked_now(
    image: &str,
    action: &Action,
    cloud: Option<&CloudImages>,
    revocations: &Revocations,
) -> Option<Revoked> {
    let Action::Fresh { record, .. } = action else {
        return None;
    };
    if let Some((ami, reason)) = cloud.and_then(|c| c.revoked(record)) {
        return Some(Revoked {
            version: ami,
            reason,
        });
    }
    let fingerprint = record.fingerprint.to_string();
    revocations
        .find(image, &fingerprint, &record.run_id)
        .map(|r| Revoked {
            version: format!("{image}@{}", short(&fingerprint)),
            reason: r.reason.clone(),
        })
}

/// Fails the plan when an image in it stands on a revoked parent that it does not rebuild.
pub(crate) fn refuse_on_revoked(planned: PlanWithWarnings) -> Result<PlanWithWarnings, Failure> {
    let found = planned.plan.on_revoked();
    if found.is_empty() {
        return Ok(planned);
    }
    let diagnostics = found
        .iter()
        .map(|on| {
            Diagnostic::error(format!(
                "`{}` is built on `{}`, whose version {} is revoked: {}",
                on.image, on.parent, on.revoked.version, on.revoked.reason
            ))
            .hint(format!(
                "change {parent}'s inputs, or `imgs build --force -i {parent}` builds a new version",
                parent = on.parent
            ))
        })
        .collect();
    Err(Failure::Input(Diagnostics(diagnostics)))
}

/// `imgs revoke`.
pub fn revoke(cx: &Context, args: &RevokeOptions) -> Result<Output, Failure> {
    let ws = cx.load_workspace()?;
    let cache_dir = cache_dir(&ws);
    let _lock = super::cache::lock_workspace(&ws.root, "imgs revoke", args.no_wait)?;
    let cache = Cache::open(&cache_dir);
    let records: Vec<CacheRecord> = cache
        .scan()
        .map_err(|e| Failure::Other(format!("cannot read the cache: {e}")))?
        .into_iter()
        .filter_map(|s| match s {
            imgs_cache::Scanned::Record(r) => Some(r),
            imgs_cache::Scanned::Unreadable(_) => None,
        })
        .collect();
    let gathered = gather(cx, &ws, &args.variables, records)?;
    let versions = &gathered.versions;
    let target = args.target.trim();
    let root = if target.starts_with("ami-") {
        let found: Vec<usize> = (0..versions.len())
            .filter(|&i| versions[i].amis.iter().any(|a| a == target))
            .collect();
        match found.as_slice() {
            [one] => *one,
            _ => {
                return Err(Diagnostic::error(format!(
                    "no AMI {target} of this workspace's images was found"
                ))
                .key(target)
                .hint("`imgs prune --keep 1000 --dry-run` lists every version with its AMIs")
                .into());
            }
        }
    } else {
        let Some((image, prefix)) = target.split_once('@') else {
            return Err(Diagnostic::error(format!(
                "`{target}` is neither NAME@FINGERPRINT nor an AMI ID"
            ))
            .key(target)
            .hint("`imgs plan` prints each image's fingerprint: `imgs revoke base@1a2b3c4d5e6f`")
            .into());
        };
        if ws.image(image).is_none() {
            return Err(
                Diagnostic::error(format!("no image `{image}` in the workspace"))
                    .key(target)
                    .into(),
            );
        }
        let found: Vec<usize> = (0..versions.len())
            .filter(|&i| {
                versions[i].image == image
                    && !prefix.is_empty()
                    && versions[i].fingerprint.starts_with(prefix)
            })
            .collect();
        match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(Diagnostic::error(format!(
                    "`{image}` has no version {prefix} (no local record and no AMI)"
                ))
                .key(target)
                .hint("`imgs prune --keep 1000 --dry-run` lists every version")
                .into());
            }
            several => {
                let list: Vec<String> = several
                    .iter()
                    .map(|&i| short(&versions[i].fingerprint))
                    .collect();
                return Err(Diagnostic::error(format!(
                    "`{prefix}` is the start of {} versions of `{image}`: {}",
                    several.len(),
                    list.join(", ")
                ))
                .key(target)
                .hint("give more of the fingerprint")
                .into());
            }
        }
    };
    let mut chosen = vec![root];
    if args.descendants {
        chosen.extend(descendants(versions, &[root]));
    }
    let reason = args
        .reason
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "revoked".to_string());
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut revocations = load_revocations(&ws, &cache_dir)?;
    let mut out = String::new();
    let mut failures = Vec::new();
    for &i in &chosen {
        let version = &versions[i];
        let amis = &gathered.amis[i];
        let results = imgs_build::cloud::revoke(amis, &reason).map_err(Failure::Other)?;
        let mut places: Vec<String> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        let mut deprecation_refused = None;
        for (artifact, result) in amis.iter().zip(results) {
            let place = format!("{}:{}", artifact.ami.region, artifact.ami.ami_id);
            match result {
                Ok(imgs_aws::Deprecation::Set(at)) => {
                    notes.push(format!("{place} deprecated from {at}"))
                }
                Ok(imgs_aws::Deprecation::NotSet(why)) => deprecation_refused = Some(why),
                Err(e) => failures.push(format!("{place}: {e}")),
            }
            places.push(place);
        }
        places.sort();
        let run_id = match &gathered.records[i] {
            Some(record) => record.run_id.clone(),
            None => amis
                .iter()
                .max_by(|a, b| a.ami.created_at.cmp(&b.ami.created_at))
                .map(|a| a.ami.run_id.clone())
                .unwrap_or_default(),
        };
        revocations.add(RevokedVersion {
            image: version.image.clone(),
            fingerprint: version.fingerprint.clone(),
            run_id,
            amis: places.clone(),
            reason: reason.clone(),
            revoked_at: now.clone(),
        });
        let mut wheres = places;
        if version.local {
            wheres.insert(0, "local record".to_string());
        }
        out.push_str(&format!(
            "{:>12} {}@{} ({}){}\n",
            "Revoked",
            version.image,
            short(&version.fingerprint),
            wheres.join(", "),
            if i == root {
                String::new()
            } else {
                " built on it".to_string()
            }
        ));
        for note in notes {
            out.push_str(&format!("{:>12} {note}\n", ""));
        }
        if let Some(why) = deprecation_refused {
            out.push_str(&format!(
                "{:>12} EC2 did not deprecate it (EnableImageDeprecation: {}); only the imgs:revoked tag was set\n",
                "",
                first_line(&why)
            ));
        }
    }
    revocations.save(&cache_dir).map_err(|e| {
        Failure::Other(format!(
            "cannot write {}: {e}",
            cache_dir.join(imgs_cache::REVOKED_FILE).display()
        ))
    })?;
    out.push_str(&format!(
        "{} version{} revoked: {reason}\n",
        chosen.len(),
        if chosen.len() == 1 { "" } else { "s" }
    ));
    if !failures.is_empty() {
        return Err(Failure::Other(format!(
            "{out}could not tag {} AMI{} as revoked:\n  {}\nrun the revoke again to retry",
            failures.len(),
            if failures.len() == 1 { "" } else { "s" },
            failures.join("\n  ")
        )));
    }
    Ok(Output {
        stdout: out,
        warnings: Diagnostics::default(),
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
