//! Where the time of the layered amazon-ebs benchmark goes: one image built alone, and nine built at
//! once (the layered workspace's grandchildren level), against the same moto and loopback sshd.
//!
//! For each run: its wall time; the EC2 requests it made, by action (moto's recorder); the CPU time
//! of moto's process (`/proc/<pid>/stat`, before and after) and of imgs with its children (this
//! process's `cutime` + `cstime`, before and after waiting for it); the wall time of each build phase,
//! from the times the `--message-format json` `phase` events reached this process; and how long a
//! cheap EC2 call (`DescribeRegions`, which imgs does not make) takes moto to answer while the builds
//! run, sent every [`PROBE_EVERY`]. Figures are medians over the runs.
//!
//! `cargo xtask bench layered-breakdown` writes the [`SECTION`] of BENCHMARKS.md and keeps the rest.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use imgs_test_peers::sshd::TestSshd;

use crate::bench_aws::EbsPeers;
use crate::{build_imgs, repo_root, setup};

/// The heading of the section this benchmark writes.
pub const SECTION: &str = "## Layered amazon-ebs: where the time goes";
/// Seconds each image's provisioner sleeps, as in the layered benchmark.
const STEP: &str = "sleep 1";
/// Runs of each scenario unless `--runs` says.
const RUNS: usize = 3;
/// How often the latency probe asks moto something while builds run.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// The probe's action: one imgs never calls, so its count can be taken out of the recording.
const PROBE_ACTION: &str = "DescribeRegions";
/// The builds' phases in the order they run, for the table (others follow in name order).
const PHASE_ORDER: &[&str] = &[
    "starting",
    "launching instance",
    "waiting for SSH",
    "provisioning",
    "stopping instance",
    "creating AMI",
    "cleaning up",
];

/// `cargo xtask bench layered-breakdown [--runs N] [--imgs PATH]`: `--imgs` measures a given binary
/// instead of building a release one.
pub fn run_alone(args: &[String]) -> Result<()> {
    let mut runs = RUNS;
    let mut given_imgs: Option<PathBuf> = None;
    let mut keep = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| anyhow!("--runs takes a number above 0"))?;
            }
            "--keep" => keep = true,
            "--imgs" => {
                given_imgs = Some(
                    args.next()
                        .map(PathBuf::from)
                        .ok_or_else(|| anyhow!("--imgs takes the path of an imgs binary"))?,
                );
            }
            other => bail!(
                "`cargo xtask bench layered-breakdown` takes `--runs N`, `--imgs PATH` and `--keep` (got `{other}`)"
            ),
        }
    }
    setup::install_test_peers()?;
    let (imgs, binary) = match given_imgs {
        Some(path) => (
            path.clone(),
            format!("the given binary `{}`", path.display()),
        ),
        None => (build_imgs(true)?, "a release build".to_string()),
    };
    let work = tempfile::Builder::new()
        .prefix("imgs-bench-breakdown-")
        .tempdir()?;
    eprintln!("bench: one amazon-ebs build alone and nine at once, {runs} runs each");
    let load_before = load_average();
    let scenarios = breakdown(&imgs, work.path(), runs);
    if keep {
        eprintln!(
            "bench: the logs and event timelines stay in {}",
            work.keep().display()
        );
    }
    let (idle, scenarios) = scenarios?;
    let section = render(
        &idle,
        &scenarios,
        runs,
        &binary,
        &load_before,
        &load_average(),
    );
    let path = repo_root().join("BENCHMARKS.md");
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, with_section(&previous, &section))?;
    print!("{section}");
    Ok(())
}

/// What one run of a scenario measured.
#[derive(Default)]
struct Run {
    wall: f64,
    imgs_cpu: f64,
    moto_cpu: f64,
    /// sshd's listener and the connections it forked and reaped during the run.
    sshd_cpu: f64,
    /// EC2 requests by action, the probe's taken out.
    actions: BTreeMap<String, usize>,
    /// Seconds each phase lasted, averaged over the run's images.
    phases: BTreeMap<String, f64>,
    /// From starting imgs to its first `started` event, and from its last `built` event to its exit.
    before_first_build: f64,
    after_last_build: f64,
    /// The probe's answer times, seconds.
    probe: Vec<f64>,
}

/// What the peers cost with no build running.
struct Idle {
    /// The probe's answer times, seconds.
    probe: Vec<f64>,
    /// One SSH connection running `true` (the user's shell starts), and one opening the sftp
    /// subsystem (no shell): medians, seconds.
    session_with_shell: f64,
    session_without_shell: f64,
    /// One SSH connection running `true` on the sshd whose sessions skip `~/.bashrc`.
    session_skipping_bashrc: f64,
}

/// A scenario's runs.
struct Scenario {
    images: usize,
    /// Against the sshd whose sessions skip the user's `~/.bashrc`.
    skipping_bashrc: bool,
    runs: Vec<Run>,
}

fn breakdown(imgs: &Path, work: &Path, runs: usize) -> Result<(Idle, Vec<Scenario>)> {
    let peers = EbsPeers::start(&work.join("peers"))?;
    let skipping_bashrc = EbsPeers::start_with(
        &work.join("peers-skipping-bashrc"),
        TestSshd::start_skipping_bashrc().map_err(|why| anyhow!(why))?,
    )?;
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut scenarios: Vec<Scenario> = [(1, false), (9, false), (1, true), (9, true)]
        .into_iter()
        .map(|(images, skipping_bashrc)| Scenario {
            images,
            skipping_bashrc,
            runs: Vec::new(),
        })
        .collect();
    // An idle probe first: moto's answer time with nothing else running.
    let idle = probe_idle(&peers, 20)?;
    // What one SSH session costs on this sshd with nothing else running: a command (`true`, run by
    // the user's shell as sshd starts it) against the sftp subsystem (no shell), each a connection
    // of OpenSSH's client of its own.
    let session_with_shell = ssh_times(&peers, &["true"], 7)?;
    let session_without_shell = ssh_times(&peers, &["-s", "sftp"], 7)?;
    let session_skipping_bashrc = ssh_times(&skipping_bashrc, &["true"], 7)?;
    for run in 0..runs {
        for scenario in &mut scenarios {
            let name = scenario.key();
            let peers = match scenario.skipping_bashrc {
                false => &peers,
                true => &skipping_bashrc,
            };
            let ws = work.join(format!("ws-{name}"));
            if run == 0 {
                write_workspace(peers, &ws, scenario.images)?;
            }
            let log = logs.join(format!("imgs-{name}-{run}.log"));
            scenario
                .runs
                .push(measure(imgs, peers, &ws, &format!("{name}-r{run}"), &log)?);
        }
    }
    let idle = Idle {
        probe: idle,
        session_with_shell: median(session_with_shell),
        session_without_shell: median(session_without_shell),
        session_skipping_bashrc: median(session_skipping_bashrc),
    };
    Ok((idle, scenarios))
}

impl Scenario {
    /// A short name for its files.
    fn key(&self) -> String {
        match self.skipping_bashrc {
            false => format!("{}", self.images),
            true => format!("{}-skipping-bashrc", self.images),
        }
    }

    /// Its column's heading.
    fn heading(&self) -> String {
        let builds = match self.images {
            1 => "one build alone".to_string(),
            n => format!("{n} builds at once"),
        };
        match self.skipping_bashrc {
            false => builds,
            true => format!("{builds}, sessions skip `~/.bashrc`"),
        }
    }
}

/// A workspace of `images` independent members (as the grandchildren are, once their parents are
/// built), each sleeping in its provisioner.
fn write_workspace(peers: &EbsPeers, dir: &Path, images: usize) -> Result<()> {
    for i in 0..images {
        let name = format!("i{i}");
        let image_dir = dir.join("images").join(&name);
        std::fs::create_dir_all(&image_dir)?;
        let template = crate::bench_layered::template(peers, &name, true, STEP);
        std::fs::write(
            image_dir.join("template.json"),
            serde_json::to_string_pretty(&template)?,
        )?;
    }
    std::fs::write(
        dir.join("Images.toml"),
        "[workspace]\nmembers = [\"images/*\"]\n",
    )?;
    Ok(())
}

/// Wall times of `ssh … ARGS` to the peers' sshd, seconds.
fn ssh_times(peers: &EbsPeers, args: &[&str], count: usize) -> Result<Vec<f64>> {
    let ssh = peers.sshd.settings();
    let setting = |key: &str| {
        ssh.get(key)
            .cloned()
            .ok_or_else(|| anyhow!("the test sshd gives no {key}"))
    };
    let (host, port, user, key) = (
        setting("ssh_host")?,
        setting("ssh_port")?,
        setting("ssh_username")?,
        setting("ssh_private_key_file")?,
    );
    (0..count)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new("ssh")
                .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
                .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
                .args(["-i", &key, "-p", &port, &format!("{user}@{host}")])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .context("cannot run ssh")?;
            if !status.success() {
                bail!("ssh {args:?} to the test sshd failed with {status}");
            }
            Ok(start.elapsed().as_secs_f64())
        })
        .collect()
}

fn probe_idle(peers: &EbsPeers, count: usize) -> Result<Vec<f64>> {
    (0..count)
        .map(|_| {
            let start = Instant::now();
            peers.moto.ec2(&[("Action", PROBE_ACTION)])?;
            std::thread::sleep(Duration::from_millis(20));
            Ok(start.elapsed().as_secs_f64() - 0.020)
        })
        .collect()
}

/// One `imgs build --all --force` of the workspace in `ws`, measured.
fn measure(imgs: &Path, peers: &EbsPeers, ws: &Path, run: &str, log: &Path) -> Result<Run> {
    let moto_pid = peers.moto.pid();
    let sshd_stat = format!("/proc/{}/stat", peers.sshd.pid());
    let sshd_cpu =
        || -> Result<f64> { Ok(cpu_seconds(&sshd_stat, 13)? + cpu_seconds(&sshd_stat, 15)?) };
    let mut figures = Run::default();
    let mut probes_sent = 0;
    let recorded = peers.moto.actions_during(|| {
        let moto_before = cpu_seconds(&format!("/proc/{moto_pid}/stat"), 13)?;
        let imgs_before = cpu_seconds("/proc/self/stat", 15)?;
        let sshd_before = sshd_cpu()?;
        let start = Instant::now();
        let mut child = Command::new(imgs)
            .current_dir(ws)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["build", "--all", "--force", "--message-format", "json"])
            .args(["--var", &format!("run={run}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("cannot start imgs")?;
        let stdout = child.stdout.take().expect("piped");
        let done = AtomicBool::new(false);
        let (events, status, probes) = std::thread::scope(|scope| {
            let prober = scope.spawn(|| {
                let mut times = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let asked = Instant::now();
                    if peers.moto.ec2(&[("Action", PROBE_ACTION)]).is_ok() {
                        times.push(asked.elapsed().as_secs_f64());
                    }
                    std::thread::sleep(PROBE_EVERY.saturating_sub(asked.elapsed()));
                }
                times
            });
            let events: Vec<(f64, serde_json::Value)> = BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| {
                    let at = start.elapsed().as_secs_f64();
                    serde_json::from_str(&line).ok().map(|event| (at, event))
                })
                .collect();
            // The wall time ends when imgs does, not when the probe has noticed.
            let status = child.wait();
            figures.wall = start.elapsed().as_secs_f64();
            done.store(true, Ordering::Relaxed);
            (
                events,
                status,
                prober.join().expect("the probe does not panic"),
            )
        });
        let status = status?;
        figures.imgs_cpu = cpu_seconds("/proc/self/stat", 15)? - imgs_before;
        figures.moto_cpu = cpu_seconds(&format!("/proc/{moto_pid}/stat"), 13)? - moto_before;
        // A connection's process is reaped (and its time counted) just after it closes.
        std::thread::sleep(Duration::from_millis(200));
        figures.sshd_cpu = sshd_cpu()? - sshd_before;
        if !status.success() {
            let output = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = output.lines().rev().take(10).collect();
            bail!(
                "imgs failed with {status}; the end of its output:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        probes_sent = probes.len();
        figures.probe = probes;
        phase_times(&events, &mut figures);
        let mut timeline = String::new();
        for (at, event) in &events {
            let _ = writeln!(timeline, "{at:.3} {event}");
        }
        std::fs::write(log.with_extension("events"), timeline)?;
        Ok(())
    })?;
    figures.actions = recorded;
    if let Some(probe) = figures.actions.get_mut(PROBE_ACTION) {
        *probe = probe.saturating_sub(probes_sent);
    }
    figures.actions.retain(|_, n| *n > 0);
    Ok(figures)
}

/// Each image's phases from the events' arrival times: a phase lasts until the image's next phase
/// or its `built` event.
fn phase_times(events: &[(f64, serde_json::Value)], run: &mut Run) {
    let mut per_image: BTreeMap<String, Vec<(f64, String)>> = BTreeMap::new();
    let (mut first_start, mut last_built) = (f64::MAX, 0.0_f64);
    for (at, event) in events {
        let image = event["image"].as_str().unwrap_or_default().to_string();
        match event["event"].as_str() {
            Some("started") => first_start = first_start.min(*at),
            Some("phase") => {
                let phase = event["phase"].as_str().unwrap_or_default();
                let phase = if phase.starts_with("provisioning") {
                    "provisioning"
                } else {
                    phase
                };
                per_image
                    .entry(image)
                    .or_default()
                    .push((*at, phase.to_string()));
            }
            Some("built") => {
                last_built = last_built.max(*at);
                per_image
                    .entry(image)
                    .or_default()
                    .push((*at, String::new()));
            }
            _ => {}
        }
    }
    run.before_first_build = first_start;
    run.after_last_build = run.wall - last_built;
    let images = per_image.len().max(1) as f64;
    for marks in per_image.values() {
        for pair in marks.windows(2) {
            *run.phases.entry(pair[0].1.clone()).or_insert(0.0) += (pair[1].0 - pair[0].0) / images;
        }
    }
}

/// utime + stime (fields `at` and `at + 1`, from 0, of a `/proc/…/stat` line) in seconds.
fn cpu_seconds(stat: &str, at: usize) -> Result<f64> {
    let text = std::fs::read_to_string(stat).with_context(|| format!("cannot read {stat}"))?;
    // The command name (field 1) is in parentheses and may hold spaces: count from after it.
    let after_name = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("{stat} has no command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| -> Result<f64> {
        fields
            .get(n - 2)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| anyhow!("{stat} has no field {n}"))
    };
    Ok((field(at)? + field(at + 1)?) / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 where it cannot be asked.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(mut values: Vec<f64>, p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn render(
    idle: &Idle,
    measured: &[Scenario],
    runs: usize,
    binary: &str,
    before: &str,
    after: &str,
) -> String {
    let med = |s: &Scenario, f: &dyn Fn(&Run) -> f64| median(s.runs.iter().map(f).collect());
    let requests = |r: &Run| r.actions.values().sum::<usize>() as f64;
    let mut out = String::new();
    let _ = writeln!(out, "{SECTION}\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench layered-breakdown`: one amazon-ebs image built alone, and nine \
         built at once (as the layered workspace's grandchildren are), each by `imgs build --all \
         --force --message-format json` against one moto and one loopback sshd, the provisioner \
         sleeping 1 s. Each twice: against the test sshd as every benchmark starts it, whose \
         sessions run the user's shell as it is set up on this machine (Debian's bash reads \
         `~/.bashrc` for a command sshd starts), and against one whose sessions skip `~/.bashrc` \
         (`SetEnv SHLVL=1`), as an instance's fresh login user would have little in it. Every \
         scenario has its own workspace; the two sshds each have their own moto. {runs} runs each, taking turns; medians. imgs: {binary}. moto's recorder \
         was on in every run, and a probe asked moto `{PROBE_ACTION}` every {} ms (its requests \
         and CPU time are in moto's figures, not in the request counts). Machine: {} cores, \
         shared; run on {}; load {before} → {after}.\n",
        PROBE_EVERY.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::bench::today()
    );
    out.push_str("| measure | ");
    out.push_str(
        &measured
            .iter()
            .map(Scenario::heading)
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push_str(" |\n|---|");
    out.push_str(&"---|".repeat(measured.len()));
    out.push('\n');
    let row = |out: &mut String, name: &str, cell: &dyn Fn(&Scenario) -> String| {
        let cells: Vec<String> = measured.iter().map(cell).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    row(&mut out, "wall time of the run", &|s| {
        format!("{:.2} s", med(s, &|r| r.wall))
    });
    row(&mut out, "EC2 requests per build", &|s| {
        format!("{:.1}", med(s, &|r| requests(r) / s.images as f64))
    });
    row(&mut out, "moto CPU time", &|s| {
        format!(
            "{:.2} s ({:.0} % of one core over the run)",
            med(s, &|r| r.moto_cpu),
            100.0 * med(s, &|r| r.moto_cpu / r.wall)
        )
    });
    row(&mut out, "moto CPU time per EC2 request", &|s| {
        format!(
            "{:.1} ms",
            1e3 * med(s, &|r| r.moto_cpu / (requests(r) + r.probe.len() as f64))
        )
    });
    row(
        &mut out,
        "sshd CPU time (listener and its connections)",
        &|s| {
            format!(
                "{:.2} s ({:.2} s per build)",
                med(s, &|r| r.sshd_cpu),
                med(s, &|r| r.sshd_cpu / s.images as f64)
            )
        },
    );
    row(&mut out, "imgs CPU time (with its children)", &|s| {
        format!(
            "{:.2} s ({:.2} s per build)",
            med(s, &|r| r.imgs_cpu),
            med(s, &|r| r.imgs_cpu / s.images as f64)
        )
    });
    row(&mut out, "from starting imgs to its first build", &|s| {
        format!("{:.0} ms", 1e3 * med(s, &|r| r.before_first_build))
    });
    row(&mut out, "from the last build's end to imgs's exit", &|s| {
        format!("{:.0} ms", 1e3 * med(s, &|r| r.after_last_build))
    });
    let mut phases: Vec<String> = PHASE_ORDER.iter().map(|p| p.to_string()).collect();
    for s in measured {
        for r in &s.runs {
            for p in r.phases.keys() {
                if !phases.contains(p) {
                    phases.push(p.clone());
                }
            }
        }
    }
    for phase in &phases {
        row(&mut out, &format!("phase `{phase}`, per build"), &|s| {
            format!(
                "{:.0} ms",
                1e3 * med(s, &|r| r.phases.get(phase).copied().unwrap_or(0.0))
            )
        });
    }
    row(&mut out, "sum of the phases, per build", &|s| {
        format!("{:.2} s", med(s, &|r| r.phases.values().sum::<f64>()))
    });
    let phase = |r: &Run, name: &str| r.phases.get(name).copied().unwrap_or(0.0);
    row(
        &mut out,
        "EC2 phases (launching, stopping, creating AMI, cleaning up), per build",
        &|s| {
            format!(
                "{:.0} ms",
                1e3 * med(s, &|r| {
                    [
                        "launching instance",
                        "stopping instance",
                        "creating AMI",
                        "cleaning up",
                    ]
                    .iter()
                    .map(|p| phase(r, p))
                    .sum()
                })
            )
        },
    );
    row(
        &mut out,
        "SSH phases (waiting for SSH, provisioning) less the 1 s sleep, per build",
        &|s| {
            format!(
                "{:.0} ms",
                1e3 * med(s, &|r| {
                    phase(r, "waiting for SSH") + phase(r, "provisioning") - 1.0
                })
            )
        },
    );
    let probe = |values: Vec<f64>| {
        format!(
            "{:.1} ms (90th percentile {:.1} ms)",
            1e3 * median(values.clone()),
            1e3 * percentile(values, 0.9)
        )
    };
    row(&mut out, "moto's answer to the probe, median", &|s| {
        probe(s.runs.iter().flat_map(|r| r.probe.clone()).collect())
    });
    let (with_shell, without_shell) = (idle.session_with_shell, idle.session_without_shell);
    let _ = writeln!(
        out,
        "\nWith no build running: the probe {}; one SSH connection (OpenSSH's client) to the test \
         sshd that runs `true` takes {:.0} ms, one that opens the sftp subsystem (no shell) {:.0} \
         ms, and one that runs `true` on the sshd whose sessions skip `~/.bashrc` {:.0} ms \
         (medians of 7): this machine's `~/.bashrc` costs about {:.0} ms a session. imgs's shell \
         provisioner opens three sessions per script (upload, run, remove).\n",
        probe(idle.probe.clone()),
        1e3 * with_shell,
        1e3 * without_shell,
        1e3 * idle.session_skipping_bashrc,
        1e3 * (with_shell - idle.session_skipping_bashrc)
    );
    // Shares of each nine-at-once run's wall time, and how much longer nine take than one.
    for skipping in [false, true] {
        let find = |images: usize| {
            measured
                .iter()
                .find(|s| s.images == images && s.skipping_bashrc == skipping)
        };
        let (Some(one), Some(nine)) = (find(1), find(9)) else {
            continue;
        };
        let share = |f: &dyn Fn(&Run) -> f64| 100.0 * med(nine, &|r| f(r) / r.wall);
        let _ = writeln!(
            out,
            "{}: nine at once take {:.2}× the wall time of one alone; over the nine-at-once run, \
             CPU time as a share of its wall time: moto {:.0} %, sshd {:.0} %, imgs {:.0} % (of one \
             core; the machine has {}).\n",
            match skipping {
                false => "Sessions as set up",
                true => "Sessions that skip `~/.bashrc`",
            },
            med(nine, &|r| r.wall) / med(one, &|r| r.wall).max(1e-9),
            share(&|r| r.moto_cpu),
            share(&|r| r.sshd_cpu),
            share(&|r| r.imgs_cpu),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
    }
    let mut actions: Vec<&String> = measured
        .iter()
        .flat_map(|s| s.runs.iter().flat_map(|r| r.actions.keys()))
        .collect();
    actions.sort();
    actions.dedup();
    out.push_str(
        "EC2 requests per build by action (moto's recorder; median over runs):\n\n| action | ",
    );
    out.push_str(
        &measured
            .iter()
            .map(Scenario::heading)
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push_str(" |\n|---|");
    out.push_str(&"---|".repeat(measured.len()));
    out.push('\n');
    for action in actions {
        row(&mut out, action, &|s| {
            format!(
                "{:.1}",
                med(s, &|r| r.actions.get(action).copied().unwrap_or(0) as f64
                    / s.images as f64)
            )
        });
    }
    out
}

/// The 1-minute load average.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// `report` with `section` in place of its own; where it has none, before the docker section (else
/// at the end). Text after the table that a person added stays only if it is under another heading.
pub fn with_section(report: &str, section: &str) -> String {
    let section = format!("{}\n", section.trim_end());
    let heading_at = |heading: &str| {
        report
            .match_indices(heading)
            .map(|(i, _)| i)
            .find(|i| *i == 0 || report[..*i].ends_with('\n'))
    };
    let (before, after) = match heading_at(SECTION) {
        Some(start) => {
            let body = start + SECTION.len();
            let end = report[body..]
                .find("\n## ")
                .map_or(report.len(), |i| body + i + 1);
            (&report[..start], &report[end..])
        }
        None => match heading_at(crate::bench_docker::SECTION) {
            Some(at) => (&report[..at], &report[at..]),
            None => (report, ""),
        },
    };
    let mut out = before.trim_end().to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(&section);
    if !after.is_empty() {
        out.push('\n');
        out.push_str(after);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_replaces_its_earlier_self_and_keeps_the_rest() {
        let report = "# Benchmarks\n\ntable\n\n## Docker chain\n\ndocker\n";
        let first = with_section(report, &format!("{SECTION}\n\nfirst\n"));
        assert_eq!(
            first,
            format!("# Benchmarks\n\ntable\n\n{SECTION}\n\nfirst\n\n## Docker chain\n\ndocker\n")
        );
        let second = with_section(&first, &format!("{SECTION}\n\nsecond\n"));
        assert_eq!(second, first.replace("first", "second"));
    }

    #[test]
    fn phases_last_until_the_next_one_or_the_built_event() {
        let event = |at: f64, json: serde_json::Value| (at, json);
        let events = [
            event(0.1, serde_json::json!({"event": "started", "image": "a"})),
            event(
                0.1,
                serde_json::json!({"event": "phase", "image": "a", "phase": "starting"}),
            ),
            event(
                0.2,
                serde_json::json!({"event": "phase", "image": "a", "phase": "provisioning 1/1 (shell)"}),
            ),
            event(1.2, serde_json::json!({"event": "built", "image": "a"})),
        ];
        let mut run = Run {
            wall: 1.5,
            ..Run::default()
        };
        phase_times(&events, &mut run);
        assert!((run.phases["starting"] - 0.1).abs() < 1e-9);
        assert!((run.phases["provisioning"] - 1.0).abs() < 1e-9);
        assert!((run.after_last_build - 0.3).abs() < 1e-9);
        assert!((run.before_first_build - 0.1).abs() < 1e-9);
    }

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        let dir = tempfile::tempdir().unwrap();
        let stat = dir.path().join("stat");
        // Fields 14 and 15 (utime, stime) are 300 and 100 ticks; the name holds a space and a ')'.
        let mut line = String::from("42 (a b) c) S");
        for n in 4..=13 {
            line.push_str(&format!(" {n}"));
        }
        line.push_str(" 300 100 7 8 9");
        std::fs::write(&stat, line).unwrap();
        let seconds = cpu_seconds(stat.to_str().unwrap(), 13).unwrap();
        assert!((seconds - 400.0 / clock_ticks()).abs() < 1e-9);
    }
}
