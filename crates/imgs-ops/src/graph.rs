use std::collections::BTreeSet;

use imgs_diagnostic::Diagnostics;
use imgs_plan::Plan;
use imgs_template::BuildFilter;
use imgs_workspace::Selection;

use super::{Context, Failure, PlanWithWarnings, compute_plan};
use crate::options::GraphOptions;

/// What `imgs graph` draws: the plan of the images shown, which images those are, and the warnings
/// planning gave. The front end renders it (`imgs_report::render_graph`).
pub struct GraphData {
    pub plan: Plan,
    pub shown: BTreeSet<String>,
    pub warnings: Diagnostics,
    /// Per image, the channels that point at a version of it: `(channel, fingerprint)`.
    pub channels: std::collections::BTreeMap<String, Vec<(String, String)>>,
}

/// `imgs graph`: the lineage with each image's status and known artifacts.
pub fn graph(cx: &Context, args: &GraphOptions) -> Result<GraphData, Failure> {
    let ws = cx.load_workspace()?;
    // Checks the names given with -i.
    ws.select(&Selection {
        include: args.image.clone(),
        exclude: vec![],
    })?;
    let shown = if args.image.is_empty() {
        ws.names().map(str::to_string).collect()
    } else {
        let names = args.image.iter().map(String::as_str);
        match (args.ancestors, args.descendants) {
            (true, _) => ws.lineage.with_ancestors(names),
            (_, true) => ws.lineage.with_descendants(names),
            _ => {
                let mut both = ws.lineage.with_ancestors(names.clone());
                both.extend(ws.lineage.with_descendants(names));
                both
            }
        }
    };
    let selected = ws.select(&Selection {
        include: shown.iter().cloned().collect(),
        exclude: vec![],
    })?;
    let PlanWithWarnings { plan, warnings } = compute_plan(
        cx,
        &ws,
        &selected,
        &args.variables,
        &BuildFilter::default(),
        false,
        super::CloudLookup::Offline,
    )?;
    Ok(GraphData {
        plan,
        shown,
        warnings,
        channels: super::publish::channels_by_image(&ws),
    })
}
