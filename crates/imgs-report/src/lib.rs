//! Human and machine renderings of what imgs knows: plans, lineage graphs (text, dot, mermaid, json),
//! diagnostics and `inspect`. Every function returns a `String`, so output is snapshot-tested as it is printed.
//!
//! None of these renderings include variable values: names only, so sensitive values cannot leak.

mod cache;
mod ci;
mod graph;
mod inspect;
mod plan;
mod shard;
mod timings;

use imgs_diagnostic::Diagnostics;

pub use cache::{
    UnusedAmi, cache_ls_json, human_bytes, render_cache_ls, render_deregister, render_prune,
};
pub use ci::{GithubWorkflow, render_github_workflow};
pub use graph::{GraphFormat, GraphView, render_graph};
pub use inspect::render_inspect;
pub use plan::{found_by_tag_note, plan_json, render_plan};
pub use shard::{ShardView, render_shard_plan, shard_plan_json};
pub use timings::{
    CriticalPath, ImageTiming, PhaseTiming, RunTimings, concurrency, critical_path, render_timings,
};

/// Diagnostics one after another, then a cargo-like summary line.
pub fn render_diagnostics(diagnostics: &Diagnostics, what: &str) -> String {
    let mut out = String::new();
    for d in &diagnostics.0 {
        out.push_str(&d.to_string());
        out.push_str("\n\n");
    }
    let errors = diagnostics.0.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        let plural = if errors == 1 { "" } else { "s" };
        out.push_str(&format!(
            "error: {what} failed with {errors} error{plural}\n"
        ));
    }
    out
}

/// The artifact of a fresh image, one `build: artifact` per build, for the plan and the graph. A build that
/// produced files is shown by its files (a qcow2 path says more than Packer's qemu artifact ID, `VM`); one
/// that produced none by its ID (`us-east-1:ami-…`).
fn artifact_summary(record: &imgs_cache::CacheRecord) -> String {
    record
        .builds
        .iter()
        .map(|b| {
            let shown = if b.files.is_empty() {
                b.artifact_id.clone()
            } else {
                b.files.join(", ")
            };
            if b.name == record.image {
                shown
            } else {
                format!("{}: {shown}", b.name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
