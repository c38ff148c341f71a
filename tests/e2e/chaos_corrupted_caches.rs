//! Damaged caches: every file imgs keeps in `cache/` damaged in several ways, then imgs run over it.
//! A file imgs reads back (a record, the stat cache, the lock file, a version's marker) that is not
//! whole must be reported (a warning naming it), ignored and written anew — never a panic, never a
//! wrong "fresh"; a file imgs only writes (the run manifest, timings) is simply replaced.
//!
//! Three files are instead refused when damaged, as documented: `cache/revoked.json` stops every
//! plan (read as empty it would let builds on revoked parents through), a channel file makes `imgs
//! prune` remove nothing until the next publish replaces it, and `cache/runs/last.json` makes
//! `--resume` fail until a normal build replaces it.
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

use imgs_cache::{Cache, Revocations, Scanned};

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
    /// `cache/revoked.json`, revoking an older version of `base` (read by every plan).
    Revoked,
    /// `cache/channels/prod.json`, pointing at the older versions (read by `imgs prune`, `imgs
    /// graph` and the publish that rewrites it).
    Channel,
    /// `cache/runs/last.json`, the state of the last build (read by `imgs build --resume`).
    RunState,
}

impl Kind {
    const ALL: [Kind; 11] = [
        Kind::Record,
        Kind::ChildRecord,
        Kind::OlderRecord,
        Kind::StatCache,
        Kind::Manifest,
        Kind::Lock,
        Kind::Marker,
        Kind::Timings,
        Kind::Revoked,
        Kind::Channel,
        Kind::RunState,
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
            Kind::Revoked => "revoked",
            Kind::Channel => "channel",
            Kind::RunState => "run_state",
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
/// the first build is published to the `prod` channel, the older `base` revoked (so the intact
/// revocation list stops no current plan); then a version directory as a killed run leaves it, and
/// a run with `--timings`.
struct Workspace {
    dir: tempfile::TempDir,
    /// The fingerprints of the first build (the channel's).
    older: BTreeMap<String, String>,
    /// `base`'s current fingerprint and the run that built it.
    base_now: (String, String),
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
        let first = fingerprints(root);
        let older = first["base"].clone();
        assert_eq!(run(root, &["build", "--all"]).code, Some(0));
        assert_eq!(run(root, &["publish", "--channel", "prod"]).code, Some(0));
        std::fs::write(&input, "v2").unwrap();
        aged(&input);
        assert_eq!(run(root, &["build", "--all", "--timings"]).code, Some(0));
        let now = fingerprints(root);
        let revoke = run(
            root,
            &["revoke", &format!("base@{older}"), "--reason", "chaos"],
        );
        assert_eq!(revoke.code, Some(0), "{}", revoke.stderr);
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join(format!("cache/records/base/{}.json", now["base"]))).unwrap(),
        )
        .unwrap();
        let base_now = (
            now["base"].clone(),
            record["run_id"].as_str().unwrap().to_string(),
        );
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
            (Kind::Revoked, "cache/revoked.json".to_string()),
            (Kind::Channel, "cache/channels/prod.json".to_string()),
            (Kind::RunState, "cache/runs/last.json".to_string()),
        ]);
        for file in files.values() {
            assert!(root.join(file).is_file(), "{file}");
        }
        let pristine = tempfile::tempdir().unwrap();
        copy_tree(&root.join("cache"), &pristine.path().join("cache"));
        Workspace {
            dir,
            older: first,
            base_now,
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
    /// Refused as documented, naming the file: a plan stopped by a damaged revocation list, a
    /// prune by a damaged channel file, a `--resume` by a damaged run state.
    refused: usize,
    /// A refused file damaged so it still reads, differently, and imgs acted on what it now says:
    /// a changed revocation reason, a run state's changed field (none of these files carries a
    /// checksum).
    read_as_changed: usize,
    /// A channel file whose fingerprint or image name was changed so it still reads: the prune
    /// then protects the version it now names and not the channel's, without a word. A known
    /// limitation (channel files carry no checksum), counted here rather than as a problem.
    channel_changed_unnoticed: usize,
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
    if matches!(kind, Kind::Revoked | Kind::Channel | Kind::RunState) {
        return judge_refused(ws, kind, bytes.as_deref(), &good, &case, tally);
    }
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
        Kind::Revoked | Kind::Channel | Kind::RunState => unreachable!("judged by judge_refused"),
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

/// A crash is counted and reported; whether `ran` crashed.
fn crashed(ran: &Ran, case: &str, what: &str, tally: &mut Tally) -> bool {
    if ran.crashed() {
        tally.crashes += 1;
        tally.problem(format!("{case}: {what} crashed\n{}", ran.stderr));
    }
    ran.crashed()
}

/// A channel file's image → fingerprint as `imgs prune` reads it (`{"images": {"base":
/// {"fingerprint": "…"}}}`, `{"base": {"fingerprint": "…"}}` or `{"base": "…"}`); `None` when
/// the prune must refuse it.
fn channel_images(bytes: &[u8]) -> Option<BTreeMap<String, String>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let images = value.get("images").unwrap_or(&value).as_object()?;
    images
        .iter()
        .map(|(image, v)| {
            let fingerprint = v.as_str().or_else(|| v["fingerprint"].as_str())?;
            Some((image.clone(), fingerprint.to_string()))
        })
        .collect()
}

/// Runs imgs over a damaged file it refuses, as documented, and judges what it did.
fn judge_refused(
    ws: &Workspace,
    kind: Kind,
    bytes: Option<&[u8]>,
    good: &[u8],
    case: &str,
    tally: &mut Tally,
) -> String {
    let root = ws.root();
    let file = ws.files[&kind].as_str();
    let named = |ran: &Ran| ran.stderr.contains(file) || ran.stdout.contains(file);
    let same_json = bytes
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .is_some_and(|v| Some(v) == serde_json::from_slice(good).ok());
    match kind {
        Kind::Revoked => {
            let ran = run(root, &["build", "--all", "--message-format", "json"]);
            if crashed(&ran, case, "build", tally) {
                return ran.stderr;
            }
            let outcomes = ran.outcomes();
            let built = outcomes.values().any(|o| o == "built");
            // What the file says now, read as imgs reads it; `None`: it does not read.
            let says = bytes.and_then(|b| serde_json::from_slice::<Revocations>(b).ok());
            match says {
                None if ran.code == Some(2) && named(&ran) && !built => tally.refused += 1,
                None => {
                    tally.unreported += usize::from(ran.code == Some(0));
                    tally.failed_runs += usize::from(ran.code != Some(0));
                    tally.problem(format!(
                        "{case}: exit {:?}, file named {}, {outcomes:?}\n{}",
                        ran.code,
                        named(&ran),
                        ran.stderr
                    ));
                }
                Some(list) => {
                    let (fingerprint, run_id) = &ws.base_now;
                    if list.find("base", fingerprint, run_id).is_some() {
                        // Damage that revokes the current base: the child must not build on it.
                        if ran.code == Some(2) && !built {
                            tally.read_as_changed += 1;
                        } else {
                            tally.false_records += 1;
                            tally.problem(format!("{case}: built on a revoked base: {outcomes:?}"));
                        }
                    } else if ran.code == Some(0) && outcomes.values().all(|o| o == "fresh") {
                        if same_json {
                            tally.intact += 1;
                        } else {
                            tally.read_as_changed += 1;
                        }
                    } else {
                        tally.failed_runs += 1;
                        tally.problem(format!(
                            "{case}: a list that reads, revoking no current version: exit {:?}, \
                             {outcomes:?}\n{}",
                            ran.code, ran.stderr
                        ));
                    }
                }
            }
            ran.stderr
        }
        Kind::Channel => {
            let prune = run(root, &["prune", "--keep", "1", "--dry-run"]);
            if crashed(&prune, case, "prune", tally) {
                return prune.stderr;
            }
            let kept_by_channel = |image: &str| {
                let short = &ws.older[image][..12];
                prune
                    .stdout
                    .lines()
                    .any(|l| l.contains(short) && l.contains("kept: channel prod"))
            };
            match bytes.and_then(channel_images) {
                None if prune.code == Some(2)
                    && named(&prune)
                    && prune.stderr.contains("nothing was removed") =>
                {
                    tally.refused += 1
                }
                None => {
                    tally.unreported += usize::from(prune.code == Some(0));
                    tally.failed_runs += usize::from(prune.code != Some(0));
                    tally.problem(format!(
                        "{case}: a channel file that does not read: prune exit {:?}, file named \
                         {}\n{}{}",
                        prune.code,
                        named(&prune),
                        prune.stdout,
                        prune.stderr
                    ));
                }
                Some(images) if prune.code != Some(0) => {
                    tally.failed_runs += 1;
                    tally.problem(format!(
                        "{case}: a channel file that reads ({images:?}): prune exit {:?}\n{}",
                        prune.code, prune.stderr
                    ));
                }
                Some(images) if Some(&images) == channel_images(good).as_ref() => {
                    if kept_by_channel("base") && kept_by_channel("child") {
                        tally.intact += 1;
                    } else {
                        tally.problem(format!(
                            "{case}: the channel reads as before, its versions not kept\n{}",
                            prune.stdout
                        ));
                    }
                }
                Some(_) => tally.channel_changed_unnoticed += 1,
            }
            let graph = run(root, &["graph"]);
            if crashed(&graph, case, "graph", tally) {
                return prune.stderr;
            }
            if graph.code != Some(0) {
                tally.failed_runs += 1;
                tally.problem(format!(
                    "{case}: graph exit {:?}\n{}",
                    graph.code, graph.stderr
                ));
            }
            // The next publish makes the channel whole again: by `imgs publish`, or by a build
            // with `--channel`, in turn.
            let nth = tally.cases[&format!("{} {}", kind.name(), damage_name(case))];
            let publish: &[&str] = if nth.is_multiple_of(2) {
                &["publish", "--channel", "prod"]
            } else {
                &["build", "--all", "--channel", "prod"]
            };
            let published = run(root, publish);
            if crashed(&published, case, "publish", tally) {
                return prune.stderr;
            }
            let now = fingerprints(root);
            let whole = std::fs::read(root.join(file))
                .ok()
                .and_then(|b| channel_images(&b))
                .is_some_and(|images| images == now);
            let again = run(root, &["prune", "--keep", "1", "--dry-run"]);
            if published.code != Some(0) || !whole || again.code != Some(0) {
                tally.not_rewritten += 1;
                tally.problem(format!(
                    "{case}: not whole again ({publish:?} exit {:?}, file whole {whole}, next \
                     prune exit {:?})\n{}{}",
                    published.code, again.code, published.stderr, again.stderr
                ));
            }
            prune.stderr
        }
        Kind::RunState => {
            let resume = run(root, &["build", "--resume", "--message-format", "json"]);
            if crashed(&resume, case, "resume", tally) {
                return resume.stderr;
            }
            let built = resume.outcomes().values().any(|o| o == "built");
            if resume.code != Some(0) {
                if named(&resume) && !built {
                    tally.refused += 1;
                } else {
                    tally.unreported += 1;
                    tally.problem(format!(
                        "{case}: resume exit {:?}, file named {}\n{}",
                        resume.code,
                        named(&resume),
                        resume.stderr
                    ));
                }
            } else if built {
                tally.false_records += 1;
                tally.problem(format!("{case}: a resume of a finished run built"));
            } else if same_json {
                tally.intact += 1;
            } else {
                // Still a finished run's state: nothing to resume, whatever else changed.
                tally.read_as_changed += 1;
            }
            // A normal build replaces it; then there is nothing to resume.
            let build = run(root, &["build", "--all", "--message-format", "json"]);
            if crashed(&build, case, "build", tally) {
                return resume.stderr;
            }
            if build.code != Some(0) || build.outcomes().values().any(|o| o != "fresh") {
                tally.failed_runs += 1;
                tally.problem(format!(
                    "{case}: build exit {:?}, {:?}\n{}",
                    build.code,
                    build.outcomes(),
                    build.stderr
                ));
            }
            let state = std::fs::read(root.join(file))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            let whole = state.is_some_and(|s| {
                s["status"] == "succeeded" && s["run_id"].as_str() == build.run_id().as_deref()
            });
            let again = run(root, &["build", "--resume"]);
            if crashed(&again, case, "second resume", tally) {
                return resume.stderr;
            }
            if !whole || again.code != Some(0) || again.stderr.contains("warning") {
                tally.not_rewritten += 1;
                tally.problem(format!(
                    "{case}: not whole again (state {whole}, next resume exit {:?})\n{}",
                    again.code, again.stderr
                ));
            }
            resume.stderr
        }
        _ => unreachable!("judged by judge"),
    }
}

/// The damage's name in a case's description (`KIND DAMAGE …`).
fn damage_name(case: &str) -> &str {
    case.split(' ').nth(1).unwrap_or_default()
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
            "refused_as_documented": tally.refused,
            "refused_files_read_as_changed": tally.read_as_changed,
            "channel_changed_unnoticed": tally.channel_changed_unnoticed,
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
