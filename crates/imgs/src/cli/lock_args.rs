//! `imgs update` and what `imgs plan`/`imgs build` ask of Images.lock.

use clap::Args;
use imgs_ops::{LockOptions, UpdateOptions};

use super::{BuildArgs, BuildFilterArgs, PlanArgs, SelectionArgs, VariableArgs};

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub variables: VariableArgs,
    #[command(flatten)]
    pub filter: BuildFilterArgs,
    /// Say what would change and what would rebuild; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl UpdateArgs {
    pub fn options(&self) -> UpdateOptions {
        UpdateOptions {
            selection: self.selection.options(),
            variables: self.variables.options(),
            filter: self.filter.options(),
            dry_run: self.dry_run,
        }
    }
}

impl PlanArgs {
    pub fn lock_options(&self) -> LockOptions {
        LockOptions {
            selection: self.selection.options(),
            variables: self.variables.options(),
            filter: self.filter.options(),
            locked: self.locked,
            offline: self.offline,
        }
    }
}

impl BuildArgs {
    /// `None` for what has no workspace lock to settle: a template built on its own, and a resumed
    /// run (its first run locked what it built on).
    pub fn lock_options(&self) -> Option<LockOptions> {
        (self.template.is_none() && !self.resume).then(|| LockOptions {
            selection: self.selection.options(),
            variables: self.variables.options(),
            filter: self.filter.options(),
            locked: self.locked,
            offline: self.offline,
        })
    }
}
