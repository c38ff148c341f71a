//! Command-line interface: argument definitions, and their translation into imgs-ops' options. Each
//! command is one function there.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use imgs_ops::options;

/// Cargo for machine images: fingerprints, plans and builds a workspace of Packer templates.
#[derive(Debug, Parser)]
#[command(name = "imgs", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Run as if imgs was started in DIR.
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,
    /// Path to Images.toml (default: found in the current directory or above).
    #[arg(long, value_name = "PATH", global = true)]
    pub manifest_path: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Say, for every selected image, whether it is fresh or must be built, and why.
    Plan(PlanArgs),
    /// Show the lineage of images with their status and artifacts.
    Graph(GraphArgs),
    /// Check Images.toml and templates (or one template file) the way `packer validate` does.
    Validate(ValidateArgs),
    /// Show a template's variables, builds, provisioners and post-processors (like `packer inspect`).
    Inspect(InspectArgs),
    /// Build the images that are not fresh, parents first (or one template file, as `packer build FILE`).
    Build(BuildArgs),
    /// List the local cache (records, artifacts, sizes, which are current) or prune what is not current.
    Cache(CacheArgs),
    /// Remove the cloud resources (instances, security groups, key pairs, volumes, snapshots) that
    /// imgs runs left, found by their `imgs:run` tag; runs still building here are skipped.
    Gc(GcArgs),
    /// Keep the newest versions of each image (local records and artifacts, AMIs in every region)
    /// and remove the rest; never the current one, one a channel points at, or one a kept version
    /// was built on.
    Prune(PruneArgs),
    /// Mark a version (NAME@FINGERPRINT or an AMI ID) revoked: tagged on EC2, listed in
    /// cache/revoked.json; plans and builds on it then fail.
    Revoke(RevokeArgs),
    /// Resolve the selected images' outside inputs (source AMI filters) afresh, rewrite
    /// Images.lock, and say what changed and what will rebuild because of it (like `cargo update`).
    Update(UpdateArgs),
    /// Print a CI workflow that builds the workspace wave by wave, each wave's shards on runners of
    /// their own.
    Ci(CiArgs),
    /// Publish already-built images to a channel: the `imgs:channel:NAME` tag moves to their
    /// current AMIs, with the launch permissions and SSM parameters of [images.NAME.publish].
    Publish(PublishArgs),
    /// Rewrite HCL2 files (*.pkr.hcl, *.pkrvars.hcl) in the canonical format (like `packer fmt`).
    Fmt(FmtArgs),
    /// Write a JSON template as an HCL2 configuration that gives every plugin the same settings
    /// (like `packer hcl2_upgrade`).
    #[command(name = "hcl2-upgrade", alias = "hcl2_upgrade")]
    Hcl2Upgrade(Hcl2UpgradeArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Which images: like cargo's `-p`/`--workspace`/`--exclude`.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectionArgs {
    /// Select every image of the workspace (the default outside an image directory).
    #[arg(long, conflicts_with = "image")]
    pub all: bool,
    /// Select an image (repeatable); the images it is built on come along.
    #[arg(short = 'i', long = "image", value_name = "NAME")]
    pub image: Vec<String>,
    /// Leave an image out of the selection (repeatable).
    #[arg(long, value_name = "NAME")]
    pub exclude: Vec<String>,
    /// Only the images whose inputs changed since this git revision, and the images built on them
    /// (within the rest of the selection).
    #[arg(long, value_name = "GIT_REF")]
    pub changed_since: Option<String>,
}

/// Template variables, with Packer's flags and precedence (var files in order, then -var in order).
#[derive(Debug, Args, Clone, Default)]
pub struct VariableArgs {
    /// Set a template variable: `--var name=value` (also `-var`, as in Packer).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub var: Vec<(String, String)>,
    /// Read template variables from a JSON file (also `-var-file`).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_file: Vec<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct BuildFilterArgs {
    /// Only the named builds of each template (comma-separated), as Packer's `-only`.
    #[arg(long, value_name = "BUILDS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Every build except the named ones (comma-separated), as Packer's `-except`.
    #[arg(
        long,
        value_name = "BUILDS",
        value_delimiter = ',',
        conflicts_with = "only"
    )]
    pub except: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub variables: VariableArgs,
    #[command(flatten)]
    pub filter: BuildFilterArgs,
    /// Decide from local records only: no EC2 call (amazon-ebs images are otherwise looked up by
    /// their `imgs:fingerprint` tag).
    #[arg(long)]
    pub offline: bool,
    /// Fail when Images.lock lacks an entry or has a stale one, instead of writing it (for CI).
    #[arg(long)]
    pub locked: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Also show what publishing to channel NAME would do (`imgs build --channel NAME`).
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
}

/// One runner's part of the images, for spreading a build over several machines.
#[derive(Debug, Args, Clone, Default)]
pub struct ShardArgs {
    /// Only shard K of N: each wave's images, sorted by name, are dealt to N shards in turn.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<imgs_workspace::shard::ShardSpec>,
    /// Only the images of wave W (0: images with no parent; an image is one wave after its
    /// deepest parent).
    #[arg(long, value_name = "W")]
    pub wave: Option<usize>,
}

impl ShardArgs {
    fn options(&self) -> options::ShardOptions {
        options::ShardOptions {
            shard: self.shard,
            wave: self.wave,
        }
    }
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Draw the lineage through this image only (repeatable).
    #[arg(short = 'i', long = "image", value_name = "NAME")]
    pub image: Vec<String>,
    /// With -i: only the images it is built on.
    #[arg(long, requires = "image", conflicts_with = "descendants")]
    pub ancestors: bool,
    /// With -i: only the images built on it.
    #[arg(long, requires = "image")]
    pub descendants: bool,
    #[arg(long, value_enum, default_value_t = GraphFormatArg::Text)]
    pub format: GraphFormatArg,
    #[command(flatten)]
    pub variables: VariableArgs,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A template file to check on its own, outside any workspace (as `packer validate FILE`).
    pub template: Option<PathBuf>,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub variables: VariableArgs,
    #[command(flatten)]
    pub filter: BuildFilterArgs,
    /// Check syntax only: no variable resolution, no per-type checks.
    #[arg(long)]
    pub syntax_only: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A template file to build on its own, outside any workspace (as `packer build FILE`).
    pub template: Option<PathBuf>,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub variables: VariableArgs,
    #[command(flatten)]
    pub filter: BuildFilterArgs,
    /// Build the selected images even when they are fresh (the images they are built on are not forced).
    #[arg(long)]
    pub force: bool,
    /// What to do when a build fails: `cleanup` removes what the build made (the default, as in
    /// Packer); `abort` leaves it in place for debugging and lists it.
    #[arg(long, value_enum, default_value_t = OnError::Cleanup, value_name = "WHAT")]
    pub on_error: OnError,
    /// How many images to build at once (default: every image whose parents are ready).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// At most N images building at once in one region (the build region of their amazon-ebs
    /// builds; images with no such build are not counted), as EC2's instance limits need.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_per_region: Option<u64>,
    /// At most N images building at once with a build of TYPE (repeatable):
    /// `--max-per-builder amazon-ebs=4`.
    #[arg(long, value_name = "TYPE=N", value_parser = parse_builder_limit)]
    pub max_per_builder: Vec<(String, usize)>,
    /// Build only these images; their parents outside the shard (or wave) must be fresh.
    #[command(flatten)]
    pub shard: ShardArgs,
    /// After a failed or interrupted build, build what it did not finish, as that run: its run
    /// ID, images, var files and options (output options may change). Give its `--var`s again:
    /// their values are not kept. After a successful run there is nothing to resume.
    #[arg(long, conflicts_with_all = [
        "template", "all", "image", "exclude", "changed_since", "var_file", "only",
        "except", "force", "on_error", "jobs", "keep_going", "offline", "max_per_region",
        "max_per_builder", "shard", "wave",
    ])]
    pub resume: bool,
    /// After a failure, go on building every image that does not depend on it (default: start nothing
    /// new, let running builds finish).
    #[arg(long)]
    pub keep_going: bool,
    /// Print the plan (what would be built, and why) and build nothing, as `imgs plan`.
    #[arg(long)]
    pub dry_run: bool,
    /// Plan from local records only: no EC2 lookup of AMIs by their `imgs:fingerprint` tag.
    #[arg(long)]
    pub offline: bool,
    /// Fail when Images.lock lacks an entry or has a stale one, instead of writing it (for CI).
    #[arg(long)]
    pub locked: bool,
    /// Output format: status lines for people, or one JSON event per line (see the README).
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
    /// Print every build's output as it happens. On a terminal it is otherwise hidden behind one
    /// progress line per image (a failed image's last lines are still shown); plain output (not a
    /// terminal, or `CI` set) always has it.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Write an HTML report of where the run's time went (images over time, builds at once, the
    /// critical path) to PATH; without PATH to `cache/timings/imgs-timing-<run id>.html`, copied to
    /// `cache/imgs-timing.html`.
    #[arg(long, value_name = "PATH", num_args = 0..=1, require_equals = true)]
    pub timings: Option<Option<PathBuf>>,
    /// When another imgs command holds the workspace lock (a build or prune in the same
    /// workspace), fail at once with exit code 75 instead of waiting for it.
    #[arg(long)]
    pub no_wait: bool,
    /// Once every selected image is built (or fresh), publish them to channel NAME; a failure or
    /// Ctrl-C anywhere publishes nothing.
    #[arg(long, value_name = "NAME", conflicts_with = "template")]
    pub channel: Option<String>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The channel: its tag `imgs:channel:NAME` moves to each image's current AMIs.
    #[arg(long, value_name = "NAME")]
    pub channel: String,
    /// Only these images and the images they are built on (repeatable; default: every image).
    #[arg(short = 'i', long = "image", value_name = "NAME")]
    pub image: Vec<String>,
    /// Say what would be published and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// When another imgs command holds the workspace lock, fail at once with exit code 75.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub variables: VariableArgs,
}

impl PublishArgs {
    pub fn options(&self) -> imgs_ops::publish::PublishOptions {
        imgs_ops::publish::PublishOptions {
            channel: self.channel.clone(),
            images: self.image.clone(),
            dry_run: self.dry_run,
            no_wait: self.no_wait,
            variables: self.variables.options(),
        }
    }
}

/// Packer's `-on-error`; `ask` and `run-cleanup-provisioner` are not offered (imgs runs unattended and
/// always runs the `error-cleanup-provisioner` a template defines).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    #[default]
    Cleanup,
    Abort,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Every record by image: fingerprint, when and by which run it was built, its artifact, its size,
    /// and whether it is the image's current fingerprint.
    Ls(CacheLsArgs),
    /// Remove records that are not current and the artifact files only they name; never a file a kept
    /// record names or a disk a kept disk is built on.
    Prune(CachePruneArgs),
}

/// `--var`, `--var-file`, `--only` and `--except` as the builds used them: they decide which
/// fingerprints are current.
#[derive(Debug, Args)]
pub struct CacheLsArgs {
    #[command(flatten)]
    pub variables: VariableArgs,
    #[command(flatten)]
    pub filter: BuildFilterArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
}

#[derive(Debug, Args)]
pub struct CachePruneArgs {
    #[command(flatten)]
    pub variables: VariableArgs,
    #[command(flatten)]
    pub filter: BuildFilterArgs,
    /// Say what would be removed and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also deregister the AMIs (and delete their snapshots) made for the workspace's images under a
    /// fingerprint that is not current.
    #[arg(long)]
    pub deregister: bool,
    /// With --deregister: do not ask first.
    #[arg(long, short = 'y', requires = "deregister")]
    pub yes: bool,
    /// When another imgs command holds the workspace lock (a build or prune in the same
    /// workspace), fail at once with exit code 75 instead of waiting for it.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only the resources of this run (its ID is in `imgs:run` tags, build output and records).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Only this region (one of those the workspace's amazon-ebs builds use).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Say what would be removed and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Template variables, when the templates need them to say their regions and credentials.
    #[command(flatten)]
    pub variables: VariableArgs,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// How many versions of each image to keep, newest first (the current one always stays).
    #[arg(long, value_name = "N")]
    pub keep: usize,
    /// Remove only versions made more than DAYS days ago.
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u64>,
    /// Versions a channel points at do not count toward --keep (they are always kept).
    #[arg(long)]
    pub channel_keep: bool,
    /// Say what would be removed and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only these images' versions (repeatable; default: every image).
    #[arg(short = 'i', long = "image", value_name = "NAME")]
    pub image: Vec<String>,
    /// When another imgs command holds the workspace lock, fail at once with exit code 75.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub variables: VariableArgs,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// NAME@FINGERPRINT (a prefix of the fingerprint, as the plan prints it, will do) or an AMI ID.
    #[arg(value_name = "NAME@FINGERPRINT|AMI-ID")]
    pub target: String,
    /// Also every version built on it, and on those, and so on.
    #[arg(long)]
    pub descendants: bool,
    /// Why (the value of the `imgs:revoked` tag; default: "revoked").
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// When another imgs command holds the workspace lock, fail at once with exit code 75.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub variables: VariableArgs,
}

impl PruneArgs {
    pub fn options(&self) -> imgs_ops::PruneOptions {
        imgs_ops::PruneOptions {
            images: self.image.clone(),
            keep: self.keep,
            older_than_days: self.older_than,
            channel_keep: self.channel_keep,
            dry_run: self.dry_run,
            no_wait: self.no_wait,
            variables: self.variables.options(),
        }
    }
}

impl RevokeArgs {
    pub fn options(&self) -> imgs_ops::RevokeOptions {
        imgs_ops::RevokeOptions {
            target: self.target.clone(),
            descendants: self.descendants,
            reason: self.reason.clone(),
            no_wait: self.no_wait,
            variables: self.variables.options(),
        }
    }
}

#[derive(Debug, Args)]
pub struct CiArgs {
    #[command(subcommand)]
    pub command: CiCommand,
}

#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// A GitHub Actions workflow: one job per wave (`wave-0`, `wave-1`, …, each needing the one
    /// before), each a matrix over the shards running `imgs build --wave W --shard K/N`.
    Github(CiGithubArgs),
}

#[derive(Debug, Args)]
pub struct CiGithubArgs {
    /// How many shards (runners) a wave is spread over, at most.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub shards: u64,
    /// The command of the step that installs imgs on a runner.
    #[arg(
        long,
        value_name = "COMMAND",
        default_value = "cargo install --locked imgs"
    )]
    pub install: String,
}

impl CiGithubArgs {
    pub fn options(&self) -> imgs_ops::CiGithubOptions {
        imgs_ops::CiGithubOptions {
            shards: self.shards as usize,
            install: self.install.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// An image name of the workspace, or a template file.
    pub target: String,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Files or directories to format (`-`: standard input to standard output). Default: every
    /// HCL2 member of the workspace, or the current directory outside one.
    pub paths: Vec<std::path::PathBuf>,
    /// Write nothing; exit with status 3 if a file is not formatted (as `packer fmt -check`).
    #[arg(long)]
    pub check: bool,
    /// Show the changes as a unified diff.
    #[arg(long)]
    pub diff: bool,
    /// Write the formatted files back (`--write=false` only lists them).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub write: bool,
}

#[derive(Debug, Args)]
pub struct Hcl2UpgradeArgs {
    /// A JSON template file, or the name of a workspace image (its template.pkr.hcl is written
    /// beside its template.json).
    pub target: String,
    /// Where to write the configuration (default: FILE.json.pkr.hcl, as Packer names it); `-`
    /// prints it.
    #[arg(
        short = 'o',
        long = "output-file",
        visible_alias = "output",
        value_name = "PATH"
    )]
    pub output: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormatArg {
    Text,
    Dot,
    Mermaid,
    Json,
}

impl SelectionArgs {
    fn options(&self) -> options::SelectionOptions {
        options::SelectionOptions {
            all: self.all,
            image: self.image.clone(),
            exclude: self.exclude.clone(),
            changed_since: self.changed_since.clone(),
        }
    }
}

impl VariableArgs {
    fn options(&self) -> options::VariableOptions {
        options::VariableOptions {
            var: self.var.clone(),
            var_file: self.var_file.clone(),
        }
    }
}

impl BuildFilterArgs {
    fn options(&self) -> options::BuildFilterOptions {
        options::BuildFilterOptions {
            only: self.only.clone(),
            except: self.except.clone(),
        }
    }
}

impl PlanArgs {
    pub fn options(&self) -> options::PlanOptions {
        options::PlanOptions {
            selection: self.selection.options(),
            variables: self.variables.options(),
            filter: self.filter.options(),
            offline: self.offline,
            shard: self.shard.options(),
            channel: self.channel.clone(),
        }
    }
}

impl GraphArgs {
    pub fn options(&self) -> options::GraphOptions {
        options::GraphOptions {
            image: self.image.clone(),
            ancestors: self.ancestors,
            descendants: self.descendants,
            variables: self.variables.options(),
        }
    }
}

impl ValidateArgs {
    pub fn options(&self) -> options::ValidateOptions {
        options::ValidateOptions {
            template: self.template.clone(),
            selection: self.selection.options(),
            variables: self.variables.options(),
            filter: self.filter.options(),
            syntax_only: self.syntax_only,
        }
    }
}

impl BuildArgs {
    pub fn options(&self) -> options::BuildOptions {
        options::BuildOptions {
            template: self.template.clone(),
            selection: self.selection.options(),
            variables: self.variables.options(),
            filter: self.filter.options(),
            force: self.force,
            on_error: match self.on_error {
                OnError::Cleanup => options::OnError::Cleanup,
                OnError::Abort => options::OnError::Abort,
            },
            jobs: self.jobs,
            keep_going: self.keep_going,
            dry_run: self.dry_run,
            offline: self.offline,
            message_format: self.message_format.into(),
            verbose: self.verbose,
            timings: self.timings.clone(),
            no_wait: self.no_wait,
            max_per_region: self.max_per_region.map(|n| n as usize),
            max_per_builder: self.max_per_builder.clone(),
            shard: self.shard.options(),
            resume: self.resume,
            resumed: None,
            channel: self.channel.clone(),
        }
    }
}

impl CacheArgs {
    pub fn options(&self) -> options::CacheCommand {
        match &self.command {
            CacheCommand::Ls(args) => options::CacheCommand::Ls(options::CacheLsOptions {
                variables: args.variables.options(),
                filter: args.filter.options(),
                message_format: args.message_format.into(),
            }),
            CacheCommand::Prune(args) => options::CacheCommand::Prune(options::CachePruneOptions {
                variables: args.variables.options(),
                filter: args.filter.options(),
                dry_run: args.dry_run,
                deregister: args.deregister,
                yes: args.yes,
                no_wait: args.no_wait,
            }),
        }
    }
}

impl GcArgs {
    pub fn options(&self) -> options::GcOptions {
        options::GcOptions {
            run: self.run.clone(),
            region: self.region.clone(),
            dry_run: self.dry_run,
            variables: self.variables.options(),
        }
    }
}

impl From<GraphFormatArg> for imgs_report::GraphFormat {
    fn from(format: GraphFormatArg) -> Self {
        match format {
            GraphFormatArg::Text => imgs_report::GraphFormat::Text,
            GraphFormatArg::Dot => imgs_report::GraphFormat::Dot,
            GraphFormatArg::Mermaid => imgs_report::GraphFormat::Mermaid,
            GraphFormatArg::Json => imgs_report::GraphFormat::Json,
        }
    }
}

impl From<MessageFormat> for options::MessageFormat {
    fn from(format: MessageFormat) -> Self {
        match format {
            MessageFormat::Human => options::MessageFormat::Human,
            MessageFormat::Json => options::MessageFormat::Json,
        }
    }
}

fn parse_builder_limit(s: &str) -> Result<(String, usize), String> {
    match s.split_once('=') {
        Some((builder_type, n)) if !builder_type.is_empty() => match n.parse::<usize>() {
            Ok(n) if n > 0 => Ok((builder_type.to_string(), n)),
            _ => Err(format!(
                "expected a number of builds above 0 after `=`, got `{n}`"
            )),
        },
        _ => Err(format!("expected TYPE=N (such as amazon-ebs=4), got `{s}`")),
    }
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{s}`")),
    }
}

/// Packer spells its flags with one dash (`-var`, `-var-file`, `-only`, `-except`); accept those spellings
/// so commands copied from Packer work unchanged. After `fmt`, also `packer fmt`'s own (`-check`,
/// `-diff`, `-write=false`): clap would read them as bundles of short flags.
pub fn normalize_packer_flags(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut in_fmt = false;
    args.into_iter()
        .map(|arg| {
            let s = arg.to_string_lossy();
            let fmt_flags: &[&str] = if in_fmt {
                &["-check", "-diff", "-write"]
            } else {
                &[]
            };
            for flag in ["-var", "-var-file", "-only", "-except", "-on-error"]
                .iter()
                .chain(fmt_flags)
            {
                if s == *flag || s.starts_with(&format!("{flag}=")) {
                    return format!("-{s}").into();
                }
            }
            in_fmt |= s == "fmt";
            arg
        })
        .collect()
}

mod lock_args;
pub use lock_args::UpdateArgs;
