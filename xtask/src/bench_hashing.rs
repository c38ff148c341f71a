//! Hashing benchmark: imgs' `FileHasher` against `b3sum` on 1 GiB of provisioner-like files.
//!
//! Both hash the same files with the page cache warm (one untimed warm-up each), best of three. imgs
//! starts with an empty stat cache every time, so it reads and hashes everything as on a first run.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use imgs_fingerprint::FileHasher;

/// One line of the benchmark table: imgs against a reference tool on the same work.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub name: String,
    pub ours: Duration,
    pub reference_name: String,
    pub reference: Duration,
    pub notes: String,
}

const MIB: u64 = 1024 * 1024;
const TOTAL_BYTES: u64 = 1024 * MIB;
const FILE_COUNT: usize = 64;
const RUNS: usize = 3;

/// Generates the files under `work_dir` (reused when already there), then times both hashers.
pub fn hashing_vs_b3sum(work_dir: &Path) -> Result<BenchResult> {
    let files = generate_files(&work_dir.join("files"))?;

    let ours = best_of(RUNS, || {
        // A directory that never gets a stat cache: every run hashes from scratch.
        let hasher = FileHasher::open(&work_dir.join("no-stat-cache"));
        let hashed = hasher.hash_paths(&files)?;
        if hashed.len() != files.len() || hasher.stats().files_read != files.len() as u64 {
            bail!(
                "imgs hashed {} of {} files",
                hasher.stats().files_read,
                files.len()
            );
        }
        Ok(())
    })?;
    let reference = best_of(RUNS, || run_b3sum(&files))?;
    let no_op = warm_stat_cache_run(work_dir, &files)?;

    let gib_per_s =
        |d: Duration| TOTAL_BYTES as f64 / (1024.0 * MIB as f64) / d.as_secs_f64().max(1e-9);
    let ratio = reference.as_secs_f64() / ours.as_secs_f64().max(1e-9);
    Ok(BenchResult {
        name: "hash 1 GiB of provisioner files (64 files, empty stat cache)".to_owned(),
        ours,
        reference_name: "b3sum".to_owned(),
        reference,
        notes: format!(
            "page cache warm, best of {RUNS}; imgs {:.2} GiB/s, b3sum {:.2} GiB/s; throughput ratio {ratio:.2}x \
             (goal >= 0.80x); unchanged files with a warm stat cache: {:.1} ms",
            gib_per_s(ours),
            gib_per_s(reference),
            no_op.as_secs_f64() * 1000.0,
        ),
    })
}

/// A second run over unchanged files, as `imgs plan` does when nothing changed: stats only, no reads.
fn warm_stat_cache_run(work_dir: &Path, files: &[PathBuf]) -> Result<Duration> {
    let cache_dir = work_dir.join("stat-cache");
    let _ = fs::remove_dir_all(&cache_dir);
    let first = FileHasher::open(&cache_dir);
    first.hash_paths(files)?;
    first.save()?;
    best_of(RUNS, || {
        let hasher = FileHasher::open(&cache_dir);
        hasher.hash_paths(files)?;
        let read = hasher.stats().files_read;
        if read != 0 {
            bail!(
                "the warm stat cache run read {read} of {} files",
                files.len()
            );
        }
        Ok(())
    })
}

/// One untimed warm-up (fills the page cache, starts thread pools), then the fastest of `runs` timed runs.
pub fn best_of(runs: usize, mut work: impl FnMut() -> Result<()>) -> Result<Duration> {
    work()?;
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        work()?;
        best = best.min(start.elapsed());
    }
    Ok(best)
}

fn run_b3sum(files: &[PathBuf]) -> Result<()> {
    let status = Command::new("b3sum")
        .arg("--no-names")
        .args(files)
        .stdout(Stdio::null())
        .status()
        .context("cannot run `b3sum` (Debian package `b3sum`; `cargo xtask setup` installs it)")?;
    if !status.success() {
        bail!("`b3sum` failed with {status}");
    }
    Ok(())
}

/// Sizes of the benchmark files: a few large artifacts-to-upload and many small scripts and configs,
/// adding up to exactly 1 GiB.
fn file_sizes() -> Vec<u64> {
    const SMALL: [u64; 6] = [4 * 1024, 64 * 1024, 512 * 1024, MIB, 4 * MIB, 8 * MIB];
    let big_count = 4;
    let small: Vec<u64> = (0..FILE_COUNT - big_count)
        .map(|i| SMALL[i % SMALL.len()])
        .collect();
    let rest = TOTAL_BYTES - small.iter().sum::<u64>();
    let mut sizes: Vec<u64> = (0..big_count as u64)
        .map(|i| rest / big_count as u64 + u64::from(i == 0) * (rest % big_count as u64))
        .collect();
    sizes.extend(small);
    sizes
}

/// Writes the files (incompressible, deterministic), skipping any already present with the right size.
fn generate_files(dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut paths = Vec::new();
    for (index, size) in file_sizes().into_iter().enumerate() {
        let path = dir.join(format!("provision-{index:02}.bin"));
        let settled = |m: fs::Metadata| {
            m.modified()
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 60))
        };
        if fs::metadata(&path).is_ok_and(|m| m.len() == size && settled(m)) {
            paths.push(path);
            continue;
        }
        let mut out = BufWriter::with_capacity(MIB as usize, fs::File::create(&path)?);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ index as u64;
        let mut chunk = vec![0u8; MIB as usize];
        let mut left = size;
        while left > 0 {
            let n = left.min(MIB) as usize;
            fill_pseudo_random(&mut chunk[..n], &mut state);
            out.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
        // Like scripts checked out a while ago: outside the stat cache's racy window, so a warm stat
        // cache can vouch for them.
        let file = out.into_inner().map_err(|err| err.into_error())?;
        file.set_modified(SystemTime::now() - Duration::from_secs(3600))?;
        paths.push(path);
    }
    Ok(paths)
}

/// splitmix64: fast, deterministic, and its output does not compress, so neither hasher gets an easy ride.
fn fill_pseudo_random(buf: &mut [u8], state: &mut u64) {
    for word in buf.chunks_mut(8) {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        word.copy_from_slice(&z.to_le_bytes()[..word.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_add_up_to_one_gib_in_64_files() {
        let sizes = file_sizes();
        assert_eq!(sizes.len(), FILE_COUNT);
        assert_eq!(sizes.iter().sum::<u64>(), TOTAL_BYTES);
        assert!(sizes.iter().all(|&s| s > 0));
    }

    #[test]
    fn generated_bytes_are_deterministic() {
        let (mut a, mut b) = (vec![0u8; 100], vec![0u8; 100]);
        let (mut s1, mut s2) = (7, 7);
        fill_pseudo_random(&mut a, &mut s1);
        fill_pseudo_random(&mut b, &mut s2);
        assert_eq!(a, b);
        assert_ne!(a[..8], a[8..16]);
    }

    /// Runs just this benchmark (1 GiB of files in a temporary directory):
    /// `cargo test --release -p xtask hashing_benchmark -- --ignored --nocapture`.
    #[test]
    #[ignore = "writes 1 GiB and takes a few seconds; run on demand"]
    fn hashing_benchmark() {
        let work = tempfile::tempdir().unwrap();
        let result = hashing_vs_b3sum(work.path()).unwrap();
        println!(
            "{}: imgs {:?}, {} {:?}; {}",
            result.name, result.ours, result.reference_name, result.reference, result.notes
        );
    }
}
