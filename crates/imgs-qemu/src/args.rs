//! qemu's command line. Like Packer, imgs has a default value list per flag, and a flag a template gives
//! in `qemuargs` replaces all of imgs's values for that flag (so `-device` in `qemuargs` must bring the
//! network device too). `{{ .SSHHostPort }}` in `qemuargs` becomes the forwarded port, as in Packer.

use std::path::Path;

use crate::accel::Resolved;
use crate::config::{DiskInterface, QemuConfig};

/// Everything decided at start time that the settings do not say.
pub struct Launch<'a> {
    pub disk: &'a Path,
    pub accelerator: Resolved,
    pub ssh_port: u16,
    /// Whether a window can be shown; without one a non-headless machine runs headless too.
    pub has_display: bool,
}

/// The arguments after the qemu binary, or the `qemuargs` placeholder imgs cannot fill.
pub fn qemu_args(config: &QemuConfig, launch: &Launch) -> Result<Vec<String>, String> {
    let mut flags = default_flags(config, launch);
    let user = user_flags(&config.qemuargs, launch.ssh_port)?;
    flags.retain(|(flag, _)| !user.iter().any(|(given, _)| given == flag));
    flags.extend(user);
    Ok(flags
        .into_iter()
        .flat_map(|(flag, values)| std::iter::once(flag).chain(values))
        .collect())
}

/// imgs's defaults, one entry per occurrence of a flag.
fn default_flags(config: &QemuConfig, launch: &Launch) -> Vec<(String, Vec<String>)> {
    let mut flags = Vec::new();
    let mut add = |flag: &str, value: String| flags.push((flag.to_string(), vec![value]));
    let machine = match launch.accelerator {
        Resolved::Kvm => format!("type={},accel=kvm", config.machine_type),
        Resolved::Tcg => format!("type={},accel=tcg", config.machine_type),
        Resolved::Unset => format!("type={}", config.machine_type),
    };
    add("-machine", machine);
    // Under KVM the host's own model is the fast one. Under TCG qemu's default model is kept, as
    // Packer keeps it: measured on the Debian base disk it reached SSH sooner than `-cpu max`
    // (whose extra features TCG must emulate). A guest that needs newer instructions (x86-64-v2
    // kernels) gets them with `["-cpu", "max"]` in `qemuargs`.
    if launch.accelerator == Resolved::Kvm {
        add("-cpu", "host".into());
    }
    add("-smp", config.cpus.to_string());
    add("-m", format!("{}M", config.memory_mib));

    // A comma inside a -drive value must be doubled.
    let file = launch.disk.to_string_lossy().replace(',', ",,");
    let drive_options = format!(
        "cache={},discard={},detect-zeroes={},format={}",
        config.disk_cache,
        config.disk_discard,
        config.disk_detect_zeroes,
        config.format.name()
    );
    let mut devices = Vec::new();
    match config.disk_interface {
        DiskInterface::VirtioScsi => {
            add(
                "-drive",
                format!("file={file},if=none,id=drive0,{drive_options}"),
            );
            devices.push("virtio-scsi-pci,id=scsi0".to_string());
            devices.push("scsi-hd,bus=scsi0.0,drive=drive0".to_string());
        }
        other => {
            let interface = match other {
                DiskInterface::Ide => "ide",
                DiskInterface::Scsi => "scsi",
                _ => "virtio",
            };
            add(
                "-drive",
                format!("file={file},if={interface},{drive_options}"),
            );
        }
    }
    add(
        "-netdev",
        format!(
            "user,id=user.0,hostfwd=tcp:127.0.0.1:{}-:22",
            launch.ssh_port
        ),
    );
    devices.insert(0, format!("{},netdev=user.0", config.net_device));
    for device in devices {
        add("-device", device);
    }
    if config.headless || !launch.has_display {
        add("-display", "none".into());
    }
    // The serial console goes to qemu's stdout, which is the console log; no monitor on stdio.
    add("-serial", "stdio".into());
    add("-monitor", "none".into());
    flags
}

/// `qemuargs` entries with Packer's placeholders filled in.
fn user_flags(
    qemuargs: &[Vec<String>],
    ssh_port: u16,
) -> Result<Vec<(String, Vec<String>)>, String> {
    qemuargs
        .iter()
        .map(|entry| {
            let words = entry
                .iter()
                .map(|word| fill_placeholders(word, ssh_port))
                .collect::<Result<Vec<_>, _>>()?;
            let (flag, values) = words.split_first().expect("entries are never empty");
            Ok((flag.clone(), values.to_vec()))
        })
        .collect()
}

fn fill_placeholders(word: &str, ssh_port: u16) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(open) = rest.find("{{") {
        let close = rest[open..]
            .find("}}")
            .ok_or_else(|| format!("unclosed `{{{{` in qemuargs value `{word}`"))?;
        let name = rest[open + 2..open + close].trim();
        out.push_str(&rest[..open]);
        match name {
            ".SSHHostPort" => out.push_str(&ssh_port.to_string()),
            other => {
                return Err(format!(
                    "not supported yet: `{{{{ {other} }}}}` in qemuargs (only {{{{ .SSHHostPort }}}} is filled in)"
                ));
            }
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(extra: serde_json::Value) -> QemuConfig {
        let mut settings: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "iso_url": "base.qcow2",
                "iso_checksum": "none",
                "disk_image": true,
                "headless": true,
                "memory": 1024,
                "cpus": 2,
                "ssh_username": "imgs",
                "ssh_private_key_file": "id_ed25519",
            }))
            .unwrap();
        settings.extend(serde_json::from_value::<BTreeMap<_, _>>(extra).unwrap());
        QemuConfig::from_settings(&imgs_settings::Settings::from_json_map(&settings), "t").unwrap()
    }

    fn launch(disk: &Path) -> Launch<'_> {
        Launch {
            disk,
            accelerator: Resolved::Tcg,
            ssh_port: 2345,
            has_display: false,
        }
    }

    #[test]
    fn defaults_boot_the_disk_with_ssh_forwarded_on_loopback() {
        let args = qemu_args(
            &config(serde_json::json!({})),
            &launch(Path::new("/o/a,b.qcow2")),
        )
        .unwrap();
        insta::assert_snapshot!(args.join(" "), @"-machine type=pc,accel=tcg -smp 2 -m 1024M -drive file=/o/a,,b.qcow2,if=virtio,cache=writeback,discard=ignore,detect-zeroes=off,format=qcow2 -netdev user,id=user.0,hostfwd=tcp:127.0.0.1:2345-:22 -device virtio-net,netdev=user.0 -display none -serial stdio -monitor none");
    }

    #[test]
    fn qemuargs_add_flags_and_replace_defaults_of_the_same_flag() {
        let c = config(serde_json::json!({
            "qemuargs": [
                ["-kernel", "vmlinuz"],
                ["-append", "root=/dev/vda rw console=ttyS0"],
                ["-m", "2048M"],
                ["-netdev", "user,id=n,hostfwd=tcp::{{ .SSHHostPort }}-:22"],
            ],
        }));
        let args = qemu_args(&c, &launch(Path::new("d.qcow2"))).unwrap();
        let joined = args.join(" ");
        assert!(!joined.contains("-m 1024M"), "{joined}");
        assert!(joined.ends_with(
            "-kernel vmlinuz -append root=/dev/vda rw console=ttyS0 -m 2048M -netdev user,id=n,hostfwd=tcp::2345-:22"
        ), "{joined}");
        assert_eq!(args.iter().filter(|a| *a == "-netdev").count(), 1);
        // Each value stays one argument, spaces and all.
        assert!(args.contains(&"root=/dev/vda rw console=ttyS0".to_string()));
    }

    #[test]
    fn kvm_virtio_scsi_raw_and_a_window() {
        let c = config(serde_json::json!({
            "disk_interface": "virtio-scsi",
            "format": "raw",
            "headless": false,
            "net_device": "e1000",
        }));
        let disk = Path::new("d.raw");
        let launch = Launch {
            accelerator: Resolved::Kvm,
            has_display: true,
            ..launch(disk)
        };
        insta::assert_snapshot!(qemu_args(&c, &launch).unwrap().join(" "), @"-machine type=pc,accel=kvm -cpu host -smp 2 -m 1024M -drive file=d.raw,if=none,id=drive0,cache=writeback,discard=ignore,detect-zeroes=off,format=raw -netdev user,id=user.0,hostfwd=tcp:127.0.0.1:2345-:22 -device e1000,netdev=user.0 -device virtio-scsi-pci,id=scsi0 -device scsi-hd,bus=scsi0.0,drive=drive0 -serial stdio -monitor none");
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let c = config(serde_json::json!({
            "qemuargs": [["-device", "x,addr={{ .HTTPIP }}"]],
        }));
        assert_eq!(
            qemu_args(&c, &launch(Path::new("d"))).unwrap_err(),
            "not supported yet: `{{ .HTTPIP }}` in qemuargs (only {{ .SSHHostPort }} is filled in)"
        );
        assert_eq!(fill_placeholders("{{.SSHHostPort}}", 7).unwrap(), "7");
    }
}
