//! `--max-per-region N` and `--max-per-builder TYPE=N`: which resources each image's builds hold
//! while they run, and the limit on each, for the scheduler (`imgs_schedule::walk_limited`).
//!
//! An image holds `builder:TYPE` for the type of each of its selected builds, and `region:NAME` for
//! the build region of each of its amazon-ebs builds (where its instances run; the regions AMIs are
//! copied to hold no instance). An image with no cloud build holds no region, so `--max-per-region`
//! does not bound it. A fresh image builds nothing and holds nothing.

use std::collections::BTreeMap;

use imgs_plan::ImagePlan;
use imgs_schedule::Limits;
use imgs_template::{BuildFilter, Invocation};
use imgs_workspace::Workspace;

use super::fingerprint::workspace_variables;

/// The key of a region in the scheduler's limits.
pub(crate) fn region_key(region: &str) -> String {
    format!("region:{region}")
}

/// The key of a builder type in the scheduler's limits.
pub(crate) fn builder_key(builder_type: &str) -> String {
    format!("builder:{builder_type}")
}

/// The resources `image_plan`'s builds hold, read as planned (a parent's artifact as a placeholder:
/// neither a build's type nor its region depends on it). Settings that do not read give no region;
/// the build then fails on them before it starts anything.
pub(crate) fn resources_of(
    ws: &Workspace,
    image_plan: &ImagePlan,
    base: &Invocation,
    filter: &BuildFilter,
) -> Vec<String> {
    if !image_plan.action.is_build() {
        return Vec::new();
    }
    let Some(image) = ws.image(&image_plan.name) else {
        return Vec::new();
    };
    let invocation = Invocation {
        workspace_vars: workspace_variables(ws, image),
        ..base.clone()
    };
    let Ok(template) = imgs_template::instantiate(&image.template, &invocation) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = template
        .builders
        .iter()
        .filter(|b| filter.selects(&b.name))
        .map(|b| builder_key(&b.kind))
        .collect();
    if let Ok(variables) = imgs_template::resolve_variables(&template, &invocation)
        && let Ok(targets) = imgs_build::aws_targets(&template, &variables, filter, &ws.root)
    {
        keys.extend(targets.iter().map(|t| region_key(&t.client.region)));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The per-builder limits of a run: Images.toml's `[workspace.limits] max_per_builder`, each type
/// given on the command line (`--max-per-builder`) replacing its entry.
pub(crate) fn per_builder(
    workspace: &imgs_workspace::limits::Limits,
    flags: &[(String, usize)],
) -> Vec<(String, usize)> {
    let mut merged = workspace.max_per_builder.clone();
    merged.extend(flags.iter().cloned());
    merged.into_iter().collect()
}

/// The scheduler's limits: `jobs` in all, `max_per_region` on every region an image holds, and each
/// `max_per_builder` on its type.
pub(crate) fn limits(
    jobs: usize,
    max_per_region: Option<usize>,
    max_per_builder: &[(String, usize)],
    resources: &[Vec<String>],
) -> Limits {
    let mut per_resource = BTreeMap::new();
    if let Some(n) = max_per_region {
        for key in resources.iter().flatten() {
            if key.starts_with("region:") {
                per_resource.insert(key.clone(), n);
            }
        }
    }
    for (builder_type, n) in max_per_builder {
        per_resource.insert(builder_key(builder_type), *n);
    }
    Limits { jobs, per_resource }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_held_gets_the_region_limit_and_each_named_type_its_own() {
        let resources = vec![
            vec![builder_key("amazon-ebs"), region_key("us-east-1")],
            vec![builder_key("amazon-ebs"), region_key("eu-west-1")],
            vec![builder_key("qemu")],
        ];
        let limits = limits(4, Some(2), &[("amazon-ebs".into(), 3)], &resources);
        assert_eq!(limits.jobs, 4);
        assert_eq!(
            limits.per_resource,
            BTreeMap::from([
                ("builder:amazon-ebs".to_string(), 3),
                ("region:eu-west-1".to_string(), 2),
                ("region:us-east-1".to_string(), 2),
            ])
        );
        assert!(
            super::limits(0, None, &[], &resources)
                .per_resource
                .is_empty()
        );
    }

    #[test]
    fn a_flag_replaces_the_workspace_limit_of_its_builder_type_only() {
        let workspace = imgs_workspace::limits::Limits {
            max_per_region: Some(3),
            max_per_builder: BTreeMap::from([("amazon-ebs".into(), 4), ("qemu".into(), 1)]),
        };
        assert_eq!(
            per_builder(&workspace, &[("qemu".into(), 2), ("docker".into(), 5)]),
            [
                ("amazon-ebs".to_string(), 4),
                ("docker".to_string(), 5),
                ("qemu".to_string(), 2)
            ]
        );
    }
}
