//! `imgs ci github`: the workflow that fans the workspace's build out over CI runners, its waves
//! read from the workspace (see `imgs_workspace::shard`).

use imgs_workspace::shard;

use super::{Context, Failure, Output};

/// `imgs ci github` options.
#[derive(Debug, Clone)]
pub struct CiGithubOptions {
    /// N of `--shard K/N`: at most this many runners per wave.
    pub shards: usize,
    /// The command of the step that installs imgs on a runner.
    pub install: String,
}

/// The workflow, as YAML on stdout.
pub fn ci_github(cx: &Context, args: &CiGithubOptions) -> Result<Output, Failure> {
    let ws = cx.load_workspace()?;
    let waves = shard::waves(&ws.lineage);
    let mut sizes = vec![0; shard::wave_count(&ws.lineage)];
    for wave in waves.values() {
        sizes[*wave] += 1;
    }
    Ok(
        imgs_report::render_github_workflow(&imgs_report::GithubWorkflow {
            wave_sizes: &sizes,
            shards: args.shards,
            install: &args.install,
        })
        .into(),
    )
}
