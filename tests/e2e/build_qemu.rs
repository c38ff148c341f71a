//! `imgs build` with the qemu builder.
//!
//! A chain: a layer on the example base disk and a layer on that layer, the child receiving its parent's
//! published disk through its parent variable. What the provisioners wrote is read back from the final
//! disk itself (converted to raw, read with debugfs), so the test sees the guest's files, not exit codes.
//!
//! Bad input: each is a clear error, leaves no qemu process and no partial output. Those found before a
//! guest boots run everywhere; those that need a real guest are ignored like the chain and run by
//! `cargo xtask test` where the base disk exists.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------------
// The chain, checked by its disks' contents

#[test]
#[ignore = "boots Debian under TCG twice (about a minute); needs cache/base-image/ from \
            `cargo xtask base-image` (run with --ignored)"]
fn a_qemu_chain_builds_each_layer_on_its_parents_disk() {
    let base_image = imgs_test_peers::qemu::base_image();
    let source = base_image.join("debian-bookworm.qcow2");
    let dir = new_workspace_with(
        "imgs-build-qemu-",
        "\n[images.layer]\nparents = { source_disk = \"base\" }\n",
    );
    let root = dir.path();
    let builder = |iso_url: &str, name: &str| {
        let mut builder = booting_builder(&base_image);
        builder.as_object_mut().unwrap().extend(
            json!({
                "iso_url": iso_url,
                "output_directory": format!("cache/artifacts/{name}"),
                "vm_name": format!("{name}.qcow2"),
                "ssh_private_key_file": base_image.join("id_ed25519"),
            })
            .as_object()
            .unwrap()
            .clone(),
        );
        builder
    };
    let base = json!({
        "builders": [builder(&source.display().to_string(), "base")],
        "provisioners": [{ "type": "shell", "inline": ["echo from-base | sudo tee /etc/imgs-base", "sync"] }],
    });
    write_template(root, "base", &base);
    // A directory upload (with a subdirectory) and an inline step, both in the child layer.
    write(root, "images/layer/payload/app.conf", "threads = 4\n");
    write(
        root,
        "images/layer/payload/sub/notes.txt",
        "uploaded as a directory\n",
    );
    let layer = json!({
        "variables": { "source_disk": null },
        "builders": [builder("{{user `source_disk`}}", "layer")],
        "provisioners": [
            { "type": "file", "source": "{{template_dir}}/payload", "destination": "/home/imgs" },
            { "type": "shell", "inline": [
                "echo \"layer sees $(cat /etc/imgs-base)\"",
                "echo from-layer | sudo tee /etc/imgs-layer",
            ] },
        ],
    });
    write_template(root, "layer", &layer);

    let out = imgs_ok(root, &["build", "--all"]);
    assert!(out.contains("Built base (cache/artifacts/base/"), "{out}");
    assert!(out.contains("layer:   layer sees from-base"), "{out}");
    assert!(out.contains("Built layer (cache/artifacts/layer/"), "{out}");

    // Each output is a qcow2 delta over its parent's disk, in its image's version directory.
    let base_disk = current_disk(root, "base");
    let layer_disk = current_disk(root, "layer");
    assert_backed_by(&base_disk, &source);
    assert_backed_by(&layer_disk, &base_disk);

    // Through the child: the parent's file and the child's own, inline and uploaded.
    let layer_fs = GuestFilesystem::of(&layer_disk);
    assert_eq!(
        layer_fs.read("/etc/imgs-base").as_deref(),
        Some("from-base\n")
    );
    assert_eq!(
        layer_fs.read("/etc/imgs-layer").as_deref(),
        Some("from-layer\n")
    );
    assert_eq!(
        layer_fs.read("/home/imgs/payload/app.conf").as_deref(),
        Some("threads = 4\n")
    );
    assert_eq!(
        layer_fs.read("/home/imgs/payload/sub/notes.txt").as_deref(),
        Some("uploaded as a directory\n")
    );
    // The parent's disk did not change when the child was built on it.
    let base_fs = GuestFilesystem::of(&base_disk);
    assert_eq!(
        base_fs.read("/etc/imgs-base").as_deref(),
        Some("from-base\n")
    );
    assert_eq!(base_fs.read("/etc/imgs-layer"), None);
    assert_eq!(base_fs.read("/home/imgs/payload/app.conf"), None);

    let again = imgs_ok(root, &["build", "--all"]);
    assert!(!again.contains("Building"), "{again}");
}

/// A qemu build boxed for Vagrant (libvirt) in a workspace: the box is the build's artifact, in the
/// image's version directory, made of a full copy of the disk (no backing file), with Packer's
/// metadata for it; the disk itself is not kept, as in Packer; Vagrant accepts the box.
#[test]
#[ignore = "boots Debian under TCG (about 30 s) and compresses its disk; needs cache/base-image/ \
            from `cargo xtask base-image` (run with --ignored)"]
fn a_qemu_build_boxed_for_vagrant_leaves_the_box_as_its_artifact() {
    let base_image = imgs_test_peers::qemu::base_image();
    let source = base_image.join("debian-bookworm.qcow2");
    let dir = new_workspace_with("imgs-build-qemu-box-", "");
    let root = dir.path();
    let mut builder = booting_builder(&base_image);
    builder.as_object_mut().unwrap().extend(
        json!({
            "iso_url": source,
            "use_backing_file": false,
            "vm_name": "boxed.qcow2",
            "ssh_private_key_file": base_image.join("id_ed25519"),
        })
        .as_object()
        .unwrap()
        .clone(),
    );
    let template = json!({
        "builders": [builder],
        "provisioners": [{ "type": "shell", "inline": ["echo boxed | sudo tee /etc/imgs-boxed", "sync"] }],
        "post-processors": [{ "type": "vagrant", "compression_level": 1 }],
    });
    write_template(root, "boxed", &template);

    let out = imgs_ok(root, &["build", "--all"]);
    assert!(
        out.contains("Creating Vagrant box for 'libvirt' provider"),
        "{out}"
    );
    let version = root
        .join("cache/artifacts/boxed/current")
        .canonicalize()
        .unwrap();
    assert!(out.contains("Built boxed (cache/artifacts/boxed/"), "{out}");
    let files: Vec<String> = std::fs::read_dir(&version)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(files, ["packer_qemu_libvirt.box"], "the disk was not kept");
    let boxed = version.join("packer_qemu_libvirt.box");
    let unpacked = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&boxed)
        .arg("-C")
        .arg(unpacked.path())
        .status()
        .unwrap();
    assert!(status.success());
    let info = qemu_img_info(&unpacked.path().join("box.img"));
    assert!(info.get("backing-filename").is_none(), "{info}");
    let size_gb = info["virtual-size"].as_u64().unwrap().div_ceil(1 << 30);
    assert_eq!(
        std::fs::read_to_string(unpacked.path().join("metadata.json")).unwrap(),
        format!("{{\"format\":\"qcow2\",\"provider\":\"libvirt\",\"virtual_size\":{size_gb}}}\n")
    );
    let vagrantfile = std::fs::read_to_string(unpacked.path().join("Vagrantfile")).unwrap();
    assert!(
        vagrantfile.contains("libvirt.driver = \"qemu\""),
        "tcg is libvirt's qemu driver:\n{vagrantfile}"
    );
    assert_eq!(
        GuestFilesystem::of(&unpacked.path().join("box.img"))
            .read("/etc/imgs-boxed")
            .as_deref(),
        Some("boxed\n")
    );
    if let Some(vagrant) =
        imgs_test_peers::vagrant::vagrant_for("`vagrant box add` of a libvirt box imgs built")
    {
        assert_eq!(
            imgs_test_peers::vagrant::box_add(&vagrant, "imgs-qemu", &boxed),
            "libvirt"
        );
    }
    let again = imgs_ok(root, &["build", "--all"]);
    assert!(!again.contains("Building"), "{again}");
}

/// The disk of `image`'s current version (`cache/artifacts/<image>/current/<image>.qcow2`), by its real
/// path: what a child's backing file names.
fn current_disk(root: &Path, image: &str) -> PathBuf {
    root.join(format!("cache/artifacts/{image}/current/{image}.qcow2"))
        .canonicalize()
        .unwrap_or_else(|e| panic!("{image} has no current disk: {e}"))
}

/// A copy of the example workspace whose `cache/base-image` is the repository's, so the guests accept
/// the build key.
fn example_workspace_with_base_disk() -> tempfile::TempDir {
    let base_image = imgs_test_peers::qemu::base_image();
    let dir = example_workspace();
    let linked = dir.path().join("cache/base-image");
    std::fs::remove_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(&base_image, &linked).unwrap();
    dir
}

/// The images a build line names with `verb` (`Built`, `Fresh`), sorted.
fn images_with(out: &str, verb: &str) -> Vec<String> {
    let mut names: Vec<String> = out
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(verb)?.strip_prefix(' '))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// Every qcow2 file under the workspace's `cache/artifacts`: `qemu-img check` passes on each, and its
/// whole backing chain opens (a missing backing file fails `--backing-chain`).
fn check_every_disk(root: &Path) -> usize {
    let mut disks = Vec::new();
    let mut pending = vec![root.join("cache/artifacts")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && entry.path().extension().is_some_and(|e| e == "qcow2") {
                disks.push(entry.path());
            }
        }
    }
    for disk in &disks {
        for args in [&["check", "-q"][..], &["info", "--backing-chain"][..]] {
            let out = Command::new("qemu-img")
                .args(args)
                .arg(disk)
                .output()
                .expect("qemu-img (Debian qemu-utils)");
            assert!(
                out.status.success(),
                "qemu-img {args:?} {}: {}",
                disk.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    disks.len()
}

#[test]
#[ignore = "boots Debian under TCG nine times (several minutes); needs cache/base-image/ from \
            `cargo xtask base-image` (run with --ignored)"]
fn the_example_workspace_rebuilds_exactly_what_changed_and_keeps_every_version() {
    let ws = example_workspace_with_base_disk();
    let root = ws.path();
    let first = imgs_ok(root, &["build", "--all"]);
    assert_eq!(
        images_with(&first, "Built"),
        ["app-web", "app-worker", "base", "hardened"],
        "{first}"
    );
    let first_disks: Vec<PathBuf> = ["base", "hardened", "app-web", "app-worker"]
        .iter()
        .map(|image| current_disk(root, image))
        .collect();
    assert_backed_by(&first_disks[1], &first_disks[0]);
    assert_backed_by(&first_disks[2], &first_disks[1]);
    assert_eq!(check_every_disk(root), 4);
    // The hardened layer ran an Ansible playbook from this machine, the worker a Puppet manifest on
    // the machine itself: what they wrote is in the disks.
    let hardened_files = GuestFilesystem::of(&first_disks[1]);
    assert_eq!(
        hardened_files.read("/etc/issue.net").as_deref(),
        Some("Hardened by imgs (hardened); authorised use only.\n")
    );
    let worker_files = GuestFilesystem::of(&first_disks[3]);
    assert_eq!(
        worker_files.read("/etc/imgs-worker.conf").as_deref(),
        Some("threads=4\nbuilt_by=app-worker\n")
    );
    // A Puppet module is an input of the image applying it, and an Ansible role directory of its
    // image and the images built on it.
    let repo = repo_root();
    for (file, plan_says) in [
        (
            "images/app-worker/puppet/modules/worker/manifests/init.pp",
            "1 to build, 3 fresh",
        ),
        ("images/hardened/ansible/site.yml", "3 to build, 1 fresh"),
    ] {
        append(root, file, "\n# a comment\n");
        let plan = imgs_ok(root, &["plan", "--all"]);
        assert!(plan.contains(plan_says), "{file}: {plan}");
        std::fs::copy(repo.join(file), root.join(file)).unwrap();
    }

    // A changed layer rebuilds itself and the images built on it, in new version directories, next
    // to the ones the old children still stand on.
    append(root, "images/hardened/harden.sh", "\n# a comment\n");
    let plan = imgs_ok(root, &["plan", "--all"]);
    assert!(
        plan.contains("`images/hardened/harden.sh` changed"),
        "{plan}"
    );
    let hardened = imgs_ok(root, &["build", "--all"]);
    assert_eq!(
        images_with(&hardened, "Built"),
        ["app-web", "app-worker", "hardened"],
        "{hardened}"
    );
    assert_eq!(images_with(&hardened, "Fresh"), ["base"], "{hardened}");
    assert_ne!(current_disk(root, "hardened"), first_disks[1]);
    assert_backed_by(&current_disk(root, "hardened"), &first_disks[0]);
    assert_backed_by(
        &current_disk(root, "app-web"),
        &current_disk(root, "hardened"),
    );
    assert_backed_by(
        &current_disk(root, "app-worker"),
        &current_disk(root, "hardened"),
    );
    for disk in &first_disks {
        assert!(disk.is_file(), "{} was removed", disk.display());
    }
    assert_eq!(check_every_disk(root), 7);

    // A change to a leaf rebuilds the leaf alone.
    append(root, "images/app-web/install.sh", "\n# a comment\n");
    let web = imgs_ok(root, &["build", "--all"]);
    assert_eq!(images_with(&web, "Built"), ["app-web"], "{web}");
    assert_eq!(
        images_with(&web, "Fresh"),
        ["app-worker", "base", "hardened"],
        "{web}"
    );

    // --force rebuilds what it is given, into a version directory of its own.
    let before = current_disk(root, "app-web");
    let forced = imgs_ok(root, &["build", "-i", "app-web", "--force"]);
    assert_eq!(images_with(&forced, "Built"), ["app-web"], "{forced}");
    let after = current_disk(root, "app-web");
    assert_ne!(before, after);
    assert!(
        before.is_file(),
        "the forced build replaced the old version's disk"
    );
    assert_eq!(check_every_disk(root), 9);

    // Reverting both changes finds the first versions: nothing is built.
    for script in ["images/hardened/harden.sh", "images/app-web/install.sh"] {
        std::fs::copy(repo.join(script), root.join(script)).unwrap();
    }
    let plan = imgs_ok(root, &["plan", "--all"]);
    assert!(plan.contains("0 to build, 4 fresh"), "{plan}");
    let reverted = imgs_ok(root, &["build", "--all"]);
    assert_eq!(
        images_with(&reverted, "Built"),
        Vec::<String>::new(),
        "{reverted}"
    );
    let now: Vec<PathBuf> = ["base", "hardened", "app-web", "app-worker"]
        .iter()
        .map(|image| current_disk(root, image))
        .collect();
    assert_eq!(
        now, first_disks,
        "`current` points at the first versions again"
    );
    assert_eq!(check_every_disk(root), 9);
}

/// The qemu builder settings that boot the example base disk's kernel under TCG; each test adds its
/// source, output and login.
fn booting_builder(base_image: &Path) -> Value {
    json!({
        "type": "qemu",
        "iso_checksum": "none",
        "disk_image": true,
        "use_backing_file": true,
        "format": "qcow2",
        "accelerator": "tcg",
        "cpus": 2,
        "memory": "1024",
        "headless": true,
        "qemuargs": [
            ["-kernel", base_image.join("vmlinuz")],
            ["-initrd", base_image.join("initrd.img")],
            ["-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0"],
        ],
        "ssh_username": "imgs",
        "ssh_timeout": "3m",
        "shutdown_command": "sudo systemctl poweroff",
        "shutdown_timeout": "1m",
    })
}

fn qemu_img_info(disk: &Path) -> Value {
    let out = Command::new("qemu-img")
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

fn assert_backed_by(disk: &Path, parent: &Path) {
    let info = qemu_img_info(disk);
    assert_eq!(info["format"], "qcow2", "{}", disk.display());
    assert_eq!(
        info["backing-filename"].as_str().map(PathBuf::from),
        Some(parent.canonicalize().unwrap()),
        "{}",
        disk.display()
    );
    assert_eq!(info["backing-filename-format"], "qcow2");
}

/// A disk's filesystem, read offline: the disk with its backing chain flattened to raw, then read with
/// debugfs. The example base disk is a bare ext4 filesystem (no partition table), so the raw file is
/// the filesystem itself.
struct GuestFilesystem {
    _dir: tempfile::TempDir,
    raw: PathBuf,
}

impl GuestFilesystem {
    fn of(disk: &Path) -> GuestFilesystem {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("disk.raw");
        let status = Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(disk)
            .arg(&raw)
            .status()
            .expect("qemu-img (Debian qemu-utils)");
        assert!(status.success(), "qemu-img convert {}", disk.display());
        GuestFilesystem { _dir: dir, raw }
    }

    /// The file's contents, or `None` when the filesystem has no such file.
    fn read(&self, path: &str) -> Option<String> {
        let out = Command::new(debugfs())
            .arg("-R")
            .arg(format!("cat {path}"))
            .arg(&self.raw)
            .output()
            .expect("debugfs (Debian e2fsprogs)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // debugfs exits 0 whatever its command did; what went wrong is on stderr.
        if stderr.contains("File not found") {
            return None;
        }
        assert!(
            out.status.success() && !stderr.contains("Bad magic number"),
            "debugfs cannot read the disk as ext4: {stderr}"
        );
        Some(String::from_utf8(out.stdout).unwrap())
    }
}

/// debugfs lives in /sbin, which is not on every user's PATH.
fn debugfs() -> PathBuf {
    let sbin = PathBuf::from("/sbin/debugfs");
    if sbin.is_file() {
        sbin
    } else {
        PathBuf::from("debugfs")
    }
}

// ---------------------------------------------------------------------------------------------------
// Bad input

/// A workspace of one image `x` built by qemu with `settings` over a minimal builder (a `null` setting
/// removes the default); `disks/` holds the source disks tests make.
fn one_qemu_image(settings: Value) -> tempfile::TempDir {
    let dir = new_workspace("imgs-qemu-bad-");
    let mut builder = json!({
        "type": "qemu",
        "iso_checksum": "none",
        "disk_image": true,
        "use_backing_file": true,
        "format": "qcow2",
        "accelerator": "tcg",
        "headless": true,
        "output_directory": "cache/artifacts/x",
        "vm_name": "x.qcow2",
        "ssh_username": "imgs",
        "ssh_password": "unused",
    });
    let fields = builder.as_object_mut().unwrap();
    for (key, value) in settings.as_object().unwrap() {
        // null removes a default, e.g. the password when a test logs in with a key.
        if value.is_null() {
            fields.remove(key);
        } else {
            fields.insert(key.clone(), value.clone());
        }
    }
    let template = json!({
        "builders": [builder],
        "provisioners": [{ "type": "shell", "inline": ["echo never runs"] }],
    });
    write_template(dir.path(), "x", &template);
    std::fs::create_dir_all(dir.path().join("disks")).unwrap();
    dir
}

fn blank_disk(root: &Path) -> PathBuf {
    let disk = root.join("disks/blank.qcow2");
    imgs_test_peers::qemu::blank_disk(&disk);
    disk
}

/// Runs `imgs build --all`, which must fail as a build (exit 1) and leave neither a qemu process nor
/// any output behind; its stderr with the workspace path and the SSH port hidden.
fn failed_build(root: &Path) -> String {
    let out = imgs(root, &["build", "--all"]);
    assert_eq!(
        out.code, 1,
        "the build should fail:\n{}{}",
        out.stdout, out.stderr
    );
    assert!(!out.stdout.contains("Built x"), "{}", out.stdout);
    assert_eq!(
        qemu_children_working_in(root),
        Vec::<String>::new(),
        "qemu outlived the failed build"
    );
    assert_eq!(
        left_behind(root),
        Vec::<String>::new(),
        "the failed build left output behind"
    );
    out.stderr
}

fn snapshot(name: &str, root: &Path, stderr: &str) {
    let mut settings = settings(root);
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(r"between \d+ and \d+", "between [PORT] and [PORT]");
    // What the last SSH attempt saw depends on timing: qemu's user network either accepts and then
    // drops the connection (no answer in time) or, in the moment it forwards nothing, refuses it.
    settings.add_filter(
        r"within (\d+ s): (the SSH server did not answer in time|connection refused);",
        "within $1: [LAST ATTEMPT];",
    );
    settings.bind(|| insta::assert_snapshot!(name, stderr));
}

/// qemu processes that are children of this test process (imgs runs in-process, so it starts qemu
/// itself) and run in `dir` (tests of one binary run side by side). Exited ones not yet reaped are
/// not running and do not count.
fn qemu_children_working_in(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy();
    imgs_test_peers::process::children_of(std::process::id())
        .into_iter()
        .filter(|p| {
            p.is_running() && p.cmdline.contains("qemu-system") && p.cmdline.contains(&*dir)
        })
        .map(|p| format!("{}: {}", p.pid, p.cmdline))
        .collect()
}

/// What a failed build of `x` left: anything beside its `output_directory` (the output itself, or
/// a partial directory), or a cache record. The directory the output sits in may be shared with other
/// builds, so it stays; the cache's own bookkeeping (stat cache, run manifest) is not build output.
fn left_behind(root: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(root.join("cache/artifacts"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| format!("cache/artifacts/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    if root.join("cache/records/x").exists() {
        found.push("cache/records/x".into());
    }
    found.sort();
    found
}

#[test]
fn a_missing_source_disk_is_named_and_nothing_starts() {
    let dir = one_qemu_image(json!({ "iso_url": "disks/missing.qcow2" }));
    let stderr = failed_build(dir.path());
    snapshot("qemu_missing_source_disk", dir.path(), &stderr);
}

#[test]
fn a_wrong_iso_checksum_is_caught_before_qemu_starts() {
    // sha256 of the empty string: the checksum of something else than the disk.
    let dir = one_qemu_image(json!({
        "iso_url": "disks/source.qcow2",
        "iso_checksum": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }));
    write(dir.path(), "disks/source.qcow2", "not empty");
    let stderr = failed_build(dir.path());
    // The snapshot hides hashes; these two are fixed.
    assert!(
        stderr.contains(
            "expected e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855, \
             actual 5a800fc66fb4400c2388835f75a831a794b6428d75b5cc385683958e4b45914f"
        ),
        "{stderr}"
    );
    snapshot("qemu_wrong_iso_checksum", dir.path(), &stderr);
}

#[test]
fn an_exhausted_host_port_range_is_named_and_the_staged_disk_removed() {
    // The range's only port is taken, so the staged layer must go again.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = one_qemu_image(json!({
        "iso_url": "disks/blank.qcow2",
        "host_port_min": port,
        "host_port_max": port,
    }));
    blank_disk(dir.path());
    let stderr = failed_build(dir.path());
    assert!(
        stderr.contains(&format!("between {port} and {port}")),
        "{stderr}"
    );
    snapshot("qemu_host_ports_exhausted", dir.path(), &stderr);
    drop(taken);
}

#[test]
fn a_guest_that_never_answers_ssh_times_out_naming_address_and_timeout() {
    // A blank disk: the firmware finds nothing to boot, so nothing ever answers on the forwarded port.
    let dir = one_qemu_image(json!({
        "iso_url": "disks/blank.qcow2",
        "boot_wait": "1s",
        "ssh_timeout": "5s",
    }));
    blank_disk(dir.path());
    let stderr = failed_build(dir.path());
    assert!(
        stderr.contains("the guest did not answer SSH on 127.0.0.1:")
            && stderr.contains("within 5 s"),
        "{stderr}"
    );
    snapshot("qemu_ssh_timeout", dir.path(), &stderr);
}

#[test]
#[ignore = "boots Debian under TCG (about 30 s); needs cache/base-image/ from `cargo xtask base-image` \
            (run with --ignored)"]
fn a_guest_that_refuses_the_key_fails_naming_user_and_address() {
    let base_image = imgs_test_peers::qemu::base_image();
    let source = base_image.join("debian-bookworm.qcow2");
    let mut settings = booting_builder(&base_image);
    settings.as_object_mut().unwrap().extend(
        json!({
            "iso_url": source,
            "ssh_private_key_file": "disks/not-authorized",
            "ssh_handshake_attempts": 2,
            "ssh_password": null,
        })
        .as_object()
        .unwrap()
        .clone(),
    );
    let dir = one_qemu_image(settings);
    // A key the guest has never seen.
    build_key(&dir.path().join("disks/not-authorized"));
    let stderr = failed_build(dir.path());
    snapshot("qemu_key_refused", dir.path(), &stderr);
}

// ---------------------------------------------------------------------------------------------------
// The packer engine on qemu

/// A qemu layer built by Packer 1.6.6 (`engine = "packer"`) on a parent imgs built natively, then the
/// same layer natively: the same guest files in a disk at the same place, the parent's disk handed
/// on the same way, the same fresh and rebuild decisions. Packer 1.6.6 cannot make a qcow2 delta on
/// this qemu-img (it leaves out the backing format), so the layer is a full copy in both engines.
#[test]
#[ignore = "boots Debian under TCG three times (about two minutes); needs cache/base-image/ from \
            `cargo xtask base-image` (run with --ignored)"]
fn a_qemu_layer_built_by_packer_matches_the_native_one() {
    if imgs_test_peers::packer::packer_for("qemu through the packer engine").is_none() {
        return;
    }
    let base_image = imgs_test_peers::qemu::base_image();
    let source = base_image.join("debian-bookworm.qcow2");
    let dir = new_workspace_with(
        "imgs-packer-qemu-",
        "\n[images.layer]\nparents = { source_disk = \"base\" }\nengine = \"packer\"\n",
    );
    let root = dir.path();
    let builder = |iso_url: &str, name: &str, backing: bool| {
        let mut builder = booting_builder(&base_image);
        builder.as_object_mut().unwrap().extend(
            json!({
                "iso_url": iso_url,
                "use_backing_file": backing,
                "output_directory": format!("cache/artifacts/{name}"),
                "vm_name": format!("{name}.qcow2"),
                "ssh_private_key_file": base_image.join("id_ed25519"),
            })
            .as_object()
            .unwrap()
            .clone(),
        );
        builder
    };
    let base = json!({
        "builders": [builder(&source.display().to_string(), "base", true)],
        "provisioners": [{ "type": "shell", "inline": ["echo from-base | sudo tee /etc/imgs-base", "sync"] }],
    });
    write_template(root, "base", &base);
    let layer = json!({
        "variables": { "source_disk": null },
        "builders": [builder("{{user `source_disk`}}", "layer", false)],
        "provisioners": [{ "type": "shell", "inline": [
            "echo \"layer sees $(cat /etc/imgs-base)\"",
            "echo from-layer | sudo tee /etc/imgs-layer",
            "sync",
        ] }],
    });
    write_template(root, "layer", &layer);

    let plan = imgs_ok(root, &["plan"]);
    assert!(
        plan.contains("(packer: engine = \"packer\" in Images.toml)"),
        "{plan}"
    );
    let out = imgs(root, &["build", "--all", "-v"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("Building with Packer"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("layer sees from-base"),
        "{}",
        out.stdout
    );
    let by_packer = current_disk(root, "layer");
    let fs = GuestFilesystem::of(&by_packer);
    assert_eq!(fs.read("/etc/imgs-base").as_deref(), Some("from-base\n"));
    assert_eq!(fs.read("/etc/imgs-layer").as_deref(), Some("from-layer\n"));
    drop(fs);
    let version = by_packer.parent().unwrap().to_path_buf();
    assert!(
        !root.join("cache/packer").exists() || root.join("cache/packer").is_dir(),
        "Packer's cache stays in imgs's"
    );
    let again = imgs_ok(root, &["build", "--all"]);
    assert!(again.contains("0 images built, 2 fresh"), "{again}");

    // The same layer natively: the engine is not an input, so `--force` it.
    let manifest = std::fs::read_to_string(root.join("Images.toml")).unwrap();
    write(
        root,
        "Images.toml",
        &manifest.replace("\"packer\"", "\"native\""),
    );
    let native = imgs_ok(root, &["build", "-i", "layer", "--force"]);
    assert!(native.contains("Built layer"), "{native}");
    let by_imgs = current_disk(root, "layer");
    assert_eq!(
        by_imgs.file_name(),
        by_packer.file_name(),
        "the same disk name in a version directory"
    );
    assert_eq!(by_imgs.parent().unwrap().parent(), version.parent());
    let fs = GuestFilesystem::of(&by_imgs);
    assert_eq!(fs.read("/etc/imgs-base").as_deref(), Some("from-base\n"));
    assert_eq!(fs.read("/etc/imgs-layer").as_deref(), Some("from-layer\n"));
}
