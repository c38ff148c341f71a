//! `imgs build --resume`: after a failed or interrupted run, build only what it did not finish, as
//! that run (same run ID, so its `imgs:run` tags, records, `imgs gc --run` and the timings report
//! name one run), with its selection, variables and options.
//!
//! Every workspace build writes `cache/runs/last.json` when it starts (status `running`, what it was
//! asked, the images it selected) and rewrites it when it ends (its status and the images that were
//! done). A run killed outright leaves `running`, which `--resume` takes as interrupted.
//!
//! `--var` values may be secrets, and nothing under `cache/` holds a secret: the state keeps their
//! names and a salted digest only, and a resume of a run given `--var`s must be given the same ones
//! again (checked against the digest). Var files are kept by path and read again.
//!
//! What "did not finish" means: the selected images the run did not see done (built, or found
//! fresh). A resumed run selects those only; finished ones come along as fresh parents. A run that
//! succeeded leaves nothing to resume: `--resume` says so and exits 0, as `cargo build` run twice
//! builds nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Context;
use super::fingerprint::cache_dir;
use crate::options::{self, BuildOptions, ShardOptions};

const FILE: &str = "last.json";
const SCHEMA: u32 = 1;

/// How the last run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Status {
    /// Still running, or killed before it could say otherwise.
    Running,
    Succeeded,
    Failed,
    Interrupted,
}

/// `cache/runs/last.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunState {
    schema: u32,
    pub(crate) run_id: String,
    pub(crate) status: Status,
    /// The images the run was asked to build (after `--changed-since` and `--shard`).
    pub(crate) selected: Vec<String>,
    /// The selected images it saw done.
    #[serde(default)]
    pub(crate) finished: Vec<String>,
    options: StoredOptions,
}

/// What a resumed run does as the first did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoredOptions {
    /// The names of the `--var`s, in order.
    var_names: Vec<String>,
    /// A digest of the `--var`s (names and values), salted with `var_salt`: a resume is given the
    /// same values again, and this tells whether it was.
    var_digest: String,
    var_salt: String,
    /// Absolute, so a resume from another directory reads the same files.
    var_file: Vec<PathBuf>,
    only: Vec<String>,
    except: Vec<String>,
    force: bool,
    on_error_abort: bool,
    keep_going: bool,
    jobs: Option<usize>,
    offline: bool,
    max_per_region: Option<usize>,
    max_per_builder: Vec<(String, usize)>,
    shard: Option<String>,
    wave: Option<usize>,
}

fn path(cache: &Path) -> PathBuf {
    cache.join("runs").join(FILE)
}

fn write(cache: &Path, state: &RunState) -> Result<(), String> {
    let path = path(cache);
    let text = serde_json::to_string_pretty(state).expect("the state serializes") + "\n";
    // A directory in its place is damage (imgs never makes one there): removed, or a normal build
    // could never write the state again and `--resume` would stay broken.
    std::fs::create_dir_all(path.parent().unwrap_or(cache))
        .and_then(|()| imgs_atomic_file::remove_damage(&path))
        .and_then(|_| imgs_atomic_file::write_atomically(&path, text.as_bytes()))
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

fn read(cache: &Path) -> Result<Option<RunState>, String> {
    let path = path(cache);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
    };
    let state: RunState = serde_json::from_str(&text).map_err(|e| {
        format!(
            "`{}` is not a run state imgs can resume from ({e}); run `imgs build` without --resume",
            path.display()
        )
    })?;
    if state.schema != SCHEMA {
        return Err(format!(
            "`{}` was written by another version of imgs; run `imgs build` without --resume",
            path.display()
        ));
    }
    Ok(Some(state))
}

/// The state of the last workspace run, from the workspace around `cx`.
fn last_run(cx: &Context) -> Result<Option<RunState>, String> {
    let ws = cx.load_workspace().map_err(|f| match f {
        super::Failure::Input(d) => d.to_string(),
        super::Failure::Other(m) | super::Failure::Locked { message: m, .. } => m,
    })?;
    read(&cache_dir(&ws))
}

/// The run ID a build goes by: the resumed run's with `--resume` (when there is one to resume),
/// else a new one. The front end names it when Ctrl-C stops the run.
pub fn run_control(cx: &Context, args: &BuildOptions) -> super::RunControl {
    let mut control = super::RunControl::new();
    if args.resume
        && let Ok(Some(state)) = last_run(cx)
    {
        control.id = state.run_id;
    }
    control
}

/// What `--resume` finds to do.
pub(crate) enum Resume {
    /// Build with these options, under this run ID.
    Run {
        options: Box<BuildOptions>,
        run_id: String,
    },
    /// The last run left nothing to do: the message says why.
    Nothing(String),
}

/// The options of the resumed run: the last run's, selecting what it did not finish, with this
/// invocation's output settings (format, verbosity, timings, waiting).
pub(crate) fn resume(cx: &Context, args: &BuildOptions) -> Result<Resume, String> {
    let Some(state) = last_run(cx)? else {
        return Err(
            "nothing to resume: no workspace build has run here (cache/runs/last.json is absent); \
             run `imgs build`"
                .to_string(),
        );
    };
    if state.status == Status::Succeeded {
        return Ok(Resume::Nothing(format!(
            "nothing to resume: the last run ({}) finished successfully",
            state.run_id
        )));
    }
    let finished: BTreeSet<&String> = state.finished.iter().collect();
    let left: Vec<String> = state
        .selected
        .iter()
        .filter(|i| !finished.contains(i))
        .cloned()
        .collect();
    if left.is_empty() {
        return Ok(Resume::Nothing(format!(
            "nothing to resume: every image of the last run ({}) was done",
            state.run_id
        )));
    }
    let stored = &state.options;
    check_vars(stored, &args.variables.var)?;
    let shard = match &stored.shard {
        Some(spec) => Some(spec.parse().map_err(|e| {
            format!(
                "the last run's --shard cannot be read ({e}); run `imgs build` without --resume"
            )
        })?),
        None => None,
    };
    let options = BuildOptions {
        template: None,
        selection: options::SelectionOptions {
            all: false,
            image: left,
            exclude: Vec::new(),
            changed_since: None,
        },
        variables: options::VariableOptions {
            var: args.variables.var.clone(),
            var_file: stored.var_file.clone(),
        },
        filter: options::BuildFilterOptions {
            only: stored.only.clone(),
            except: stored.except.clone(),
        },
        force: stored.force,
        on_error: if stored.on_error_abort {
            options::OnError::Abort
        } else {
            options::OnError::Cleanup
        },
        jobs: stored.jobs,
        keep_going: stored.keep_going,
        dry_run: args.dry_run,
        offline: stored.offline,
        message_format: args.message_format,
        verbose: args.verbose,
        timings: args.timings.clone(),
        no_wait: args.no_wait,
        max_per_region: stored.max_per_region,
        max_per_builder: stored.max_per_builder.clone(),
        shard: ShardOptions {
            shard,
            wave: stored.wave,
        },
        resume: false,
        resumed: Some(state.finished.clone()),
        // Given with --resume: channels are not kept with the run.
        channel: args.channel.clone(),
    };
    Ok(Resume::Run {
        options: Box::new(options),
        run_id: state.run_id,
    })
}

/// Written when a workspace run starts: what it was asked, and the images it selected. A resumed
/// run keeps its first run's selection and what that run finished.
pub(crate) fn begin(
    cx: &Context,
    cache: &Path,
    run_id: &str,
    args: &BuildOptions,
    selected: Vec<String>,
) -> Result<(), String> {
    let salt = uuid::Uuid::new_v4().to_string();
    let state = match &args.resumed {
        Some(finished) => match read(cache)? {
            Some(mut state) if state.run_id == run_id => {
                state.status = Status::Running;
                state.finished = finished.clone();
                state
            }
            _ => return Err("the run being resumed is no longer the last one".to_string()),
        },
        None => RunState {
            schema: SCHEMA,
            run_id: run_id.to_string(),
            status: Status::Running,
            selected,
            finished: Vec::new(),
            options: StoredOptions {
                var_names: args.variables.var.iter().map(|(n, _)| n.clone()).collect(),
                var_digest: var_digest(&salt, &args.variables.var),
                var_salt: salt,
                var_file: args
                    .variables
                    .var_file
                    .iter()
                    .map(|f| super::absolute(&cx.cwd, f))
                    .collect(),
                only: args.filter.only.clone(),
                except: args.filter.except.clone(),
                force: args.force,
                on_error_abort: args.on_error == options::OnError::Abort,
                keep_going: args.keep_going,
                jobs: args.jobs,
                offline: args.offline,
                max_per_region: args.max_per_region,
                max_per_builder: args.max_per_builder.clone(),
                shard: args.shard.shard.map(|s| s.to_string()),
                wave: args.shard.wave,
            },
        },
    };
    write(cache, &state)
}

/// Rewritten when the run ends: how, and every image it saw done (with those of the run it resumed).
pub(crate) fn finish(
    cache: &Path,
    run_id: &str,
    status: Status,
    done: impl IntoIterator<Item = String>,
) -> Result<(), String> {
    let Some(mut state) = read(cache)? else {
        return Ok(());
    };
    if state.run_id != run_id {
        return Ok(());
    }
    let mut finished: BTreeSet<String> = state.finished.into_iter().collect();
    finished.extend(done);
    state.finished = finished.into_iter().collect();
    state.status = status;
    write(cache, &state)
}

/// The salted digest of `--var` pairs, in order.
fn var_digest(salt: &str, vars: &[(String, String)]) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("imgs build --resume: --var values");
    hasher.update(salt.as_bytes());
    for (name, value) in vars {
        for part in [name, value] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hasher.finalize().to_hex().to_string()
}

/// A resume must be given the `--var`s of the run it resumes, the same values in the same order.
fn check_vars(stored: &StoredOptions, given: &[(String, String)]) -> Result<(), String> {
    if var_digest(&stored.var_salt, given) == stored.var_digest {
        return Ok(());
    }
    let names = |names: &mut dyn Iterator<Item = &String>| {
        names
            .map(|n| format!("--var {n}=..."))
            .collect::<Vec<_>>()
            .join(" ")
    };
    Err(if stored.var_names.is_empty() {
        format!(
            "the run being resumed was given no --var, and this resume gives {}; resume without \
             them, or run `imgs build` without --resume",
            names(&mut given.iter().map(|(n, _)| n))
        )
    } else {
        format!(
            "the run being resumed was given `{}`: give the same --var values again with \
             --resume (imgs does not keep them, as they may be secrets), or run `imgs build` \
             without --resume",
            names(&mut stored.var_names.iter())
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_in_place_of_the_state_is_replaced_by_the_next_write() {
        let cache = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(path(cache.path()).join("inside")).unwrap();
        let state = RunState {
            schema: SCHEMA,
            run_id: "run-1".to_string(),
            status: Status::Succeeded,
            selected: vec!["base".to_string()],
            finished: vec!["base".to_string()],
            options: StoredOptions::default(),
        };
        write(cache.path(), &state).unwrap();
        let read = read(cache.path()).unwrap().unwrap();
        assert_eq!(
            (read.run_id.as_str(), read.status),
            ("run-1", Status::Succeeded)
        );
    }
}
