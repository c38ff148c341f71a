//! The `qemu` builder: boots an ISO or a disk image in QEMU, provisions it, keeps the disk. Checks come
//! from its own config and the ISO, HTTP, floppy/CD, boot command, VNC and communicator configs.

use super::decoded::{Decoded, known, with_hint};
use super::{IoCheck, IoCheckKind, SchemaProblem, TypeSchema, ValueType, communicator};
use super::{RefKey, plain};
use crate::references::Expect;

/// The settings that name files the build reads: the source disk when it is local, and what the
/// guest is given (floppies, CDs, the HTTP directory).
pub(super) const REFERENCES: &[RefKey] = &[
    RefKey {
        key: "iso_url",
        expect: Expect::File,
        url: true,
        globs: false,
        with_directory: false,
    },
    RefKey {
        key: "iso_urls",
        expect: Expect::File,
        url: true,
        globs: false,
        with_directory: false,
    },
    RefKey {
        key: "floppy_files",
        expect: Expect::FileOrDirectory,
        url: false,
        globs: true,
        with_directory: false,
    },
    RefKey {
        key: "floppy_dirs",
        expect: Expect::Directory,
        url: false,
        globs: true,
        with_directory: false,
    },
    RefKey {
        key: "cd_files",
        expect: Expect::FileOrDirectory,
        url: false,
        globs: true,
        with_directory: false,
    },
    plain("http_directory", Expect::Directory),
];

/// The boot command and QEMU arguments are rendered at boot time with the HTTP server's address and
/// ports (`{{ .HTTPIP }}`, `{{ .SSHHostPort }}`, ...).
pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "qemu",
    keys: &[KEYS, communicator::KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &["boot_command", "qemuargs"],
};

pub(super) const IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "floppy_files",
        what: IoCheckKind::ExistsOrGlob,
        packer_message: "Bad Floppy disk file '<path>': <error>",
    },
    IoCheck {
        key: "floppy_dirs",
        what: IoCheckKind::ExistsOrGlob,
        packer_message: "Bad Floppy disk directory '<path>': <error>",
    },
    IoCheck {
        key: "cd_files",
        what: IoCheckKind::ExistsOrGlob,
        packer_message: "Bad CD disk file '<path>': <error>",
    },
    IoCheck {
        key: "iso_checksum",
        what: IoCheckKind::ChecksumFile,
        packer_message: "<error> in \"file:<path>\"",
    },
    communicator::IO_CHECKS[0],
    communicator::IO_CHECKS[1],
    // Default `output-<build name>`; not checked when the build is forced (`packer_force`).
    IoCheck {
        key: "output_directory",
        what: IoCheckKind::MustNotExist,
        packer_message: "Output directory '<path>' already exists. It must not exist.",
    },
];

const ACCELERATORS: &[&str] = &["none", "kvm", "tcg", "xen", "hax", "hvf", "whpx"];
const DISK_INTERFACES: &[&str] = &["ide", "scsi", "virtio", "virtio-scsi"];
const DISK_CACHES: &[&str] = &["writethrough", "writeback", "none", "unsafe", "directsync"];
const DISK_DISCARDS: &[&str] = &["unmap", "ignore"];
const DETECT_ZEROES: &[&str] = &["unmap", "on", "off"];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let disk_size = c.string("disk_size");
    if known(&disk_size) && !matches!(disk_size.as_str(), "" | "0") && !is_disk_size(&disk_size) {
        out.push(with_hint(
            c.problem("disk_size", format!("invalid disk_size `{disk_size}`")),
            "give a number of megabytes, or a number with a b, k, m, g or t suffix (\"20G\")",
        ));
    }
    if c.list_len("boot_command") > 0 && c.bool("disable_vnc") {
        out.push(c.problem(
            "disable_vnc",
            "a boot command cannot be used when VNC is disabled",
        ));
    }
    check_iso(c, out);
    check_http(c, out);
    communicator::check(c, out);
    check_host_ports(c, out);

    let format = c.string("format");
    let format = if format.is_empty() {
        "qcow2".to_string()
    } else {
        format
    };
    if known(&format) && format != "qcow2" && format != "raw" {
        out.push(c.problem(
            "format",
            format!("invalid format `{format}`: only qcow2 and raw are allowed"),
        ));
    }
    let disk_image = c.bool("disk_image");
    if c.bool("use_backing_file") && !(disk_image && format == "qcow2") {
        out.push(c.problem(
            "use_backing_file",
            "use_backing_file needs disk_image: true and the qcow2 format",
        ));
    }
    if c.bool("skip_resize_disk") && !disk_image {
        out.push(c.problem(
            "skip_resize_disk",
            "skip_resize_disk can only be used when disk_image is true",
        ));
    }
    one_of(c, "accelerator", "accelerator", ACCELERATORS, out);
    one_of(c, "disk_interface", "disk interface", DISK_INTERFACES, out);
    one_of(c, "disk_cache", "disk cache", DISK_CACHES, out);
    one_of(
        c,
        "disk_discard",
        "disk discard setting",
        DISK_DISCARDS,
        out,
    );
    one_of(
        c,
        "disk_detect_zeroes",
        "detect zeroes setting",
        DETECT_ZEROES,
        out,
    );

    let vnc_min = or_default(c.int("vnc_port_min"), 5900);
    let vnc_max = or_default(c.int("vnc_port_max"), 6000);
    if vnc_min > vnc_max {
        out.push(c.problem(
            "vnc_port_min",
            format!("vnc_port_min ({vnc_min}) must be less than vnc_port_max ({vnc_max})"),
        ));
    }
}

/// Packer treats 0 as "unset" and uses its default.
fn or_default(value: i64, default: i64) -> i64 {
    if value == 0 { default } else { value }
}

/// An empty value means Packer's default, which is always valid.
fn one_of(c: &Decoded, key: &str, what: &str, allowed: &[&str], out: &mut Vec<SchemaProblem>) {
    let value = c.string(key);
    if known(&value) && !value.is_empty() && !allowed.contains(&value.as_str()) {
        out.push(with_hint(
            c.problem(key, format!("unrecognized {what} `{value}`")),
            format!("use one of: {}", allowed.join(", ")),
        ));
    }
}

/// Digits with an optional unit letter, any case: `40960`, `20G`, `512m`.
fn is_disk_size(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let digits = lower
        .strip_suffix(['b', 'k', 'm', 'g', 't'])
        .unwrap_or(&lower);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn check_iso(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let url = !c.string("iso_url").is_empty();
    let urls = c.list_len("iso_urls") > 0;
    if url && urls {
        out.push(c.problem(
            "iso_urls",
            "only one of iso_url and iso_urls may be specified",
        ));
        return;
    }
    if !url && !urls {
        out.push(with_hint(
            c.problem("iso_url", "one of iso_url and iso_urls must be specified"),
            "for a disk image (disk_image: true), iso_url is the image to start from",
        ));
        return;
    }
    if c.bool("iso_skip_cache") {
        return;
    }
    let checksum = c.string("iso_checksum");
    if checksum.is_empty() {
        out.push(with_hint(
            c.problem("iso_checksum", "iso_checksum must be specified"),
            "give \"sha256:HEX\", \"file:URL_OR_PATH\", or \"none\" to skip verification",
        ));
    } else if known(&checksum)
        && checksum != "none"
        && let Err(why) = check_checksum(&checksum)
    {
        out.push(with_hint(
            c.problem(
                "iso_checksum",
                format!("invalid iso_checksum `{checksum}`: {why}"),
            ),
            "write TYPE:HEX with TYPE md5, sha1, sha256 or sha512, or file:URL_OR_PATH",
        ));
    }
}

/// What go-getter accepts as a checksum: `TYPE:HEX`, `file:...` (read later), or bare hex whose length
/// tells the type.
fn check_checksum(checksum: &str) -> Result<(), String> {
    let is_hex = |s: &str| s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit());
    match checksum.split_once(':') {
        Some(("file", _)) => Ok(()),
        Some((kind, value)) => {
            if !is_hex(value) {
                return Err("the value must be an even number of hexadecimal digits".to_string());
            }
            match kind.to_ascii_lowercase().as_str() {
                "md5" | "sha1" | "sha256" | "sha512" => Ok(()),
                _ => Err(format!("unsupported checksum type `{kind}`")),
            }
        }
        None if !is_hex(checksum) => {
            Err("the value must be an even number of hexadecimal digits".to_string())
        }
        None => match checksum.len() / 2 {
            16 | 20 | 32 | 64 => Ok(()),
            _ => Err("its length matches no checksum type".to_string()),
        },
    }
}

fn check_http(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let min = or_default(c.int("http_port_min"), 8000);
    let max = or_default(c.int("http_port_max"), 9000);
    if min > max {
        out.push(c.problem(
            "http_port_min",
            format!("http_port_min ({min}) must be less than http_port_max ({max})"),
        ));
    }
    let address = c.string("http_bind_address");
    if !c.string("http_interface").is_empty() && (address.is_empty() || address == "0.0.0.0") {
        out.push(c.problem(
            "http_interface",
            "specify either http_interface or http_bind_address, not both",
        ));
    }
}

fn check_host_ports(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    // The deprecated ssh_host_port_* names override host_port_* when set.
    let pick = |old: &str, new: &str, default: i64| {
        let old = c.int(old);
        or_default(if old != 0 { old } else { c.int(new) }, default)
    };
    let min = pick("ssh_host_port_min", "host_port_min", 2222);
    let max = pick("ssh_host_port_max", "host_port_max", 4444);
    if min > max {
        out.push(c.problem(
            "host_port_min",
            format!("host_port_min ({min}) must be less than host_port_max ({max})"),
        ));
    }
    if min < 0 {
        out.push(c.problem("host_port_min", "host_port_min must be positive"));
    }
}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order, with embedded configs flattened.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("http_directory", ValueType::String),
    ("http_port_min", ValueType::Int),
    ("http_port_max", ValueType::Int),
    ("http_bind_address", ValueType::String),
    ("http_interface", ValueType::String),
    ("iso_checksum", ValueType::String),
    ("iso_url", ValueType::String),
    ("iso_urls", ValueType::StringList),
    ("iso_target_path", ValueType::String),
    ("iso_target_extension", ValueType::String),
    ("boot_keygroup_interval", ValueType::Duration),
    ("boot_wait", ValueType::Duration),
    ("boot_command", ValueType::StringList),
    ("disable_vnc", ValueType::Bool),
    ("boot_key_interval", ValueType::Duration),
    ("shutdown_command", ValueType::String),
    ("shutdown_timeout", ValueType::Duration),
    ("host_port_min", ValueType::Int),
    ("host_port_max", ValueType::Int),
    ("skip_nat_mapping", ValueType::Bool),
    ("ssh_host_port_min", ValueType::Int),
    ("ssh_host_port_max", ValueType::Int),
    ("floppy_files", ValueType::StringList),
    ("floppy_dirs", ValueType::StringList),
    ("floppy_label", ValueType::String),
    ("cd_files", ValueType::StringList),
    ("cd_label", ValueType::String),
    ("iso_skip_cache", ValueType::Bool),
    ("accelerator", ValueType::String),
    ("disk_additional_size", ValueType::StringList),
    ("cpus", ValueType::Int),
    ("disk_interface", ValueType::String),
    ("disk_size", ValueType::String),
    ("skip_resize_disk", ValueType::Bool),
    ("disk_cache", ValueType::String),
    ("disk_discard", ValueType::String),
    ("disk_detect_zeroes", ValueType::String),
    ("skip_compaction", ValueType::Bool),
    ("disk_compression", ValueType::Bool),
    ("format", ValueType::String),
    ("headless", ValueType::Bool),
    ("disk_image", ValueType::Bool),
    ("use_backing_file", ValueType::Bool),
    ("machine_type", ValueType::String),
    ("memory", ValueType::Int),
    ("net_device", ValueType::String),
    ("net_bridge", ValueType::String),
    ("output_directory", ValueType::String),
    ("qemuargs", ValueType::ListOfStringLists),
    ("qemu_img_args", ValueType::Object),
    ("qemu_binary", ValueType::String),
    ("qmp_enable", ValueType::Bool),
    ("qmp_socket_path", ValueType::String),
    ("use_default_display", ValueType::Bool),
    ("display", ValueType::String),
    ("vnc_bind_address", ValueType::String),
    ("vnc_use_password", ValueType::Bool),
    ("vnc_port_min", ValueType::Int),
    ("vnc_port_max", ValueType::Int),
    ("vm_name", ValueType::String),
    ("cdrom_interface", ValueType::String),
    ("run_once", ValueType::Bool),
];

/// Keys of the objects (or of each object in a list) that some keys hold.
pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[(
    "qemu_img_args",
    &[
        ("convert", ValueType::StringList),
        ("create", ValueType::StringList),
        ("resize", ValueType::StringList),
    ],
)];
