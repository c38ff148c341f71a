//! amazon-ebs benchmark: `imgs build FILE` against `packer build` (Packer 1.6.6) for the same template,
//! both against one local EC2 API server (moto) and one private sshd standing in for the instance.
//!
//! Two figures: the wall time of a whole build (launch, connect, one trivial shell step, create the AMI,
//! clean up), which is all per-image overhead since moto runs no machines; and the EC2 API requests the
//! server received during each build, counted in moto's access log (one line per request), which the
//! server writes to a file of the benchmark's.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use imgs_test_peers::moto::{MotoOptions, TestMoto};
use imgs_test_peers::sshd::TestSshd;

use crate::bench_hashing::BenchResult;

const REGION: &str = "us-east-1";
const KEY_PAIR: &str = "imgs-bench-key";
/// Timed builds per tool, alternating Packer and imgs so drift on the machine hits both alike.
const RUNS: usize = 5;

/// Times and counts both tools' builds of one amazon-ebs template; `work` holds the template and logs.
pub fn ebs_build_vs_packer(imgs: &Path, work: &Path) -> Result<BenchResult> {
    let peers = EbsPeers::start(work)?;
    let moto = &peers.moto;
    let template = work.join("template.json");
    std::fs::write(
        &template,
        serde_json::to_string_pretty(&ebs_template(&peers))?,
    )?;

    let mut packer = Vec::new();
    let mut ours = Vec::new();
    for run in 0..RUNS {
        packer.push(moto.measure(|| build_with_packer(&template, &format!("packer-{run}"), work))?);
        ours.push(moto.measure(|| build_with_imgs(imgs, &template, &format!("imgs-{run}"), work))?);
    }
    // One more untimed build each with moto's recorder on, for the requests by action.
    let packer_actions =
        moto.actions_during(|| build_with_packer(&template, "packer-actions", work))?;
    let our_actions =
        moto.actions_during(|| build_with_imgs(imgs, &template, "imgs-actions", work))?;
    for (tool, actions) in [("packer", &packer_actions), ("imgs", &our_actions)] {
        eprintln!("bench: EC2 requests of one {tool} build: {actions:?}");
    }

    let median_time = |runs: &[Measured]| median(runs.iter().map(|m| m.time).collect());
    let median_requests = |runs: &[Measured]| median(runs.iter().map(|m| m.requests).collect());
    let (ours_time, packer_time) = (median_time(&ours), median_time(&packer));
    let (ours_requests, packer_requests) = (median_requests(&ours), median_requests(&packer));
    let time_ratio = ours_time.as_secs_f64() / packer_time.as_secs_f64().max(1e-9);
    Ok(BenchResult {
        name: format!(
            "amazon-ebs build of one template against moto + a loopback sshd (median of {RUNS})"
        ),
        ours: ours_time,
        reference_name: "`packer build -force` (Packer 1.6.6)".into(),
        reference: packer_time,
        notes: format!(
            "launch, one trivial shell step, create the AMI, clean up: all per-image overhead (moto \
             runs no machines); runs alternate; imgs takes {time_ratio:.2}× Packer's time (goal ≤ \
             0.35×); EC2 requests per build (median): imgs {ours_requests}, Packer \
             {packer_requests} (goal: imgs ≤ Packer); by action, one build each: {}",
            compare_actions(&our_actions, &packer_actions)
        ),
    })
}

/// The one template both tools build: a trivial shell step, the AMI named by the `ami_name` variable.
fn ebs_template(peers: &EbsPeers) -> serde_json::Value {
    serde_json::json!({
        "variables": { "ami_name": null },
        "builders": [peers.builder(&peers.source_ami, "{{user `ami_name`}}")],
        "provisioners": [{ "type": "shell", "inline": ["true"] }],
    })
}

/// What an amazon-ebs benchmark builds against: moto with the bench's key pair imported, a public
/// EBS-backed AMI of moto's to start from, and one sshd standing in for every instance moto "launches"
/// (moto runs no machines). Dropping it stops both servers.
pub struct EbsPeers {
    pub moto: LoggedMoto,
    pub sshd: TestSshd,
    pub source_ami: String,
}

impl EbsPeers {
    /// Starts both servers with their logs under `work`.
    pub fn start(work: &Path) -> Result<EbsPeers> {
        EbsPeers::start_with(work, TestSshd::start().map_err(|why| anyhow!(why))?)
    }

    /// Starts moto with its log under `work`, beside the given sshd.
    pub fn start_with(work: &Path, sshd: TestSshd) -> Result<EbsPeers> {
        std::fs::create_dir_all(work)?;
        let moto = LoggedMoto::start(&work.join("moto.log"))?;
        let public_key = std::fs::read_to_string(sshd.client_key.with_extension("pub"))?;
        moto.ec2(&[
            ("Action", "ImportKeyPair"),
            ("KeyName", KEY_PAIR),
            ("PublicKeyMaterial", &base64(public_key.as_bytes())),
        ])?;
        let source_ami = moto.public_ebs_ami()?;
        Ok(EbsPeers {
            moto,
            sshd,
            source_ami,
        })
    }

    /// Packer's amazon-ebs options for these peers, which imgs reads the same way: static credentials
    /// and a custom endpoint, so neither tool asks anything beyond loopback. `source_ami` and
    /// `ami_name` go in as given (an ID, a name, or a template expression).
    pub fn builder(&self, source_ami: &str, ami_name: &str) -> serde_json::Value {
        let ssh = self.sshd.settings();
        serde_json::json!({
            "type": "amazon-ebs",
            "region": REGION,
            "access_key": "bench",
            "secret_key": "bench",
            "custom_endpoint_ec2": self.moto.endpoint(),
            "skip_region_validation": true,
            "skip_metadata_api_check": true,
            "source_ami": source_ami,
            "instance_type": "t3.micro",
            "ami_name": ami_name,
            "ssh_host": ssh["ssh_host"],
            "ssh_port": ssh["ssh_port"],
            "ssh_username": ssh["ssh_username"],
            "ssh_keypair_name": KEY_PAIR,
            "ssh_private_key_file": ssh["ssh_private_key_file"],
            "ssh_timeout": "30s",
        })
    }
}

/// `packer build` with the environment every amazon-ebs benchmark gives it, run in `dir`.
pub fn packer_command(dir: &Path) -> Command {
    let mut cmd = Command::new("packer");
    cmd.current_dir(dir)
        .env("CHECKPOINT_DISABLE", "1")
        // Static keys in the template already; these keep the SDK's credential chain off the network.
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("build");
    cmd
}

fn build_with_packer(template: &Path, ami_name: &str, work: &Path) -> Result<()> {
    let mut cmd = packer_command(work);
    cmd.args(["-force", "-var"])
        .arg(format!("ami_name={ami_name}"))
        .arg(template);
    quiet(&mut cmd, &work.join(format!("{ami_name}.log")))
}

fn build_with_imgs(imgs: &Path, template: &Path, ami_name: &str, work: &Path) -> Result<()> {
    let mut cmd = Command::new(imgs);
    cmd.current_dir(work)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["build", "--var"])
        .arg(format!("ami_name={ami_name}"))
        .arg(template);
    quiet(&mut cmd, &work.join(format!("{ami_name}.log")))
}

/// Runs `cmd` with its output in `log`, which a failure names.
pub fn quiet(cmd: &mut Command, log: &Path) -> Result<()> {
    let out = File::create(log)?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!(
            "{:?} failed with {status}; its output is in {}",
            cmd.get_program(),
            log.display()
        );
    }
    Ok(())
}

struct Measured {
    time: Duration,
    requests: usize,
}

/// "CreateImage 1 vs 2, …" for the actions whose counts differ; the totals are in the row's name.
fn compare_actions(ours: &BTreeMap<String, usize>, packer: &BTreeMap<String, usize>) -> String {
    let mut actions: Vec<&String> = ours.keys().chain(packer.keys()).collect();
    actions.sort();
    actions.dedup();
    let differing: Vec<String> = actions
        .into_iter()
        .filter_map(|action| {
            let (a, b) = (
                ours.get(action).copied().unwrap_or(0),
                packer.get(action).copied().unwrap_or(0),
            );
            (a != b).then(|| format!("{action} {a} vs {b}"))
        })
        .collect();
    if differing.is_empty() {
        "the same actions, the same number of times".into()
    } else {
        format!("imgs vs Packer where they differ: {}", differing.join(", "))
    }
}

pub fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

/// moto's server with its access log in a file, killed by its PID on drop.
pub struct LoggedMoto {
    moto: TestMoto,
    log: std::path::PathBuf,
}

impl LoggedMoto {
    fn start(log: &Path) -> Result<LoggedMoto> {
        let moto = TestMoto::start_with(&MotoOptions {
            log: Some(log.to_path_buf()),
            own_process_group: false,
        })
        .map_err(|why| anyhow!(why))?;
        Ok(LoggedMoto {
            moto,
            log: log.to_path_buf(),
        })
    }

    pub fn endpoint(&self) -> String {
        self.moto.endpoint()
    }

    /// The server's process ID: for reading its CPU time in /proc.
    pub fn pid(&self) -> u32 {
        self.moto.pid()
    }

    /// Runs `build`, timing it and counting the EC2 requests (`POST /`) the access log gained.
    fn measure(&self, build: impl FnOnce() -> Result<()>) -> Result<Measured> {
        let before = self.settled_request_count()?;
        let start = Instant::now();
        build()?;
        let time = start.elapsed();
        let requests = self.settled_request_count()? - before;
        Ok(Measured { time, requests })
    }

    /// The access log's EC2 request lines, once the count stops moving: werkzeug writes a line after
    /// answering, so the last request of a build may still be on its way to the file.
    fn settled_request_count(&self) -> Result<usize> {
        let count = || -> Result<usize> {
            let log = std::fs::read_to_string(&self.log)?;
            Ok(log.lines().filter(|l| l.contains("\"POST / HTTP/")).count())
        };
        let mut last = count()?;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = count()?;
            if now == last {
                return Ok(now);
            }
            last = now;
        }
    }

    /// Runs `build` with moto's recorder on and counts the EC2 actions it recorded.
    pub(crate) fn actions_during(
        &self,
        build: impl FnOnce() -> Result<()>,
    ) -> Result<BTreeMap<String, usize>> {
        self.moto.start_recording().map_err(|why| anyhow!(why))?;
        let built = build();
        let recorded = self.moto.recorded_actions().map_err(|why| anyhow!(why));
        built?;
        let mut actions = BTreeMap::new();
        for action in recorded? {
            *actions.entry(action).or_insert(0) += 1;
        }
        Ok(actions)
    }

    /// One EC2 Query API call in the build region.
    pub(crate) fn ec2(&self, params: &[(&str, &str)]) -> Result<String> {
        self.moto
            .ec2_query(REGION, params)
            .map_err(|why| anyhow!(why))
    }

    /// An EBS-backed public AMI moto ships, as the source of both tools' builds.
    fn public_ebs_ami(&self) -> Result<String> {
        let xml = self.ec2(&[
            ("Action", "DescribeImages"),
            ("Owner.1", "amazon"),
            ("Filter.1.Name", "root-device-type"),
            ("Filter.1.Value.1", "ebs"),
        ])?;
        xml.split("<imageId>")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("moto lists no public EBS-backed AMI"))
    }
}

fn base64(bytes: &[u8]) -> String {
    aws_smithy_types::base64::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs just this benchmark against a private moto and sshd:
    /// `cargo test -p xtask ebs_benchmark -- --ignored --nocapture`.
    #[test]
    #[ignore = "twelve amazon-ebs builds; run by `cargo xtask bench`"]
    fn ebs_benchmark() {
        let imgs = crate::build_imgs(true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let result = ebs_build_vs_packer(&imgs, dir.path()).unwrap();
        println!(
            "{}: imgs {:?}, {} {:?}; {}",
            result.name, result.ours, result.reference_name, result.reference, result.notes
        );
    }

    #[test]
    fn only_differing_actions_are_listed() {
        let counts = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
            pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
        };
        let ours = counts(&[("RunInstances", 1), ("DescribeImages", 2)]);
        let packer = counts(&[
            ("RunInstances", 1),
            ("DescribeImages", 4),
            ("DescribeRegions", 1),
        ]);
        assert_eq!(
            compare_actions(&ours, &packer),
            "imgs vs Packer where they differ: DescribeImages 2 vs 4, DescribeRegions 0 vs 1"
        );
        assert_eq!(
            compare_actions(&ours, &ours),
            "the same actions, the same number of times"
        );
    }
}
