use imgs_plan::{Action, Plan};
use serde_json::{Value, json};

use crate::artifact_summary;

/// The plan as aligned lines, cargo-style:
///
/// ```text
///     Fresh base        1a2b3c4d5e6f  cache/artifacts/base/base.qcow2
///     Build hardened    9f8e7d6c5b4a  `images/hardened/harden.sh` changed
///     Build app-web     0a1b2c3d4e5f  parent `hardened` will be rebuilt
///     Fresh ami-app     5e4d3c2b1a09  us-east-1:ami-0abc (AMI found by imgs:fingerprint tag)
/// 2 to build, 2 fresh
/// ```
/// How an artifact found without a local record was found: an AMI by its `imgs:fingerprint` tag,
/// a docker image in a registry by its `imgs-<fingerprint>` tag.
pub fn found_by_tag_note(artifact: &str) -> &'static str {
    if artifact.contains(":imgs-") && !artifact.contains("ami-") {
        "found in its registry by the imgs-<fingerprint> tag"
    } else {
        "AMI found by imgs:fingerprint tag"
    }
}

pub fn render_plan(plan: &Plan) -> String {
    let width = plan.images.iter().map(|i| i.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for image in &plan.images {
        let (verb, detail) = match &image.action {
            Action::Fresh {
                record,
                found_by_tag,
            } => {
                let mut detail = artifact_summary(record);
                if *found_by_tag {
                    detail.push_str(&format!(" ({})", found_by_tag_note(&detail)));
                }
                if image.found_in_remote() {
                    detail.push_str(" (found in the remote cache)");
                }
                ("Fresh", detail)
            }
            Action::Build { reasons } => (
                "Build",
                reasons
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        };
        let mut note = if image.requested {
            String::new()
        } else {
            " (needed as a parent)".to_string()
        };
        note.push_str(&packer_note(image));
        out.push_str(&format!(
            "{verb:>12} {name:<width$}  {fp}  {detail}{note}\n",
            name = image.name,
            fp = image.fingerprint.short()
        ));
    }
    let build = plan.to_build().count();
    let fresh = plan.images.len() - build;
    out.push_str(&format!("{build} to build, {fresh} fresh\n"));
    out
}

/// ` (packer: REASON)` for an image the installed `packer` builds (any of its builds), else empty.
pub(crate) fn packer_note(image: &imgs_plan::ImagePlan) -> String {
    let reasons: Vec<String> = image
        .engines
        .iter()
        .filter(|e| e.engine == "packer")
        .map(|e| {
            let reason = e.reason.as_deref().unwrap_or("asked for");
            if image.engines.len() > 1 {
                format!("{}: {reason}", e.build)
            } else {
                reason.to_string()
            }
        })
        .collect();
    if reasons.is_empty() {
        String::new()
    } else {
        format!(" (packer: {})", reasons.join("; "))
    }
}

/// The plan for tools (`--message-format json`): one object, stable field names, no variable values.
pub fn plan_json(plan: &Plan) -> Value {
    let images: Vec<Value> = plan
        .images
        .iter()
        .map(|image| {
            let mut v = json!({
                "name": image.name,
                "fingerprint": image.fingerprint.to_string(),
                "requested": image.requested,
                "parents": image.parents.iter().map(|(variable, parent)| json!({"variable": variable, "image": parent})).collect::<Vec<_>>(),
                "engines": image.engines,
            });
            match &image.action {
                Action::Fresh {
                    record,
                    found_by_tag,
                } => {
                    v["status"] = json!("fresh");
                    v["artifacts"] = artifacts_json(record);
                    v["found_by_tag"] = json!(found_by_tag);
                    if image.found_in_remote() {
                        v["found_in_remote"] = json!(true);
                    }
                }
                Action::Build { reasons } => {
                    v["status"] = json!("build");
                    v["reasons"] = reasons
                        .iter()
                        .map(|r| {
                            let mut o = serde_json::to_value(r).unwrap_or(Value::Null);
                            o["message"] = json!(r.to_string());
                            o
                        })
                        .collect();
                }
            }
            v
        })
        .collect();
    let build = plan.to_build().count();
    json!({
        "reason": "plan",
        "images": images,
        "summary": {"build": build, "fresh": plan.images.len() - build},
    })
}

pub(crate) fn artifacts_json(record: &imgs_cache::CacheRecord) -> Value {
    record
        .builds
        .iter()
        .map(|b| {
            json!({
                "build": b.name,
                "builder_type": b.builder_type,
                "artifact_id": b.artifact_id,
                "files": b.files,
                "created_at": record.created_at,
            })
        })
        .collect()
}
