//! Differential test: `imgs_template::check` must reach the same verdict (valid or not) as
//! `packer validate` of Packer 1.6.6 on every template of the corpus in `tests/differential/`
//! (see its README for the case format). For a template using builder or post-processor types imgs
//! has no settings for, imgs's verdict includes what `imgs validate` asks `packer validate` about
//! those parts (`imgs_build::validate_foreign`), as `imgs validate` does.
//!
//! Packer is run for real (`/usr/bin/packer`, else `packer` on `PATH`). Without it imgs is compared with
//! the verdicts recorded in `tests/differential/verdicts.txt` alone, with a line saying so, or the test
//! fails where `CI` is set (`imgs_test_peers::packer`). `IMGS_RECORD_PACKER=1` rewrites that file from
//! Packer's output.
//! imgs's rendered diagnostics for the invalid cases are snapshot-tested so message changes get reviewed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use imgs_template::interpolate::Volatile;
use imgs_template::{BuildFilter, Invocation, VarFile};
use imgs_test_peers::packer::packer_for;

/// How long one `packer validate` may take before it counts as hung (it normally takes well under 1 s).
const PACKER_DEADLINE: Duration = Duration::from_secs(60);

const VERDICTS_FILE: &str = "verdicts.txt";

#[test]
fn imgs_agrees_with_packer_validate() {
    differential(Corpus::Json);
}

/// The HCL2 corpus in `tests/differential/hcl/` (see its README): each case a directory of
/// `*.pkr.hcl` files, validated as `packer validate hcl/NAME` from the same working directory.
#[test]
fn imgs_agrees_with_packer_validate_on_hcl2_configurations() {
    differential(Corpus::Hcl);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Corpus {
    Json,
    Hcl,
}

impl Corpus {
    fn verdicts(self) -> &'static str {
        match self {
            Corpus::Json => VERDICTS_FILE,
            Corpus::Hcl => "hcl/verdicts.txt",
        }
    }

    fn minimum(self) -> usize {
        match self {
            Corpus::Json => 40,
            Corpus::Hcl => 80,
        }
    }

    fn snapshot(self) -> &'static str {
        match self {
            Corpus::Json => "imgs_diagnostics_for_invalid_cases",
            Corpus::Hcl => "imgs_diagnostics_for_invalid_hcl2_cases",
        }
    }
}

fn differential(kind: Corpus) {
    let corpus = corpus_dir();
    let cases = load_cases(&corpus, kind);
    assert!(
        cases.len() >= kind.minimum(),
        "the corpus holds {} cases; it should hold at least {}",
        cases.len(),
        kind.minimum()
    );

    let packer = packer_for(&format!(
        "`packer validate` of the differential corpus (imgs is compared with the verdicts recorded in \
         tests/differential/{} alone)",
        kind.verdicts()
    ));
    let recording = std::env::var_os("IMGS_RECORD_PACKER").is_some_and(|v| v == "1");
    let recorded = read_verdicts(&corpus.join(kind.verdicts()));
    assert!(
        packer.is_some() || !recording,
        "IMGS_RECORD_PACKER=1 needs Packer"
    );

    let home = tempfile::tempdir().expect("temporary HOME for packer");
    let env = clean_env(home.path());
    let outcomes = run_all(&cases, &corpus, packer.as_deref(), &env);

    let failures = disagreements(&cases, &outcomes, &recorded, recording, &corpus);

    if recording {
        let verdicts = cases
            .iter()
            .zip(&outcomes)
            .filter_map(|(case, outcome)| {
                let packer = outcome.packer.as_ref()?;
                Some((
                    case.name.clone(),
                    Verdict {
                        valid: packer.valid,
                        summary: summarize(&packer.output, &corpus),
                    },
                ))
            })
            .collect();
        write_verdicts(&corpus.join(kind.verdicts()), &verdicts);
    }

    let mut rendered = String::new();
    for (case, outcome) in cases.iter().zip(&outcomes) {
        if outcome.imgs.has_errors() {
            writeln!(rendered, "=== {}\n{}\n", case.name, outcome.imgs).expect("write to string");
        }
    }
    let rendered = rendered.replace(&corpus.display().to_string(), "<corpus>");
    // The snapshot is checked (and, with INSTA_UPDATE, written) even when verdicts differ, but the verdicts
    // are reported first: they say more than a changed message.
    let snapshot = std::panic::catch_unwind(|| {
        insta::assert_snapshot!(kind.snapshot(), rendered);
    });
    assert!(
        failures.is_empty(),
        "imgs and Packer disagree:\n\n{failures}"
    );
    if let Err(panic) = snapshot {
        std::panic::resume_unwind(panic);
    }
}

/// Every case where imgs and Packer disagree, or where Packer no longer gives its recorded verdict (unless
/// recording), described with both outputs.
fn disagreements(
    cases: &[Case],
    outcomes: &[Outcome],
    recorded: &BTreeMap<String, Verdict>,
    recording: bool,
    corpus: &Path,
) -> String {
    let mut failures = String::new();
    for (case, outcome) in cases.iter().zip(outcomes) {
        let imgs_valid = !outcome.imgs.has_errors();
        let expected = match &outcome.packer {
            Some(packer) => {
                if !recording {
                    match recorded.get(&case.name) {
                        Some(r) if r.valid == packer.valid => {}
                        Some(r) => writeln!(
                            failures,
                            "== {}: Packer's verdict changed from the recorded `{}` to `{}`\n{}",
                            case.name,
                            verdict_word(r.valid),
                            verdict_word(packer.valid),
                            packer.output
                        )
                        .expect("write to string"),
                        None => writeln!(
                            failures,
                            "== {}: no verdict recorded in {VERDICTS_FILE}; run with IMGS_RECORD_PACKER=1",
                            case.name
                        )
                        .expect("write to string"),
                    }
                }
                Verdict {
                    valid: packer.valid,
                    summary: summarize(&packer.output, corpus),
                }
            }
            None => match recorded.get(&case.name) {
                Some(r) => r.clone(),
                None => {
                    writeln!(
                        failures,
                        "== {}: no verdict recorded in {VERDICTS_FILE}",
                        case.name
                    )
                    .expect("write to string");
                    continue;
                }
            },
        };
        if imgs_valid != expected.valid {
            let packer_text = outcome
                .packer
                .as_ref()
                .map_or(expected.summary.as_str(), |p| p.output.as_str());
            writeln!(
                failures,
                "== {}: packer says {}, imgs says {}\n-- packer:\n{}\n-- imgs:\n{}\n",
                case.name,
                verdict_word(expected.valid),
                verdict_word(imgs_valid),
                packer_text.trim_end(),
                if imgs_valid {
                    "(no errors)".to_string()
                } else {
                    outcome.imgs.to_string()
                },
            )
            .expect("write to string");
        }
    }

    failures
}

/// One template of the corpus and the command line it is validated with.
struct Case {
    name: String,
    template: PathBuf,
    args: Vec<String>,
}

struct Outcome {
    packer: Option<PackerRun>,
    imgs: imgs_diagnostic::Diagnostics,
}

struct PackerRun {
    valid: bool,
    output: String,
}

#[derive(Clone, Debug)]
struct Verdict {
    valid: bool,
    /// Packer's error messages on one line (absolute corpus paths replaced by `<corpus>`).
    summary: String,
}

/// The corpus directory, symbolic links resolved: Packer reports paths under its real location.
fn corpus_dir() -> PathBuf {
    let dir = crate::support::repo_root().join("tests/differential");
    dir.canonicalize().unwrap_or(dir)
}

fn load_cases(corpus: &Path, kind: Corpus) -> Vec<Case> {
    if kind == Corpus::Hcl {
        return load_hcl_cases(corpus);
    }
    let mut cases: Vec<Case> = std::fs::read_dir(corpus)
        .expect("read the corpus directory")
        .map(|entry| entry.expect("read a corpus entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|template| {
            let name = template
                .file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let args_file = template.with_extension("args");
            let args = match std::fs::read_to_string(&args_file) {
                Ok(text) => parse_args_file(&text),
                Err(_) => Vec::new(),
            };
            Case {
                name,
                template,
                args,
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// The directories of `hcl/`, each one configuration, with `hcl/NAME.args` beside it.
fn load_hcl_cases(corpus: &Path) -> Vec<Case> {
    let dir = corpus.join("hcl");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut cases: Vec<Case> = entries
        .map(|entry| entry.expect("read a corpus entry").path())
        .filter(|path| path.is_dir() && imgs_workspace::has_hcl_files(path))
        .map(|template| {
            let name = template
                .file_name()
                .expect("directory name")
                .to_string_lossy()
                .into_owned();
            let args = match std::fs::read_to_string(dir.join(format!("{name}.args"))) {
                Ok(text) => parse_args_file(&text),
                Err(_) => Vec::new(),
            };
            Case {
                name,
                template,
                args,
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// One argument per line; blank lines and lines starting with `#` are skipped.
fn parse_args_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// `packer validate`'s flags as imgs's invocation and build filter.
fn invocation(
    case: &Case,
    corpus: &Path,
    env: &BTreeMap<String, String>,
) -> (Invocation, BuildFilter) {
    let mut var_files = Vec::new();
    let mut cli_vars = Vec::new();
    let mut filter = BuildFilter::default();
    let mut args = case.args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') && !flag.contains(' ') => {
                (flag, Some(value.to_string()))
            }
            _ => (arg.as_str(), None),
        };
        let flag = flag.trim_start_matches('-');
        let mut value = || {
            inline_value
                .clone()
                .or_else(|| args.next().cloned())
                .unwrap_or_else(|| {
                    panic!("{}.args: `{arg}` needs a value on the next line", case.name)
                })
        };
        match flag {
            "var" => {
                let pair = value();
                let (key, val) = pair.split_once('=').unwrap_or_else(|| {
                    panic!("{}.args: -var takes KEY=VALUE, got `{pair}`", case.name)
                });
                cli_vars.push((key.to_string(), val.to_string()));
            }
            "var-file" => {
                let path = corpus.join(value());
                // A missing var file is part of what the corpus tests: imgs is given an empty text and a
                // path that does not exist, and must reject it as Packer does.
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                var_files.push(VarFile { path, text });
            }
            "only" => filter.only.extend(value().split(',').map(str::to_string)),
            "except" => filter.except.extend(value().split(',').map(str::to_string)),
            other => panic!("{}.args: unsupported flag `-{other}`", case.name),
        }
    }
    let invocation = Invocation {
        working_dir: corpus.to_path_buf(),
        env: env.clone(),
        workspace_vars: vec![],
        var_files,
        cli_vars,
        volatile: Volatile::Placeholder,
        force: false,
    };
    (invocation, filter)
}

/// The environment both sides see: nothing from the caller, fake AWS credentials so nothing looks for real
/// ones, no update check, and the variables the corpus reads with `{{env}}`.
fn clean_env(home: &Path) -> BTreeMap<String, String> {
    [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", &home.display().to_string()),
        ("CHECKPOINT_DISABLE", "1"),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("IMGS_DIFF_GREETING", "hello"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Validates every case with both tools, a few cases at a time.
fn run_all(
    cases: &[Case],
    corpus: &Path,
    packer: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..cases.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let outcome = run_case(case, corpus, packer, env);
                    results.lock().expect("results lock")[i] = Some(outcome);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|o| o.expect("every case ran"))
        .collect()
}

fn run_case(
    case: &Case,
    corpus: &Path,
    packer: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> Outcome {
    let packer = packer.map(|packer| run_packer(packer, case, corpus, env));
    let (invocation, filter) = invocation(case, corpus, env);
    let imgs = if case.template.is_dir() {
        let relative = case
            .template
            .strip_prefix(corpus)
            .expect("cases are in the corpus");
        imgs_workspace::check_hcl(relative, &invocation, &filter)
    } else {
        let text = std::fs::read_to_string(&case.template).expect("read a corpus template");
        let mut found = imgs_template::check(&case.template, text.clone(), &invocation, &filter);
        if !found.has_errors() {
            found
                .0
                .extend(foreign_problems(&case.template, text, &invocation, &filter));
        }
        found
    };
    Outcome { packer, imgs }
}

/// What `imgs validate` adds for the builder and post-processor types imgs has no settings for:
/// `packer validate`'s problems with those parts alone.
fn foreign_problems(
    path: &Path,
    text: String,
    invocation: &Invocation,
    filter: &BuildFilter,
) -> Vec<imgs_diagnostic::Diagnostic> {
    let template = imgs_template::Template::parse(path, text).expect("checked above");
    let resolved = imgs_template::resolve_variables(&template, invocation).expect("checked above");
    match imgs_build::validate_foreign(&template, &resolved, &invocation.working_dir, filter) {
        imgs_build::ForeignCheck::NothingForeign => Vec::new(),
        imgs_build::ForeignCheck::Checked(problems) => problems,
        imgs_build::ForeignCheck::NotRun { error, .. } => {
            panic!("{}: packer validate could not run: {error}", path.display())
        }
    }
}

fn run_packer(
    packer: &Path,
    case: &Case,
    corpus: &Path,
    env: &BTreeMap<String, String>,
) -> PackerRun {
    let mut child = Command::new(packer)
        .arg("validate")
        .args(&case.args)
        .arg(
            case.template
                .strip_prefix(corpus)
                .expect("cases are in the corpus"),
        )
        .current_dir(corpus)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start packer validate");
    let started = Instant::now();
    // Output is small (a few lines), so waiting before reading the pipes cannot block on a full pipe.
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for packer") {
            break status;
        }
        if started.elapsed() > PACKER_DEADLINE {
            child.kill().expect("stop a hung packer");
            panic!(
                "{}: packer validate did not finish within {PACKER_DEADLINE:?}",
                case.name
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = child.wait_with_output().expect("packer output");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    PackerRun {
        valid: status.success(),
        output: text,
    }
}

/// Packer's error messages on one line: its `* ` bullets (Packer wraps long ones onto the following lines;
/// sorted, since Packer's order can change between runs), else all it printed. The corpus directory's
/// absolute path reads `<corpus>`.
fn summarize(output: &str, corpus: &Path) -> String {
    let mut bullets: Vec<String> = Vec::new();
    let mut in_bullet = false;
    for line in output.lines().map(str::trim) {
        if let Some(bullet) = line.strip_prefix("* ") {
            bullets.push(bullet.to_string());
            in_bullet = true;
        } else if in_bullet && !line.is_empty() {
            let last = bullets.last_mut().expect("a bullet was started");
            last.push(' ');
            last.push_str(line);
        } else {
            in_bullet = false;
        }
    }
    bullets.sort();
    let summary = if bullets.is_empty() {
        let lines: Vec<&str> = output
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        lines
            .join(" ")
            .trim_start_matches("Error:")
            .trim()
            .to_string()
    } else {
        bullets.join(" | ")
    };
    summary.replace(&corpus.display().to_string(), "<corpus>")
}

fn verdict_word(valid: bool) -> &'static str {
    if valid { "valid" } else { "invalid" }
}

/// `NAME valid` or `NAME invalid: MESSAGES`, one case per line; `#` lines are comments.
fn read_verdicts(path: &Path) -> BTreeMap<String, Verdict> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
            let (word, summary) = rest.split_once(": ").unwrap_or((rest, ""));
            let valid = match word {
                "valid" => true,
                "invalid" => false,
                other => {
                    panic!("{VERDICTS_FILE}: `{other}` is neither valid nor invalid (case {name})")
                }
            };
            (
                name.to_string(),
                Verdict {
                    valid,
                    summary: summary.to_string(),
                },
            )
        })
        .collect()
}

fn write_verdicts(path: &Path, verdicts: &BTreeMap<String, Verdict>) {
    let mut text = String::from(
        "# `packer validate` (Packer 1.6.6) verdicts for this corpus, recorded by\n\
         # `IMGS_RECORD_PACKER=1 cargo test -p imgs --test e2e differential::`.\n",
    );
    for (name, verdict) in verdicts {
        if verdict.valid {
            writeln!(text, "{name} valid").expect("write to string");
        } else {
            writeln!(text, "{name} invalid: {}", verdict.summary).expect("write to string");
        }
    }
    std::fs::write(path, text).expect("write the recorded verdicts");
}

#[test]
fn packer_messages_are_summarized_on_one_line() {
    let corpus = Path::new("/corpus");
    let wrapped = "Error: Failed to prepare build: \"null\"\n\n2 error(s) occurred:\n\n\
                   * Bad script '/corpus/a.sh': stat\n/corpus/a.sh: no such file\n* An ssh_username must be specified\n\n";
    assert_eq!(
        summarize(wrapped, corpus),
        "An ssh_username must be specified | Bad script '<corpus>/a.sh': stat <corpus>/a.sh: no such file"
    );
    assert_eq!(
        summarize(
            "Error:  This template requires Packer version 1.7.0 or higher; using 1.6.6\n",
            corpus
        ),
        "This template requires Packer version 1.7.0 or higher; using 1.6.6"
    );
}

#[test]
fn args_files_hold_one_argument_per_line() {
    assert_eq!(
        parse_args_file("# comment\n-var\n  k=v=w \n\n-only=a,b\n"),
        ["-var", "k=v=w", "-only=a,b"]
    );
    let case = Case {
        name: "c".into(),
        template: PathBuf::from("c.json"),
        args: parse_args_file("-var\nk=v=w\n-only=a,b\n-except\nc\n-var-file\nnone.json\n"),
    };
    let (invocation, filter) = invocation(&case, Path::new("/nonexistent"), &BTreeMap::new());
    assert_eq!(invocation.cli_vars, [("k".to_string(), "v=w".to_string())]);
    assert_eq!(invocation.var_files.len(), 1);
    assert_eq!(filter.only, ["a", "b"]);
    assert_eq!(filter.except, ["c"]);
}
