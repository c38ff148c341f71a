//! What each command does, over the library crates: plan computation, the cloud lookup, the run lock,
//! `--changed-since`, the run manifest and the build orchestration. A front end (the `imgs` binary
//! parses its command line with clap) fills in an options struct and calls one function here; none of
//! it knows about clap.

mod build;
mod cache;
mod changed_since;
mod ci;
pub mod events;
mod fingerprint;
mod fmt;
mod gc;
mod graph;
mod hcl2_upgrade;
mod inspect;
mod limits;
mod lock;
pub mod options;
mod plan;
pub mod publish;
mod remote_cache;
mod resume;
mod retention;
mod revoke;
mod run_manifest;
mod shard;
mod timings;
mod validate;
pub mod workspace_lock;

use std::path::{Path, PathBuf};

use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_template::{BuildFilter, Invocation, VarFile, interpolate::Volatile};
use imgs_workspace::Workspace;

use crate::options::{BuildFilterOptions, VariableOptions};

/// What one invocation printed and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

pub use build::{EXIT_INTERRUPTED, RunControl, build};
pub use cache::cache;
pub use ci::{CiGithubOptions, ci_github};
pub use fingerprint::{PlanWithWarnings, compute_plan};
pub use fmt::{FmtOptions, Formatted, fmt};
pub use gc::gc;
pub use graph::{GraphData, graph};
pub use hcl2_upgrade::{UpgradeOptions, hcl2_upgrade};
pub use inspect::{Inspected, inspect};
pub use lock::{LockOptions, UpdateOptions, settle_lock, update};
pub use plan::plan;
pub use resume::run_control;
pub use retention::{PruneOptions, prune};
pub use revoke::{RevokeOptions, revoke};
pub use shard::{ShardedPlan, plan_sharded};
pub use validate::{Checked, Validated, validate};

/// Whether a plan asks the clouds the workspace builds in for artifacts by fingerprint (`--offline`
/// says no).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloudLookup {
    Online,
    Offline,
}

/// Where the command runs: the current directory and an explicit manifest, if any.
pub struct Context {
    pub cwd: PathBuf,
    pub manifest_path: Option<PathBuf>,
    /// A person is at the terminal (the binary), so a command may ask before it acts (`cache prune
    /// --deregister`); in-process runs (tests) never ask. A build's output goes to the event sink
    /// its front end gives, whatever this says.
    pub live_output: bool,
}

/// What a successful command prints: its output, and warnings for stderr.
#[derive(Debug, Default)]
pub struct Output {
    pub stdout: String,
    pub warnings: Diagnostics,
}

impl From<String> for Output {
    fn from(stdout: String) -> Self {
        Output {
            stdout,
            warnings: Diagnostics::default(),
        }
    }
}

/// Exit code of a command given `--no-wait` while another imgs command holds the workspace lock:
/// sysexits' EX_TEMPFAIL ("try again later").
pub const EXIT_LOCKED: u8 = 75;

/// How a command ended, for the process exit code (documented in the README).
#[derive(Debug)]
pub enum Failure {
    /// Bad input: Images.toml, a template, a variable, a selection. Exit code 2.
    Input(Diagnostics),
    /// Anything else (I/O on the cache, …). Exit code 1.
    Other(String),
    /// `--no-wait`, and another command holds the workspace lock. Exit code [`EXIT_LOCKED`].
    Locked {
        message: String,
        hint: Option<&'static str>,
    },
}

impl From<Diagnostics> for Failure {
    fn from(d: Diagnostics) -> Self {
        Failure::Input(d)
    }
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Self {
        Failure::Input(d.into())
    }
}

impl Context {
    pub fn load_workspace(&self) -> Result<Workspace, Failure> {
        let manifest = match &self.manifest_path {
            Some(p) => absolute(&self.cwd, p),
            None => imgs_workspace::find_manifest(&self.cwd).ok_or_else(|| {
                Diagnostic::error(format!(
                    "could not find `{}` in `{}` or any parent directory",
                    imgs_workspace::MANIFEST_NAME,
                    self.cwd.display()
                ))
                .hint("run imgs inside an image workspace, pass `-C DIR` or `--manifest-path PATH`, or give a template file (`imgs validate template.json`)")
            })?,
        };
        Ok(Workspace::load(&manifest)?)
    }

    /// The invocation for templates run from `working_dir`: the process environment and `--var`/`--var-file`
    /// (files read once here). Per image, [`Invocation::clone`] it and set `workspace_vars`.
    /// `force`: outputs of earlier builds may exist (true for workspace images: imgs manages their outputs).
    pub fn invocation(
        &self,
        working_dir: &Path,
        variables: &VariableOptions,
        volatile: Volatile,
        force: bool,
    ) -> Result<Invocation, Failure> {
        let mut var_files = Vec::new();
        for path in &variables.var_file {
            let full = absolute(&self.cwd, path);
            let text = std::fs::read_to_string(&full).map_err(|e| {
                Diagnostic::error(format!(
                    "cannot read variable file `{}`: {e}",
                    path.display()
                ))
                .key("--var-file")
                .hint("-var-file takes a JSON object of variable names to string values")
            })?;
            var_files.push(VarFile {
                path: path.clone(),
                text,
            });
        }
        Ok(Invocation {
            working_dir: working_dir.to_path_buf(),
            env: std::env::vars().collect(),
            workspace_vars: Vec::new(),
            var_files,
            cli_vars: variables.var.clone(),
            volatile,
            force,
        })
    }
}

pub fn build_filter(args: &BuildFilterOptions) -> BuildFilter {
    BuildFilter {
        only: args.only.clone(),
        except: args.except.clone(),
    }
}

pub fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}
