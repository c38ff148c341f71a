//! The machine against real qemu: a child layer of the example base disk booted under TCG, and guests
//! that never get that far.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use imgs_qemu::{QemuConfig, QemuError, QemuMachine, image_info};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn config(settings: Value) -> QemuConfig {
    let settings: BTreeMap<String, Value> = serde_json::from_value(settings).unwrap();
    QemuConfig::from_settings(&imgs_settings::Settings::from_json_map(&settings), "test").unwrap()
}

/// qemu processes whose command line mentions `needle`.
fn qemu_processes_mentioning(needle: &Path) -> Vec<String> {
    imgs_test_peers::process::qemu_processes_mentioning(&needle.to_string_lossy())
}

#[tokio::test]
#[ignore = "boots Debian under TCG (about 30 s); needs cache/base-image/ from `cargo xtask base-image` \
            (run with --ignored)"]
async fn child_layer_boots_runs_a_command_and_keeps_only_its_delta() {
    let base = imgs_test_peers::qemu::base_image();
    let parent = base.join("debian-bookworm.qcow2");
    let work = tempfile::tempdir().unwrap();
    let output = work.path().join("out");
    let config = config(json!({
        "iso_url": parent,
        "iso_checksum": "none",
        "disk_image": true,
        "use_backing_file": true,
        "format": "qcow2",
        "accelerator": "tcg",
        "cpus": 2,
        "memory": "1024",
        "headless": true,
        "output_directory": output,
        "vm_name": "layer.qcow2",
        "qemuargs": [
            ["-kernel", base.join("vmlinuz")],
            ["-initrd", base.join("initrd.img")],
            ["-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0"],
        ],
        "ssh_username": "imgs",
        "ssh_private_key_file": base.join("id_ed25519"),
        "ssh_timeout": "3m",
        "shutdown_command": "sudo systemctl poweroff",
        "shutdown_timeout": "1m",
    }));

    let started = Instant::now();
    let machine = QemuMachine::start(&config, CancellationToken::new())
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let booted = started.elapsed();
    let mut lines = Vec::new();
    let status = machine
        .session()
        .exec(
            "echo written-by-the-layer | sudo tee /etc/imgs-layer && sync",
            |_, line| lines.push(line.to_string()),
        )
        .await
        .unwrap();
    assert!(status.success(), "{status:?} {lines:?}");
    assert_eq!(lines, ["written-by-the-layer"]);

    let stopping = Instant::now();
    let disk = machine
        .shutdown()
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let stopped = stopping.elapsed();
    assert_eq!(disk, output.join("layer.qcow2"));
    assert!(
        qemu_processes_mentioning(work.path()).is_empty(),
        "qemu survived the shutdown"
    );
    // Only the disk is published; the console log went with the temporary directory.
    let names: Vec<_> = std::fs::read_dir(&output)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["layer.qcow2"]);

    let info = image_info(&disk).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(
        info["backing-filename"].as_str().map(PathBuf::from),
        Some(parent.canonicalize().unwrap())
    );
    assert_eq!(info["backing-filename-format"], "qcow2");
    let layer_bytes = std::fs::metadata(&disk).unwrap().len();
    let parent_bytes = std::fs::metadata(&parent).unwrap().len();
    assert!(
        layer_bytes < 64 << 20 && layer_bytes < parent_bytes / 4,
        "the layer holds {layer_bytes} bytes; the parent {parent_bytes}"
    );
    eprintln!(
        "boot to SSH {:.1} s, shutdown {:.1} s, layer {:.1} MiB (parent {:.1} MiB)",
        booted.as_secs_f64(),
        stopped.as_secs_f64(),
        layer_bytes as f64 / f64::from(1 << 20),
        parent_bytes as f64 / f64::from(1 << 20),
    );
}

#[tokio::test]
async fn a_guest_that_never_answers_ssh_times_out_and_leaves_nothing_behind() {
    let work = tempfile::tempdir().unwrap();
    let config = never_answering(work.path(), "3s");

    let err = match QemuMachine::start(&config, CancellationToken::new()).await {
        Ok(_) => panic!("a blank disk answered SSH"),
        Err(err) => err,
    };
    assert!(matches!(err, QemuError::SshTimeout { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("the guest did not answer SSH on 127.0.0.1:")
            && message.contains(" within 3 s: ")
            && message.contains("; qemu process stopped; "),
        "{message}"
    );
    assert!(err.hint().unwrap().contains("ssh_timeout"));
    assert!(
        qemu_processes_mentioning(work.path()).is_empty(),
        "qemu survived the failed start"
    );
    // Neither the output nor the temporary directory beside it is left.
    let left: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["blank.qcow2"]);
}

fn blank_disk(dir: &Path) -> PathBuf {
    let blank = dir.join("blank.qcow2");
    imgs_test_peers::qemu::blank_disk(&blank);
    blank
}

/// A machine on a blank disk in `dir`, whose firmware finds nothing to boot: the guest never answers
/// SSH, which is given `ssh_timeout` to. Its output would go to `dir/out`.
fn never_answering(dir: &Path, ssh_timeout: &str) -> QemuConfig {
    let blank = blank_disk(dir);
    config(json!({
        "iso_url": blank,
        "iso_checksum": "none",
        "disk_image": true,
        "use_backing_file": true,
        "accelerator": "tcg",
        "headless": true,
        "output_directory": dir.join("out"),
        "ssh_username": "imgs",
        "ssh_password": "unused: nothing ever answers",
        "ssh_timeout": ssh_timeout,
    }))
}

#[tokio::test]
async fn cancelling_the_wait_for_ssh_stops_qemu_and_discards_the_disk() {
    let work = tempfile::tempdir().unwrap();
    let config = never_answering(work.path(), "5m");
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        canceller.cancel();
    });
    let err = match QemuMachine::start(&config, cancel).await {
        Ok(_) => panic!("a blank disk answered SSH"),
        Err(err) => err,
    };
    assert!(matches!(err, QemuError::Cancelled), "{err}");
    assert!(
        qemu_processes_mentioning(work.path()).is_empty(),
        "qemu survived cancelling"
    );
    let left: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["blank.qcow2"]);
}

#[tokio::test]
async fn problems_found_before_qemu_starts() {
    let work = tempfile::tempdir().unwrap();
    let settings = |extra: Value| {
        let mut all = json!({
            "iso_url": work.path().join("missing.qcow2"),
            "iso_checksum": "none",
            "disk_image": true,
            "output_directory": work.path().join("out"),
            "ssh_username": "imgs",
            "ssh_password": "unused",
        });
        all.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        config(all)
    };
    let start = |config: QemuConfig| async move {
        match QemuMachine::start(&config, CancellationToken::new()).await {
            Ok(_) => panic!("started"),
            Err(err) => err,
        }
    };

    let err = start(settings(json!({}))).await;
    assert!(matches!(err, QemuError::SourceMissing(_)), "{err}");
    assert!(err.hint().unwrap().contains("cargo xtask base-image"));

    let disk = work.path().join("disk.raw");
    std::fs::write(&disk, "abc").unwrap();
    let err = start(settings(json!({
        "iso_url": disk,
        "iso_checksum": format!("sha256:{}", "0".repeat(64)),
    })))
    .await;
    assert_eq!(
        err.to_string(),
        format!(
            "sha256 checksum of `{}` does not match: expected {}, actual \
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            disk.display(),
            "0".repeat(64)
        )
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = start(settings(json!({
        "iso_url": disk,
        "host_port_min": port,
        "host_port_max": port,
    })))
    .await;
    assert_eq!(
        err.to_string(),
        format!("no free port for SSH between {port} and {port} on 127.0.0.1")
    );
    let blank = blank_disk(work.path());
    let err = start(settings(json!({ "iso_url": blank, "disk_size": "1M" }))).await;
    assert!(matches!(err, QemuError::DiskShrink { .. }), "{err}");
    std::fs::remove_file(&blank).unwrap();

    // The disks made before these errors were discarded with their directory.
    assert!(!work.path().join("out").exists());
    let left = std::fs::read_dir(work.path()).unwrap().count();
    assert_eq!(left, 1, "only disk.raw remains");
}
