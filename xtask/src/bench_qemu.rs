//! `cargo xtask bench --qemu`: the example chain base → hardened → app-web built under qemu (TCG) by
//! Packer 1.6.6's qemu builder and by `imgs build -i app-web`, in one run, from the same base disk:
//! the makespan of each, and the disk space each output takes (allocated bytes, as `du` counts them,
//! not the virtual size).
//!
//! Packer builds full copies: its `use_backing_file` fails on this machine's qemu-img ("Backing file
//! specified without backing format", as it leaves out `-F`), so its templates are run from a temporary
//! copy with `use_backing_file` off, each `-var source_disk=…` naming the previous build's output. imgs
//! builds a fresh copy of the example workspace, where every image is a qcow2 layer on its parent.
//!
//! It boots three guests twice (minutes), so plain `cargo xtask bench` leaves it out and keeps the
//! rows an earlier `--qemu` run wrote.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench_hashing::BenchResult;
use crate::repo_root;

/// The chain, parents first; each builds on the one before it.
const CHAIN: [&str; 3] = ["base", "hardened", "app-web"];
/// What the base image builds on, relative to the repository root.
const BASE_IMAGE_DIR: &str = "cache/base-image";
/// The first words of the row this writes, by which a later run without `--qemu` finds it.
const ROW_NAME: &str = "qemu chain base → hardened → app-web";

pub fn chain_vs_packer(imgs: &Path, work: &Path) -> Result<Vec<BenchResult>> {
    let base_image = repo_root().join(BASE_IMAGE_DIR);
    if !base_image.join("debian-bookworm.qcow2").is_file() {
        bail!(
            "`{BASE_IMAGE_DIR}/debian-bookworm.qcow2` is missing: run `cargo xtask base-image` first"
        );
    }
    std::fs::create_dir_all(work)?;
    // Both sides read the same base disk; read it once first so neither pays for a cold page cache.
    std::fs::read(base_image.join("debian-bookworm.qcow2"))?;

    let packer_dir = work.join("packer");
    let packer = packer_chain(&packer_dir, &base_image)?;
    let imgs_dir = work.join("imgs");
    let ours = imgs_chain(imgs, &imgs_dir, &base_image)?;

    let sizes = |outputs: &[PathBuf]| -> Result<String> {
        let sizes = outputs
            .iter()
            .map(|disk| Ok(format!("{:.1}", mib(allocated_bytes(disk)?))))
            .collect::<Result<Vec<_>>>()?;
        Ok(sizes.join(" + "))
    };
    let notes = format!(
        "TCG, one build at a time (each image needs its parent). Disk MiB allocated \
         (base + hardened + app-web): imgs {} (qcow2 layers), Packer {} (full copies: its \
         `use_backing_file` fails on this qemu-img, \"Backing file specified without backing \
         format\"). Goal: imgs ≤ Packer's time, each child ≈ its delta",
        sizes(&ours.outputs)?,
        sizes(&packer.outputs)?,
    );
    Ok(vec![BenchResult {
        name: format!("{ROW_NAME}, makespan (`imgs build -i app-web`)"),
        ours: ours.makespan,
        reference_name: "`packer build` × 3 (Packer 1.6.6 qemu)".into(),
        reference: packer.makespan,
        notes,
    }])
}

/// A built chain: how long it took from the first build's start to the last one's end, and each
/// image's disk, parents first.
struct Chain {
    makespan: Duration,
    outputs: Vec<PathBuf>,
}

/// The three templates run by Packer one after another from a copy with full-copy disks.
fn packer_chain(dir: &Path, base_image: &Path) -> Result<Chain> {
    let root = repo_root();
    copy_tree(&root.join("images"), &dir.join("images"))?;
    copy_tree(&root.join("scripts"), &dir.join("scripts"))?;
    link_base_image(dir, base_image)?;
    // Packer's `use_backing_file` fails on this qemu-img; each template is given full copies.
    let mut configurations = Vec::new();
    for name in CHAIN {
        let member = dir.join("images").join(name);
        let path = member.join("template.json");
        if path.is_file() {
            let mut template: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
                .with_context(|| format!("cannot read {}", path.display()))?;
            template["builders"][0]["use_backing_file"] = Value::Bool(false);
            std::fs::write(&path, serde_json::to_string_pretty(&template)?)?;
            configurations.push(format!("images/{name}/template.json"));
        } else {
            // An HCL2 member: Packer reads the directory.
            let path = member.join("template.pkr.hcl");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let patched: String = text
                .lines()
                .map(|line| match line.split_once('=') {
                    Some((key, _)) if key.trim() == "use_backing_file" => {
                        format!("{key}= false\n")
                    }
                    _ => format!("{line}\n"),
                })
                .collect();
            std::fs::write(&path, patched)?;
            configurations.push(format!("images/{name}"));
        }
    }
    // The values the example's Images.toml gives these templates.
    let workspace_vars = ["ssh_username=imgs", "memory=1024"];
    let image_vars = |name: &str| -> Vec<&str> {
        match name {
            "app-web" => vec!["site_title=Hello from imgs"],
            _ => Vec::new(),
        }
    };
    let mut outputs: Vec<PathBuf> = Vec::new();
    let start = Instant::now();
    for (name, configuration) in CHAIN.iter().zip(&configurations) {
        let mut cmd = Command::new("packer");
        cmd.current_dir(dir)
            .env("CHECKPOINT_DISABLE", "1")
            .arg("build");
        for var in workspace_vars.iter().chain(&image_vars(name)) {
            cmd.args(["-var", var]);
        }
        if let Some(parent) = outputs.last() {
            cmd.arg("-var")
                .arg(format!("source_disk={}", parent.display()));
        }
        cmd.arg(configuration);
        quiet(&mut cmd, &dir.join(format!("packer-{name}.log")))?;
        let disk = dir.join(format!("cache/artifacts/{name}/{name}.qcow2"));
        if !disk.is_file() {
            bail!("packer built {name} but {} is missing", disk.display());
        }
        outputs.push(disk);
    }
    Ok(Chain {
        makespan: start.elapsed(),
        outputs,
    })
}

/// `imgs build -i app-web` on a fresh copy of the example workspace.
fn imgs_chain(imgs: &Path, dir: &Path, base_image: &Path) -> Result<Chain> {
    let root = repo_root();
    std::fs::create_dir_all(dir)?;
    std::fs::copy(root.join("Images.toml"), dir.join("Images.toml"))?;
    copy_tree(&root.join("images"), &dir.join("images"))?;
    copy_tree(&root.join("scripts"), &dir.join("scripts"))?;
    link_base_image(dir, base_image)?;
    let start = Instant::now();
    quiet(
        Command::new(imgs)
            .current_dir(dir)
            .args(["build", "-i", "app-web"]),
        &dir.join("imgs-build.log"),
    )?;
    let makespan = start.elapsed();
    // Each image's disk is in its version directory, which `current` links to.
    let outputs = CHAIN
        .iter()
        .map(|name| dir.join(format!("cache/artifacts/{name}/current/{name}.qcow2")))
        .collect::<Vec<_>>();
    if let Some(missing) = outputs.iter().find(|disk| !disk.is_file()) {
        bail!("imgs built the chain but {} is missing", missing.display());
    }
    Ok(Chain { makespan, outputs })
}

/// Copies a directory tree of plain files, keeping their modes (scripts stay executable).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The templates find the base disk, kernel and key under `cache/base-image/` of their workspace.
fn link_base_image(dir: &Path, base_image: &Path) -> Result<()> {
    std::fs::create_dir_all(dir.join("cache"))?;
    std::os::unix::fs::symlink(base_image, dir.join(BASE_IMAGE_DIR))
        .with_context(|| format!("cannot link {BASE_IMAGE_DIR} into {}", dir.display()))
}

/// Runs `cmd` with its output in `log`, which is shown when it fails.
fn quiet(cmd: &mut Command, log: &Path) -> Result<()> {
    let out = std::fs::File::create(log)?;
    let status = cmd
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        bail!(
            "{:?} failed with {status}; last lines of its output:\n{}",
            cmd.get_program(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

/// The space a file takes on disk, as `du` counts it: allocated blocks, so holes in a sparse
/// disk do not count.
fn allocated_bytes(path: &Path) -> Result<u64> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    Ok(meta.blocks() * 512)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// For a run without `--qemu`: `report` with the qemu rows of the previous BENCHMARKS.md appended
/// to its table, marked as from an earlier run, so the last measured figures are not lost.
pub fn keep_earlier_rows(report: String, previous: &str) -> String {
    let earlier: Vec<String> = previous
        .lines()
        .filter(|line| line.starts_with(&format!("| {ROW_NAME}")))
        .map(|line| {
            if line.contains("(earlier run)") {
                line.to_string()
            } else {
                line.replacen(ROW_NAME, &format!("{ROW_NAME} (earlier run)"), 1)
            }
        })
        .collect();
    if earlier.is_empty() {
        return report;
    }
    let mut report = report;
    if !report.ends_with('\n') {
        report.push('\n');
    }
    for line in earlier {
        report.push_str(&line);
        report.push('\n');
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "| benchmark | imgs |\n|---|---|\n| hash | 1 ms |\n";

    #[test]
    fn a_run_without_qemu_keeps_the_rows_of_an_earlier_one_marked_as_such() {
        let previous = format!("{TABLE}| {ROW_NAME}, makespan | 90 s |\n");
        let report = keep_earlier_rows(TABLE.to_string(), &previous);
        assert_eq!(
            report,
            format!("{TABLE}| {ROW_NAME} (earlier run), makespan | 90 s |\n")
        );
        // Kept again by the next run, not marked twice.
        assert_eq!(keep_earlier_rows(TABLE.to_string(), &report), report);
        assert_eq!(keep_earlier_rows(TABLE.to_string(), TABLE), TABLE);
    }
}
