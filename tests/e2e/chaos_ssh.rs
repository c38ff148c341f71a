//! SSH faults (issue 17): a `null` build over SSH whose connection misbehaves, run by imgs and by
//! Packer 1.6.6 on the same template against the same sshd, through a cutting proxy
//! (`imgs_test_peers::cutting_proxy`) that plays the faulty network or machine:
//!
//! - **connecting**: the port refuses for a while (within and beyond `ssh_timeout`); a server that
//!   hangs up or answers garbage before the SSH handshake (which `ssh_handshake_attempts` does not
//!   count: only refused logins count); a refused login;
//! - **mid-provision**: the connection cut while a shell script runs (a disconnect, whatever
//!   `valid_exit_codes` says, unless `expect_disconnect`), while a script uploads (retried within
//!   `start_retry_timeout`), while the file provisioner uploads (not retried, but for
//!   `max_retries`);
//! - **reboots**: a script that reboots the machine (connections cut, the port refusing for a few
//!   seconds), with and without `expect_disconnect`; the script's removal waiting for the machine
//!   within `start_retry_timeout`; `skip_clean`, `pause_before` and the next provisioner.
//!
//! What Packer 1.6.6 does, read from its source (`provisioner/shell`, the SDK's `retry` and SSH
//! communicator, `StepConnectSSH`) and shown by these cases: connecting, it tries every few seconds
//! until `ssh_timeout`, counting only refused logins against `ssh_handshake_attempts`. Once
//! connected, a lost connection is found when the next command or upload opens a session, and
//! connected again with one try. The shell provisioner retries its upload and the start of its
//! command, and the removal of its script, whatever failed, every 2 s while `start_retry_timeout`
//! has not passed since the first try; a command whose connection broke while it ran is not
//! retried: it ends with status 2300218, which fails the build unless `expect_disconnect`
//! (`valid_exit_codes` is not consulted), and with `expect_disconnect` the script's removal is
//! what waits for the rebooted machine. The file provisioner does not retry at all (but for
//! `max_retries`, which runs the whole provisioner again).
//!
//! Each test is one case, named after its outcome. A case runs imgs (`chaos::runs` times) and Packer
//! (once; skipped where Packer is missing, as the differential tests do), each in a directory of its
//! own with a proxy of its own, and compares what each did: whether the build succeeded and which
//! files are left in the machine's folder (scripts not removed, files provisioners wrote). imgs's
//! error is snapshotted. A script a cut leaves running would be a leak: each run checks that none
//! of its processes outlives it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use imgs_test_peers::process::{kill, processes};
use imgs_test_peers::{Behaviour, CuttingProxy, Fault, TestSshd};
use serde_json::{Value, json};

use crate::support::{chaos, imgs, regex_escape};

/// How long a reboot keeps the port refusing connections.
const REBOOT: Duration = Duration::from_secs(4);
/// A reboot that outlasts a `start_retry_timeout` of 1s by far, whichever way the tries fall.
const LONG_REBOOT: Duration = Duration::from_secs(8);

/// One fault scenario.
struct Case {
    name: &'static str,
    /// How the proxy treats connections when the build starts.
    initial: Behaviour,
    /// Sets the faults up on each run's fresh proxy, given the run's directory.
    arm: fn(&CuttingProxy, &Run),
    /// Settings added to the builder (`ssh_timeout`, …).
    builder: Value,
    /// The template's provisioners, given the run's directory.
    provisioners: fn(&Run) -> Vec<Value>,
    built: bool,
    /// What Packer's error says when it fails (a fact of the case: imgs's own words differ).
    packer_says: Option<&'static str>,
}

/// One build's directory: the template, the machine's folder (`machine/`, where scripts are
/// uploaded and provisioners write) and the marker a script touches to set a fault off.
struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Run {
        let dir = tempfile::Builder::new()
            .prefix("imgs-chaos-ssh-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(dir.path().join("machine")).unwrap();
        Run { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The machine's folder, as templates name it.
    fn machine(&self) -> String {
        self.path().join("machine").display().to_string()
    }

    fn marker(&self) -> PathBuf {
        self.path().join("fault")
    }

    /// A script that sets the fault off and keeps running until its connection is gone (each
    /// `echo` after the cut ends it with SIGPIPE).
    fn script_setting_the_fault_off(&self) -> Vec<String> {
        vec![
            "echo before the fault".into(),
            format!("touch {}", self.marker().display()),
            "while :; do echo still here; sleep 0.1; done".into(),
        ]
    }

    /// What is in the machine's folder, with script names' random numbers as `N`.
    fn left(&self) -> BTreeSet<String> {
        let numbered = |name: &str| {
            name.strip_prefix("script_")
                .and_then(|rest| rest.strip_suffix(".sh"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        std::fs::read_dir(self.path().join("machine"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .map(|name| {
                if numbered(&name) {
                    "script_N.sh".to_string()
                } else {
                    name
                }
            })
            .collect()
    }
}

/// What a build did, compared between imgs and Packer.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    built: bool,
    left: BTreeSet<String>,
}

/// A finished run: what it did, and what it printed.
struct Done {
    seen: Seen,
    stderr: String,
    output: String,
    leaked: usize,
    run: Run,
}

fn template(sshd: &TestSshd, proxy: &CuttingProxy, case: &Case, run: &Run) -> Value {
    let mut extra = json!({ "ssh_port": proxy.port.to_string() });
    extra
        .as_object_mut()
        .unwrap()
        .extend(case.builder.as_object().unwrap().clone());
    json!({
        "builders": [sshd.builder("null", extra)],
        "provisioners": (case.provisioners)(run),
    })
}

/// Runs the case's template with `build` (imgs or Packer) in a fresh directory behind a fresh proxy.
fn run_with(
    sshd: &TestSshd,
    case: &Case,
    build: impl FnOnce(&Path) -> (bool, String, String),
) -> Done {
    let run = Run::new();
    let proxy = CuttingProxy::start(sshd.port, case.initial).unwrap_or_else(|why| panic!("{why}"));
    (case.arm)(&proxy, &run);
    let template = template(sshd, &proxy, case, &run);
    std::fs::write(
        run.path().join("template.json"),
        serde_json::to_string_pretty(&template).unwrap(),
    )
    .unwrap();
    let (built, stdout, stderr) = build(run.path());
    drop(proxy);
    let leaked = leftover_processes(run.path());
    Done {
        seen: Seen {
            built,
            left: run.left(),
        },
        output: format!("{stdout}{stderr}"),
        stderr,
        leaked,
        run,
    }
}

fn imgs_build(dir: &Path) -> (bool, String, String) {
    let out = imgs(dir, &["build", "template.json"]);
    assert!(
        out.code == 0 || out.code == 1,
        "imgs build ended with {}:\n{}{}",
        out.code,
        out.stdout,
        out.stderr
    );
    (out.code == 0, out.stdout, out.stderr)
}

/// `packer build` in `dir` with nothing of the caller's environment but `PATH`.
fn packer_build(packer: &Path, dir: &Path) -> (bool, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(packer)
        .args(["build", "-color=false", "template.json"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home.path())
        .env("CHECKPOINT_DISABLE", "1")
        .env("PACKER_CACHE_DIR", home.path().join("packer_cache"))
        .output()
        .expect("run packer");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Processes of a run's scripts still running once it is over (a cut should end them within a
/// moment): counted, then killed by PID.
fn leftover_processes(dir: &Path) -> usize {
    let dir = dir.display().to_string();
    let ours = || {
        processes()
            .into_iter()
            .filter(|p| p.is_running() && p.cmdline.contains(&dir))
            .collect::<Vec<_>>()
    };
    for _ in 0..100 {
        if ours().is_empty() {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = ours();
    for process in &left {
        kill(process.pid);
    }
    left.len()
}

/// Runs `case` with imgs and with Packer, checks both did what the case says and the same, records
/// it for the report, and returns imgs's stderr with the snapshot settings that hide what varies
/// between runs.
fn check(case: Case) -> (String, insta::Settings) {
    let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    let runs = chaos::runs(1, 3);
    let imgs_runs: Vec<Done> = (0..runs)
        .map(|_| run_with(&sshd, &case, imgs_build))
        .collect();
    let first = &imgs_runs[0];
    for done in &imgs_runs {
        assert_eq!(
            done.seen.built,
            case.built,
            "{}: imgs {} the build:\n{}",
            case.name,
            if done.seen.built {
                "finished"
            } else {
                "failed"
            },
            done.output
        );
        assert_eq!(done.seen, first.seen, "{}: imgs runs differ", case.name);
    }
    let packer = imgs_test_peers::packer::packer_for("the SSH fault cases' comparison with Packer");
    let packer_run = packer.map(|packer| run_with(&sshd, &case, |dir| packer_build(&packer, dir)));
    if let Some(packer_run) = &packer_run {
        if let Some(says) = case.packer_says {
            assert!(
                packer_run.output.contains(says),
                "{}: Packer did not say {says:?}:\n{}",
                case.name,
                packer_run.output
            );
        }
        assert_eq!(
            first.seen, packer_run.seen,
            "{}: imgs and Packer differ\n--- imgs:\n{}\n--- packer:\n{}",
            case.name, first.output, packer_run.output
        );
    }
    let leaked = imgs_runs.iter().chain(&packer_run).map(|d| d.leaked).sum();
    assert_eq!(
        leaked, 0,
        "{}: script processes outlived their run",
        case.name
    );
    record(&case, runs, packer_run.is_some(), leaked);
    (first.stderr.clone(), redactions(&first.run))
}

/// Snapshot settings hiding the run's directory, ports and counts that vary.
fn redactions(run: &Run) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&run.path().display().to_string()), "[RUN]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(r"\(\d+ attempts\)", "(N attempts)");
    settings.add_filter(r"script_\d+\.sh", "script_N.sh");
    settings
}

/// Every case of the process so far, by name: each test adds its own to what is already in the
/// report, so the report holds every case whichever tests ran.
static REPORTED: Mutex<BTreeMap<String, Value>> = Mutex::new(BTreeMap::new());

fn record(case: &Case, runs: usize, compared: bool, leaked: usize) {
    let mut cases = REPORTED.lock().unwrap_or_else(|e| e.into_inner());
    cases.insert(
        case.name.to_string(),
        json!({
            "name": case.name,
            "outcome": if case.built { "built" } else { "failed" },
            "matches_packer": compared.then_some(true),
            "packer_says": case.packer_says,
            "imgs_runs": runs,
            "leaked_processes": leaked,
        }),
    );
    let compared = cases
        .values()
        .filter(|c| c["matches_packer"] == json!(true))
        .count();
    chaos::report(
        "ssh_faults",
        json!({
            "cases": cases.values().collect::<Vec<_>>(),
            "runs": cases.values().map(|c| c["imgs_runs"].as_u64().unwrap_or(0)).sum::<u64>(),
            "matching_packer": format!("{compared} of {}", cases.len()),
            "leaked": { "processes": cases.values().map(|c| c["leaked_processes"].as_u64().unwrap_or(0)).sum::<u64>() },
        }),
    );
}

fn shell(inline: Vec<String>, extra: Value, run: &Run) -> Value {
    let mut provisioner = json!({
        "type": "shell",
        "inline": inline,
        "remote_folder": run.machine(),
    });
    provisioner
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    provisioner
}

/// A shell provisioner that writes `name` into the machine's folder.
fn writes(name: &str, extra: Value, run: &Run) -> Value {
    shell(
        vec![format!("echo {name} > {}/{name}", run.machine())],
        extra,
        run,
    )
}

fn nothing(_: &CuttingProxy, _: &Run) {}

// --- Connecting ---

#[test]
fn sshd_listening_late_within_ssh_timeout_connects() {
    check(Case {
        name: "sshd_listening_late_within_ssh_timeout_connects",
        initial: Behaviour::Refuse,
        arm: |proxy, _| proxy.set_after(Duration::from_secs(3), Behaviour::Forward),
        builder: json!({ "ssh_timeout": "2m" }),
        provisioners: |run| vec![writes("connected", json!({}), run)],
        built: true,
        packer_says: None,
    });
}

#[test]
fn sshd_listening_only_after_ssh_timeout_fails_naming_the_timeout_and_the_refusal() {
    let (stderr, redactions) = check(Case {
        name: "sshd_listening_only_after_ssh_timeout_fails_naming_the_timeout_and_the_refusal",
        initial: Behaviour::Refuse,
        arm: |proxy, _| proxy.set_after(Duration::from_secs(30), Behaviour::Forward),
        builder: json!({ "ssh_timeout": "3s" }),
        provisioners: |run| vec![writes("connected", json!({}), run)],
        built: false,
        packer_says: Some("Timeout waiting for SSH."),
    });
    redactions.bind(|| insta::assert_snapshot!(stderr));
}

#[test]
fn garbage_and_hang_ups_before_the_handshake_do_not_use_up_handshake_attempts() {
    check(Case {
        name: "garbage_and_hang_ups_before_the_handshake_do_not_use_up_handshake_attempts",
        initial: Behaviour::Garbage,
        arm: |proxy, _| {
            proxy.set_after(Duration::from_secs(3), Behaviour::Close);
            proxy.set_after(Duration::from_secs(6), Behaviour::Forward);
        },
        builder: json!({ "ssh_timeout": "2m", "ssh_handshake_attempts": 1 }),
        provisioners: |run| vec![writes("connected", json!({}), run)],
        built: true,
        packer_says: None,
    });
}

#[test]
fn garbage_until_ssh_timeout_fails_naming_the_handshake() {
    let (stderr, redactions) = check(Case {
        name: "garbage_until_ssh_timeout_fails_naming_the_handshake",
        initial: Behaviour::Garbage,
        arm: nothing,
        builder: json!({ "ssh_timeout": "4s", "ssh_handshake_attempts": 1 }),
        provisioners: |run| vec![writes("connected", json!({}), run)],
        built: false,
        packer_says: Some("Timeout waiting for SSH."),
    });
    // How the handshake broke depends on whether the proxy hung up before or after imgs's
    // greeting arrived (a reset, or the end of the stream).
    let mut redactions = redactions;
    redactions.add_filter(
        r"(SSH handshake with \S+ failed): [^\n]*? (\(N attempts\))",
        "$1: [HOW] $2",
    );
    redactions.bind(|| insta::assert_snapshot!(stderr));
}

#[test]
fn a_refused_login_fails_after_ssh_handshake_attempts() {
    // A key the server does not know; `ssh_timeout` far beyond what the test waits.
    let stranger = tempfile::tempdir().unwrap();
    let key = stranger.path().join("id_ed25519");
    imgs_test_peers::sshd::keygen(&key).unwrap_or_else(|why| panic!("{why}"));
    let (stderr, redactions) = check(Case {
        name: "a_refused_login_fails_after_ssh_handshake_attempts",
        initial: Behaviour::Forward,
        arm: nothing,
        builder: json!({
            "ssh_timeout": "30m",
            "ssh_handshake_attempts": 2,
            "ssh_private_key_file": key.display().to_string(),
        }),
        provisioners: |run| vec![writes("connected", json!({}), run)],
        built: false,
        packer_says: Some("Packer experienced an authentication error"),
    });
    let stderr = stderr.replace(&key.display().to_string(), "[KEY]");
    redactions.bind(|| insta::assert_snapshot!(stderr));
}

// --- Mid-provision ---

#[test]
fn a_script_whose_connection_is_cut_fails_as_disconnected() {
    let (stderr, redactions) = check(Case {
        name: "a_script_whose_connection_is_cut_fails_as_disconnected",
        initial: Behaviour::Forward,
        arm: |proxy, run| proxy.on_file(run.marker(), Fault::Cut),
        builder: json!({}),
        provisioners: |run| {
            vec![
                shell(run.script_setting_the_fault_off(), json!({}), run),
                writes("after", json!({}), run),
            ]
        },
        built: false,
        packer_says: Some("Script disconnected unexpectedly."),
    });
    redactions.bind(|| insta::assert_snapshot!(stderr));
}

#[test]
fn a_cut_script_fails_even_with_2300218_in_valid_exit_codes() {
    // Packer 1.6.6's own message suggests this, but a disconnect fails before exit codes are
    // judged.
    check(Case {
        name: "a_cut_script_fails_even_with_2300218_in_valid_exit_codes",
        initial: Behaviour::Forward,
        arm: |proxy, run| proxy.on_file(run.marker(), Fault::Cut),
        builder: json!({}),
        provisioners: |run| {
            vec![
                shell(
                    run.script_setting_the_fault_off(),
                    json!({ "valid_exit_codes": [0, 2300218] }),
                    run,
                ),
                writes("after", json!({}), run),
            ]
        },
        built: false,
        packer_says: Some("Script disconnected unexpectedly."),
    });
}

/// A script of about 2 MiB (comments after the command), so an upload can be cut halfway.
fn big_script(run: &Run) -> String {
    let path = run.path().join("big.sh");
    let mut text = format!("#!/bin/sh\necho ran > {}/ran\n", run.machine());
    let line = format!("# {}\n", "x".repeat(1022));
    text.push_str(&line.repeat(2048));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_script_upload_cut_halfway_is_tried_again_and_runs() {
    check(Case {
        name: "a_script_upload_cut_halfway_is_tried_again_and_runs",
        initial: Behaviour::Forward,
        arm: |proxy, _| proxy.cut_after_client_bytes(256 * 1024),
        builder: json!({}),
        provisioners: |run| {
            vec![
                json!({ "type": "shell", "script": big_script(run), "remote_folder": run.machine() }),
            ]
        },
        built: true,
        packer_says: None,
    });
}

/// An 8 MiB file to upload.
fn big_file(run: &Run) -> String {
    let path = run.path().join("big.bin");
    std::fs::write(&path, vec![7u8; 8 << 20]).unwrap();
    path.display().to_string()
}

#[test]
fn a_file_upload_cut_halfway_fails() {
    let (stderr, redactions) = check(Case {
        name: "a_file_upload_cut_halfway_fails",
        initial: Behaviour::Forward,
        arm: |proxy, _| proxy.cut_after_client_bytes(1 << 20),
        builder: json!({}),
        provisioners: |run| {
            vec![json!({
                "type": "file",
                "source": big_file(run),
                "destination": format!("{}/big.bin", run.machine()),
            })]
        },
        built: false,
        packer_says: Some("Upload failed:"),
    });
    redactions.bind(|| insta::assert_snapshot!(stderr));
}

#[test]
fn a_file_upload_cut_halfway_with_max_retries_connects_again_and_succeeds() {
    check(Case {
        name: "a_file_upload_cut_halfway_with_max_retries_connects_again_and_succeeds",
        initial: Behaviour::Forward,
        arm: |proxy, _| proxy.cut_after_client_bytes(1 << 20),
        builder: json!({}),
        provisioners: |run| {
            vec![json!({
                "type": "file",
                "source": big_file(run),
                "destination": format!("{}/big.bin", run.machine()),
                "max_retries": 1,
            })]
        },
        built: true,
        packer_says: None,
    });
}

// --- Reboots ---

#[test]
fn a_reboot_with_expect_disconnect_removes_the_script_and_runs_the_next_provisioner() {
    check(Case {
        name: "a_reboot_with_expect_disconnect_removes_the_script_and_runs_the_next_provisioner",
        initial: Behaviour::Forward,
        arm: |proxy, run| proxy.on_file(run.marker(), Fault::Reboot(REBOOT)),
        builder: json!({}),
        provisioners: |run| {
            vec![
                shell(
                    run.script_setting_the_fault_off(),
                    json!({ "expect_disconnect": true }),
                    run,
                ),
                writes("after", json!({}), run),
            ]
        },
        built: true,
        packer_says: None,
    });
}

#[test]
fn a_reboot_without_expect_disconnect_fails_as_disconnected() {
    check(Case {
        name: "a_reboot_without_expect_disconnect_fails_as_disconnected",
        initial: Behaviour::Forward,
        arm: |proxy, run| proxy.on_file(run.marker(), Fault::Reboot(REBOOT)),
        builder: json!({}),
        provisioners: |run| {
            vec![
                shell(run.script_setting_the_fault_off(), json!({}), run),
                writes("after", json!({}), run),
            ]
        },
        built: false,
        packer_says: Some("Script disconnected unexpectedly."),
    });
}

#[test]
fn a_reboot_outlasting_start_retry_timeout_fails_removing_the_script() {
    let (stderr, redactions) = check(Case {
        name: "a_reboot_outlasting_start_retry_timeout_fails_removing_the_script",
        initial: Behaviour::Forward,
        arm: |proxy, run| proxy.on_file(run.marker(), Fault::Reboot(LONG_REBOOT)),
        builder: json!({}),
        provisioners: |run| {
            vec![
                shell(
                    run.script_setting_the_fault_off(),
                    json!({ "expect_disconnect": true, "start_retry_timeout": "1s" }),
                    run,
                ),
                writes("after", json!({}), run),
            ]
        },
        built: false,
        packer_says: Some("Error removing temporary script at"),
    });
    redactions.bind(|| insta::assert_snapshot!(stderr));
}

#[test]
fn after_a_skip_clean_reboot_a_shell_without_time_to_wait_fails() {
    let (stderr, redactions) = check(Case {
        name: "after_a_skip_clean_reboot_a_shell_without_time_to_wait_fails",
        initial: Behaviour::Forward,
        arm: |proxy, run| proxy.on_file(run.marker(), Fault::Reboot(LONG_REBOOT)),
        builder: json!({}),
        provisioners: |run| {
            vec![
                shell(
                    run.script_setting_the_fault_off(),
                    json!({ "expect_disconnect": true, "skip_clean": true }),
                    run,
                ),
                writes("after", json!({ "start_retry_timeout": "1s" }), run),
            ]
        },
        built: false,
        packer_says: Some("Error uploading script: dial tcp"),
    });
    redactions.bind(|| insta::assert_snapshot!(stderr));
}

#[test]
fn after_a_skip_clean_reboot_pause_before_outlasting_it_lets_the_next_shell_run() {
    check(Case {
        name: "after_a_skip_clean_reboot_pause_before_outlasting_it_lets_the_next_shell_run",
        initial: Behaviour::Forward,
        arm: |proxy, run| proxy.on_file(run.marker(), Fault::Reboot(REBOOT)),
        builder: json!({}),
        provisioners: |run| {
            vec![
                shell(
                    run.script_setting_the_fault_off(),
                    json!({ "expect_disconnect": true, "skip_clean": true }),
                    run,
                ),
                writes(
                    "after",
                    json!({ "start_retry_timeout": "1s", "pause_before": "8s" }),
                    run,
                ),
            ]
        },
        built: true,
        packer_says: None,
    });
}

#[test]
fn after_a_skip_clean_reboot_the_file_provisioner_fails_at_once() {
    let (stderr, redactions) = check(Case {
        name: "after_a_skip_clean_reboot_the_file_provisioner_fails_at_once",
        initial: Behaviour::Forward,
        arm: |proxy, run| proxy.on_file(run.marker(), Fault::Reboot(LONG_REBOOT)),
        builder: json!({}),
        provisioners: |run| {
            let source = run.path().join("motd");
            std::fs::write(&source, "welcome\n").unwrap();
            vec![
                shell(
                    run.script_setting_the_fault_off(),
                    json!({ "expect_disconnect": true, "skip_clean": true }),
                    run,
                ),
                json!({
                    "type": "file",
                    "source": source.display().to_string(),
                    "destination": format!("{}/motd", run.machine()),
                }),
            ]
        },
        built: false,
        packer_says: Some("Upload failed: dial tcp"),
    });
    redactions.bind(|| insta::assert_snapshot!(stderr));
}
