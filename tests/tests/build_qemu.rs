//! `imgs build` of a qemu chain: a layer on the example base disk, and a layer on that layer, the
//! child receiving its parent's published disk through its parent variable.

mod support;

use std::path::PathBuf;

use support::*;

#[test]
#[ignore = "boots Debian under TCG twice (about a minute); needs cache/base-image/ from \
            `cargo xtask base-image` (run with --ignored)"]
fn a_qemu_chain_builds_each_layer_on_its_parents_disk() {
    let base_image = repo_root().join("cache/base-image");
    let source = base_image.join("debian-bookworm.qcow2");
    assert!(
        source.is_file(),
        "{} is missing: run `cargo xtask base-image` first",
        source.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("imgs-build-qemu-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    write(
        root,
        "Images.toml",
        "[workspace]\nmembers = [\"images/*\"]\n\n[images.layer]\nparents = { source_disk = \"base\" }\n",
    );
    let builder = |iso_url: &str, name: &str| {
        serde_json::json!({
            "type": "qemu",
            "iso_url": iso_url,
            "iso_checksum": "none",
            "disk_image": true,
            "use_backing_file": true,
            "format": "qcow2",
            "accelerator": "tcg",
            "cpus": 2,
            "memory": "1024",
            "headless": true,
            "output_directory": format!("cache/artifacts/{name}"),
            "vm_name": format!("{name}.qcow2"),
            "qemuargs": [
                ["-kernel", base_image.join("vmlinuz")],
                ["-initrd", base_image.join("initrd.img")],
                ["-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0"],
            ],
            "ssh_username": "imgs",
            "ssh_private_key_file": base_image.join("id_ed25519"),
            "ssh_timeout": "3m",
            "shutdown_command": "sudo systemctl poweroff",
            "shutdown_timeout": "1m",
        })
    };
    let base = serde_json::json!({
        "builders": [builder(&source.display().to_string(), "base")],
        "provisioners": [{ "type": "shell", "inline": ["echo from-base | sudo tee /etc/imgs-base", "sync"] }],
    });
    write(
        root,
        "images/base/template.json",
        &serde_json::to_string_pretty(&base).unwrap(),
    );
    let layer = serde_json::json!({
        "variables": { "source_disk": null },
        "builders": [builder("{{user `source_disk`}}", "layer")],
        "provisioners": [{ "type": "shell", "inline": ["echo \"layer sees $(cat /etc/imgs-base)\""] }],
    });
    write(
        root,
        "images/layer/template.json",
        &serde_json::to_string_pretty(&layer).unwrap(),
    );

    let out = imgs_ok(root, &["build", "--all"]);
    assert!(
        out.contains("Built base (cache/artifacts/base/base.qcow2)"),
        "{out}"
    );
    assert!(out.contains("layer:   layer sees from-base"), "{out}");
    assert!(
        out.contains("Built layer (cache/artifacts/layer/layer.qcow2)"),
        "{out}"
    );

    // The layer is a qcow2 delta over the base's published disk.
    let layer_disk = root.join("cache/artifacts/layer/layer.qcow2");
    let info = imgs_qemu_info(&layer_disk);
    assert_eq!(
        info["backing-filename"].as_str().map(PathBuf::from),
        Some(
            root.join("cache/artifacts/base/base.qcow2")
                .canonicalize()
                .unwrap()
        )
    );
    let again = imgs_ok(root, &["build", "--all"]);
    assert!(!again.contains("Building"), "{again}");
}

fn imgs_qemu_info(disk: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(disk)
        .output()
        .expect("qemu-img (Debian qemu-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
