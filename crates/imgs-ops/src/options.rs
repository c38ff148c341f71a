//! What each command is asked to do, as plain data: the command line fills these in (with clap, in the
//! binary), tests and other front ends build them directly.

use std::path::PathBuf;

/// Which images: like cargo's `-p`/`--workspace`/`--exclude`.
#[derive(Debug, Clone, Default)]
pub struct SelectionOptions {
    /// Every image of the workspace (the default outside an image directory).
    pub all: bool,
    /// These images and the images they are built on.
    pub image: Vec<String>,
    /// Left out of the selection.
    pub exclude: Vec<String>,
    /// Only the images whose inputs changed since this git revision, and the images built on them.
    pub changed_since: Option<String>,
}

/// Template variables, with Packer's precedence (var files in order, then variables in order).
#[derive(Debug, Clone, Default)]
pub struct VariableOptions {
    pub var: Vec<(String, String)>,
    pub var_file: Vec<PathBuf>,
}

/// Packer's `-only` and `-except`.
#[derive(Debug, Clone, Default)]
pub struct BuildFilterOptions {
    pub only: Vec<String>,
    pub except: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub selection: SelectionOptions,
    pub variables: VariableOptions,
    pub filter: BuildFilterOptions,
    /// Decide from local records only: no cloud lookup by fingerprint.
    pub offline: bool,
    /// Only one shard's images (of one wave).
    pub shard: ShardOptions,
    /// `--channel NAME`: also show what publishing to this channel would do.
    pub channel: Option<String>,
}

/// `--shard K/N` and `--wave W`: one runner's part of the selection, for fanning a build out over
/// several machines (see `imgs_workspace::shard`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ShardOptions {
    pub shard: Option<imgs_workspace::shard::ShardSpec>,
    pub wave: Option<usize>,
}

impl ShardOptions {
    /// Whether the selection is narrowed at all.
    pub fn is_set(&self) -> bool {
        self.shard.is_some() || self.wave.is_some()
    }
}

#[derive(Debug, Clone, Default)]
pub struct GraphOptions {
    /// Draw the lineage through these images only.
    pub image: Vec<String>,
    /// Only the images they are built on.
    pub ancestors: bool,
    /// Only the images built on them.
    pub descendants: bool,
    pub variables: VariableOptions,
}

#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// A template file to check on its own, outside any workspace.
    pub template: Option<PathBuf>,
    pub selection: SelectionOptions,
    pub variables: VariableOptions,
    pub filter: BuildFilterOptions,
    /// Syntax only: no variable resolution, no per-type checks.
    pub syntax_only: bool,
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// A template file to build on its own, outside any workspace.
    pub template: Option<PathBuf>,
    pub selection: SelectionOptions,
    pub variables: VariableOptions,
    pub filter: BuildFilterOptions,
    /// Build the selected images even when they are fresh.
    pub force: bool,
    pub on_error: OnError,
    /// How many images at once (`None`: every image whose parents are ready).
    pub jobs: Option<usize>,
    /// After a failure, go on with every image that does not depend on it.
    pub keep_going: bool,
    /// Plan and build nothing.
    pub dry_run: bool,
    /// Plan from local records only.
    pub offline: bool,
    pub message_format: MessageFormat,
    /// Every build's output as it happens, also on a terminal.
    pub verbose: bool,
    /// Write the timings report: `Some(None)` to the default place, `Some(Some(path))` to `path`.
    pub timings: Option<Option<PathBuf>>,
    /// Fail at once, rather than wait, when another imgs command holds the workspace lock.
    pub no_wait: bool,
    /// At most this many images building at once in one region (their amazon-ebs builds' region).
    pub max_per_region: Option<usize>,
    /// At most N images building at once with a build of this type.
    pub max_per_builder: Vec<(String, usize)>,
    /// Only one shard's images (of one wave); parents outside it must be fresh.
    pub shard: ShardOptions,
    /// `--resume`: the last run's options and images instead of these (see `resume.rs`).
    pub resume: bool,
    /// Set on a resumed run's options: the images its first run finished.
    pub resumed: Option<Vec<String>>,
    /// `--channel NAME`: once every image of the run is built, publish them to this channel.
    pub channel: Option<String>,
}

/// Packer's `-on-error` (`ask` and `run-cleanup-provisioner` are not offered: imgs runs unattended).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    #[default]
    Cleanup,
    Abort,
}

#[derive(Debug, Clone)]
pub enum CacheCommand {
    Ls(CacheLsOptions),
    Prune(CachePruneOptions),
}

/// The variables and build filter the builds used: they decide which fingerprints are current.
#[derive(Debug, Clone, Default)]
pub struct CacheLsOptions {
    pub variables: VariableOptions,
    pub filter: BuildFilterOptions,
    pub message_format: MessageFormat,
}

#[derive(Debug, Clone, Default)]
pub struct CachePruneOptions {
    pub variables: VariableOptions,
    pub filter: BuildFilterOptions,
    pub dry_run: bool,
    /// Also retire the cloud artifacts of fingerprints that are not current.
    pub deregister: bool,
    /// Do not ask first.
    pub yes: bool,
    /// Fail at once, rather than wait, when another imgs command holds the workspace lock.
    pub no_wait: bool,
}

#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Only the resources of this run.
    pub run: Option<String>,
    /// Only this region.
    pub region: Option<String>,
    pub dry_run: bool,
    pub variables: VariableOptions,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}
