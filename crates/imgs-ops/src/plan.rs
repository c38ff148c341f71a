use imgs_workspace::Selection;

use super::{CloudLookup, Context, Failure, PlanWithWarnings, build_filter, compute_plan};
use crate::options::{PlanOptions, SelectionOptions};

/// `imgs plan`: fresh or build, and why, for every selected image and the parents it needs. The
/// front end renders it (`imgs_report::render_plan`, `plan_json`).
pub fn plan(cx: &Context, args: &PlanOptions) -> Result<PlanWithWarnings, Failure> {
    let ws = cx.load_workspace()?;
    let selection = selection(cx, &ws, &args.selection);
    let selected = ws.select(&selection)?;
    let selected = super::changed_since::narrow(
        cx,
        &ws,
        &args.selection,
        &args.variables,
        &build_filter(&args.filter),
        selected,
    )?;
    let selected = super::shard::narrow(&ws, &args.shard, selected)?;
    compute_plan(
        cx,
        &ws,
        &selected,
        &args.variables,
        &build_filter(&args.filter),
        false,
        if args.offline {
            CloudLookup::Offline
        } else {
            CloudLookup::Online
        },
    )
    .and_then(super::revoke::refuse_on_revoked)
}

/// Cargo's defaults: `--all` or `-i` as given; otherwise the image whose directory we are in, or all.
pub fn selection(
    cx: &Context,
    ws: &imgs_workspace::Workspace,
    args: &SelectionOptions,
) -> Selection {
    let mut include = args.image.clone();
    if include.is_empty() && !args.all && cx.manifest_path.is_none() {
        include.extend(ws.image_containing(&cx.cwd).map(|image| image.name.clone()));
    }
    Selection {
        include,
        exclude: args.exclude.clone(),
    }
}
