//! CI fan-out, simulated: three runners — three `imgs` processes, each in its own checkout with its
//! own `cache/` — build the 13-image layered workspace wave by wave through the shard plan
//! (`imgs build --shard K/3 --wave W`, the three shards of a wave at once), sharing only the EC2
//! server and the S3 remote cache (both moto). Every image has an amazon-ebs build and a `file`
//! build: EC2's tags cannot stand for such an image alone, so a runner finds an earlier wave's
//! images only through the remote cache, whose records name the AMIs (checked on EC2) and the
//! files (fetched). Nothing passes between runners but what imgs puts in EC2 and S3.
//!
//! Checked on the servers: one instance launched and one AMI registered per image, every image
//! built by exactly one runner, and no runner building a parent of its images.

use std::collections::BTreeMap;
use std::path::Path;

use crate::layered_ebs::{all_images, layered_workspace, parent_of};
use crate::remote_cache::{S3Peer, imgs_command};
use crate::support::chaos;
use crate::support::ebs::{Peers, REGION};
use crate::support::*;

const KEY_PAIR: &str = "imgs-three-runners-key";
const RUNNERS: usize = 3;

/// The layered workspace with a `file` build beside each amazon-ebs one (the shell provisioner only
/// on the machine) and the remote cache on `s3`.
fn fan_out_workspace(peers: &Peers, s3: &S3Peer, remote: &Path) -> tempfile::TempDir {
    let dir = layered_workspace(peers, remote, false);
    let root = dir.path();
    for image in all_images() {
        let path = root.join(format!("images/{image}/template.json"));
        let mut template: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        template["builders"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "type": "file",
                "content": format!("{image} layer\n"),
                "target": format!("out/{image}.txt"),
            }));
        template["provisioners"][0]["only"] = serde_json::json!(["amazon-ebs"]);
        write_template(root, &image, &template);
    }
    append(root, "Images.toml", &s3.cache_table());
    dir
}

fn checkout(from: &Path, n: usize) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("imgs-runner{n}-"))
        .tempdir()
        .unwrap();
    std::fs::copy(from.join("Images.toml"), dir.path().join("Images.toml")).unwrap();
    copy_dir(&from.join("images"), &dir.path().join("images"));
    dir
}

/// What one runner did in one wave, from its JSON events.
#[derive(Debug, Default)]
struct RunnerWave {
    built: Vec<String>,
    fetched: Vec<String>,
    /// Its output, for the messages of failed checks.
    log: String,
}

fn run_wave(runners: &[tempfile::TempDir], wave: usize) -> Vec<RunnerWave> {
    let wave_arg = wave.to_string();
    let children: Vec<_> = runners
        .iter()
        .enumerate()
        .map(|(i, runner)| {
            let shard = format!("{}/{RUNNERS}", i + 1);
            imgs_command(
                runner.path(),
                &[
                    "build",
                    "--shard",
                    &shard,
                    "--wave",
                    &wave_arg,
                    "--message-format",
                    "json",
                ],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    children
        .into_iter()
        .enumerate()
        .map(|(i, child)| {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "runner {} wave {wave} failed:\n{stdout}{}",
                i + 1,
                String::from_utf8_lossy(&out.stderr)
            );
            let mut done = RunnerWave {
                log: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
                ..RunnerWave::default()
            };
            for event in crate::layered_ebs::events(&stdout) {
                let image = event["image"].as_str().unwrap_or_default().to_string();
                match event["event"].as_str() {
                    Some("built") => done.built.push(image),
                    Some("fresh") if event["from_remote"] == true => done.fetched.push(image),
                    _ => {}
                }
            }
            done
        })
        .collect()
}

/// What one simulated fan-out did.
struct Figures {
    builds: usize,
    amis: usize,
    run_instances: usize,
    builds_per_runner: Vec<usize>,
    parents_fetched: usize,
    files_checked: usize,
    remote_records: usize,
}

#[test]
fn three_runners_build_every_image_once_through_the_shard_plan() {
    let runs = chaos::runs(1, 5);
    let mut all = Vec::new();
    for _ in 0..runs {
        all.push(fan_out());
    }
    let sum = |f: fn(&Figures) -> usize| all.iter().map(f).sum::<usize>();
    chaos::report(
        "three_runners",
        serde_json::json!({
            "runs": runs,
            "runners": RUNNERS,
            "waves": 3,
            "images_per_run": all_images().len(),
            "builds": sum(|f| f.builds),
            "images_built_twice": 0,
            "amis": sum(|f| f.amis),
            "run_instances": sum(|f| f.run_instances),
            "builds_per_runner_first_run": all[0].builds_per_runner,
            "parents_fetched_from_remote": sum(|f| f.parents_fetched),
            "fetched_files_checked_byte_identical": sum(|f| f.files_checked),
            "remote_records": sum(|f| f.remote_records),
        }),
    );
}

/// One fan-out on servers of its own; every check asserted.
fn fan_out() -> Figures {
    let peers = Peers::start(KEY_PAIR);
    let s3 = S3Peer::on(&peers.moto.endpoint());
    let remote = tempfile::tempdir().unwrap();
    let origin = fan_out_workspace(&peers, &s3, remote.path());
    let runners: Vec<_> = (1..=RUNNERS).map(|n| checkout(origin.path(), n)).collect();

    let mut built_by: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    let mut fetched = 0;
    let waves = 3;
    for wave in 0..waves {
        for (runner, done) in run_wave(&runners, wave).into_iter().enumerate() {
            for image in &done.built {
                built_by
                    .entry(image.clone())
                    .or_default()
                    .push((runner + 1, wave));
                // Built on a parent found, never built here: the parent is of an earlier wave.
                if let Some(parent) = parent_of(image) {
                    assert!(
                        !done.built.contains(&parent),
                        "runner {} built `{parent}`, a parent of its `{image}`",
                        runner + 1
                    );
                    let built_here_before = built_by.get(&parent).is_some_and(|runs| {
                        runs.iter().any(|(r, w)| *r == runner + 1 && *w < wave)
                    });
                    assert!(
                        done.fetched.contains(&parent) || built_here_before,
                        "runner {} found `{parent}` neither in its cache nor in the remote cache:\n{}",
                        runner + 1,
                        done.log
                    );
                }
            }
            fetched += done.fetched.len();
        }
    }

    let images = all_images();
    let fingerprints = fingerprints(origin.path());
    let mut amis = 0;
    let mut launches = 0;
    for image in &images {
        let runs = &built_by[image];
        assert_eq!(runs.len(), 1, "`{image}` built by {runs:?}");
        let tagged = peers.amis_of(REGION, image);
        assert_eq!(tagged.len(), 1, "`{image}`: {tagged:?}");
        assert_eq!(
            tagged[0].1, fingerprints[image],
            "`{image}`'s AMI is of its fingerprint"
        );
        let launched = peers.launches_of(REGION, image);
        assert_eq!(launched.len(), 1, "`{image}`: {launched:?}");
        amis += tagged.len();
        launches += launched.len();
    }
    // Each runner's waves: the shards of a wave are dealt round robin, so all three worked.
    let per_runner: Vec<usize> = (1..=RUNNERS)
        .map(|r| built_by.values().filter(|runs| runs[0].0 == r).count())
        .collect();
    assert!(per_runner.iter().all(|n| *n > 0), "{per_runner:?}");
    let records = s3.keys().iter().filter(|k| k.contains("/records/")).count();
    assert_eq!(records, images.len());

    // What a runner has of another's image came through S3, byte for byte.
    let mut files_checked = 0;
    for runner in &runners {
        for image in &images {
            let path = runner.path().join(format!("out/{image}.txt"));
            if path.exists() {
                assert_eq!(
                    std::fs::read_to_string(&path).unwrap(),
                    format!("{image} layer\n")
                );
                files_checked += 1;
            }
        }
    }

    // A fourth machine with a fresh checkout: everything is fresh, nothing is built.
    let late = checkout(origin.path(), 4);
    let out = imgs_command(late.path(), &["plan", "--message-format", "json"])
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["summary"]["build"], 0, "{plan}");

    Figures {
        builds: built_by.values().map(Vec::len).sum(),
        amis,
        run_instances: launches,
        builds_per_runner: per_runner,
        parents_fetched: fetched,
        files_checked,
        remote_records: records,
    }
}
