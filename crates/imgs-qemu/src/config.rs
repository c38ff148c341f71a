//! The qemu builder's settings, read the way Packer 1.6.6 reads them (same names, same defaults, the
//! same weak typing: `"1024"` is a number and `"true"` a flag), after the template's functions have been
//! applied. Only starting from a disk image is supported; keys for what imgs does not do yet (typing a
//! boot command over VNC, ISO installs, floppies, CDs, the HTTP server) are refused by name when they ask
//! for something, so a template never builds differently from what it says.
//!
//! Where imgs differs on purpose: `accelerator` defaults to `auto` (see [`crate::accel`]) rather than
//! kvm; without `disk_size` the disk keeps the source's size rather than growing to 40960M (a layer's
//! virtual size would otherwise change for nothing; a smaller `disk_size` is an error, as in Packer,
//! whose qemu-img refuses to shrink); `boot_wait` defaults to none, as there is no boot command to wait
//! for; without `shutdown_command` the guest's disks are synced and qemu is asked to quit instead of
//! being killed.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use imgs_diagnostic::Diagnostics;
use imgs_settings::{Decoder, KeyRules, Setting, Settings};
use imgs_ssh::SshConfig;

use crate::checksum::Checksum;

const DEFAULT_HOST_PORTS: RangeInclusive<u16> = 2222..=4444;
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const DEFAULT_CPUS: u32 = 1;
const DEFAULT_MEMORY_MIB: u32 = 512;

/// Keys this crate reads (the `ssh_*` keys go to [`SshConfig::from_settings`]).
const SUPPORTED: &[&str] = &[
    "iso_url",
    "iso_checksum",
    "disk_image",
    "use_backing_file",
    "format",
    "disk_size",
    "skip_resize_disk",
    "disk_interface",
    "disk_cache",
    "disk_discard",
    "disk_detect_zeroes",
    "net_device",
    "machine_type",
    "output_directory",
    "vm_name",
    "accelerator",
    "cpus",
    "memory",
    "qemuargs",
    "headless",
    "qemu_binary",
    "host_port_min",
    "host_port_max",
    "ssh_host_port_min",
    "ssh_host_port_max",
    "shutdown_command",
    "shutdown_timeout",
    "boot_wait",
    "communicator",
    // The source disk is read where it is; there is no download cache to skip.
    "iso_skip_cache",
    // The output is never compacted: a fresh layer or copy holds only what was written.
    "skip_compaction",
    // No VNC server is ever started, so `true` is what happens anyway.
    "disable_vnc",
];

/// Keys Packer 1.6.6 knows that imgs does not implement: an error when they ask for something.
const NOT_SUPPORTED: &[&str] = &[
    "boot_command",
    "boot_keygroup_interval",
    "boot_key_interval",
    "iso_urls",
    "iso_target_path",
    "iso_target_extension",
    "vnc_bind_address",
    "vnc_use_password",
    "vnc_port_min",
    "vnc_port_max",
    "floppy_files",
    "floppy_dirs",
    "floppy_label",
    "cd_files",
    "cd_label",
    "cdrom_interface",
    "http_directory",
    "http_port_min",
    "http_port_max",
    "http_bind_address",
    "http_interface",
    "disk_additional_size",
    "disk_compression",
    "skip_nat_mapping",
    "net_bridge",
    "qemu_img_args",
    "qmp_enable",
    "qmp_socket_path",
    "use_default_display",
    "display",
    "run_once",
    "pause_before_connecting",
    "temporary_key_pair_name",
    "temporary_key_pair_type",
    "temporary_key_pair_bits",
];

/// Everything needed to make the disk, boot it and reach it.
#[derive(Clone, Debug, PartialEq)]
pub struct QemuConfig {
    /// The disk to start from (`iso_url` with `disk_image: true`).
    pub source: PathBuf,
    pub checksum: Checksum,
    /// The output is a qcow2 layer whose backing file is `source` (by absolute path), not a copy.
    pub use_backing_file: bool,
    pub format: DiskFormat,
    /// Grow the disk to this many bytes; `None` keeps the source's size.
    pub disk_size: Option<u64>,
    pub disk_interface: DiskInterface,
    pub disk_cache: String,
    pub disk_discard: String,
    pub disk_detect_zeroes: String,
    pub net_device: String,
    pub machine_type: String,
    pub output_directory: PathBuf,
    /// Packer's `-force`: an `output_directory` that exists is replaced when the new disk is
    /// published, instead of failing the build. Not a template setting; the caller sets it.
    pub force: bool,
    /// The disk's file name inside `output_directory`.
    pub vm_name: String,
    pub accelerator: Accelerator,
    pub cpus: u32,
    pub memory_mib: u32,
    /// Extra qemu arguments, each list a flag and its values; a flag given here replaces imgs's default
    /// for the same flag, as in Packer.
    pub qemuargs: Vec<Vec<String>>,
    pub headless: bool,
    pub qemu_binary: String,
    /// Where the guest's SSH port is forwarded from, on 127.0.0.1.
    pub host_ports: RangeInclusive<u16>,
    /// Run over SSH to power the guest off; `None` syncs the guest's disks and stops qemu.
    pub shutdown_command: Option<String>,
    pub shutdown_timeout: Duration,
    /// A pause after qemu starts, before the first SSH attempt.
    pub boot_wait: Duration,
    /// The `ssh_*` settings; the host and port are filled in once qemu runs.
    pub ssh_settings: Settings,
    /// `ssh_timeout`, as the SSH settings give it.
    pub ssh_timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFormat {
    Qcow2,
    Raw,
}

impl DiskFormat {
    pub fn name(self) -> &'static str {
        match self {
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Raw => "raw",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskInterface {
    Virtio,
    Ide,
    Scsi,
    VirtioScsi,
}

/// How qemu runs the guest's CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accelerator {
    /// imgs's default: KVM when this host can run guests under it, else TCG (see [`crate::accel`]).
    Auto,
    Kvm,
    Tcg,
    /// No `accel=` at all: qemu picks.
    None,
}

impl QemuConfig {
    /// Reads a qemu builder's settings. `build_name` names the defaults Packer derives from it
    /// (`output-NAME`, `packer-NAME`). Every problem is reported with its key.
    pub fn from_settings(settings: &Settings, build_name: &str) -> Result<QemuConfig, Diagnostics> {
        settings.decode(|r| QemuConfig::decode(r, settings, build_name))
    }

    fn decode(r: &mut Decoder<'_>, settings: &Settings, build_name: &str) -> QemuConfig {
        r.check_keys(&KeyRules {
            what: "qemu builder",
            known: SUPPORTED,
            not_supported: NOT_SUPPORTED,
            other_prefixes: &["ssh_", "winrm_"],
            only_prefix: None,
        });
        // The WinRM communicator's keys: the qemu builder reaches its guest over SSH only.
        r.refuse_set_keys_with_prefix("winrm_", "qemu builder");

        if !r.flag("disk_image") {
            r.problem(
                "disk_image",
                "not supported yet: ISO installs (disk_image: false)",
                "set `disk_image: true` and `iso_url` to a bootable disk to start from",
            );
        }
        let source = match r.string("iso_url") {
            Some(url) => local_path(r, "iso_url", &url),
            None => {
                r.problem(
                    "iso_url",
                    "iso_url must be specified",
                    "set `iso_url` to the disk image to start from (a path or file:// URL)",
                );
                PathBuf::new()
            }
        };
        let checksum = match r.string("iso_checksum") {
            None => {
                r.problem(
                    "iso_checksum",
                    "iso_checksum must be specified",
                    "give \"sha256:HEX\", \"file:PATH\", or \"none\" to skip verification",
                );
                Checksum::None
            }
            Some(text) => Checksum::parse(&text).unwrap_or_else(|why| {
                r.problem(
                    "iso_checksum",
                    format!("invalid iso_checksum `{text}`: {why}"),
                    "write TYPE:HEX with TYPE md5, sha1, sha256 or sha512, file:PATH, or none",
                );
                Checksum::None
            }),
        };

        let format = match r.string("format").as_deref() {
            None | Some("qcow2") => DiskFormat::Qcow2,
            Some("raw") => DiskFormat::Raw,
            Some(other) => {
                r.problem(
                    "format",
                    format!("invalid format `{other}`"),
                    "use qcow2 or raw",
                );
                DiskFormat::Qcow2
            }
        };
        let use_backing_file = r.flag("use_backing_file");
        if use_backing_file && format != DiskFormat::Qcow2 {
            r.problem(
                "use_backing_file",
                "use_backing_file needs the qcow2 format",
                "remove `use_backing_file` or set `format` to qcow2",
            );
        }
        let disk_size = r.string("disk_size").and_then(|text| {
            parse_disk_size(&text).or_else(|| {
                r.problem(
                    "disk_size",
                    format!("invalid disk_size `{text}`"),
                    "give a number of megabytes, or a number with a b, k, m, g or t suffix (\"20G\")",
                );
                None
            })
        });
        let disk_size = disk_size.filter(|_| !r.flag("skip_resize_disk"));
        let disk_interface = match r.string("disk_interface").as_deref() {
            None | Some("virtio") => DiskInterface::Virtio,
            Some("ide") => DiskInterface::Ide,
            Some("scsi") => DiskInterface::Scsi,
            Some("virtio-scsi") => DiskInterface::VirtioScsi,
            Some(other) => {
                r.problem(
                    "disk_interface",
                    format!("unrecognized disk interface `{other}`"),
                    "use one of: ide, scsi, virtio, virtio-scsi",
                );
                DiskInterface::Virtio
            }
        };
        let disk_cache = r.one_of(
            "disk_cache",
            &["writeback", "writethrough", "none", "unsafe", "directsync"],
        );
        let disk_discard = r.one_of("disk_discard", &["ignore", "unmap"]);
        let disk_detect_zeroes = r.one_of("disk_detect_zeroes", &["off", "on", "unmap"]);

        let accelerator = match r.string("accelerator").as_deref() {
            None | Some("auto") => Accelerator::Auto,
            Some("kvm") => Accelerator::Kvm,
            Some("tcg") => Accelerator::Tcg,
            Some("none") => Accelerator::None,
            Some(other @ ("xen" | "hax" | "hvf" | "whpx")) => {
                r.problem(
                    "accelerator",
                    format!("not supported yet: accelerator `{other}`"),
                    "use auto, kvm, tcg or none",
                );
                Accelerator::Auto
            }
            Some(other) => {
                r.problem(
                    "accelerator",
                    format!("unrecognized accelerator `{other}`"),
                    "use auto, kvm, tcg or none",
                );
                Accelerator::Auto
            }
        };

        let host_ports = host_ports(r);
        let qemuargs = qemuargs(r);
        let communicator = r.string("communicator");
        if let Some(other) = communicator.filter(|c| c != "ssh") {
            r.problem(
                "communicator",
                format!("not supported yet: communicator `{other}`"),
                "the qemu builder reaches its guest over SSH; remove `communicator` or set it to ssh",
            );
        }

        // The communicator's keys, for the SSH reader once the guest's forwarded port is known; the
        // guest is always reached on this machine.
        let mut ssh_settings = settings.with_prefix("ssh_");
        ssh_settings
            .object
            .entries
            .retain(|(k, _)| !k.starts_with("ssh_host_port_"));
        if ssh_settings.object.get("ssh_host").is_none() {
            ssh_settings
                .object
                .set("ssh_host", Setting::string("127.0.0.1"));
        }
        let ssh_timeout = match SshConfig::read(&ssh_settings) {
            Ok(ssh) => ssh.timeout,
            Err(problems) => {
                r.extend(problems);
                Duration::ZERO
            }
        };

        let config = QemuConfig {
            source,
            checksum,
            use_backing_file,
            format,
            disk_size,
            disk_interface,
            disk_cache: disk_cache.unwrap_or_else(|| "writeback".into()),
            disk_discard: disk_discard.unwrap_or_else(|| "ignore".into()),
            disk_detect_zeroes: disk_detect_zeroes.unwrap_or_else(|| "off".into()),
            net_device: r
                .string("net_device")
                .unwrap_or_else(|| "virtio-net".into()),
            machine_type: r.string("machine_type").unwrap_or_else(|| "pc".into()),
            output_directory: r
                .string("output_directory")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(format!("output-{build_name}"))),
            force: false,
            vm_name: r
                .string("vm_name")
                .unwrap_or_else(|| format!("packer-{build_name}")),
            accelerator,
            cpus: r.positive("cpus").unwrap_or(DEFAULT_CPUS),
            memory_mib: r.positive("memory").unwrap_or(DEFAULT_MEMORY_MIB),
            qemuargs,
            headless: r.flag("headless"),
            qemu_binary: r
                .string("qemu_binary")
                .unwrap_or_else(|| "qemu-system-x86_64".into()),
            host_ports,
            shutdown_command: r.string("shutdown_command"),
            shutdown_timeout: r
                .duration("shutdown_timeout")
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
            boot_wait: r.duration("boot_wait").unwrap_or(Duration::ZERO),
            ssh_settings,
            ssh_timeout,
        };
        if config.vm_name.contains('/') {
            r.problem(
                "vm_name",
                format!("vm_name `{}` must be a file name", config.vm_name),
                "put the directory in `output_directory`",
            );
        }
        config
    }

    /// The SSH settings for a guest whose port 22 is forwarded from `port` on the host.
    pub fn ssh_config(&self, port: u16) -> Result<SshConfig, Diagnostics> {
        let mut settings = self.ssh_settings.clone();
        settings
            .object
            .set("ssh_port", Setting::string(port.to_string()));
        SshConfig::read(&settings)
    }

    /// Where the finished disk ends up.
    pub fn output_disk(&self) -> PathBuf {
        self.output_directory.join(&self.vm_name)
    }
}

/// `disk_size` in bytes: a plain number is megabytes; `b`, `k`, `m`, `g`, `t` suffixes in any case.
pub(crate) fn parse_disk_size(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&lower[..i], c),
        _ => (lower.as_str(), 'm'),
    };
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        't' => 40,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// A local path from a path or a `file://` URL; other URLs cannot be downloaded yet.
fn local_path(r: &mut Decoder<'_>, key: &str, url: &str) -> PathBuf {
    if let Some(path) = url.strip_prefix("file://") {
        return PathBuf::from(path);
    }
    if let Some((scheme, _)) = url.split_once("://") {
        r.problem(
            key,
            format!("not supported yet: downloading {key} over {scheme}"),
            "download the disk first and give its local path",
        );
    }
    PathBuf::from(url)
}

/// The host ports SSH may be forwarded from; the deprecated `ssh_host_port_*` names win when set,
/// as in Packer.
fn host_ports(r: &mut Decoder<'_>) -> RangeInclusive<u16> {
    let mut pick = |old: &str, new: &str, default: u16| -> u16 {
        let (key, value) = match r.int(old).filter(|n| *n != 0) {
            Some(n) => (old, n),
            None => (new, r.int(new).unwrap_or(0)),
        };
        match value {
            0 => default,
            1..=65535 => value as u16,
            _ => {
                r.problem(
                    key,
                    format!("{key} {value} is not a port number"),
                    "use a number from 1 to 65535",
                );
                default
            }
        }
    };
    let min = pick(
        "ssh_host_port_min",
        "host_port_min",
        *DEFAULT_HOST_PORTS.start(),
    );
    let max = pick(
        "ssh_host_port_max",
        "host_port_max",
        *DEFAULT_HOST_PORTS.end(),
    );
    if min > max {
        r.problem(
            "host_port_min",
            format!("host_port_min ({min}) must not be above host_port_max ({max})"),
            "give a range such as 2222 to 4444",
        );
    }
    min..=max
}

/// `qemuargs`: each entry a flag and its values.
fn qemuargs(r: &mut Decoder<'_>) -> Vec<Vec<String>> {
    let lists = r.string_lists("qemuargs");
    for (i, list) in lists.iter().enumerate() {
        if list.is_empty() {
            r.problem(
                &format!("qemuargs[{i}]"),
                "each qemuargs entry must be a non-empty list of strings",
                "write [\"-flag\", \"value\"]",
            );
        }
    }
    lists.into_iter().filter(|l| !l.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    fn settings(value: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(value).unwrap()
    }

    fn from(map: &BTreeMap<String, Value>, name: &str) -> Result<QemuConfig, Diagnostics> {
        QemuConfig::from_settings(&Settings::from_json_map(map), name)
    }

    fn minimal() -> Value {
        json!({
            "type": "qemu",
            "iso_url": "cache/base-image/debian-bookworm.qcow2",
            "iso_checksum": "none",
            "disk_image": true,
            "ssh_username": "imgs",
            "ssh_private_key_file": "cache/base-image/id_ed25519",
        })
    }

    fn with(extra: Value) -> BTreeMap<String, Value> {
        let mut all = settings(minimal());
        all.extend(settings(extra));
        all
    }

    fn errors(extra: Value) -> String {
        from(&with(extra), "base")
            .expect_err("settings should be refused")
            .to_string()
    }

    #[test]
    fn defaults_are_packers_except_accelerator_and_boot_wait() {
        let c = from(&with(json!({})), "base").unwrap();
        assert_eq!(
            c.source,
            PathBuf::from("cache/base-image/debian-bookworm.qcow2")
        );
        assert_eq!(c.checksum, Checksum::None);
        assert_eq!(c.format, DiskFormat::Qcow2);
        assert_eq!(c.disk_interface, DiskInterface::Virtio);
        assert_eq!(
            (c.disk_cache.as_str(), c.disk_discard.as_str()),
            ("writeback", "ignore")
        );
        assert_eq!(c.net_device, "virtio-net");
        assert_eq!(c.output_disk(), PathBuf::from("output-base/packer-base"));
        assert_eq!(c.accelerator, Accelerator::Auto);
        assert_eq!((c.cpus, c.memory_mib), (1, 512));
        assert_eq!(c.host_ports, 2222..=4444);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(300));
        assert_eq!(c.boot_wait, Duration::ZERO);
        assert_eq!(c.ssh_timeout, Duration::from_secs(300));
        assert_eq!(c.disk_size, None);
        assert!(!c.headless && !c.use_backing_file);
        assert_eq!(
            c.ssh_settings.object.get("ssh_host"),
            Some(&Setting::string("127.0.0.1"))
        );
    }

    #[test]
    fn values_arrive_as_strings_after_interpolation() {
        let c = from(
            &with(json!({
                "iso_url": "file:///srv/disks/parent.qcow2",
                "iso_checksum": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "use_backing_file": "true",
                "memory": "1024",
                "cpus": 2,
                "accelerator": "tcg",
                "headless": true,
                "disk_size": "2G",
                "host_port_min": 3000,
                "ssh_host_port_max": "3010",
                "shutdown_command": "sudo systemctl poweroff",
                "shutdown_timeout": "30s",
                "boot_wait": "2s",
                "ssh_timeout": "90s",
                "qemuargs": [["-kernel", "vmlinuz"], ["-append", "root=/dev/vda rw"]],
                "output_directory": "cache/artifacts/app",
                "vm_name": "app.qcow2",
            })),
            "app",
        )
        .unwrap();
        assert_eq!(c.source, PathBuf::from("/srv/disks/parent.qcow2"));
        assert!(c.use_backing_file && c.headless);
        assert_eq!((c.cpus, c.memory_mib), (2, 1024));
        assert_eq!(c.accelerator, Accelerator::Tcg);
        assert_eq!(c.disk_size, Some(2 << 30));
        assert_eq!(c.host_ports, 3000..=3010);
        assert_eq!(
            c.shutdown_command.as_deref(),
            Some("sudo systemctl poweroff")
        );
        assert_eq!(c.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(c.boot_wait, Duration::from_secs(2));
        assert_eq!(c.ssh_timeout, Duration::from_secs(90));
        assert_eq!(c.qemuargs[0], vec!["-kernel", "vmlinuz"]);
        assert_eq!(
            c.output_disk(),
            PathBuf::from("cache/artifacts/app/app.qcow2")
        );
        assert_eq!(c.ssh_config(3005).unwrap().address(), "127.0.0.1:3005");
    }

    #[test]
    fn disk_sizes_default_to_megabytes() {
        assert_eq!(parse_disk_size("40960"), Some(40960 << 20));
        assert_eq!(parse_disk_size("20G"), Some(20 << 30));
        assert_eq!(parse_disk_size("512k"), Some(512 << 10));
        assert_eq!(parse_disk_size("1t"), Some(1 << 40));
        assert_eq!(parse_disk_size("100b"), Some(100));
        assert_eq!(parse_disk_size("G"), None);
        assert_eq!(parse_disk_size("2x"), None);
        assert_eq!(parse_disk_size("99999999999999T"), None);
    }

    #[test]
    fn zero_values_of_unsupported_keys_ask_for_nothing() {
        assert!(
            from(
                &with(json!({
                    "boot_command": [],
                    "floppy_files": null,
                    "vnc_port_min": 0,
                    "disable_vnc": true,
                    "http_directory": "",
                    "communicator": "ssh",
                })),
                "base"
            )
            .is_ok()
        );
    }

    #[test]
    fn unsupported_features_are_named() {
        insta::assert_snapshot!(errors(json!({
            "boot_command": ["<enter>"],
            "vnc_port_min": 5901,
            "floppy_files": ["ks.cfg"],
            "cd_files": ["meta-data"],
            "http_directory": "http",
            "accelerator": "hvf",
            "communicator": "winrm",
        })), @"
        error: not supported yet: boot_command
          = key: boot_command
          = hint: remove `boot_command`; imgs's qemu builder does not implement it yet
        error: not supported yet: cd_files
          = key: cd_files
          = hint: remove `cd_files`; imgs's qemu builder does not implement it yet
        error: not supported yet: floppy_files
          = key: floppy_files
          = hint: remove `floppy_files`; imgs's qemu builder does not implement it yet
        error: not supported yet: http_directory
          = key: http_directory
          = hint: remove `http_directory`; imgs's qemu builder does not implement it yet
        error: not supported yet: vnc_port_min
          = key: vnc_port_min
          = hint: remove `vnc_port_min`; imgs's qemu builder does not implement it yet
        error: not supported yet: accelerator `hvf`
          = key: accelerator
          = hint: use auto, kvm, tcg or none
        error: not supported yet: communicator `winrm`
          = key: communicator
          = hint: the qemu builder reaches its guest over SSH; remove `communicator` or set it to ssh
        ");
    }

    #[test]
    fn iso_installs_and_remote_disks_are_refused() {
        let mut s = settings(minimal());
        s.insert("disk_image".into(), json!(false));
        s.insert("iso_url".into(), json!("https://example.com/debian.iso"));
        s.remove("iso_checksum");
        insta::assert_snapshot!(from(&s, "base").unwrap_err().to_string(), @r#"
        error: not supported yet: ISO installs (disk_image: false)
          = key: disk_image
          = hint: set `disk_image: true` and `iso_url` to a bootable disk to start from
        error: not supported yet: downloading iso_url over https
          = key: iso_url
          = hint: download the disk first and give its local path
        error: iso_checksum must be specified
          = key: iso_checksum
          = hint: give "sha256:HEX", "file:PATH", or "none" to skip verification
        "#);
    }

    #[test]
    fn integers_read_as_go_reads_them_as_imgs_validate_does() {
        // `imgs validate` accepts "0x2" (Go's base-0 integers); the builder reads the same number.
        let c = from(
            &with(json!({ "cpus": "0x2", "memory": "0b10000000000" })),
            "base",
        )
        .unwrap();
        assert_eq!((c.cpus, c.memory_mib), (2, 1024));
    }

    #[test]
    fn every_bad_value_is_reported_with_its_key() {
        insta::assert_snapshot!(errors(json!({
            "iso_checksum": "sha256:abc",
            "format": "vmdk",
            "use_backing_file": true,
            "disk_size": "lots",
            "memory": "a gigabyte",
            "host_port_min": 5000,
            "host_port_max": 4000,
            "shutdown_timeout": "5 minutes",
            "qemuargs": [["-m", "1024"], []],
            "disk_interfce": "ide",
            "ssh_port": "twenty-two",
        })), @r#"
            error: unknown key `disk_interfce` in qemu builder
              = key: disk_interfce
              = hint: did you mean `disk_interface`?
            error: invalid iso_checksum `sha256:abc`: a sha256 checksum has 64 hexadecimal digits, not 3
              = key: iso_checksum
              = hint: write TYPE:HEX with TYPE md5, sha1, sha256 or sha512, file:PATH, or none
            error: invalid format `vmdk`
              = key: format
              = hint: use qcow2 or raw
            error: invalid disk_size `lots`
              = key: disk_size
              = hint: give a number of megabytes, or a number with a b, k, m, g or t suffix ("20G")
            error: host_port_min (5000) must not be above host_port_max (4000)
              = key: host_port_min
              = hint: give a range such as 2222 to 4444
            error: each qemuargs entry must be a non-empty list of strings
              = key: qemuargs[1]
              = hint: write ["-flag", "value"]
            error: invalid value for `ssh_port`: expected an integer, got the string "twenty-two"
              = key: ssh_port
              = hint: write a whole number such as 2
            error: invalid value for `memory`: expected an integer, got the string "a gigabyte"
              = key: memory
              = hint: write a whole number such as 2
            error: invalid value for `shutdown_timeout`: time: unknown unit " minutes" in duration "5 minutes"
              = key: shutdown_timeout
              = hint: write a duration such as "30s", "5m" or "1h30m"
            "#);
    }
}
