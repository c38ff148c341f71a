//! `cargo xtask base-image`: the example workspace's first disk, a bootable Debian bookworm qcow2 made
//! offline from Debian packages, so nobody needs a cloud account or an ISO install to build images.
//!
//! Recipe: mmdebstrap (minbase plus a cloud kernel, systemd, sshd, ifupdown/dhclient, sudo, busybox) from
//! the machine's own configured Debian mirror; then the build user `imgs` (passwordless sudo, logs in with
//! `cache/base-image/id_ed25519`), fstab, eth0 by DHCP and a hostname; `mkfs.ext4 -d` onto a sparse raw
//! file with headroom for the layers built on it; `qemu-img convert -O qcow2`. The kernel and initrd are
//! copied out of `/boot` because the templates boot them directly (`-kernel`/`-initrd`), which needs no
//! boot loader in the disk.
//!
//! Everything is made in a work directory under `cache/` and renamed into `cache/base-image/` only after
//! the disk booted to SSH once (unless `--no-verify`), so a failed or interrupted run never leaves a
//! half-written disk where the templates look. The disk is cached by fingerprint, as imgs caches an
//! image: a stamp file beside it records the inputs (this recipe's own source, suite, package list,
//! build user, public key) and their blake3 fingerprint; an unchanged fingerprint means there is nothing
//! to do, and any change to the recipe's code makes a new disk without anyone remembering to bump a
//! version.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use imgs_qemu::{QemuConfig, QemuError, QemuMachine};
use imgs_ssh::Stream;
use tokio_util::sync::CancellationToken;

use crate::{repo_root, run as run_command, setup};

/// The recipe is this file: its source is an input of the disk, like a provisioner script of an image.
const RECIPE_SOURCE: &str = include_str!("base_image.rs");
const SUITE: &str = "bookworm";
const BUILD_USER: &str = "imgs";
const HOSTNAME: &str = "imgs-base";

/// Packages on top of minbase. The example templates use sudo, busybox (`httpd` in app-web) and sysctl
/// (procps, in harden.sh); the file provisioner needs sshd's SFTP server.
const PACKAGES: &[&str] = &[
    "linux-image-cloud-amd64",
    "systemd-sysv",
    "udev",
    "openssh-server",
    "openssh-sftp-server",
    "ifupdown",
    "isc-dhcp-client",
    "sudo",
    "busybox",
    "procps",
    // The example workspace provisions with configuration management too: Ansible's modules run on
    // the machine with its Python, and Puppet applies its manifests there.
    "python3",
    "puppet",
];

/// Files under `cache/base-image/`; the templates name the first four.
const DISK: &str = "debian-bookworm.qcow2";
const KERNEL: &str = "vmlinuz";
const INITRD: &str = "initrd.img";
const KEY: &str = "id_ed25519";
const STAMP: &str = "inputs.stamp";

/// The work directory's name starts with this and the owning process's ID, so a later run can tell an
/// abandoned one (its process is gone) from one in progress.
const WORK_DIR_PREFIX: &str = ".base-image-";

const KERNEL_APPEND: &str = "root=/dev/vda rw console=ttyS0 net.ifnames=0";
const SSH_TIMEOUT: Duration = Duration::from_secs(180);
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(60);

const USAGE: &str = "\
usage: cargo xtask base-image [--force] [--no-verify] [--mirror URL]

Builds cache/base-image/debian-bookworm.qcow2 (with vmlinuz and initrd.img beside it) from Debian
packages, as root. Does nothing when the disk exists and its inputs are unchanged.

  --force       rebuild even when the disk is up to date
  --no-verify   do not boot the new disk under qemu to check that the build user can log in
  --mirror URL  Debian mirror to install from (default: the one in /etc/apt/sources.list*)";

#[derive(Debug, Default, PartialEq)]
struct Options {
    force: bool,
    verify: bool,
    mirror: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Options {
            verify: true,
            ..Options::default()
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--force" => options.force = true,
                "--no-verify" => options.verify = false,
                "--mirror" => {
                    let url = args
                        .next()
                        .with_context(|| format!("`--mirror` needs a URL\n{USAGE}"))?;
                    options.mirror = Some(url.clone());
                }
                other => match other.strip_prefix("--mirror=") {
                    Some(url) => options.mirror = Some(url.to_string()),
                    None => bail!("unknown argument `{other}`\n{USAGE}"),
                },
            }
        }
        Ok(options)
    }
}

pub fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let options = Options::parse(args)?;
    if !setup::is_root() {
        bail!(
            "`cargo xtask base-image` must run as root: mmdebstrap installs packages into a directory \
             tree owned by root and mkfs.ext4 copies that ownership into the disk"
        );
    }
    let root = repo_root();
    let out_dir = root.join("cache/base-image");
    setup::example_build_key(&root)?;
    let key = out_dir.join(KEY);
    let public_key = public_key(&key)?;
    let stamp = stamp(&public_key);
    if !options.force && is_current(&out_dir, &stamp) {
        println!(
            "base-image: cache/base-image/{DISK} is up to date (inputs unchanged; --force rebuilds)"
        );
        return Ok(());
    }
    setup::install_base_image_tools()?;
    let mirror = match options.mirror {
        Some(mirror) => mirror,
        None => configured_mirror()?,
    };

    let cache = root.join("cache");
    remove_abandoned_work_dirs(&cache);
    let work = tempfile::Builder::new()
        .prefix(&format!("{WORK_DIR_PREFIX}{}-", std::process::id()))
        .tempdir_in(&cache)
        .with_context(|| format!("cannot make a work directory in {}", cache.display()))?;
    let staged = work.path().join("out");
    fs::create_dir(&staged)?;
    let mut steps = Steps::default();

    let rootfs = work.path().join("rootfs");
    println!("base-image: installing Debian {SUITE} from {mirror}");
    steps.time("mmdebstrap", || mmdebstrap(&mirror, &rootfs))?;
    let kernel_version = steps.time("configure", || {
        configure_guest(&rootfs, &public_key)?;
        copy_kernel(&rootfs, &staged)
    })?;

    let raw = work.path().join("disk.raw");
    let virtual_bytes = steps.time("mkfs.ext4", || {
        let size = disk_size(tree_bytes(&rootfs)?);
        make_filesystem(&rootfs, &raw, size)?;
        Ok(size)
    })?;
    // The tree is in the filesystem now; free its space before the qcow2 needs some.
    fs::remove_dir_all(&rootfs)?;
    steps.time("qemu-img convert", || {
        run_command(
            Command::new("qemu-img")
                .args(["convert", "-O", "qcow2"])
                .arg(&raw)
                .arg(staged.join(DISK)),
        )?;
        fs::remove_file(&raw)?;
        Ok(())
    })?;

    if options.verify {
        verify_boots(&staged, &key, work.path(), &mut steps)?;
    }
    publish(&staged, &out_dir, &stamp)?;

    let disk_bytes = fs::metadata(out_dir.join(DISK))?.len();
    println!(
        "base-image: built cache/base-image/{DISK}: {:.1} MiB on disk, {:.1} GiB virtual, kernel {kernel_version}",
        mib(disk_bytes),
        virtual_bytes as f64 / (1u64 << 30) as f64,
    );
    print!("{}", steps.render());
    Ok(())
}

/// How long each step took, printed as it ends and again as a table at the end.
#[derive(Default)]
struct Steps(Vec<(&'static str, Duration)>);

impl Steps {
    fn time<T>(&mut self, name: &'static str, step: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let result = step().with_context(|| format!("base-image step `{name}` failed"));
        let elapsed = start.elapsed();
        if result.is_ok() {
            println!("base-image: {name} done in {:.1} s", elapsed.as_secs_f64());
            self.0.push((name, elapsed));
        }
        result
    }

    fn render(&self) -> String {
        let mut table = String::new();
        for (name, elapsed) in &self.0 {
            let _ = writeln!(table, "  {name:<18}{:>7.1} s", elapsed.as_secs_f64());
        }
        table
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

// ---------------------------------------------------------------------------------------------------
// Inputs and the stamp

/// The build user's public key: the `.pub` beside the private key, or derived from the private key.
fn public_key(private_key: &Path) -> Result<String> {
    let public = private_key.with_extension("pub");
    let text = match fs::read_to_string(&public) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let output = Command::new("ssh-keygen")
                .arg("-y")
                .arg("-f")
                .arg(private_key)
                .output()
                .context("cannot start ssh-keygen")?;
            if !output.status.success() {
                bail!(
                    "cannot read the public half of {}: {}",
                    private_key.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            String::from_utf8(output.stdout)?
        }
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", public.display())),
    };
    let key = text.trim();
    if !key.starts_with("ssh-") || key.lines().count() != 1 {
        bail!("{} is not one OpenSSH public key", public.display());
    }
    Ok(key.to_string())
}

/// Everything that decides what the disk contains, and its fingerprint: equal stamps mean an equal disk
/// (up to the package versions the mirror serves that day, which we deliberately do not chase). The
/// mirror's URL is not an input: every mirror serves the same suite.
fn stamp(public_key: &str) -> String {
    let inputs = format!(
        "recipe = {}\n\
         suite = {SUITE}\n\
         packages = {}\n\
         user = {BUILD_USER}\n\
         public_key = {public_key}\n",
        blake3::hash(RECIPE_SOURCE.as_bytes()),
        PACKAGES.join(",")
    );
    format!(
        "# inputs of cache/base-image/{DISK}, written by `cargo xtask base-image`\n\
         fingerprint = {}\n{inputs}",
        blake3::hash(inputs.as_bytes())
    )
}

fn is_current(out_dir: &Path, stamp: &str) -> bool {
    let outputs_exist = [DISK, KERNEL, INITRD]
        .iter()
        .all(|name| out_dir.join(name).is_file());
    outputs_exist && fs::read_to_string(out_dir.join(STAMP)).is_ok_and(|old| old == stamp)
}

// ---------------------------------------------------------------------------------------------------
// The Debian mirror configured for apt on this machine

/// One `deb` source as apt reads it, from either file format.
#[derive(Debug, PartialEq)]
struct AptSource {
    uris: Vec<String>,
    suites: Vec<String>,
}

fn configured_mirror() -> Result<String> {
    let mut sources = Vec::new();
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        sources.extend(one_line_sources(&text));
    }
    let mut parts: Vec<PathBuf> = fs::read_dir("/etc/apt/sources.list.d")
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    parts.sort();
    for path in parts {
        // apt reads only these two extensions; anything else (`.disabled`, `.save`) is switched off.
        let parse = match path.extension().and_then(|e| e.to_str()) {
            Some("list") => one_line_sources,
            Some("sources") => deb822_sources,
            _ => continue,
        };
        if let Ok(text) = fs::read_to_string(&path) {
            sources.extend(parse(&text));
        }
    }
    pick_mirror(&sources, SUITE).with_context(|| {
        format!(
            "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/ \
             (looked for a `deb` source of suite `{SUITE}` or a URI ending in /debian); \
             give one with --mirror URL"
        )
    })
}

/// `deb [options] URI SUITE [COMPONENT...]` lines (sources.list(5), one-line style).
fn one_line_sources(text: &str) -> Vec<AptSource> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let rest = line
                .strip_prefix("deb")?
                .strip_prefix([' ', '\t'])?
                .trim_start();
            // Options are a bracketed group right after the type.
            let rest = match rest.strip_prefix('[') {
                Some(options) => options.split_once(']')?.1,
                None => rest,
            };
            let mut words = rest.split_whitespace();
            let uri = words.next()?;
            let suite = words.next()?;
            Some(AptSource {
                uris: vec![uri.to_string()],
                suites: vec![suite.to_string()],
            })
        })
        .collect()
}

/// Stanzas of `Field: value` lines separated by blank lines (sources.list(5), deb822 style).
fn deb822_sources(text: &str) -> Vec<AptSource> {
    let mut sources = Vec::new();
    for stanza in stanzas(text) {
        let field = |name: &str| -> Vec<String> {
            stanza
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        let enabled = field("Enabled").first().is_none_or(|v| v != "no");
        if enabled && field("Types").iter().any(|t| t == "deb") {
            sources.push(AptSource {
                uris: field("URIs"),
                suites: field("Suites"),
            });
        }
    }
    sources
}

/// Fields of each stanza, continuation lines joined to their field, comments dropped.
fn stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut stanzas = vec![Vec::new()];
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let current: &mut Vec<(String, String)> = stanzas.last_mut().expect("never empty");
        if line.trim().is_empty() {
            if !current.is_empty() {
                stanzas.push(Vec::new());
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            current.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    stanzas
}

/// The source serving `suite` itself wins; otherwise any URI that looks like a Debian archive, since a
/// Debian mirror serves every suite. Only schemes mmdebstrap can fetch from are considered.
fn pick_mirror(sources: &[AptSource], suite: &str) -> Option<String> {
    let fetchable = |uri: &&String| {
        ["http://", "https://", "file:/"]
            .iter()
            .any(|scheme| uri.starts_with(scheme))
    };
    let serving_suite = sources
        .iter()
        .filter(|s| s.suites.iter().any(|s| s == suite))
        .flat_map(|s| s.uris.iter().filter(fetchable))
        .next();
    let debian_archive = || {
        sources
            .iter()
            .flat_map(|s| s.uris.iter().filter(fetchable))
            .find(|uri| uri.trim_end_matches('/').ends_with("/debian"))
    };
    serving_suite.or_else(debian_archive).cloned()
}

// ---------------------------------------------------------------------------------------------------
// Building the root tree

fn mmdebstrap(mirror: &str, rootfs: &Path) -> Result<()> {
    let mut cmd = Command::new("mmdebstrap");
    cmd.arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        // Manuals, docs and translations are never read on a build machine; they are a sixth of the tree.
        .args([
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        ])
        // useradd inside the tree, so the user gets the guest's next free IDs and its skeleton files.
        .arg(format!(
            "--customize-hook=chroot \"$1\" useradd --create-home --shell /bin/bash {BUILD_USER}"
        ))
        .arg(SUITE)
        .arg(rootfs)
        .arg(mirror);
    run_command(&mut cmd)
}

/// A file the recipe writes into the guest tree.
#[derive(Debug)]
struct GuestFile {
    path: String,
    mode: u32,
    contents: String,
    /// Owned by the build user rather than root.
    user_owned: bool,
}

fn guest_files(public_key: &str) -> Vec<GuestFile> {
    let root_file = |path: &str, mode: u32, contents: String| GuestFile {
        path: path.to_string(),
        mode,
        contents,
        user_owned: false,
    };
    vec![
        root_file("etc/hostname", 0o644, format!("{HOSTNAME}\n")),
        root_file(
            "etc/hosts",
            0o644,
            format!(
                "127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            ),
        ),
        // The kernel mounts the root read-write already (`rw` on its command line); fstab keeps it so
        // after systemd's remount and tells fsck which disk to check.
        root_file(
            "etc/fstab",
            0o644,
            "/dev/vda\t/\text4\trw,errors=remount-ro\t0\t1\n".to_string(),
        ),
        // `net.ifnames=0` on the kernel command line keeps the name eth0 whatever the NIC model.
        root_file(
            "etc/network/interfaces",
            0o644,
            "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n\
             auto eth0\niface eth0 inet dhcp\n"
                .to_string(),
        ),
        root_file(
            &format!("etc/sudoers.d/{BUILD_USER}"),
            0o440,
            format!("{BUILD_USER} ALL=(ALL) NOPASSWD:ALL\n"),
        ),
        GuestFile {
            path: format!("home/{BUILD_USER}/.ssh/authorized_keys"),
            mode: 0o600,
            contents: format!("{public_key}\n"),
            user_owned: true,
        },
    ]
}

fn configure_guest(rootfs: &Path, public_key: &str) -> Result<()> {
    let passwd = fs::read_to_string(rootfs.join("etc/passwd"))?;
    let (uid, gid) = passwd_ids(&passwd, BUILD_USER)
        .with_context(|| format!("user `{BUILD_USER}` missing from the guest's /etc/passwd"))?;
    for file in guest_files(public_key) {
        let path = rootfs.join(&file.path);
        let dir = path.parent().expect("guest paths have a directory");
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            if file.user_owned {
                // sshd refuses keys in a directory others can write to.
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
                std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
            }
        }
        fs::write(&path, &file.contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(file.mode))?;
        if file.user_owned {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// The user and group IDs of `user` in passwd(5) text.
fn passwd_ids(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [name, _, uid, gid, ..] if *name == user => {
                Some((uid.parse().ok()?, gid.parse().ok()?))
            }
            _ => None,
        }
    })
}

/// Copy the kernel and initrd out of the guest's /boot; returns the kernel version.
fn copy_kernel(rootfs: &Path, staged: &Path) -> Result<String> {
    let boot = rootfs.join("boot");
    let names: Vec<String> = fs::read_dir(&boot)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let version = kernel_version(&names)
        .with_context(|| format!("no vmlinuz-VERSION with a matching initrd.img-VERSION in the guest's /boot (found: {})", names.join(", ")))?;
    for (from, to) in [("vmlinuz", KERNEL), ("initrd.img", INITRD)] {
        let target = staged.join(to);
        fs::copy(boot.join(format!("{from}-{version}")), &target)?;
        // The templates may be built by a user other than the one who made the disk.
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644))?;
    }
    Ok(version)
}

/// The newest kernel version in /boot that has both a kernel and an initrd.
fn kernel_version(boot_entries: &[String]) -> Option<String> {
    let mut versions: Vec<&str> = boot_entries
        .iter()
        .filter_map(|name| name.strip_prefix("vmlinuz-"))
        .filter(|version| boot_entries.contains(&format!("initrd.img-{version}")))
        .collect();
    versions.sort();
    versions.last().map(|v| v.to_string())
}

// ---------------------------------------------------------------------------------------------------
// The disk

/// Bytes the tree occupies on disk (allocated blocks, so sparse files count as they will in ext4).
fn tree_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?; // does not follow symlinks
        total += meta.blocks() * 512;
        if meta.is_dir() {
            total += tree_bytes(&entry.path())?;
        }
    }
    Ok(total)
}

/// The filesystem's size: the tree, half again for ext4's metadata and the package upgrades a layer may
/// run, plus 1 GiB for what the layers install; whole 256 MiB steps. The raw file is sparse and qcow2
/// stores only written clusters, so headroom costs nothing until a layer uses it.
fn disk_size(tree_bytes: u64) -> u64 {
    const STEP: u64 = 256 << 20;
    let wanted = tree_bytes + tree_bytes / 2 + (1 << 30);
    wanted.div_ceil(STEP) * STEP
}

fn make_filesystem(rootfs: &Path, raw: &Path, size: u64) -> Result<()> {
    fs::File::create(raw)?.set_len(size)?;
    run_command(
        // /sbin is where e2fsprogs puts it; not every root shell has it on PATH.
        Command::new("/sbin/mkfs.ext4")
            .args(["-q", "-F", "-L", "root", "-d"])
            .arg(rootfs)
            .arg(raw),
    )
}

fn publish(staged: &Path, out_dir: &Path, stamp: &str) -> Result<()> {
    fs::create_dir_all(out_dir)?;
    // The old stamp goes first: if this is interrupted between renames, the next run finds no stamp
    // matching and rebuilds instead of trusting a mix of old and new files.
    match fs::remove_file(out_dir.join(STAMP)) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err.into()),
        _ => {}
    }
    for name in [DISK, KERNEL, INITRD] {
        fs::rename(staged.join(name), out_dir.join(name))
            .with_context(|| format!("cannot move {name} into {}", out_dir.display()))?;
    }
    fs::write(staged.join(STAMP), stamp)?;
    fs::rename(staged.join(STAMP), out_dir.join(STAMP))?;
    Ok(())
}

/// Remove work directories whose process is gone (a run killed before its clean-up ran); a run still in
/// progress keeps its own.
fn remove_abandoned_work_dirs(cache: &Path) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(work_dir_pid) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!(
                "base-image: removing cache/{} left by an interrupted run",
                name.to_string_lossy()
            );
            if let Err(err) = fs::remove_dir_all(entry.path()) {
                eprintln!("base-image: could not remove it: {err}");
            }
        }
    }
}

/// The process ID in a work directory's name, `.base-image-PID-RANDOM`.
fn work_dir_pid(name: &str) -> Option<u32> {
    name.strip_prefix(WORK_DIR_PREFIX)?
        .split_once('-')?
        .0
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------------
// Booting the disk once

/// The qemu builder's settings for the check: a throw-away layer on the staged disk (so the disk itself
/// is never written), booted directly from the kernel and initrd beside it, as the templates boot it.
fn verify_settings(staged: &Path, key: &Path, work: &Path) -> BTreeMap<String, serde_json::Value> {
    let settings = serde_json::json!({
        "iso_url": staged.join(DISK),
        "iso_checksum": "none",
        "disk_image": true,
        "use_backing_file": true,
        "accelerator": "tcg",
        "cpus": 2,
        "memory": 1024,
        "headless": true,
        "output_directory": work.join("verify"),
        "vm_name": "verify.qcow2",
        "qemuargs": [
            ["-kernel", staged.join(KERNEL)],
            ["-initrd", staged.join(INITRD)],
            ["-append", KERNEL_APPEND],
        ],
        "ssh_username": BUILD_USER,
        "ssh_private_key_file": key,
        "ssh_timeout": format!("{}s", SSH_TIMEOUT.as_secs()),
        "shutdown_command": "sudo -n systemctl poweroff",
        "shutdown_timeout": format!("{}s", POWEROFF_TIMEOUT.as_secs()),
    });
    serde_json::from_value(settings).expect("an object of settings")
}

/// Boot the staged disk under TCG, log in as the build user, check sudo and the release, power off.
fn verify_boots(staged: &Path, key: &Path, work: &Path, steps: &mut Steps) -> Result<()> {
    let config = QemuConfig::from_settings(
        &imgs_settings::Settings::from_json_map(&verify_settings(staged, key, work)),
        "base-image",
    )
    .map_err(|problems| anyhow::anyhow!("{problems}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let qemu_error = |err: QemuError| match err.hint() {
        Some(hint) => anyhow::anyhow!("{err}\nhint: {hint}"),
        None => anyhow::anyhow!("{err}"),
    };
    println!("base-image: booting the disk under qemu (TCG) on a throw-away layer");
    let machine = steps.time("boot to SSH", || {
        runtime
            .block_on(QemuMachine::start(&config, CancellationToken::new()))
            .map_err(qemu_error)
    })?;

    let mut stdout = String::new();
    let mut stderr = String::new();
    let status = runtime.block_on(machine.session().exec(
        "sudo -n true && cat /etc/os-release",
        |stream, line| {
            let out = match stream {
                Stream::Stdout => &mut stdout,
                // A command writes only these two.
                Stream::Stderr | Stream::Status => &mut stderr,
            };
            out.push_str(line);
            out.push('\n');
        },
    ))?;
    if !status.success() {
        bail!(
            "`{BUILD_USER}` logged in but could not sudo ({status:?}): {}",
            stderr.trim()
        );
    }
    let pretty_name = stdout
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|name| name.trim_matches('"').to_string());
    if !stdout.contains(&format!("VERSION_CODENAME={SUITE}")) {
        bail!("the guest is not Debian {SUITE}; its /etc/os-release says:\n{stdout}");
    }
    println!(
        "base-image: `{BUILD_USER}` logged in and ran sudo on {}",
        pretty_name.as_deref().unwrap_or("the guest")
    );

    steps.time("power off", || {
        runtime.block_on(machine.shutdown()).map_err(qemu_error)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_default_to_verify_without_force() {
        let options = Options::parse(&[]).unwrap();
        assert_eq!(
            options,
            Options {
                force: false,
                verify: true,
                mirror: None
            }
        );
    }

    #[test]
    fn options_take_force_no_verify_and_mirror_both_ways() {
        let options = Options::parse(&args(&[
            "--force",
            "--no-verify",
            "--mirror",
            "http://m/debian",
        ]))
        .unwrap();
        assert!(options.force && !options.verify);
        assert_eq!(options.mirror.as_deref(), Some("http://m/debian"));
        let options = Options::parse(&args(&["--mirror=file:///srv/debian"])).unwrap();
        assert_eq!(options.mirror.as_deref(), Some("file:///srv/debian"));
    }

    #[test]
    fn options_reject_unknown_and_incomplete_arguments() {
        let err = Options::parse(&args(&["--frce"])).unwrap_err().to_string();
        assert!(err.starts_with("unknown argument `--frce`"), "{err}");
        let err = Options::parse(&args(&["--mirror"]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("`--mirror` needs a URL"), "{err}");
    }

    const DEB822: &str = "\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://deb.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.example.org/debian-security
Suites: bookworm-security
Components: main
";

    #[test]
    fn deb822_stanzas_give_uris_and_suites() {
        let sources = deb822_sources(DEB822);
        assert_eq!(
            sources,
            vec![
                AptSource {
                    uris: vec!["http://deb.example.org/debian".into()],
                    suites: vec!["bookworm".into(), "bookworm-updates".into()],
                },
                AptSource {
                    uris: vec!["http://deb.example.org/debian-security".into()],
                    suites: vec!["bookworm-security".into()],
                },
            ]
        );
    }

    #[test]
    fn deb822_skips_disabled_and_source_only_stanzas_and_joins_continuations() {
        let text = "\
Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Enabled: no
Types: deb
URIs: http://off.example/debian
Suites: bookworm

Types: deb
URIs: http://a.example/debian
 http://b.example/debian
Suites: trixie
";
        let sources = deb822_sources(text);
        assert_eq!(
            sources,
            vec![AptSource {
                uris: vec![
                    "http://a.example/debian".into(),
                    "http://b.example/debian".into()
                ],
                suites: vec!["trixie".into()],
            }]
        );
    }

    #[test]
    fn one_line_sources_skip_comments_options_and_deb_src() {
        let text = "\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://opt.example/debian bookworm main # trailing
deb http://plain.example/debian-security bookworm-security main
";
        let sources = one_line_sources(text);
        assert_eq!(
            sources,
            vec![
                AptSource {
                    uris: vec!["http://opt.example/debian".into()],
                    suites: vec!["bookworm".into()],
                },
                AptSource {
                    uris: vec!["http://plain.example/debian-security".into()],
                    suites: vec!["bookworm-security".into()],
                },
            ]
        );
    }

    #[test]
    fn mirror_serving_the_suite_wins_over_the_security_archive() {
        let mut sources = deb822_sources(DEB822);
        sources.reverse();
        assert_eq!(
            pick_mirror(&sources, "bookworm").as_deref(),
            Some("http://deb.example.org/debian")
        );
    }

    #[test]
    fn any_debian_archive_serves_another_suite() {
        let sources = one_line_sources(
            "deb https://cloud.example/apt cloud-sdk main\ndeb http://m.example/debian/ trixie main\n",
        );
        assert_eq!(
            pick_mirror(&sources, "bookworm").as_deref(),
            Some("http://m.example/debian/")
        );
    }

    #[test]
    fn no_mirror_from_unfetchable_or_foreign_sources() {
        let sources = one_line_sources(
            "deb cdrom:[Debian]/ bookworm main\ndeb https://cloud.example/apt cloud-sdk main\n",
        );
        assert_eq!(pick_mirror(&sources, "bookworm"), None);
    }

    #[test]
    fn guest_files_give_the_build_user_key_and_sudo() {
        let files = guest_files("ssh-ed25519 AAAAC3Nza imgs-build");
        let find = |path: &str| files.iter().find(|f| f.path == path).unwrap();
        let keys = find("home/imgs/.ssh/authorized_keys");
        assert_eq!(keys.contents, "ssh-ed25519 AAAAC3Nza imgs-build\n");
        assert_eq!((keys.mode, keys.user_owned), (0o600, true));
        let sudoers = find("etc/sudoers.d/imgs");
        assert_eq!(sudoers.contents, "imgs ALL=(ALL) NOPASSWD:ALL\n");
        assert_eq!((sudoers.mode, sudoers.user_owned), (0o440, false));
        assert!(
            find("etc/network/interfaces")
                .contents
                .contains("auto eth0\niface eth0 inet dhcp\n")
        );
        assert!(find("etc/fstab").contents.starts_with("/dev/vda\t/\text4"));
    }

    #[test]
    fn passwd_ids_find_the_user() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nimgs:x:1000:1001::/home/imgs:/bin/bash\n";
        assert_eq!(passwd_ids(passwd, "imgs"), Some((1000, 1001)));
        assert_eq!(passwd_ids(passwd, "nobody"), None);
        assert_eq!(passwd_ids("imgs:x:oops:1::/:/bin/sh\n", "imgs"), None);
    }

    #[test]
    fn kernel_version_needs_both_halves_and_takes_the_newest() {
        let names = args(&[
            "System.map-6.1.0-50-cloud-amd64",
            "config-6.1.0-50-cloud-amd64",
            "initrd.img-6.1.0-49-cloud-amd64",
            "initrd.img-6.1.0-50-cloud-amd64",
            "vmlinuz-6.1.0-49-cloud-amd64",
            "vmlinuz-6.1.0-50-cloud-amd64",
            "vmlinuz-6.2.0-1-cloud-amd64",
        ]);
        assert_eq!(
            kernel_version(&names).as_deref(),
            Some("6.1.0-50-cloud-amd64")
        );
        assert_eq!(
            kernel_version(&args(&["vmlinuz-6.1.0-50-cloud-amd64"])),
            None
        );
    }

    #[test]
    fn disk_size_leaves_headroom_in_whole_steps() {
        let step = 256 << 20;
        let size = disk_size(323 << 20);
        assert_eq!(size % step, 0);
        assert!(size >= (323 << 20) + (1 << 30));
        assert_eq!(disk_size(0), 1 << 30);
    }

    #[test]
    fn stamp_changes_with_the_key_and_names_every_input() {
        let a = stamp("ssh-ed25519 AAAA one");
        assert_ne!(a, stamp("ssh-ed25519 BBBB two"));
        let recipe = blake3::hash(RECIPE_SOURCE.as_bytes()).to_string();
        assert!(a.contains(&format!("recipe = {recipe}\n")));
        assert!(
            a.lines()
                .any(|l| l.starts_with("fingerprint = ") && l.len() == 14 + 64)
        );
        assert!(a.contains("packages = linux-image-cloud-amd64,"));
        assert!(a.contains("public_key = ssh-ed25519 AAAA one\n"));
    }

    #[test]
    fn current_only_with_every_output_and_the_same_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = stamp("ssh-ed25519 AAAA one");
        for name in [DISK, KERNEL, INITRD] {
            fs::write(dir.path().join(name), "x").unwrap();
        }
        assert!(!is_current(dir.path(), &stamp), "no stamp yet");
        fs::write(dir.path().join(STAMP), &stamp).unwrap();
        assert!(is_current(dir.path(), &stamp));
        assert!(!is_current(
            dir.path(),
            &super::stamp("ssh-ed25519 BBBB two")
        ));
        fs::remove_file(dir.path().join(INITRD)).unwrap();
        assert!(!is_current(dir.path(), &stamp));
    }

    #[test]
    fn publish_moves_outputs_and_replaces_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let (staged, out) = (dir.path().join("staged"), dir.path().join("out"));
        fs::create_dir(&staged).unwrap();
        fs::create_dir(&out).unwrap();
        fs::write(out.join(KEY), "private").unwrap();
        fs::write(out.join(STAMP), "old").unwrap();
        for name in [DISK, KERNEL, INITRD] {
            fs::write(staged.join(name), name).unwrap();
        }
        publish(&staged, &out, "new").unwrap();
        assert_eq!(fs::read_to_string(out.join(DISK)).unwrap(), DISK);
        assert_eq!(fs::read_to_string(out.join(STAMP)).unwrap(), "new");
        assert_eq!(fs::read_to_string(out.join(KEY)).unwrap(), "private");
        assert_eq!(fs::read_dir(&staged).unwrap().count(), 0);
    }

    #[test]
    fn verify_boots_a_layer_of_the_staged_disk_directly() {
        let settings = verify_settings(
            Path::new("/w/out"),
            Path::new("/c/id_ed25519"),
            Path::new("/w"),
        );
        let config = QemuConfig::from_settings(
            &imgs_settings::Settings::from_json_map(&settings),
            "base-image",
        )
        .unwrap();
        assert!(config.use_backing_file);
        assert_eq!(config.source, Path::new("/w/out").join(DISK));
        assert_eq!(config.output_disk(), Path::new("/w/verify/verify.qcow2"));
        assert_eq!(config.qemuargs[2], ["-append", KERNEL_APPEND]);
        assert_eq!(config.ssh_timeout, SSH_TIMEOUT);
        assert_eq!(config.shutdown_timeout, POWEROFF_TIMEOUT);
    }

    #[test]
    fn a_failed_step_names_the_step_and_keeps_its_cause() {
        let mut steps = Steps::default();
        let err = steps
            .time("qemu-img convert", || {
                run_command(
                    Command::new("sh").args(["-c", "echo 'Could not open disk.raw' >&2; exit 1"]),
                )
            })
            .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "base-image step `qemu-img convert` failed: `sh -c echo 'Could not open disk.raw' >&2; exit 1` \
             failed with exit status: 1: Could not open disk.raw"
        );
        assert!(steps.0.is_empty(), "a failed step is not timed as done");
    }

    #[test]
    fn work_dir_names_carry_their_process() {
        assert_eq!(work_dir_pid(".base-image-4242-Ab3xYz"), Some(4242));
        assert_eq!(work_dir_pid(".base-image-Ab3xYz"), None);
        assert_eq!(work_dir_pid("base-image"), None);
    }
}
