//! imgs as a library: the whole command line as one function, so the binary is a few lines and tests
//! can run commands in-process with exact stdout, stderr and exit code.

mod cli;
mod interrupt;
mod lock;
mod progress;
mod report;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command};
use imgs_ops as ops;
use ops::{Context, Failure};

pub use ops::Outcome;

/// Run `imgs ARGS…` (`args[0]` is the program name) as if started in `cwd`.
///
/// Exit codes: 0 success, 1 failure while working (I/O, a build), 2 bad input (usage, Images.toml,
/// templates, variables), 75 another command holds the workspace lock (`--no-wait`).
pub fn run(args: impl IntoIterator<Item = OsString>, cwd: PathBuf) -> Outcome {
    run_with(args, cwd, false)
}

/// [`run`], but a build prints its progress to stdout as it happens instead of in `Outcome::stdout`:
/// what the binary uses, since a build can take minutes.
pub fn run_live(args: impl IntoIterator<Item = OsString>, cwd: PathBuf) -> Outcome {
    run_with(args, cwd, true)
}

fn run_with(args: impl IntoIterator<Item = OsString>, cwd: PathBuf, live_output: bool) -> Outcome {
    let cli = match Cli::try_parse_from(cli::normalize_packer_flags(args)) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            return if e.use_stderr() {
                Outcome {
                    code: 2,
                    stdout: String::new(),
                    stderr: text,
                }
            } else {
                Outcome {
                    code: 0,
                    stdout: text,
                    stderr: String::new(),
                }
            };
        }
    };
    let cwd = match &cli.directory {
        Some(dir) => ops::absolute(&cwd, dir),
        None => cwd,
    };
    let cx = Context {
        cwd,
        manifest_path: cli.manifest_path.clone(),
        live_output,
    };
    let locking = match lock::settle(&cx, &cli.command, command_name(&cli.command)) {
        Ok(lines) => lines,
        Err(refused) => return refused,
    };
    let result = match &cli.command {
        // A build reports progress even when it fails, so it makes its whole outcome itself.
        Command::Build(args) => {
            let options = args.options();
            let reporter = Arc::new(report::Reporter::new(
                options.message_format,
                live_output,
                options.verbose,
            ));
            // The one runtime builds run on. Multi-threaded (one worker), so the Ctrl-C listener
            // runs even while the run is still planning on this thread.
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    return Outcome {
                        code: 1,
                        stdout: String::new(),
                        stderr: format!("error: cannot start the async runtime: {e}\n"),
                    };
                }
            };
            let control = ops::run_control(&cx, &options);
            // In the binary only: tests run in-process and must not take over the test runner's
            // signals.
            if live_output {
                interrupt::listen(&runtime, &control, reporter.clone());
            }
            let mut outcome = ops::build(&cx, &options, reporter.clone(), &runtime, control);
            // A dry run prints its plan as its outcome; a build's lines went through the reporter.
            outcome.stdout.push_str(&reporter.take_text());
            outcome.stderr.insert_str(0, &reporter.take_notices());
            outcome.stderr.insert_str(0, &locking);
            return outcome;
        }
        Command::Plan(args) if args.shard.shard.is_some() || args.shard.wave.is_some() => {
            ops::plan_sharded(&cx, &args.options()).map(|sharded| {
                let places = sharded
                    .places
                    .iter()
                    .map(|(name, place)| (name.clone(), (place.wave, place.shard)))
                    .collect();
                let view = imgs_report::ShardView {
                    plan: &sharded.planned.plan,
                    shard: sharded.shard.index,
                    shards: sharded.shard.count,
                    wave: sharded.wave,
                    waves: sharded.waves,
                    places: &places,
                };
                ops::Output {
                    stdout: match args.message_format {
                        cli::MessageFormat::Human => imgs_report::render_shard_plan(&view),
                        cli::MessageFormat::Json => {
                            format!("{}\n", imgs_report::shard_plan_json(&view))
                        }
                    },
                    warnings: sharded.planned.warnings,
                }
            })
        }
        Command::Plan(args) => ops::plan(&cx, &args.options()).and_then(|planned| {
            // With --channel, what publishing would do, after the build lines.
            let publication = match &args.channel {
                Some(channel) => Some(ops::publish::preview(
                    &cx,
                    &planned.plan,
                    channel,
                    &args.options().variables,
                    &ops::build_filter(&args.options().filter),
                    if args.offline {
                        ops::CloudLookup::Offline
                    } else {
                        ops::CloudLookup::Online
                    },
                )?),
                None => None,
            };
            Ok(ops::Output {
                stdout: match args.message_format {
                    cli::MessageFormat::Human => {
                        imgs_report::render_plan(&planned.plan)
                            + &publication
                                .map(|p| ops::publish::render_preview(&p))
                                .unwrap_or_default()
                    }
                    cli::MessageFormat::Json => {
                        let mut json = imgs_report::plan_json(&planned.plan);
                        if let Some(publication) = publication {
                            json["publish"] = serde_json::json!(publication);
                        }
                        format!("{json}\n")
                    }
                },
                warnings: planned.warnings,
            })
        }),
        Command::Graph(args) => ops::graph(&cx, &args.options()).map(|graph| ops::Output {
            stdout: imgs_report::render_graph(
                &imgs_report::GraphView {
                    plan: &graph.plan,
                    shown: graph.shown,
                    channels: graph.channels,
                },
                args.format.into(),
            ),
            warnings: graph.warnings,
        }),
        Command::Validate(args) => {
            ops::validate(&cx, &args.options()).map(|validated| ops::Output {
                stdout: render_validated(&validated.checked),
                warnings: validated.warnings,
            })
        }
        Command::Inspect(args) => ops::inspect(&cx, &args.target).map(|inspected| {
            imgs_report::render_inspect(&inspected.template, inspected.hcl.as_ref()).into()
        }),
        Command::Fmt(args) => {
            let options = ops::FmtOptions {
                paths: args.paths.clone(),
                check: args.check,
                diff: args.diff,
                write: args.write,
            };
            match ops::fmt(&cx, &options) {
                Ok(formatted) => {
                    let failed = formatted.errors.has_errors();
                    return Outcome {
                        // `packer fmt -check`'s status for "not formatted"; a file that does not
                        // parse is bad input, whatever the others.
                        code: if failed {
                            2
                        } else if args.check && formatted.unformatted {
                            3
                        } else {
                            0
                        },
                        stdout: formatted.stdout,
                        stderr: if failed {
                            imgs_report::render_diagnostics(&formatted.errors, "fmt")
                        } else {
                            String::new()
                        },
                    };
                }
                Err(e) => Err(e),
            }
        }
        Command::Hcl2Upgrade(args) => ops::hcl2_upgrade(
            &cx,
            &ops::UpgradeOptions {
                target: args.target.clone(),
                output: args.output.clone(),
            },
        ),
        Command::Cache(args) => ops::cache(&cx, &args.options()),
        Command::Gc(args) => ops::gc(&cx, &args.options()),
        Command::Ci(args) => match &args.command {
            cli::CiCommand::Github(args) => ops::ci_github(&cx, &args.options()),
        },
        Command::Prune(args) => ops::prune(&cx, &args.options()),
        Command::Revoke(args) => ops::revoke(&cx, &args.options()),
        Command::Update(args) => ops::update(&cx, &args.options()),
        Command::Publish(args) => ops::publish::publish(&cx, &args.options()),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "imgs", &mut out);
            Ok(String::from_utf8_lossy(&out).into_owned().into())
        }
    };
    match result {
        Ok(output) => Outcome {
            code: 0,
            stdout: output.stdout,
            stderr: locking
                + &output
                    .warnings
                    .0
                    .iter()
                    .map(|w| format!("{w}\n\n"))
                    .collect::<String>(),
        },
        Err(Failure::Input(diagnostics)) => Outcome {
            code: 2,
            stdout: String::new(),
            stderr: imgs_report::render_diagnostics(&diagnostics, command_name(&cli.command)),
        },
        Err(Failure::Other(message)) => Outcome {
            code: 1,
            stdout: String::new(),
            stderr: format!("error: {message}\n"),
        },
        Err(Failure::Locked { message, hint }) => Outcome {
            code: ops::EXIT_LOCKED,
            stdout: String::new(),
            stderr: match hint {
                Some(hint) => format!("error: {message}\n  = hint: {hint}\n"),
                None => format!("error: {message}\n"),
            },
        },
    }
}

/// The plan for `images` (empty: all) of the workspace containing `cwd`: what `imgs plan` prints, as data.
/// A build stores each image's `inputs` in its cache record; tests use this to record builds.
pub fn workspace_plan(cwd: &std::path::Path, images: &[&str]) -> Result<imgs_plan::Plan, String> {
    let cx = Context {
        cwd: cwd.to_path_buf(),
        manifest_path: None,
        live_output: false,
    };
    let failure = |f: Failure| match f {
        Failure::Input(d) => d.to_string(),
        Failure::Other(m) | Failure::Locked { message: m, .. } => m,
    };
    let ws = cx.load_workspace().map_err(failure)?;
    let selection = imgs_workspace::Selection {
        include: images.iter().map(|s| s.to_string()).collect(),
        exclude: vec![],
    };
    let selected = ws.select(&selection).map_err(|d| d.to_string())?;
    ops::compute_plan(
        &cx,
        &ws,
        &selected,
        &ops::options::VariableOptions::default(),
        &Default::default(),
        false,
        ops::CloudLookup::Offline,
    )
    .map(|p| p.plan)
    .map_err(failure)
}

/// `FILE: valid`, or a `Checked` line per image and the count.
fn render_validated(checked: &ops::Checked) -> String {
    match checked {
        ops::Checked::Template(path) => format!("{}: valid\n", path.display()),
        ops::Checked::Images(images) => {
            let mut out = String::new();
            for (name, path) in images {
                out.push_str(&format!("{:>12} {name} ({})\n", "Checked", path.display()));
            }
            let n = images.len();
            out.push_str(&format!(
                "{n} image{} valid\n",
                if n == 1 { "" } else { "s" }
            ));
            out
        }
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Plan(_) => "plan",
        Command::Graph(_) => "graph",
        Command::Validate(_) => "validate",
        Command::Inspect(_) => "inspect",
        Command::Build(_) => "build",
        Command::Cache(args) => match args.command {
            cli::CacheCommand::Ls(_) => "cache ls",
            cli::CacheCommand::Prune(_) => "cache prune",
        },
        Command::Gc(_) => "gc",
        Command::Ci(_) => "ci github",
        Command::Prune(_) => "prune",
        Command::Revoke(_) => "revoke",
        Command::Update(_) => "update",
        Command::Publish(_) => "publish",
        Command::Hcl2Upgrade(_) => "hcl2-upgrade",
        Command::Fmt(_) => "fmt",
        Command::Completions { .. } => "completions",
    }
}
