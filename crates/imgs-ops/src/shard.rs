//! `--shard K/N` and `--wave W` on `imgs plan` and `imgs build`: one runner's part of the workspace
//! (the assignment is `imgs_workspace::shard`'s), and the rule that a shard builds only its own
//! images: a parent from another shard or an earlier wave must already be fresh (in the local or
//! remote cache, or on EC2 by its `imgs:fingerprint` tag), else its wave has not finished.

use std::collections::{BTreeMap, BTreeSet};

use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_plan::Plan;
use imgs_workspace::shard::{self, Place, ShardSpec};
use imgs_workspace::{Selected, Workspace};

use super::{Context, Failure, PlanWithWarnings};
use crate::options::{PlanOptions, ShardOptions};

/// A plan narrowed to one shard, with where every image of the workspace runs.
pub struct ShardedPlan {
    /// Only the shard's images (of `--wave` when given).
    pub planned: PlanWithWarnings,
    pub shard: ShardSpec,
    pub wave: Option<usize>,
    /// How many waves the workspace has.
    pub waves: usize,
    pub places: BTreeMap<String, Place>,
}

/// `imgs plan --shard K/N [--wave W]`: the plan of the shard's images only.
pub fn plan_sharded(cx: &Context, args: &PlanOptions) -> Result<ShardedPlan, Failure> {
    let ws = cx.load_workspace()?;
    let spec = args.shard.shard.unwrap_or(ShardSpec::ALL);
    let mut planned = super::plan::plan(cx, args)?;
    let places = shard::assign(&ws.lineage, spec.count);
    planned.plan.images.retain(|image| image.requested);
    // Wave by wave, as the runners build them (a stable sort: parents stay before children).
    planned
        .plan
        .images
        .sort_by_key(|image| places.get(&image.name).map_or(0, |p| p.wave));
    Ok(ShardedPlan {
        planned,
        shard: spec,
        wave: args.shard.wave,
        waves: shard::wave_count(&ws.lineage),
        places,
    })
}

/// The selection narrowed to the shard's images (of `--wave` when given), with the parents they need.
pub(crate) fn narrow(
    ws: &Workspace,
    options: &ShardOptions,
    selected: Selected,
) -> Result<Selected, Failure> {
    if !options.is_set() {
        return Ok(selected);
    }
    let spec = options.shard.unwrap_or(ShardSpec::ALL);
    let waves = shard::wave_count(&ws.lineage);
    if let Some(wave) = options.wave
        && wave >= waves
    {
        return Err(Diagnostic::error(format!(
            "there is no wave {wave}: the workspace's images are in waves 0 to {}",
            waves.saturating_sub(1)
        ))
        .key(format!("--wave {wave}"))
        .hint("`imgs plan --all --shard 1/1` shows every image's wave")
        .into());
    }
    let places = shard::assign(&ws.lineage, spec.count);
    let mine = |name: &String| {
        places.get(name).is_some_and(|place| {
            place.shard == spec.index && options.wave.is_none_or(|w| place.wave == w)
        })
    };
    let requested: BTreeSet<String> = selected.requested.into_iter().filter(mine).collect();
    let needed = ws
        .lineage
        .with_ancestors(requested.iter().map(String::as_str));
    Ok(Selected { requested, needed })
}

/// A sharded build builds only its own images: every parent outside the shard must be fresh.
pub(crate) fn parents_must_be_fresh(
    ws: &Workspace,
    options: &ShardOptions,
    planned: PlanWithWarnings,
) -> Result<PlanWithWarnings, Failure> {
    if !options.is_set() {
        return Ok(planned);
    }
    let spec = options.shard.unwrap_or(ShardSpec::ALL);
    let places = shard::assign(&ws.lineage, spec.count);
    let problems = unbuilt_parents(&planned.plan, &places, spec);
    if problems.is_empty() {
        Ok(planned)
    } else {
        Err(Failure::Input(Diagnostics(problems)))
    }
}

/// One error per parent of the shard's images that this shard would have to build.
fn unbuilt_parents(
    plan: &Plan,
    places: &BTreeMap<String, Place>,
    spec: ShardSpec,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for image in plan
        .images
        .iter()
        .filter(|i| !i.requested && i.action.is_build())
    {
        let Some(place) = places.get(&image.name) else {
            continue;
        };
        let children: Vec<String> = plan
            .images
            .iter()
            .filter(|child| child.requested && child.parents.iter().any(|(_, p)| *p == image.name))
            .map(|child| format!("`{}`", child.name))
            .collect();
        let built_by = if place.shard == spec.index || spec.count == 1 {
            format!("wave {}", place.wave)
        } else {
            format!("wave {}, shard {}/{}", place.wave, place.shard, spec.count)
        };
        let needed_by = match children.len() {
            0 => "an image of this shard is".to_string(),
            1 => format!("{} of this shard is", children[0]),
            _ => format!("{} of this shard are", children.join(", ")),
        };
        problems.push(
            Diagnostic::error(format!(
                "parent `{}` ({built_by}) is not built, and {needed_by} built on it: wave {} has \
                 not finished",
                image.name, place.wave
            ))
            .key(image.name.clone())
            .hint(format!(
                "build wave {w} first (`imgs build --wave {w} --shard K/{n}` for every K from 1 to \
                 {n}); a shard builds only its own images, and finds its parents fresh in the cache \
                 or on EC2 by their imgs:fingerprint tag",
                w = place.wave,
                n = spec.count,
            )),
        );
    }
    problems
}
