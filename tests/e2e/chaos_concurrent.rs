//! Several imgs commands in one workspace at once. A build (and a prune) takes the workspace lock on
//! `cache/imgs.lock` before it plans; a second one waits, saying for whom, and then plans afresh;
//! `--no-wait` fails at once with exit code 75; read-only commands never wait; a holder that is
//! killed leaves nothing that blocks the next run.
//!
//! Every command here is the real `imgs` executable in a process of its own, as two people (or two
//! CI jobs) would start it. No timing is asserted: where a test needs a build to be somewhere, its
//! script waits for a file the test creates, and the test waits for the build's events.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::layered_ebs::{KEY_PAIR, all_images, events, layered_workspace};
use crate::support::chaos;
use crate::support::ebs::{Peers, REGION};
use crate::support::*;

/// How long a test waits for a command before calling it hung: a guard, not a measurement.
const PATIENCE: Duration = Duration::from_secs(180);

/// What the waiting run says on stderr (the start of `events::waiting_message`).
const WAITING: &str = "Blocking waiting for file lock on";

/// An `imgs` process whose stdout and stderr lines arrive on channels as they are printed; killed
/// (by its PID) if the test ends before it does.
struct Imgs {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// Lines already taken off the channels.
    out_seen: Vec<String>,
    err_seen: Vec<String>,
}

impl Imgs {
    fn start(dir: &Path, args: &[&str]) -> Imgs {
        let mut child = Command::new(imgs_exe())
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Imgs {
            stdout: lines(child.stdout.take().unwrap()),
            stderr: lines(child.stderr.take().unwrap()),
            child,
            out_seen: Vec::new(),
            err_seen: Vec::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stdout line containing every one of `texts`; returns it.
    fn wait_for(&mut self, texts: &[&str]) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.out_seen.push(line.clone());
                    if texts.iter().all(|t| line.contains(t)) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "imgs never printed {texts:?}; stdout:\n{}\nstderr:\n{}",
                    self.out_seen.join("\n"),
                    self.err_seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the process to end (killing it after [`PATIENCE`]); its exit code and everything
    /// it printed.
    fn finish(mut self) -> Finished {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("imgs did not end within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.out_seen.extend(self.stdout.iter());
        self.err_seen.extend(self.stderr.iter());
        Finished {
            code: status.code(),
            stdout: lines_text(&self.out_seen),
            stderr: lines_text(&self.err_seen),
        }
    }

    fn kill_hard(&self) {
        let status = Command::new("kill")
            .args(["-s", "KILL", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Imgs {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Finished {
    /// `None` when a signal ended it.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn json_events(&self) -> Vec<serde_json::Value> {
        events(
            &self
                .stdout
                .lines()
                .filter(|l| l.starts_with('{'))
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        )
    }

    fn summary(&self) -> serde_json::Value {
        self.json_events()
            .pop()
            .filter(|e| e["event"] == "summary")
            .unwrap_or_else(|| panic!("no summary:\n{}\n{}", self.stdout, self.stderr))
    }

    fn waited(&self) -> bool {
        self.stderr.contains(WAITING)
    }
}

fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn lines_text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `imgs ARGS` as a process, to its end.
fn imgs_process(dir: &Path, args: &[&str]) -> Finished {
    Imgs::start(dir, args).finish()
}

/// Snapshot settings for lock messages: the workspace, PIDs, run IDs and times vary.
fn lock_settings(root: &Path) -> insta::Settings {
    let mut s = settings(root);
    s.add_filter(r"PID \d+", "PID [PID]");
    s.add_filter(r#""pid":\d+"#, r#""pid":[PID]"#);
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-(\[fp\]|[0-9a-f]{12})",
        "[RUN]",
    );
    s
}

/// A workspace of one image, `a`: a null build whose shell-local step waits (two minutes at most)
/// until the test creates `release`, so it holds the workspace lock as long as the test needs.
fn held_workspace() -> tempfile::TempDir {
    let dir = new_workspace("imgs-lock-");
    write_template(
        dir.path(),
        "a",
        &serde_json::json!({
            "builders": [{ "type": "null", "communicator": "none" }],
            "provisioners": [{
                "type": "shell-local",
                "inline": ["i=0; while [ ! -e release ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done"],
            }],
        }),
    );
    dir
}

/// Creates `path` when dropped: the file a waiting script ends on, so that a test that fails half
/// way leaves no script waiting for it.
struct Release(std::path::PathBuf);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, "");
    }
}

/// Starts a build of `root` and waits until it is provisioning: it holds the workspace lock then.
fn holder(root: &Path) -> Imgs {
    let mut build = Imgs::start(root, &["build", "--all", "--message-format", "json"]);
    build.wait_for(&[r#""event":"phase""#, "provisioning"]);
    build
}

#[test]
fn no_wait_fails_at_once_while_read_only_commands_go_on_beside_a_build() {
    let ws = held_workspace();
    let root = ws.path();
    let release = Release(root.join("release"));
    let build = holder(root);

    let refused = imgs_process(root, &["build", "--all", "--no-wait"]);
    assert_eq!(refused.code, Some(75), "{}", refused.stderr);
    assert!(refused.stderr.contains(&format!("PID {}", build.pid())));
    lock_settings(root).bind(|| insta::assert_snapshot!("no_wait_build", refused.stderr));
    let prune = imgs_process(root, &["cache", "prune", "--no-wait"]);
    assert_eq!(prune.code, Some(75), "{}", prune.stderr);
    lock_settings(root).bind(|| insta::assert_snapshot!("no_wait_prune", prune.stderr));

    // Reading commands do not wait for the build: each ends while it still holds the lock.
    for args in [
        &["plan"][..],
        &["plan", "--message-format", "json"],
        &["graph"],
        &["validate"],
        &["inspect", "a"],
        &["cache", "ls"],
        &["build", "--dry-run"],
        &["cache", "prune", "--dry-run"],
    ] {
        let out = imgs_process(root, args);
        assert_eq!(
            out.code,
            Some(0),
            "imgs {args:?}: {}{}",
            out.stdout,
            out.stderr
        );
        assert!(!out.waited(), "imgs {args:?} waited: {}", out.stderr);
    }

    drop(release);
    let done = build.finish();
    assert_eq!(done.code, Some(0), "{}{}", done.stdout, done.stderr);
    // And once it has ended, the lock is free again.
    let after = imgs_process(root, &["build", "--all", "--no-wait"]);
    assert_eq!(after.code, Some(0), "{}", after.stderr);
    assert!(
        after.stdout.contains("0 images built, 1 fresh"),
        "{}",
        after.stdout
    );
}

#[test]
fn a_killed_holder_does_not_block_the_next_run() {
    let ws = new_workspace("imgs-lock-killed-");
    let root = ws.path();
    // The sleep provisioner waits inside imgs itself: killing imgs leaves no process behind.
    let sleeping = |duration: &str| {
        serde_json::json!({
            "builders": [{ "type": "null", "communicator": "none" }],
            "provisioners": [{ "type": "sleep", "duration": duration }],
        })
    };
    write_template(root, "a", &sleeping("10m"));
    let build = holder(root);
    build.kill_hard();
    let killed = build.finish();
    assert_eq!(killed.code, None, "killed by the signal");
    assert!(
        root.join("cache/imgs.lock").is_file(),
        "the lock file stays"
    );
    write_template(root, "a", &sleeping("1ms"));

    // Not waiting is enough to show it: a lock still held would fail this with 75.
    let next = imgs_process(root, &["build", "--all", "--no-wait"]);
    assert_eq!(next.code, Some(0), "{}{}", next.stdout, next.stderr);
    assert!(!next.waited());
    // The killed run recorded nothing, so the next one built the image.
    assert!(
        next.stdout.contains("1 image built, 0 fresh"),
        "{}",
        next.stdout
    );
}

#[test]
fn two_builds_of_the_layered_workspace_make_each_ami_once() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = layered_workspace(&peers, remote.path(), false);
    let root = ws.path();
    // The base image's build goes on until the test says so, so `imgs gc` can be run while one
    // build works and the other waits.
    let release = Release(remote.path().join("release"));
    write(
        root,
        "images/base/setup.sh",
        &format!(
            "#!/bin/sh\nset -e\ni=0; while [ ! -e {} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n",
            release.0.display()
        ),
    );
    let args = ["build", "--all", "--message-format", "json"];
    let mut first = Imgs::start(root, &args);
    std::thread::sleep(Duration::from_millis(200));
    let mut second = Imgs::start(root, &args);

    // Whichever took the lock first is building the base: gc leaves its run alone, and has nothing
    // of the waiting one to find.
    let deadline = Instant::now() + PATIENCE;
    let holder = loop {
        if first.stderr_says(WAITING) {
            break &mut second;
        }
        if second.stderr_says(WAITING) {
            break &mut first;
        }
        assert!(
            Instant::now() < deadline,
            "neither build waited for the other"
        );
    };
    let building = holder.wait_for(&[r#""event":"phase""#, r#""image":"base""#, "provisioning"]);
    assert!(building.contains("provisioning"));
    let run_id = holder.run_id();
    let gc = imgs(root, &["gc"]);
    assert_eq!(gc.code, 0, "{}{}", gc.stdout, gc.stderr);
    assert!(
        gc.stdout.contains(&format!(
            "Skipped run {run_id}: it is still building on this machine"
        )),
        "{}",
        gc.stdout
    );
    assert!(!gc.stdout.contains("removed\n"), "{}", gc.stdout);
    let holder_pid = holder.pid();
    drop(release);

    let first = first.finish();
    let second = second.finish();
    let (held, waited) = if first.waited() {
        (second, first)
    } else {
        (first, second)
    };
    assert!(!held.waited(), "only one run waits");
    assert_eq!(held.code, Some(0), "{}{}", held.stdout, held.stderr);
    assert_eq!(waited.code, Some(0), "{}{}", waited.stdout, waited.stderr);
    let (h, w) = (held.summary(), waited.summary());
    assert_eq!((&h["built"], &h["fresh"]), (&13.into(), &0.into()), "{h}");
    // The run that waited planned afresh: everything the first one built is fresh.
    assert_eq!((&w["built"], &w["fresh"]), (&0.into(), &13.into()), "{w}");
    let waiting: Vec<serde_json::Value> = waited
        .json_events()
        .into_iter()
        .filter(|e| e["event"] == "waiting")
        .collect();
    assert_eq!(waiting.len(), 1, "{}", waited.stdout);
    assert_eq!(waiting[0]["holder"]["pid"], holder_pid);
    assert_eq!(waiting[0]["holder"]["run_id"], run_id.as_str());
    assert_eq!(waiting[0]["holder"]["command"], "imgs build");
    assert_eq!(
        waited.json_events()[0]["event"],
        "waiting",
        "said before its run starts"
    );
    lock_settings(root).bind(|| {
        insta::assert_snapshot!("layered_waiting_stderr", waited.stderr);
        insta::assert_snapshot!("layered_waiting_event", waiting[0].to_string());
    });

    // 13 images, 13 AMIs: one each.
    let amis: BTreeMap<String, usize> = all_images()
        .into_iter()
        .map(|image| {
            let n = peers.amis_of(REGION, &image).len();
            (image, n)
        })
        .collect();
    assert!(amis.values().all(|n| *n == 1), "{amis:?}");
    assert_eq!(amis.values().sum::<usize>(), 13);
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

impl Imgs {
    /// Whether a stderr line so far contains `text` (waits a moment for one more).
    fn stderr_says(&mut self, text: &str) -> bool {
        if let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(50)) {
            self.err_seen.push(line);
        }
        self.err_seen.iter().any(|l| l.contains(text))
    }

    /// The run ID from the `run` event seen on stdout.
    fn run_id(&self) -> String {
        self.out_seen
            .iter()
            .find_map(|line| {
                let event: serde_json::Value = serde_json::from_str(line).ok()?;
                (event["event"] == "run").then(|| event["run_id"].as_str().unwrap().to_string())
            })
            .expect("the run event comes first")
    }
}

/// A cheap chain: `base` copies a file, `a` and `b` write files naming its copy, `leaf` (on `a`)
/// is a null build.
fn chain_workspace() -> tempfile::TempDir {
    let ws = new_workspace_with(
        "imgs-stress-",
        "[images.a]\nparents = { parent = \"base\" }\n\
         [images.b]\nparents = { parent = \"base\" }\n\
         [images.leaf]\nparents = { parent = \"a\" }\n",
    );
    let root = ws.path();
    let file = |image: &str, content: &str| {
        serde_json::json!({
            "variables": { "parent": null },
            "builders": [{
                "type": "file",
                "content": content,
                "target": format!("cache/artifacts/{image}/out.txt"),
            }],
        })
    };
    // The base copies a file: an input the stat cache remembers (written an hour ago: a file
    // changed within the last seconds is not remembered).
    write(root, "images/base/in.txt", "base");
    std::fs::File::options()
        .write(true)
        .open(root.join("images/base/in.txt"))
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
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
    write_template(root, "a", &file("a", "on {{user `parent`}}"));
    write_template(root, "b", &file("b", "on {{user `parent`}}"));
    write_template(
        root,
        "leaf",
        &serde_json::json!({
            "variables": { "parent": null },
            "builders": [{ "type": "null", "communicator": "none" }],
        }),
    );
    ws
}

/// Every JSON file under `dir` (temporary files of a write in progress aside): those that do not
/// parse.
fn invalid_json_under(dir: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return bad;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bad.extend(invalid_json_under(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read(&path).unwrap();
            if serde_json::from_slice::<serde_json::Value>(&text).is_err() {
                bad.push(path.display().to_string());
            }
        }
    }
    bad
}

#[test]
fn many_builds_at_once_build_each_image_once_and_leave_only_whole_files() {
    let runs = chaos::runs(3, 12);
    let plans = 2;
    let ws = chain_workspace();
    let root = ws.path();
    let builds: Vec<Imgs> = (0..runs)
        .map(|_| Imgs::start(root, &["build", "--all", "--message-format", "json"]))
        .collect();
    let planning: Vec<Imgs> = (0..plans).map(|_| Imgs::start(root, &["plan"])).collect();
    let builds: Vec<Finished> = builds.into_iter().map(Imgs::finish).collect();
    let planning: Vec<Finished> = planning.into_iter().map(Imgs::finish).collect();

    let mut built: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed_runs = 0;
    for run in &builds {
        if run.code != Some(0) {
            failed_runs += 1;
            eprintln!("a build failed:\n{}{}", run.stdout, run.stderr);
        }
        for event in run.json_events() {
            if event["event"] == "built" {
                *built
                    .entry(event["image"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
    }
    let waited = builds.iter().filter(|r| r.waited()).count();
    let failed_plans = planning.iter().filter(|p| p.code != Some(0)).count();
    let cache = root.join("cache");
    let mut invalid = invalid_json_under(&cache.join("records"));
    for file in ["stat-cache.json", "manifest.json"] {
        let text = std::fs::read(cache.join(file)).unwrap_or_default();
        if serde_json::from_slice::<serde_json::Value>(&text).is_err() {
            invalid.push(file.to_string());
        }
    }
    let scanned = imgs_cache::Cache::open(&cache).scan().unwrap();
    let records = scanned
        .iter()
        .filter(|s| matches!(s, imgs_cache::Scanned::Record(_)))
        .count();
    let built_total: usize = built.values().sum();
    let crashes = builds
        .iter()
        .chain(&planning)
        .filter(|r| r.stderr.contains("panicked"))
        .count();
    chaos::report(
        "concurrent_runs",
        serde_json::json!({
            "runs": runs,
            "plans_beside": plans,
            "images": 4,
            "builds": built_total,
            "builds_per_image": built,
            "images_built_twice": built.values().filter(|n| **n > 1).count(),
            "runs_that_waited": waited,
            "failed_runs": failed_runs,
            "failed_plans": failed_plans,
            "records": records,
            "false_records": invalid.len() + records.abs_diff(4),
            "crashes": crashes,
        }),
    );
    assert_eq!(failed_runs, 0);
    assert_eq!(failed_plans, 0);
    assert_eq!(invalid, Vec::<String>::new());
    assert_eq!(
        built,
        BTreeMap::from(["a", "b", "base", "leaf"].map(|i| (i.to_string(), 1))),
        "each image built exactly once over {runs} runs"
    );
    assert_eq!(records, 4, "{scanned:?}");
}
