//! Decides, per image, `fresh` (an artifact with this fingerprint exists) or `build` (with the reasons).
//!
//! Reasons are cargo-style sentences derived from the difference between the image's current inputs and
//! the inputs recorded by its most recent build: "`images/app/provision.sh` changed",
//! "variable `app_version` changed", "parent `hardened` will be rebuilt". This crate does no I/O: the
//! caller computes inputs, looks records up and asks EC2 for AMIs by fingerprint ([`CloudImages`]).

mod cloud;

pub use cloud::{CloudAmi, CloudBuild, CloudImages, ami_pairs};

use std::collections::BTreeSet;
use std::fmt;

use imgs_cache::CacheRecord;
use imgs_fingerprint::{ChangeKind, Fingerprint, InputChange, InputKey, InputSet};
use serde::Serialize;

/// Why an image will be built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "subject", rename_all = "kebab-case")]
pub enum Reason {
    /// `--force` (or an equivalent request) asked for it.
    Forced,
    /// No build of this image was ever recorded.
    NeverBuilt,
    /// Recorded under an older fingerprint scheme.
    SchemeChanged,
    TemplateChanged,
    BuildAdded(String),
    BuildRemoved(String),
    FileChanged(String),
    FileAdded(String),
    FileRemoved(String),
    VariableChanged(String),
    VariableAdded(String),
    VariableRemoved(String),
    EnvChanged(String),
    /// What an outside input resolved to (Images.lock) changed, was added or is gone: its label,
    /// `source AMI (us-east-1)`.
    LockedChanged(String),
    LockedAdded(String),
    LockedRemoved(String),
    /// The parent is itself in this plan's builds.
    ParentRebuilt(String),
    /// The parent's fingerprint differs from the recorded one, but the parent has an artifact.
    ParentChanged(String),
    ParentAdded(String),
    ParentRemoved(String),
    /// Inputs equal a recorded build's, yet no record exists for this fingerprint (e.g. it was pruned).
    RecordMissing,
    /// The record of this fingerprint exists but cannot be read (damaged): it is ignored, and the
    /// build writes it anew.
    RecordUnreadable,
    /// The record's AMI was deregistered (or lost its `imgs:fingerprint` tag): the record is stale.
    AmiGone {
        ami: String,
        region: String,
    },
    /// A file the record names was deleted: the record is stale.
    ArtifactGone(String),
    /// The Docker image the record names is not in the local engine (removed, or another machine's
    /// record), and no registry has it under this fingerprint.
    ImageGone(String),
    /// Inputs unchanged, but the parent is rebuilt because its artifact is gone; this image was
    /// built on that artifact.
    ParentReplaced(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Forced => write!(f, "forced"),
            Reason::NeverBuilt => write!(f, "never built"),
            Reason::SchemeChanged => write!(f, "fingerprint scheme changed"),
            Reason::TemplateChanged => write!(f, "template changed"),
            Reason::BuildAdded(b) => write!(f, "build `{b}` added"),
            Reason::BuildRemoved(b) => write!(f, "build `{b}` removed"),
            Reason::FileChanged(p) => write!(f, "`{p}` changed"),
            Reason::FileAdded(p) => write!(f, "`{p}` added"),
            Reason::FileRemoved(p) => write!(f, "`{p}` removed"),
            Reason::VariableChanged(v) => write!(f, "variable `{v}` changed"),
            Reason::VariableAdded(v) => write!(f, "variable `{v}` added"),
            Reason::VariableRemoved(v) => write!(f, "variable `{v}` removed"),
            Reason::EnvChanged(v) => write!(f, "environment variable `{v}` changed"),
            Reason::LockedChanged(what) => write!(f, "locked {what} changed"),
            Reason::LockedAdded(what) => write!(f, "locked {what} added"),
            Reason::LockedRemoved(what) => write!(f, "locked {what} removed"),
            Reason::ParentRebuilt(p) | Reason::ParentReplaced(p) => {
                write!(f, "parent `{p}` will be rebuilt")
            }
            Reason::ParentChanged(p) => write!(f, "parent `{p}` changed"),
            Reason::ParentAdded(p) => write!(f, "parent `{p}` added"),
            Reason::ParentRemoved(p) => write!(f, "parent `{p}` removed"),
            Reason::RecordMissing => write!(f, "no cache record for this fingerprint"),
            Reason::RecordUnreadable => write!(f, "its cache record cannot be read"),
            Reason::AmiGone { ami, region } => write!(f, "AMI {ami} in {region} no longer exists"),
            Reason::ArtifactGone(path) => write!(f, "`{path}` no longer exists"),
            Reason::ImageGone(id) => write!(f, "docker image {id} is not in the Docker engine"),
        }
    }
}

/// What will happen to one image.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    Fresh {
        record: Box<CacheRecord>,
        /// No local record: the record was made from AMIs found by their `imgs:fingerprint` tag.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        found_by_tag: bool,
    },
    Build {
        reasons: Vec<Reason>,
    },
}

impl Action {
    pub fn is_build(&self) -> bool {
        matches!(self, Action::Build { .. })
    }
}

/// One image of a plan.
#[derive(Clone, Debug, Serialize)]
pub struct ImagePlan {
    pub name: String,
    pub fingerprint: Fingerprint,
    /// What the fingerprint was computed from; a build stores it in its cache record so the next plan can
    /// say what changed.
    #[serde(skip)]
    pub inputs: InputSet,
    /// `(template variable, parent image)`.
    pub parents: Vec<(String, String)>,
    /// False when the image is in the plan only because a requested image is built on it.
    pub requested: bool,
    /// Who runs each selected build, in template order.
    pub engines: Vec<BuildEngine>,
    #[serde(flatten)]
    pub action: Action,
    /// Fresh through the remote cache (no usable local record): what the build fetches.
    #[serde(skip)]
    pub remote: Option<Box<imgs_cache::remote::RemoteRecord>>,
}

/// The engine of one build of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuildEngine {
    pub build: String,
    /// `native` or `packer`.
    pub engine: String,
    /// Why Packer runs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ImagePlan {
    /// Whether it is fresh because the remote cache holds it.
    pub fn found_in_remote(&self) -> bool {
        self.remote.is_some() && !self.action.is_build()
    }

    /// Whether the installed `packer` runs any of its builds.
    pub fn uses_packer(&self) -> bool {
        self.engines.iter().any(|e| e.engine == "packer")
    }
}

/// Every selected image, parents before children.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    pub images: Vec<ImagePlan>,
    /// The images whose current artifact (the one a fresh image would be built on) is revoked.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub revoked: std::collections::BTreeMap<String, Revoked>,
}

/// A revoked version, as the plan found it (`imgs revoke`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Revoked {
    /// Which artifact or version: `region:ami-…`, or the fingerprint's short form.
    pub version: String,
    pub reason: String,
}

/// An image the plan would build on (or have fresh on) a revoked parent artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnRevoked<'a> {
    pub image: &'a str,
    pub parent: &'a str,
    pub revoked: &'a Revoked,
}

impl Plan {
    pub fn get(&self, name: &str) -> Option<&ImagePlan> {
        self.images.iter().find(|i| i.name == name)
    }

    pub fn to_build(&self) -> impl Iterator<Item = &ImagePlan> {
        self.images.iter().filter(|i| i.action.is_build())
    }

    pub fn fresh(&self) -> impl Iterator<Item = &ImagePlan> {
        self.images.iter().filter(|i| !i.action.is_build())
    }

    /// Names of the images this plan builds so far (for deciding children, in topological order).
    pub fn building(&self) -> BTreeSet<&str> {
        self.to_build().map(|i| i.name.as_str()).collect()
    }

    /// Every image whose parent's current artifact is revoked and is not being replaced in this
    /// plan: built on it, the image would carry what the revocation is for.
    pub fn on_revoked(&self) -> Vec<OnRevoked<'_>> {
        let mut found = Vec::new();
        for image in &self.images {
            for (_, parent) in &image.parents {
                let rebuilt = self.get(parent).is_some_and(|p| p.action.is_build());
                if let Some(revoked) = self.revoked.get(parent)
                    && !rebuilt
                {
                    found.push(OnRevoked {
                        image: &image.name,
                        parent,
                        revoked,
                    });
                }
            }
        }
        found
    }

    /// What children decided next need to know of the images decided so far.
    pub fn parents(&self) -> Parents<'_> {
        Parents {
            building: self.building(),
            replaced: self
                .to_build()
                .filter(|i| match &i.action {
                    Action::Build { reasons } => reasons.iter().any(|r| {
                        matches!(
                            r,
                            Reason::AmiGone { .. }
                                | Reason::ArtifactGone(_)
                                | Reason::ParentReplaced(_)
                        )
                    }),
                    Action::Fresh { .. } => false,
                })
                .map(|i| i.name.as_str())
                .collect(),
        }
    }
}

/// The images already decided, as their children see them.
#[derive(Clone, Debug, Default)]
pub struct Parents<'a> {
    /// Images this plan builds.
    pub building: BTreeSet<&'a str>,
    /// Images rebuilt under an unchanged fingerprint because their artifact is gone: their
    /// children were built on that artifact and are rebuilt on the new one. (`--force` alone
    /// does not count: forcing an image leaves its children as they are.)
    pub replaced: BTreeSet<&'a str>,
}

/// What the local cache holds for one image, as its decision needs it.
#[derive(Clone, Debug, Default)]
pub struct Recorded<'a> {
    /// The record for the current fingerprint, if any.
    pub exact: Option<CacheRecord>,
    /// Files `exact` names that no longer exist: the record is stale.
    pub gone_files: &'a [String],
    /// Docker images `exact` names that the local engine no longer has: the record is stale.
    pub gone_images: &'a [String],
    /// A record made from an image found elsewhere under the current fingerprint (a registry the
    /// image is pushed to): it stands in when there is no record or the record is stale.
    pub found_elsewhere: Option<CacheRecord>,
    /// The image's most recent record, to explain a rebuild.
    pub latest: Option<&'a CacheRecord>,
}

/// Decide one image.
///
/// `recorded` is what the local cache holds for it; `parents` the images already decided (its parents
/// among them matter); `cloud` what EC2 holds under the current fingerprint, when it was asked (`None`:
/// offline, no amazon-ebs build, or the lookup failed; then local records decide alone).
pub fn decide(
    image: &str,
    current: &InputSet,
    recorded: Recorded<'_>,
    parents: &Parents<'_>,
    force: bool,
    cloud: Option<&CloudImages>,
) -> Action {
    if force {
        return Action::Build {
            reasons: vec![Reason::Forced],
        };
    }
    let Recorded {
        exact,
        gone_files,
        gone_images,
        found_elsewhere,
        latest,
    } = recorded;
    if exact.is_some() && !(gone_files.is_empty() && gone_images.is_empty()) {
        if let Some(found) = found_elsewhere {
            return Action::Fresh {
                record: Box::new(found),
                found_by_tag: true,
            };
        }
        return Action::Build {
            reasons: gone_files
                .iter()
                .map(|path| Reason::ArtifactGone(path.clone()))
                .chain(gone_images.iter().map(|id| Reason::ImageGone(id.clone())))
                .collect(),
        };
    }
    let action = decide_inputs(
        image,
        current,
        exact,
        latest,
        &parents.building,
        cloud,
        found_elsewhere,
    );
    if !action.is_build() {
        let replaced: Vec<Reason> = current
            .iter()
            .filter_map(|(key, _)| match key {
                InputKey::Parent(p) if parents.replaced.contains(p.as_str()) => {
                    Some(Reason::ParentReplaced(p.clone()))
                }
                _ => None,
            })
            .collect();
        if !replaced.is_empty() {
            return Action::Build { reasons: replaced };
        }
    }
    action
}

/// [`decide`] without `--force` and replaced parents: by records and the cloud alone.
fn decide_inputs(
    image: &str,
    current: &InputSet,
    exact: Option<CacheRecord>,
    latest: Option<&CacheRecord>,
    building: &BTreeSet<&str>,
    cloud: Option<&CloudImages>,
    found_elsewhere: Option<CacheRecord>,
) -> Action {
    let fresh = |record: CacheRecord, found_by_tag| Action::Fresh {
        record: Box::new(record),
        found_by_tag,
    };
    let by_tag = cloud
        .and_then(|c| c.record(image, current))
        .or(found_elsewhere);
    if let Some(record) = exact {
        let gone = cloud.map(|c| c.gone(&record)).unwrap_or_default();
        if gone.is_empty() {
            return fresh(record, false);
        }
        // Another machine may have rebuilt it; otherwise the record is stale.
        if let Some(found) = by_tag {
            return fresh(found, true);
        }
        return Action::Build {
            reasons: gone
                .into_iter()
                .map(|(region, ami)| Reason::AmiGone { ami, region })
                .collect(),
        };
    }
    if let Some(found) = by_tag {
        return fresh(found, true);
    }
    let Some(latest) = latest else {
        return Action::Build {
            reasons: vec![Reason::NeverBuilt],
        };
    };
    let mut reasons: Vec<Reason> = current
        .diff(&latest.inputs)
        .iter()
        .filter_map(|c| reason(c, building))
        .collect();
    if reasons.contains(&Reason::SchemeChanged) {
        // Every other difference is an artifact of the new scheme's encoding, not a user change.
        reasons = vec![Reason::SchemeChanged];
    }
    if reasons.is_empty() {
        reasons.push(Reason::RecordMissing);
    }
    Action::Build { reasons }
}

fn reason(change: &InputChange, building: &BTreeSet<&str>) -> Option<Reason> {
    use ChangeKind::*;
    let kind = change.kind;
    Some(match &change.key {
        InputKey::Scheme => Reason::SchemeChanged,
        InputKey::Template => Reason::TemplateChanged,
        InputKey::Build {
            name,
            kind: builder,
        } => {
            let label = if name == builder {
                name.clone()
            } else {
                format!("{name}` (`{builder}`")
            };
            match kind {
                Added => Reason::BuildAdded(label),
                Removed => Reason::BuildRemoved(label),
                Modified => Reason::TemplateChanged,
            }
        }
        InputKey::File(path) => match kind {
            Added => Reason::FileAdded(path.clone()),
            Removed => Reason::FileRemoved(path.clone()),
            Modified => Reason::FileChanged(path.clone()),
        },
        InputKey::Variable(name) => match kind {
            Added => Reason::VariableAdded(name.clone()),
            Removed => Reason::VariableRemoved(name.clone()),
            Modified => Reason::VariableChanged(name.clone()),
        },
        InputKey::Env(name) => Reason::EnvChanged(name.clone()),
        InputKey::Locked(name) => {
            let what = imgs_fingerprint::locked_label(name);
            match kind {
                Added => Reason::LockedAdded(what),
                Removed => Reason::LockedRemoved(what),
                Modified => Reason::LockedChanged(what),
            }
        }
        InputKey::Parent(name) => match kind {
            Removed => Reason::ParentRemoved(name.clone()),
            _ if building.contains(name.as_str()) => Reason::ParentRebuilt(name.clone()),
            Added => Reason::ParentAdded(name.clone()),
            Modified => Reason::ParentChanged(name.clone()),
        },
    })
}

#[cfg(test)]
mod tests {
    fn decide_local(
        current: &InputSet,
        exact: Option<CacheRecord>,
        latest: Option<&CacheRecord>,
        building: &BTreeSet<&str>,
        force: bool,
    ) -> Action {
        let parents = Parents {
            building: building.clone(),
            replaced: BTreeSet::new(),
        };
        decide(
            "app",
            current,
            Recorded {
                exact,
                gone_files: &[],
                gone_images: &[],
                found_elsewhere: None,
                latest,
            },
            &parents,
            force,
            None,
        )
    }

    use super::*;

    /// `app`'s action with its exact record (if any), no parents, not forced, and what the cloud
    /// lookup found (`None`: not asked).
    fn decide_app(
        current: &InputSet,
        exact: Option<CacheRecord>,
        cloud: Option<&CloudImages>,
    ) -> Action {
        let recorded = Recorded {
            exact,
            gone_files: &[],
            gone_images: &[],
            found_elsewhere: None,
            latest: None,
        };
        decide("app", current, recorded, &Parents::default(), false, cloud)
    }

    fn h(s: &str) -> blake3::Hash {
        blake3::hash(s.as_bytes())
    }

    fn inputs(entries: &[(InputKey, &str)]) -> InputSet {
        let mut set = InputSet::new();
        for (k, v) in entries {
            set.insert(k.clone(), h(v));
        }
        set
    }

    fn record(inputs: InputSet) -> CacheRecord {
        CacheRecord::new("app", inputs, vec![], "run-1")
    }

    fn reasons(action: Action) -> Vec<String> {
        match action {
            Action::Build { reasons } => reasons.iter().map(ToString::to_string).collect(),
            Action::Fresh { .. } => vec!["fresh".into()],
        }
    }

    #[test]
    fn exact_record_is_fresh_and_no_record_is_never_built() {
        let now = inputs(&[(InputKey::Template, "t")]);
        assert!(
            !decide_local(
                &now,
                Some(record(now.clone())),
                None,
                &BTreeSet::new(),
                false
            )
            .is_build()
        );
        assert_eq!(
            reasons(decide_local(&now, None, None, &BTreeSet::new(), false)),
            ["never built"]
        );
        assert_eq!(
            reasons(decide_local(
                &now,
                Some(record(now.clone())),
                None,
                &BTreeSet::new(),
                true
            )),
            ["forced"]
        );
    }

    #[test]
    fn reasons_name_what_changed() {
        let file = InputKey::File("images/app/provision.sh".into());
        let var = InputKey::Variable("app_version".into());
        let parent = InputKey::Parent("hardened".into());
        let before = inputs(&[
            (file.clone(), "a"),
            (var.clone(), "1"),
            (parent.clone(), "p1"),
        ]);
        let now = inputs(&[(file, "b"), (var, "2"), (parent, "p2")]);
        let latest = record(before);
        let building: BTreeSet<&str> = ["hardened"].into();
        assert_eq!(
            reasons(decide_local(&now, None, Some(&latest), &building, false)),
            [
                "variable `app_version` changed",
                "`images/app/provision.sh` changed",
                "parent `hardened` will be rebuilt"
            ]
        );
        assert_eq!(
            reasons(decide_local(
                &now,
                None,
                Some(&latest),
                &BTreeSet::new(),
                false
            ))[2],
            "parent `hardened` changed"
        );
    }

    #[test]
    fn scheme_change_hides_encoding_noise() {
        let before = inputs(&[(InputKey::Scheme, "1"), (InputKey::Template, "a")]);
        let now = inputs(&[(InputKey::Scheme, "2"), (InputKey::Template, "b")]);
        assert_eq!(
            reasons(decide_local(
                &now,
                None,
                Some(&record(before)),
                &BTreeSet::new(),
                false
            )),
            ["fingerprint scheme changed"]
        );
    }

    fn ebs_record(inputs: InputSet, id: &str) -> CacheRecord {
        CacheRecord::new(
            "app",
            inputs,
            vec![imgs_cache::BuildArtifact {
                name: "ebs".into(),
                builder_type: "amazon-ebs".into(),
                artifact_id: id.into(),
                files: vec![],
            }],
            "run-1",
        )
    }

    fn cloud(found: &[(&str, &str)]) -> CloudImages {
        CloudImages {
            builds: vec![CloudBuild {
                name: "ebs".into(),
                builder_type: "amazon-ebs".into(),
                regions: vec!["us-east-1".into()],
            }],
            other_builds: false,
            found: found
                .iter()
                .map(|(region, ami)| CloudAmi {
                    region: region.to_string(),
                    ami_id: ami.to_string(),
                    run_id: "run-2".into(),
                    created_at: String::new(),
                    revoked: None,
                })
                .collect(),
        }
    }

    #[test]
    fn an_ami_found_by_tag_makes_an_image_without_record_fresh() {
        let now = inputs(&[(InputKey::Template, "t")]);
        let found = cloud(&[("us-east-1", "ami-1")]);
        match decide_app(&now, None, Some(&found)) {
            Action::Fresh {
                record,
                found_by_tag,
            } => {
                assert!(found_by_tag);
                assert_eq!(record.builds[0].artifact_id, "us-east-1:ami-1");
                assert_eq!(record.fingerprint, now.fingerprint());
            }
            other => panic!("{other:?}"),
        }
        // Nothing found: as without the cloud.
        assert_eq!(
            reasons(decide_app(&now, None, Some(&cloud(&[])))),
            ["never built"]
        );
    }

    #[test]
    fn a_record_whose_ami_is_gone_is_stale() {
        let now = inputs(&[(InputKey::Template, "t")]);
        let exact = ebs_record(now.clone(), "us-east-1:ami-1");
        assert_eq!(
            reasons(decide_app(&now, Some(exact.clone()), Some(&cloud(&[])))),
            ["AMI ami-1 in us-east-1 no longer exists"]
        );
        // Still there: the local record stands.
        let still = decide_app(
            &now,
            Some(exact.clone()),
            Some(&cloud(&[("us-east-1", "ami-1")])),
        );
        assert!(matches!(
            still,
            Action::Fresh {
                found_by_tag: false,
                ..
            }
        ));
        // Rebuilt elsewhere under the same fingerprint: that AMI is used.
        let elsewhere = decide_app(
            &now,
            Some(exact.clone()),
            Some(&cloud(&[("us-east-1", "ami-9")])),
        );
        assert!(matches!(
            elsewhere,
            Action::Fresh {
                found_by_tag: true,
                ..
            }
        ));
        // Not asked (offline, lookup failed): the record decides.
        assert!(!decide_app(&now, Some(exact), None).is_build());
    }

    #[test]
    fn a_docker_image_gone_from_the_engine_is_found_in_its_registry_or_rebuilt() {
        let now = inputs(&[(InputKey::Template, "t")]);
        let gone = ["sha256:1a2b".to_string()];
        let decide_with = |found_elsewhere: Option<CacheRecord>| {
            decide(
                "app",
                &now,
                Recorded {
                    exact: Some(record(now.clone())),
                    gone_files: &[],
                    gone_images: &gone,
                    found_elsewhere,
                    latest: None,
                },
                &Parents::default(),
                false,
                None,
            )
        };
        assert_eq!(
            reasons(decide_with(None)),
            ["docker image sha256:1a2b is not in the Docker engine"]
        );
        // Pushed under this fingerprint: the registry's copy stands in, and children pull it.
        assert!(matches!(
            decide_with(Some(record(now.clone()))),
            Action::Fresh {
                found_by_tag: true,
                ..
            }
        ));
        // No record at all, but the registry has it.
        let never_here = decide(
            "app",
            &now,
            Recorded {
                found_elsewhere: Some(record(now.clone())),
                ..Recorded::default()
            },
            &Parents::default(),
            false,
            None,
        );
        assert!(matches!(
            never_here,
            Action::Fresh {
                found_by_tag: true,
                ..
            }
        ));
    }

    #[test]
    fn a_record_whose_file_is_gone_is_stale_and_its_children_are_rebuilt() {
        let now = inputs(&[(InputKey::Template, "t")]);
        let gone = ["cache/artifacts/app/1a2b/app.qcow2".to_string()];
        let action = decide(
            "app",
            &now,
            Recorded {
                exact: Some(record(now.clone())),
                gone_files: &gone,
                gone_images: &[],
                found_elsewhere: None,
                latest: None,
            },
            &Parents::default(),
            false,
            None,
        );
        assert_eq!(
            reasons(action.clone()),
            ["`cache/artifacts/app/1a2b/app.qcow2` no longer exists"]
        );
        let plan = Plan {
            images: vec![ImagePlan {
                name: "app".into(),
                fingerprint: now.fingerprint(),
                inputs: now.clone(),
                parents: vec![],
                requested: true,
                engines: vec![],
                action,
                remote: None,
            }],
            ..Plan::default()
        };
        assert!(plan.parents().replaced.contains("app"));
        // Without a record, missing files say nothing: the image is decided by its inputs.
        assert_eq!(
            reasons(decide(
                "app",
                &now,
                Recorded {
                    exact: None,
                    gone_files: &gone,
                    gone_images: &[],
                    found_elsewhere: None,
                    latest: None,
                },
                &Parents::default(),
                false,
                None
            )),
            ["never built"]
        );
    }

    #[test]
    fn children_of_an_image_whose_ami_is_gone_are_rebuilt_but_not_children_of_a_forced_one() {
        let parent = InputKey::Parent("mid".into());
        let now = inputs(&[(InputKey::Template, "t"), (parent, "p")]);
        let exact = ebs_record(now.clone(), "us-east-1:ami-1");
        let found = cloud(&[("us-east-1", "ami-1")]);
        let replaced = Parents {
            building: ["mid"].into(),
            replaced: ["mid"].into(),
        };
        assert_eq!(
            reasons(decide(
                "leaf",
                &now,
                Recorded {
                    exact: Some(exact.clone()),
                    gone_files: &[],
                    gone_images: &[],
                    found_elsewhere: None,
                    latest: None,
                },
                &replaced,
                false,
                Some(&found)
            )),
            ["parent `mid` will be rebuilt"]
        );
        let forced = Parents {
            building: ["mid"].into(),
            replaced: BTreeSet::new(),
        };
        assert!(
            !decide(
                "leaf",
                &now,
                Recorded {
                    exact: Some(exact),
                    gone_files: &[],
                    gone_images: &[],
                    found_elsewhere: None,
                    latest: None,
                },
                &forced,
                false,
                Some(&found)
            )
            .is_build()
        );
    }

    #[test]
    fn replaced_images_are_those_rebuilt_for_a_gone_artifact() {
        let plan_of = |reasons: Vec<Reason>| Plan {
            images: vec![ImagePlan {
                name: "mid".into(),
                fingerprint: InputSet::new().fingerprint(),
                inputs: InputSet::new(),
                parents: vec![],
                requested: true,
                engines: vec![],
                action: Action::Build { reasons },
                remote: None,
            }],
            ..Plan::default()
        };
        let gone = plan_of(vec![Reason::AmiGone {
            ami: "ami-1".into(),
            region: "us-east-1".into(),
        }]);
        assert_eq!(gone.parents().replaced, BTreeSet::from(["mid"]));
        let forced = plan_of(vec![Reason::Forced]);
        assert!(forced.parents().replaced.is_empty());
        assert_eq!(forced.parents().building, BTreeSet::from(["mid"]));
    }
}
