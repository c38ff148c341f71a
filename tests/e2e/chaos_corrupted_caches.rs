//! Damaged caches: every file imgs keeps in `cache/` damaged in several ways, then imgs run over it.
//! A file imgs reads back (a record, the stat cache, the lock file, a version's marker) that is not
//! whole must be reported (a warning naming it), ignored and written anew — never a panic, never a
//! wrong "fresh"; a file imgs only writes (the run manifest, timings) is simply replaced.
//!
//! The damage: emptied, cut at random lengths, random bytes overwritten, replaced by garbage, a
//! directory in its place, and (JSON files) a value of the wrong type at a random place. Random
//! choices are seeded (`IMGS_CHAOS_SEED` repeats a run); `chaos::runs` sets how many of each.
//!
//! Every run is the real `imgs` executable, so a panic is a crash counted, not a failed test thread.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use imgs_cache::{Cache, Scanned};

use crate::support::chaos::{self, Dice};
use crate::support::*;

/// A guard against a hanging run, not a measurement.
const PATIENCE: Duration = Duration::from_secs(120);

/// The name of a version directory a killed run left, with its marker.
const KILLED_VERSION: &str = "0123456789ab";

/// The fields of a cache record (what a damaged record is compared on).
const RECORD_FIELDS: [&str; 8] = [
    "schema",
    "image",
    "fingerprint",
    "inputs",
    "builds",
    "created_at",
    "run_id",
    "artifact_dir",
];

/// Which file, and how imgs meets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// The record of `base`'s current fingerprint (read by every plan).
    Record,
    /// The record of `child`'s current fingerprint.
    ChildRecord,
    /// A record of an older fingerprint of `base` (read by `cache ls`, and by a plan to say what
    /// changed).
    OlderRecord,
    StatCache,
    Manifest,
    Lock,
    /// The marker of a version directory a killed run left (read by `cache ls` and prune).
    Marker,
    Timings,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Record,
        Kind::ChildRecord,
        Kind::OlderRecord,
        Kind::StatCache,
        Kind::Manifest,
        Kind::Lock,
        Kind::Marker,
        Kind::Timings,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Record => "record",
            Kind::ChildRecord => "child_record",
            Kind::OlderRecord => "older_record",
            Kind::StatCache => "stat_cache",
            Kind::Manifest => "manifest",
            Kind::Lock => "lock",
            Kind::Marker => "marker",
            Kind::Timings => "timings",
        }
    }

    fn is_json(self) -> bool {
        !matches!(self, Kind::Marker | Kind::Timings)
    }
}

/// How a file is damaged.
#[derive(Clone, Debug)]
enum Damage {
    Empty,
    /// Cut to this many bytes.
    Truncate(usize),
    /// Bytes overwritten: (offset, byte).
    Overwrite(Vec<(usize, u8)>),
    /// Random bytes, as many as the file had.
    Garbage(Vec<u8>),
    /// A directory (holding a file) in its place.
    Directory,
    /// A JSON value of another type at a place in the document (a JSON pointer).
    WrongType {
        pointer: String,
        value: serde_json::Value,
    },
}

impl Damage {
    fn name(&self) -> &'static str {
        match self {
            Damage::Empty => "empty",
            Damage::Truncate(_) => "truncated",
            Damage::Overwrite(_) => "random_bytes",
            Damage::Garbage(_) => "garbage",
            Damage::Directory => "directory",
            Damage::WrongType { .. } => "wrong_type",
        }
    }

    /// Damages `path` (whose intact bytes are `good`); the bytes it holds after, `None` for a
    /// directory.
    fn apply(&self, path: &Path, good: &[u8]) -> Option<Vec<u8>> {
        let bytes = match self {
            Damage::Empty => Vec::new(),
            Damage::Truncate(n) => good[..*n].to_vec(),
            Damage::Overwrite(edits) => {
                let mut bytes = good.to_vec();
                for (at, byte) in edits {
                    bytes[*at] = *byte;
                }
                bytes
            }
            Damage::Garbage(bytes) => bytes.clone(),
            Damage::Directory => {
                std::fs::remove_file(path).unwrap();
                std::fs::create_dir_all(path.join("inside")).unwrap();
                std::fs::write(path.join("inside/file"), "x").unwrap();
                return None;
            }
            Damage::WrongType { pointer, value } => {
                let mut doc: serde_json::Value = serde_json::from_slice(good).unwrap();
                *doc.pointer_mut(pointer).unwrap() = value.clone();
                serde_json::to_vec_pretty(&doc).unwrap()
            }
        };
        std::fs::write(path, &bytes).unwrap();
        Some(bytes)
    }
}

/// Every place in a JSON document (pointers), the root aside.
fn pointers(value: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, field) in fields {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(here.clone());
                pointers(field, here, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let here = format!("{at}/{i}");
                out.push(here.clone());
                pointers(item, here, out);
            }
        }
        _ => {}
    }
}

/// A value of another JSON type than `value`'s.
fn other_type(value: &serde_json::Value, dice: &mut Dice) -> serde_json::Value {
    let choices = [
        serde_json::json!(null),
        serde_json::json!(true),
        serde_json::json!(17),
        serde_json::json!("x"),
        serde_json::json!([1]),
        serde_json::json!({ "x": 1 }),
    ];
    let same = |c: &serde_json::Value| std::mem::discriminant(c) == std::mem::discriminant(value);
    let others: Vec<&serde_json::Value> = choices.iter().filter(|c| !same(c)).collect();
    others[dice.below(others.len())].clone()
}

/// The random damages for one file: `n` of each random kind, plus the fixed ones.
fn damages(kind: Kind, good: &[u8], n: usize, dice: &mut Dice) -> Vec<Damage> {
    let mut all = vec![Damage::Empty, Damage::Directory];
    if good.is_empty() {
        return all;
    }
    all.push(Damage::Garbage(
        (0..good.len()).map(|_| dice.next() as u8).collect(),
    ));
    for _ in 0..n {
        all.push(Damage::Truncate(dice.below(good.len())));
        let edits = (0..1 + dice.below(8))
            .map(|_| (dice.below(good.len()), dice.next() as u8))
            .collect();
        all.push(Damage::Overwrite(edits));
    }
    if kind.is_json() {
        let doc: serde_json::Value = serde_json::from_slice(good).unwrap();
        let mut places = Vec::new();
        pointers(&doc, String::new(), &mut places);
        for _ in 0..n.max(2) {
            let pointer = places[dice.below(places.len())].clone();
            let value = other_type(doc.pointer(&pointer).unwrap(), dice);
            all.push(Damage::WrongType { pointer, value });
        }
    }
    all
}

/// The workspace: `base` copies a file (an input the stat cache remembers), `child` writes a file
/// naming base's copy. Built twice (base's input changed between), so base has an older record;
/// then a version directory as a killed run leaves it, and a run with `--timings`.
struct Workspace {
    dir: tempfile::TempDir,
    /// `cache/` as it was then, to start every case from.
    pristine: tempfile::TempDir,
    /// Each kind's file, relative to the workspace.
    files: BTreeMap<Kind, String>,
}

fn aged(path: &Path) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

impl Workspace {
    fn new() -> Workspace {
        let dir = new_workspace_with(
            "imgs-damage-",
            "[images.child]\nparents = { parent = \"base\" }\n",
        );
        let root = dir.path();
        write_template(
            root,
            "base",
            &serde_json::json!({
                "builders": [{
                    "type": "file",
                    "source": "images/base/in.txt",
                    "target": "cache/artifacts/base/out.txt",
                }],
            }),
        );
        write_template(
            root,
            "child",
            &serde_json::json!({
                "variables": { "parent": null },
                "builders": [{
                    "type": "file",
                    "content": "on {{user `parent`}}",
                    "target": "cache/artifacts/child/out.txt",
                }],
            }),
        );
        let input = root.join("images/base/in.txt");
        std::fs::write(&input, "v1").unwrap();
        aged(&input);
        let older = fingerprints(root)["base"].clone();
        assert_eq!(run(root, &["build", "--all"]).code, Some(0));
        std::fs::write(&input, "v2").unwrap();
        aged(&input);
        assert_eq!(run(root, &["build", "--all", "--timings"]).code, Some(0));
        let now = fingerprints(root);
        // A version directory a killed run left, and a lock file naming a holder.
        let killed = root.join(format!("cache/artifacts/base/{KILLED_VERSION}"));
        std::fs::create_dir_all(&killed).unwrap();
        std::fs::write(killed.join("out.txt"), "half").unwrap();
        let marker = format!("cache/artifacts/base/.{KILLED_VERSION}.building");
        write(root, &marker, "run-killed");
        write(
            root,
            "cache/imgs.lock",
            r#"{"pid":4242,"command":"imgs build","run_id":"run-old","since":"2026-12-04T10:00:00Z"}"#,
        );
        let files = BTreeMap::from([
            (
                Kind::Record,
                format!("cache/records/base/{}.json", now["base"]),
            ),
            (
                Kind::ChildRecord,
                format!("cache/records/child/{}.json", now["child"]),
            ),
            (
                Kind::OlderRecord,
                format!("cache/records/base/{older}.json"),
            ),
            (Kind::StatCache, "cache/stat-cache.json".to_string()),
            (Kind::Manifest, "cache/manifest.json".to_string()),
            (Kind::Lock, "cache/imgs.lock".to_string()),
            (Kind::Marker, marker),
            (Kind::Timings, "cache/imgs-timing.html".to_string()),
        ]);
        for file in files.values() {
            assert!(root.join(file).is_file(), "{file}");
        }
        let pristine = tempfile::tempdir().unwrap();
        copy_tree(&root.join("cache"), &pristine.path().join("cache"));
        Workspace {
            dir,
            pristine,
            files,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `cache/` back as it was after the setup.
    fn restore(&self) {
        let cache = self.root().join("cache");
        std::fs::remove_dir_all(&cache).unwrap();
        copy_tree(&self.pristine.path().join("cache"), &cache);
    }

    fn good(&self, kind: Kind) -> Vec<u8> {
        std::fs::read(self.pristine.path().join(&self.files[&kind])).unwrap()
    }
}

/// Copies a tree, symlinks as symlinks (`current` links).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `imgs ARGS` in `root`, as a process (killed after [`PATIENCE`]).
fn run(root: &Path, args: &[&str]) -> Ran {
    let mut child = Command::new(imgs_exe())
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("imgs {args:?} did not end within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Ran {
    fn crashed(&self) -> bool {
        self.code.is_none_or(|c| c == 101) || self.stderr.contains("panicked")
    }

    /// Each image's last outcome in a `--message-format json` run.
    fn outcomes(&self) -> BTreeMap<String, String> {
        let mut last = BTreeMap::new();
        for line in self.stdout.lines().filter(|l| l.starts_with('{')) {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            if let (Some(image), Some(what)) = (event["image"].as_str(), event["event"].as_str())
                && ["built", "fresh", "failed", "skipped"].contains(&what)
            {
                last.insert(image.to_string(), what.to_string());
            }
        }
        last
    }

    fn run_id(&self) -> Option<String> {
        self.stdout.lines().find_map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).ok()?;
            (event["event"] == "run").then(|| event["run_id"].as_str().unwrap().to_string())
        })
    }
}

/// A record's content as the test compares it: its fields, without the checksum or anything else.
fn record_content(bytes: &[u8]) -> Option<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let fields = value.as_object()?;
    Some(
        RECORD_FIELDS
            .iter()
            .filter_map(|k| fields.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    )
}

/// What became of the cases, by outcome.
#[derive(Default)]
struct Tally {
    cases: BTreeMap<String, usize>,
    /// Reported with a warning naming the file.
    reported: usize,
    /// Rebuilt (a record's image) after the report.
    rebuilt: usize,
    /// The damage left the content as it was (a byte overwritten by itself, a changed space): used
    /// as before, rightly.
    intact: usize,
    /// A stat cache of another format version: replaced without a word, as by design.
    other_version: usize,
    /// A file imgs only writes: replaced.
    replaced: usize,
    crashes: usize,
    failed_runs: usize,
    /// A damaged record's image found fresh, a fingerprint changed by a damaged stat cache.
    false_records: usize,
    /// Damage read back and neither reported nor harmless.
    unreported: usize,
    /// Not whole again after the run (or warned about again on the next).
    not_rewritten: usize,
    problems: Vec<String>,
}

impl Tally {
    fn problem(&mut self, what: String) {
        eprintln!("{what}");
        self.problems.push(what);
    }
}

/// Runs imgs over one damaged file and judges what it did.
fn judge(ws: &Workspace, kind: Kind, damage: &Damage, tally: &mut Tally) -> String {
    let root = ws.root();
    let file = &ws.files[&kind];
    let good = ws.good(kind);
    ws.restore();
    let bytes = damage.apply(&root.join(file), &good);
    let case = format!("{} {} {damage:?}", kind.name(), damage.name());
    *tally
        .cases
        .entry(format!("{} {}", kind.name(), damage.name()))
        .or_default() += 1;
    let unchanged = bytes.as_deref() == Some(&good[..]);
    let args: &[&str] = match kind {
        Kind::OlderRecord | Kind::Marker => &["cache", "ls", "--message-format", "json"],
        Kind::Timings => &["build", "--all", "--message-format", "json", "--timings"],
        _ => &["build", "--all", "--message-format", "json"],
    };
    let ran = run(root, args);
    if ran.crashed() {
        tally.crashes += 1;
        tally.problem(format!("{case}: crashed\n{}", ran.stderr));
        return ran.stderr;
    }
    if ran.code != Some(0) {
        tally.failed_runs += 1;
        tally.problem(format!("{case}: exit {:?}\n{}", ran.code, ran.stderr));
        return ran.stderr;
    }
    let reported = ran.stderr.contains(file.as_str()) || ran.stdout.contains(file.as_str());
    if reported {
        tally.reported += 1;
    }
    let outcomes = ran.outcomes();
    match kind {
        Kind::Record | Kind::ChildRecord => {
            let image = if kind == Kind::Record {
                "base"
            } else {
                "child"
            };
            match outcomes.get(image).map(String::as_str) {
                Some("built") => {
                    tally.rebuilt += 1;
                    if !reported {
                        tally.unreported += 1;
                        tally.problem(format!("{case}: rebuilt without a word"));
                    }
                }
                Some("fresh") => {
                    let same = bytes
                        .as_deref()
                        .and_then(record_content)
                        .is_some_and(|c| Some(c) == record_content(&good));
                    if same {
                        tally.intact += 1;
                    } else {
                        tally.false_records += 1;
                        tally.problem(format!("{case}: found fresh from a damaged record"));
                    }
                }
                other => tally.problem(format!("{case}: {image} {other:?}")),
            }
        }
        Kind::StatCache => {
            // A stat cache only saves reading files: whatever it holds, fingerprints stay.
            if outcomes.values().any(|o| o != "fresh") {
                tally.false_records += 1;
                tally.problem(format!("{case}: {outcomes:?}"));
            }
            let version = bytes
                .as_deref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64));
            let same = bytes.as_deref().is_some_and(|b| {
                serde_json::from_slice::<serde_json::Value>(b).ok()
                    == serde_json::from_slice::<serde_json::Value>(&good).ok()
            });
            if same {
                tally.intact += 1;
            } else if version.is_some_and(|v| v != 2) {
                tally.other_version += 1;
            } else if !reported {
                tally.unreported += 1;
                tally.problem(format!("{case}: not reported"));
            }
        }
        Kind::OlderRecord => {
            let listed: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
            let unreadable = listed["unreadable"].as_array().unwrap().iter().any(|u| {
                u["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(file.as_str()))
            });
            let same = bytes
                .as_deref()
                .and_then(record_content)
                .is_some_and(|c| Some(c) == record_content(&good));
            if unreadable {
                tally.reported += 1;
            } else if same {
                tally.intact += 1;
            } else {
                tally.unreported += 1;
                tally.problem(format!("{case}: listed as a good record"));
            }
        }
        Kind::Manifest | Kind::Timings | Kind::Lock => {
            if outcomes.values().any(|o| o != "fresh") {
                tally.problem(format!("{case}: {outcomes:?}"));
            }
            if kind != Kind::Lock {
                tally.replaced += 1;
            } else if bytes.is_none() && !reported {
                tally.unreported += 1;
                tally.problem(format!("{case}: a directory removed without a word"));
            }
        }
        Kind::Marker => {
            let prune = run(root, &["cache", "prune", "--dry-run"]);
            if prune.crashed() || prune.code != Some(0) {
                tally.crashes += usize::from(prune.crashed());
                tally.failed_runs += usize::from(!prune.crashed());
                tally.problem(format!("{case}: prune --dry-run: {}", prune.stderr));
            }
        }
    }
    if unchanged {
        // Nothing was damaged after all: nothing to rewrite.
        return ran.stderr;
    }
    // Whole again: what imgs rewrites is rewritten, and the next run has nothing to say.
    if !matches!(kind, Kind::OlderRecord | Kind::Marker) {
        let whole = match kind {
            Kind::Timings => {
                std::fs::read_to_string(root.join(file)).is_ok_and(|t| t.contains("</html>"))
            }
            Kind::Manifest => std::fs::read(root.join(file))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|m| m["last_run_uuid"].as_str() == ran.run_id().as_deref()),
            Kind::Lock => root.join(file).is_file(),
            _ => std::fs::read(root.join(file))
                .ok()
                .is_some_and(|b| serde_json::from_slice::<serde_json::Value>(&b).is_ok()),
        };
        let records_whole = Cache::open(&root.join("cache"))
            .scan()
            .unwrap()
            .iter()
            .filter(|s| matches!(s, Scanned::Unreadable(u) if !u.path.ends_with(&ws.files[&Kind::OlderRecord])))
            .count()
            == 0;
        let again = run(root, &["build", "--all", "--message-format", "json"]);
        let quiet = again.code == Some(0)
            && !again.stderr.contains("warning")
            && again.outcomes().values().all(|o| o == "fresh");
        if !(whole && records_whole && quiet) {
            tally.not_rewritten += 1;
            tally.problem(format!(
                "{case}: not whole again (file {whole}, records {records_whole}, next run quiet \
                 {quiet})\n{}",
                again.stderr
            ));
        }
    }
    ran.stderr
}

#[test]
fn chaos_damaged_cache_files_are_reported_ignored_and_written_anew() {
    let ws = Workspace::new();
    let mut dice = Dice::from_env();
    let n = chaos::runs(2, 20);
    let mut tally = Tally::default();
    for kind in Kind::ALL {
        let good = ws.good(kind);
        for damage in damages(kind, &good, n, &mut dice) {
            judge(&ws, kind, &damage, &mut tally);
        }
    }
    let cases: usize = tally.cases.values().sum();
    chaos::report(
        "corrupted_caches",
        serde_json::json!({
            "cases": cases,
            "cases_per_file_and_damage": tally.cases,
            "reported": tally.reported,
            "rebuilt": tally.rebuilt,
            "intact_after_damage": tally.intact,
            "stat_cache_of_another_version": tally.other_version,
            "written_only_files_replaced": tally.replaced,
            "failed_runs": tally.failed_runs,
            "unreported": tally.unreported,
            "not_written_anew": tally.not_rewritten,
            "false_records": tally.false_records,
            "crashes": tally.crashes,
        }),
    );
    assert_eq!(tally.problems, Vec::<String>::new());
}

#[test]
fn chaos_damage_warnings_name_the_file_and_what_is_wrong() {
    let ws = Workspace::new();
    let mut tally = Tally::default();
    let good = |kind| ws.good(kind);
    let record = String::from_utf8(good(Kind::Record)).unwrap();
    let cases = [
        (Kind::Record, Damage::Empty),
        (Kind::Record, Damage::Truncate(200)),
        (
            Kind::Record,
            Damage::WrongType {
                pointer: "/builds".into(),
                value: "x".into(),
            },
        ),
        (
            Kind::Record,
            // Still a record, but not the one imgs wrote: the checksum says so.
            Damage::Garbage(
                record
                    .replacen("\"run_id\": \"", "\"run_id\": \"x", 1)
                    .into_bytes(),
            ),
        ),
        (Kind::Record, Damage::Directory),
        (Kind::StatCache, Damage::Truncate(10)),
        (
            Kind::StatCache,
            Damage::WrongType {
                pointer: "/entries".into(),
                value: serde_json::json!([]),
            },
        ),
        (Kind::StatCache, Damage::Directory),
        (Kind::Manifest, Damage::Directory),
        (Kind::Lock, Damage::Directory),
    ];
    let mut text = String::new();
    for (kind, damage) in cases {
        let stderr = judge(&ws, kind, &damage, &mut tally);
        text.push_str(&format!("## {} {}\n{stderr}\n", kind.name(), damage.name()));
    }
    assert_eq!(tally.problems, Vec::<String>::new());
    let mut settings = settings(ws.root());
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-(\[fp\]|[0-9a-f]{12})",
        "[RUN]",
    );
    settings.bind(|| insta::assert_snapshot!("damage_warnings", text));
}
