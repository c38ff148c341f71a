//! CI fan-out as tests run it: several runners (copies of one workspace, each with its own `cache/`)
//! building a workspace shard by shard, wave by wave, each job a process of its own (the real `imgs`
//! executable), as the jobs of a workflow from `imgs ci github` would.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use super::ebs::{Peers, REGION};

/// `runners` copies of the workspace at `from` (Images.toml and images/, no cache/): one per
/// machine of the fan-out. The copies have the same fingerprints (they hold the same files).
pub fn runner_copies(from: &Path, runners: usize) -> Vec<tempfile::TempDir> {
    (0..runners)
        .map(|_| {
            let dir = tempfile::Builder::new()
                .prefix("imgs-runner-")
                .tempdir()
                .unwrap();
            std::fs::copy(from.join("Images.toml"), dir.path().join("Images.toml")).unwrap();
            super::copy_dir(&from.join("images"), &dir.path().join("images"));
            dir
        })
        .collect()
}

/// One job: `imgs build --wave W --shard K/N --message-format json` (then `extra`) in `dir`, as a
/// process of its own, started and not waited for.
pub fn spawn_shard(
    dir: &Path,
    wave: usize,
    shard: usize,
    shards: usize,
    extra: &[&str],
) -> std::process::Child {
    Command::new(super::imgs_exe())
        .current_dir(dir)
        .args(["build", "--all", "--wave", &wave.to_string()])
        .args(["--shard", &format!("{shard}/{shards}")])
        .args(["--message-format", "json"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every wave in turn, its `runners.len()` shards at once (runner K builds shard K), each job on a
/// runner whose `cache/` was removed first (a new CI machine). Each job must succeed. Returns every
/// job's output, by wave then shard.
pub fn run_waves(runners: &[&Path], waves: usize, extra: &[&str]) -> Vec<Vec<Output>> {
    let shards = runners.len();
    (0..waves)
        .map(|wave| {
            let jobs: Vec<std::process::Child> = runners
                .iter()
                .enumerate()
                .map(|(k, dir)| {
                    let _ = std::fs::remove_dir_all(dir.join("cache"));
                    spawn_shard(dir, wave, k + 1, shards, extra)
                })
                .collect();
            jobs.into_iter()
                .enumerate()
                .map(|(k, job)| {
                    let out = job.wait_with_output().unwrap();
                    assert!(
                        out.status.success(),
                        "wave {wave}, shard {}/{shards}: {}\n{}",
                        k + 1,
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    out
                })
                .collect()
        })
        .collect()
}

/// How many instances imgs launched for each of `images` (a build launches one), and how many AMIs
/// it registered per fingerprint of each, as EC2 lists them.
pub fn builds_on_ec2(
    peers: &Peers,
    images: &[String],
) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut launches = BTreeMap::new();
    let mut amis_per_fingerprint = BTreeMap::new();
    for image in images {
        launches.insert(image.clone(), peers.launches_of(REGION, image).len());
        for (_, fingerprint) in peers.amis_of(REGION, image) {
            *amis_per_fingerprint
                .entry(format!("{image}@{fingerprint}"))
                .or_insert(0) += 1;
        }
    }
    (launches, amis_per_fingerprint)
}

/// The images a job's JSON events say it built.
pub fn built_by(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "built")
        .filter_map(|e| e["image"].as_str().map(str::to_string))
        .collect()
}
