//! Layered amazon-ebs benchmark: the makespan of a 13-image workspace (one root, 3 children, 9
//! grandchildren; every provisioner sleeps 1 s) built by `imgs build --all`, against two ways of gluing
//! Packer 1.6.6 together — one `packer build` per image, one after another, and one `packer build` per
//! image with each level's images in parallel — and against the critical path.
//!
//! Everything builds against one moto and one loopback sshd (the peers of the single-image amazon-ebs
//! benchmark). A child gets its parent's AMI in its `parent_ami` variable: from Images.toml's `parents`
//! for imgs, and for Packer from the parent's `-machine-readable` artifact line, passed with `-var`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::bench_aws::{EbsPeers, median, packer_command, quiet};
use crate::bench_hashing::BenchResult;

/// Seconds each image's provisioner sleeps: the work a level adds to the critical path.
const STEP_SECONDS: u64 = 1;
const FAN_OUT: usize = 3;
const LEVELS: usize = 3;
/// Timed `imgs build --all` runs; the makespan is their median.
const IMGS_RUNS: usize = 3;
/// Timed single-image builds for imgs's per-image overhead.
const OVERHEAD_RUNS: usize = 3;

/// One image of the workspace: its name and its parent's index in the image list.
struct Image {
    name: String,
    parent: Option<usize>,
}

/// The images level by level: `root`; `m0`..`m2` on it; `m0-l0`.. on those.
fn layered_images() -> Vec<Vec<Image>> {
    let mut levels: Vec<Vec<Image>> = vec![vec![Image {
        name: "root".into(),
        parent: None,
    }]];
    for level in 1..LEVELS {
        let above = &levels[level - 1];
        let mut this = Vec::new();
        for (p, parent) in above.iter().enumerate() {
            for child in 0..FAN_OUT {
                let name = if level == 1 {
                    format!("m{child}")
                } else {
                    format!("{}-l{child}", parent.name)
                };
                this.push(Image {
                    name,
                    parent: Some(p),
                });
            }
        }
        levels.push(this);
    }
    levels
}

/// A template both tools take: it starts from moto's public EBS AMI, records its parent's AMI (the
/// `parent_ami` variable, declared without a default in children as a parent variable must be) in a
/// tag, runs `step` over SSH, and names its AMI after the image and the `run` variable so no two
/// builds collide.
///
/// Children do not launch from their parent's AMI because moto registers the AMIs it creates with
/// root device type `standard`, which Packer 1.6.6 refuses as a source ("invalid root device type");
/// tagging keeps the parent's AMI an input that the child must wait for, and both tools make the same
/// EC2 calls.
pub(crate) fn template(
    peers: &EbsPeers,
    name: &str,
    is_root: bool,
    step: &str,
) -> serde_json::Value {
    let parent_ami = if is_root {
        serde_json::Value::String(String::new())
    } else {
        serde_json::Value::Null
    };
    let mut builder = peers.builder(
        &peers.source_ami,
        &format!("bench-{name}-{{{{user `run`}}}}"),
    );
    builder["tags"] = serde_json::json!({ "Parent": "{{user `parent_ami`}}" });
    serde_json::json!({
        "variables": { "parent_ami": parent_ami, "run": "" },
        "builders": [builder],
        "provisioners": [{ "type": "shell", "inline": [step] }],
    })
}

fn write_workspace(peers: &EbsPeers, dir: &Path, levels: &[Vec<Image>]) -> Result<()> {
    let mut manifest = String::from("[workspace]\nmembers = [\"images/*\"]\n");
    for (level, images) in levels.iter().enumerate() {
        for image in images {
            let image_dir = dir.join("images").join(&image.name);
            std::fs::create_dir_all(&image_dir)?;
            let step = format!("sleep {STEP_SECONDS}");
            std::fs::write(
                image_dir.join("template.json"),
                serde_json::to_string_pretty(&template(peers, &image.name, level == 0, &step))?,
            )?;
            if let Some(parent) = image.parent {
                let parent = &levels[level - 1][parent].name;
                writeln!(
                    manifest,
                    "\n[images.{}]\nparents = {{ parent_ami = \"{parent}\" }}",
                    image.name
                )?;
            }
        }
    }
    std::fs::write(dir.join("Images.toml"), manifest)?;
    Ok(())
}

/// The makespan rows: imgs against each Packer glue, with the critical-path figure in the notes.
pub fn layered_vs_packer(imgs: &Path, work: &Path) -> Result<Vec<BenchResult>> {
    let peers = EbsPeers::start(work)?;
    let levels = layered_images();
    let ws = work.join("ws");
    write_workspace(&peers, &ws, &levels)?;
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs)?;

    // imgs's per-image overhead in this run: one image, a shell step that does nothing.
    let single = work.join("single.json");
    std::fs::write(
        &single,
        serde_json::to_string_pretty(&template(&peers, "single", true, "true"))?,
    )?;
    let overhead = median(
        (0..OVERHEAD_RUNS)
            .map(|run| {
                let mut cmd = Command::new(imgs);
                cmd.current_dir(work)
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .args(["build", "--var", &format!("run=overhead-{run}")])
                    .arg(&single);
                timed(|| quiet(&mut cmd, &logs.join(format!("imgs-single-{run}.log"))))
            })
            .collect::<Result<Vec<_>>>()?,
    );

    let ours = median(
        (0..IMGS_RUNS)
            .map(|run| {
                let mut cmd = Command::new(imgs);
                cmd.current_dir(&ws)
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .args([
                        "build",
                        "--all",
                        "--force",
                        "--var",
                        &format!("run=imgs-{run}"),
                    ]);
                timed(|| quiet(&mut cmd, &logs.join(format!("imgs-all-{run}.log"))))
            })
            .collect::<Result<Vec<_>>>()?,
    );
    let sequential = timed(|| packer_glue(&ws, &levels, &logs, Glue::Sequential))?;
    let per_level = timed(|| packer_glue(&ws, &levels, &logs, Glue::PerLevel))?;

    let critical_path = (Duration::from_secs(STEP_SECONDS) + overhead) * LEVELS as u32;
    let of_critical = ours.as_secs_f64() / critical_path.as_secs_f64();
    let images: usize = levels.iter().map(Vec::len).sum();
    let name = format!(
        "{images}-image layered amazon-ebs workspace ({LEVELS} levels, fan-out {FAN_OUT}, each \
         provisioner sleeps {STEP_SECONDS} s), makespan of `imgs build --all` (median of {IMGS_RUNS})"
    );
    let critical_note = format!(
        "critical path with each level's own overhead: {LEVELS} × ({STEP_SECONDS} s + imgs's \
         per-image overhead {:.2} s, median of {OVERHEAD_RUNS} single-image builds) = {:.2} s; imgs \
         takes {of_critical:.2}× it (goal ≤ 1.15×)",
        overhead.as_secs_f64(),
        critical_path.as_secs_f64()
    );
    Ok(vec![
        BenchResult {
            name: name.clone(),
            ours,
            reference_name: "`packer build` per image, one after another (Packer 1.6.6, 1 run)"
                .into(),
            reference: sequential,
            notes: format!(
                "moto + one loopback sshd; a child's `parent_ami` from its parent's \
                 `-machine-readable` artifact line (children start from moto's public AMI and tag \
                 their parent's: Packer refuses moto's own AMIs as a source); {critical_note}"
            ),
        },
        BenchResult {
            name,
            ours,
            reference_name:
                "`packer build` per image, each level's images in parallel (Packer 1.6.6, 1 run)"
                    .into(),
            reference: per_level,
            notes: format!(
                "the best Packer glue: a level starts when the previous one has finished; goal: \
                 ratio ≥ 2×; {critical_note}"
            ),
        },
    ])
}

fn timed(work: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    work()?;
    Ok(start.elapsed())
}

#[derive(Clone, Copy, PartialEq)]
enum Glue {
    Sequential,
    PerLevel,
}

/// Builds every image with Packer, level by level, each child from its parent's AMI.
fn packer_glue(ws: &Path, levels: &[Vec<Image>], logs: &Path, glue: Glue) -> Result<()> {
    let run = match glue {
        Glue::Sequential => "sequential",
        Glue::PerLevel => "per-level",
    };
    let mut amis_above: Vec<String> = Vec::new();
    for images in levels {
        let commands: Vec<(Command, PathBuf)> = images
            .iter()
            .map(|image| {
                let mut cmd = packer_command(ws);
                cmd.args(["-machine-readable", "-var", &format!("run={run}")]);
                if let Some(parent) = image.parent {
                    cmd.arg("-var")
                        .arg(format!("parent_ami={}", amis_above[parent]));
                }
                cmd.arg(format!("images/{}/template.json", image.name));
                (cmd, logs.join(format!("packer-{run}-{}.log", image.name)))
            })
            .collect();
        match glue {
            Glue::Sequential => {
                for (mut cmd, log) in commands {
                    quiet(&mut cmd, &log)?;
                }
            }
            Glue::PerLevel => {
                let mut running = Vec::new();
                for (mut cmd, log) in commands {
                    let out = std::fs::File::create(&log)?;
                    let child = cmd
                        .stdin(Stdio::null())
                        .stdout(out.try_clone()?)
                        .stderr(out)
                        .spawn()
                        .context("cannot start packer")?;
                    running.push((child, log));
                }
                // Every child is waited for before a failure is reported, so none is left running.
                let statuses: Vec<_> = running
                    .into_iter()
                    .map(|(mut child, log)| (child.wait(), log))
                    .collect();
                for (status, log) in statuses {
                    let status = status?;
                    if !status.success() {
                        bail!(
                            "packer failed with {status}; its output is in {}",
                            log.display()
                        );
                    }
                }
            }
        }
        amis_above = images
            .iter()
            .map(|image| {
                let log = logs.join(format!("packer-{run}-{}.log", image.name));
                built_ami(&std::fs::read_to_string(&log)?)
                    .ok_or_else(|| anyhow!("no AMI in Packer's output, {}", log.display()))
            })
            .collect::<Result<_>>()?;
    }
    Ok(())
}

/// The AMI ID of the first artifact in `packer build -machine-readable` output, whose artifact lines
/// read `TIME,BUILD,artifact,0,id,REGION:AMI`.
fn built_ami(machine_readable: &str) -> Option<String> {
    machine_readable.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(',').collect();
        match fields.as_slice() {
            [_, _, "artifact", "0", "id", id, ..] => {
                Some(id.rsplit(':').next().unwrap_or(id).to_string())
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_has_one_root_three_children_and_nine_grandchildren() {
        let levels = layered_images();
        let sizes: Vec<usize> = levels.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 3, 9]);
        let grandchild = &levels[2][4];
        assert_eq!(grandchild.name, "m1-l1");
        assert_eq!(levels[1][grandchild.parent.unwrap()].name, "m1");
    }

    #[test]
    fn the_ami_comes_from_the_artifact_id_line() {
        let output = "1795651124,,ui,say,==> root: Creating AMI\n\
                      1795651124,root,artifact-count,1\n\
                      1795651124,root,artifact,0,builder-id,mitchellh.amazonebs\n\
                      1795651124,root,artifact,0,id,us-east-1:ami-0123abcd\n";
        assert_eq!(built_ami(output).as_deref(), Some("ami-0123abcd"));
        assert_eq!(built_ami("1795651124,,ui,say,nothing built\n"), None);
    }

    /// Runs just this benchmark: `cargo test --workspace --bin xtask layered_benchmark -- --ignored --nocapture`.
    #[test]
    #[ignore = "about forty amazon-ebs builds; run by `cargo xtask bench`"]
    fn layered_benchmark() {
        let imgs = crate::build_imgs(true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for row in layered_vs_packer(&imgs, dir.path()).unwrap() {
            println!(
                "{}: imgs {:?}, {} {:?}; {}",
                row.name, row.ours, row.reference_name, row.reference, row.notes
            );
        }
    }
}
