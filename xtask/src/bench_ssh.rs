//! SSH benchmark: uploading 256 MiB with imgs (its default scp protocol, and SFTP) against OpenSSH's
//! `scp`, to the same private sshd on loopback.
//!
//! Both sides pay for their own connection and login (scp starts `ssh` every time), so each timed run is
//! connect + log in + upload + close. One untimed warm-up each (page cache, sshd's first fork), then
//! best of three.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use imgs_ssh::{SshConfig, SshSession};
use imgs_test_peers::TestSshd;
use tokio_util::sync::CancellationToken;

use crate::bench_hashing::{BenchResult, best_of};

const MIB: u64 = 1024 * 1024;
const SIZE: u64 = 256 * MIB;
const RUNS: usize = 3;

/// Uploads a 256 MiB file (generated under `work_dir`, reused when present) with both tools.
pub fn sftp_vs_scp(work_dir: &Path) -> Result<BenchResult> {
    let source = generate_file(&work_dir.join("upload-256m.bin"))?;
    let sshd = TestSshd::start().map_err(|why| anyhow!(why))?;
    let remote_dir = work_dir.join("sshd-side");
    fs::create_dir_all(&remote_dir)?;
    // Packer's default transfer method is scp; `ssh_file_transfer_method: sftp` is the other one.
    let config = SshConfig::from_settings(&sshd.settings()).map_err(|d| anyhow!("{d}"))?;
    let mut sftp_settings = sshd.settings();
    sftp_settings.insert("ssh_file_transfer_method".into(), "sftp".into());
    let sftp_config = SshConfig::from_settings(&sftp_settings).map_err(|d| anyhow!("{d}"))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ours_target = remote_dir.join("imgs.bin");
    let ours = best_of(RUNS, || {
        runtime.block_on(upload_with_imgs(&config, &source, &ours_target))?;
        check_copy(&ours_target)
    })?;
    let sftp = best_of(RUNS, || {
        runtime.block_on(upload_with_imgs(&sftp_config, &source, &ours_target))?;
        check_copy(&ours_target)
    })?;
    let scp_target = remote_dir.join("scp.bin");
    let reference = best_of(RUNS, || {
        upload_with_scp(&sshd, &source, &scp_target)?;
        check_copy(&scp_target)
    })?;
    let _ = fs::remove_dir_all(&remote_dir);

    let mib_per_s = |d: Duration| SIZE as f64 / MIB as f64 / d.as_secs_f64().max(1e-9);
    let ratio = reference.as_secs_f64() / ours.as_secs_f64().max(1e-9);
    Ok(BenchResult {
        name: "upload 256 MiB over SSH to a loopback sshd (connect, log in, copy, close)"
            .to_owned(),
        ours,
        reference_name: "scp (OpenSSH)".to_owned(),
        reference,
        notes: format!(
            "best of {RUNS} after a warm-up; imgs (scp protocol, the default) {:.0} MiB/s, imgs SFTP \
             {:.0} MiB/s, scp {:.0} MiB/s; throughput ratio {ratio:.2}x (goal >= 0.80x)",
            mib_per_s(ours),
            mib_per_s(sftp),
            mib_per_s(reference),
        ),
    })
}

async fn upload_with_imgs(config: &SshConfig, source: &Path, target: &Path) -> Result<()> {
    let session = SshSession::connect(config, CancellationToken::new()).await?;
    let target = target.to_str().context("the work directory is not UTF-8")?;
    session.upload(source, target).await?;
    session.close().await?;
    Ok(())
}

fn upload_with_scp(sshd: &TestSshd, source: &Path, target: &Path) -> Result<()> {
    let status = Command::new("scp")
        .args([
            "-q",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .arg("-i")
        .arg(&sshd.client_key)
        .args(["-P", &sshd.port.to_string()])
        .arg(source)
        .arg(format!("{}@127.0.0.1:{}", sshd.user, target.display()))
        .stdin(Stdio::null())
        .status()
        .context(
            "cannot run `scp` (Debian package `openssh-client`; `cargo xtask setup` installs it)",
        )?;
    if !status.success() {
        bail!("`scp` failed with {status}");
    }
    Ok(())
}

fn check_copy(target: &Path) -> Result<()> {
    let len = fs::metadata(target)
        .with_context(|| format!("the upload left no {}", target.display()))?
        .len();
    if len != SIZE {
        bail!("{} has {len} bytes, not {SIZE}", target.display());
    }
    fs::remove_file(target)?;
    Ok(())
}

/// Incompressible bytes (xorshift), so neither side profits from compression; reused when present.
fn generate_file(path: &Path) -> Result<PathBuf> {
    if fs::metadata(path).is_ok_and(|m| m.len() == SIZE) {
        return Ok(path.to_path_buf());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut out = BufWriter::with_capacity(MIB as usize, fs::File::create(path)?);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut chunk = vec![0u8; MIB as usize];
    for _ in 0..SIZE / MIB {
        for word in chunk.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        out.write_all(&chunk)?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs just this benchmark against a private sshd:
    /// `cargo test --release -p xtask ssh_benchmark -- --ignored --nocapture`.
    #[test]
    #[ignore = "uploads 256 MiB eight times; run by `cargo xtask bench`"]
    fn ssh_benchmark() {
        let dir = tempfile::tempdir().unwrap();
        let result = sftp_vs_scp(dir.path()).unwrap();
        println!(
            "{}: imgs {:?}, {} {:?}; {}",
            result.name, result.ours, result.reference_name, result.reference, result.notes
        );
    }
}
