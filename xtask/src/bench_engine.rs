//! The packer engine's cost: one workspace of 10 members (a root, 3 children, 6 grandchildren), each
//! a `file` builder that writes its parent's artifact and a `shell-local` provisioner sleeping 1 s
//! (critical path 3 s), built by imgs natively and with `engine = "packer"` on every member, in the
//! same run. The makespan of a cold `imgs build --all`, the mean build time per image (from the
//! `built` events), and a no-op rebuild for each.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::bench_hashing::BenchResult;

const STEP_SECONDS: u64 = 1;

/// The members: `(name, parent)`.
fn members() -> Vec<(String, Option<String>)> {
    let mut out = vec![("root".to_string(), None)];
    for c in 0..3 {
        out.push((format!("child{c}"), Some("root".to_string())));
        for g in 0..2 {
            out.push((format!("leaf{c}{g}"), Some(format!("child{c}"))));
        }
    }
    out
}

fn write_workspace(dir: &Path, engine: &str) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    let mut manifest = String::from("[workspace]\nmembers = [\"images/*\"]\n");
    for (name, parent) in members() {
        let image_dir = dir.join("images").join(&name);
        std::fs::create_dir_all(&image_dir)?;
        manifest.push_str(&format!("\n[images.{name}]\nengine = \"{engine}\"\n"));
        if let Some(parent) = &parent {
            manifest.push_str(&format!("parents = {{ parent = \"{parent}\" }}\n"));
        }
        let parent_default = if parent.is_some() {
            serde_json::Value::Null
        } else {
            "".into()
        };
        let template = serde_json::json!({
            "variables": { "parent": parent_default },
            "builders": [{ "type": "file", "content": "on {{user `parent`}}\n",
                           "target": format!("cache/artifacts/{name}/{name}.txt") }],
            "provisioners": [{ "type": "shell-local", "inline": [format!("sleep {STEP_SECONDS}")] }],
        });
        std::fs::write(
            image_dir.join("template.json"),
            serde_json::to_string_pretty(&template)?,
        )?;
    }
    std::fs::write(dir.join("Images.toml"), manifest)?;
    Ok(())
}

/// A cold build of the whole workspace: its makespan and the mean of the images' own build times.
fn cold_build(imgs: &Path, dir: &Path) -> Result<(Duration, f64)> {
    let start = Instant::now();
    let mut cmd = Command::new(imgs);
    cmd.current_dir(dir)
        .args(["build", "--all", "--message-format", "json"])
        .stdin(Stdio::null());
    let output = cmd.output()?;
    crate::cmd::check_output(&cmd, &output)?;
    let makespan = start.elapsed();
    let seconds: Vec<f64> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "built")
        .filter_map(|event| event["seconds"].as_f64())
        .collect();
    anyhow::ensure!(
        seconds.len() == members().len(),
        "expected {} built events, got {}",
        members().len(),
        seconds.len()
    );
    Ok((makespan, seconds.iter().sum::<f64>() / seconds.len() as f64))
}

fn no_op(imgs: &Path, dir: &Path) -> Result<Duration> {
    let runs: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut cmd = Command::new(imgs);
            cmd.current_dir(dir)
                .args(["build", "--all"])
                .stdin(Stdio::null());
            let output = cmd.output()?;
            crate::cmd::check_output(&cmd, &output)?;
            Ok(start.elapsed())
        })
        .collect::<Result<_>>()?;
    let mut runs = runs;
    runs.sort();
    Ok(runs[runs.len() / 2])
}

pub fn native_vs_packer_engine(imgs: &Path, work: &Path) -> Result<Vec<BenchResult>> {
    let native_dir = work.join("native");
    let packer_dir = work.join("packer");
    write_workspace(&native_dir, "native")?;
    write_workspace(&packer_dir, "packer")?;
    let (native, native_mean) = cold_build(imgs, &native_dir).context("native build")?;
    let (packer, packer_mean) = cold_build(imgs, &packer_dir).context("packer-engine build")?;
    let native_idle = no_op(imgs, &native_dir)?;
    let packer_idle = no_op(imgs, &packer_dir)?;
    let sleep = STEP_SECONDS as f64;
    Ok(vec![
        BenchResult {
            name: format!(
                "10-member workspace (root → 3 → 6; `file` builder + `shell-local` sleeping {STEP_SECONDS} s, \
                 critical path 3 s), cold `imgs build --all`, native engine"
            ),
            ours: native,
            reference_name: "the same with `engine = \"packer\"` on every member (Packer 1.6.6)"
                .into(),
            reference: packer,
            notes: format!(
                "mean build time per image: native {native_mean:.2} s, packer engine {packer_mean:.2} s \
                 ({sleep:.0} s of each is the sleep): Packer adds {:.2} s per image",
                packer_mean - native_mean
            ),
        },
        BenchResult {
            name: "the same 10 members, no-op `imgs build --all` (median of 5), native engine"
                .into(),
            ours: native_idle,
            reference_name: "the same, packer engine".into(),
            reference: packer_idle,
            notes: "every image fresh: no engine runs, so both are the plan alone".into(),
        },
    ])
}
