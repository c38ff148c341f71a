//! Memory with many builds at once: 100 images, each a `null` build without a communicator whose
//! `shell-local` post-processor sleeps 2 s, built by `imgs build --all -j 100` and by 100 `packer build`
//! processes started together.
//!
//! imgs's figure is the peak resident set of the imgs process (VmHWM, read from /proc until it exits).
//! Both tools are also measured the same way as whole process trees: the highest sum of proportional set
//! sizes (Pss, so shared pages count once) over every process of the tree, sampled every 100 ms.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench_hashing::BenchResult;

const IMAGES: usize = 100;
const SLEEP_SECONDS: u64 = 2;
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

pub fn peak_rss_100(imgs: &Path, work: &Path) -> Result<BenchResult> {
    write_workspace(work)?;
    let log = work.join("imgs.log");
    let mut cmd = Command::new(imgs);
    cmd.current_dir(work)
        .args(["build", "--all", "-j", &IMAGES.to_string()]);
    let start = Instant::now();
    let child = spawn_logged(&mut cmd, &log)?;
    let ours = watch(vec![child], &[log])?;
    let ours_time = start.elapsed();

    let start = Instant::now();
    let mut children = Vec::new();
    let mut logs = Vec::new();
    for i in 0..IMAGES {
        let log = work.join(format!("packer-{i:03}.log"));
        let mut cmd = Command::new("packer");
        cmd.current_dir(work)
            .env("CHECKPOINT_DISABLE", "1")
            .arg("build")
            .arg(format!("images/{}/template.json", image_name(i)));
        children.push(spawn_logged(&mut cmd, &log)?);
        logs.push(log);
    }
    let packer = watch(children, &logs)?;
    let packer_time = start.elapsed();

    let mb = |kib: u64| kib as f64 / 1024.0;
    Ok(BenchResult {
        name: format!(
            "{IMAGES} images building at once (`imgs build --all -j {IMAGES}`; `null` builds, a \
             `shell-local` post-processor sleeping {SLEEP_SECONDS} s), makespan and memory"
        ),
        ours: ours_time,
        reference_name: format!("{IMAGES} × `packer build` started together (Packer 1.6.6)"),
        reference: packer_time,
        notes: format!(
            "peak RSS of the imgs process (VmHWM): {:.1} MB (goal ≤ 150 MB); peak total Pss of the \
             whole process tree, sampled every {} ms: imgs {:.1} MB (with its shells), Packer {:.1} MB \
             ({} processes at most)",
            mb(ours.own_peak_kib),
            SAMPLE_EVERY.as_millis(),
            mb(ours.tree_peak_pss_kib),
            mb(packer.tree_peak_pss_kib),
            packer.most_processes,
        ),
    })
}

fn image_name(i: usize) -> String {
    format!("n{i:03}")
}

fn write_workspace(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("Images.toml"),
        "[workspace]\nmembers = [\"images/*\"]\n",
    )?;
    for i in 0..IMAGES {
        let image_dir = dir.join("images").join(image_name(i));
        std::fs::create_dir_all(&image_dir)?;
        let template = serde_json::json!({
            "builders": [{ "type": "null", "communicator": "none" }],
            "post-processors": [{ "type": "shell-local", "inline": [format!("sleep {SLEEP_SECONDS}")] }],
        });
        std::fs::write(
            image_dir.join("template.json"),
            serde_json::to_string_pretty(&template)?,
        )?;
    }
    Ok(())
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Result<Child> {
    let out = File::create(log)?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))
}

#[derive(Default)]
struct Memory {
    /// The highest VmHWM of the first process watched.
    own_peak_kib: u64,
    /// The highest sum of Pss over the watched processes and all their descendants.
    tree_peak_pss_kib: u64,
    most_processes: usize,
}

/// Samples the processes' memory until all have exited; fails naming the log of one that failed.
fn watch(mut children: Vec<Child>, logs: &[std::path::PathBuf]) -> Result<Memory> {
    let roots: Vec<u32> = children.iter().map(Child::id).collect();
    let mut memory = Memory::default();
    let mut statuses = vec![None; children.len()];
    loop {
        // Sampled before reaping, so a process is still readable on its last sample.
        if let Some(hwm) = status_kib(roots[0], "VmHWM:") {
            memory.own_peak_kib = memory.own_peak_kib.max(hwm);
        }
        let tree = descendants(&roots);
        let pss: u64 = tree.iter().filter_map(|&pid| pss_kib(pid)).sum();
        memory.tree_peak_pss_kib = memory.tree_peak_pss_kib.max(pss);
        memory.most_processes = memory.most_processes.max(tree.len());
        for (child, status) in children.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                *status = child.try_wait()?;
            }
        }
        if statuses.iter().all(Option::is_some) {
            break;
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
    for (status, log) in statuses.into_iter().zip(logs) {
        let status = status.expect("every child exited");
        if !status.success() {
            bail!(
                "a build failed with {status}; its output is in {}",
                log.display()
            );
        }
    }
    Ok(memory)
}

/// `roots` and every process descended from them, from the parent links in /proc.
fn descendants(roots: &[u32]) -> Vec<u32> {
    let mut children_of: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
            if let Some(parent) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parent_pid(&stat))
            {
                children_of.entry(parent).or_default().push(pid);
            }
        }
    }
    let mut tree: Vec<u32> = roots.to_vec();
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = children_of.get(&tree[i]) {
            tree.extend(kids);
        }
        i += 1;
    }
    tree
}

/// The fourth field of /proc/PID/stat, counted from the last `)` since the name may hold spaces.
fn parent_pid(stat: &str) -> Option<u32> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    kib_field(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        key,
    )
}

fn pss_kib(pid: u32) -> Option<u64> {
    kib_field(
        &std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?,
        "Pss:",
    )
}

/// The number of a `Key:   1234 kB` line.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kib_fields_are_read_by_their_key() {
        let status =
            "Name:\timgs\nVmPeak:\t  200000 kB\nVmHWM:\t   41236 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(kib_field(status, "VmHWM:"), Some(41236));
        let rollup = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  900 kB\nPss:  512 kB\nPss_Anon: 100 kB\n";
        assert_eq!(kib_field(rollup, "Pss:"), Some(512));
        assert_eq!(kib_field(status, "Pss:"), None);
    }

    #[test]
    fn parent_pid_counts_from_the_last_parenthesis() {
        assert_eq!(parent_pid("12 (a (b) c) S 7 12 12"), Some(7));
    }
}
