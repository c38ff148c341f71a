//! Installing what the tests and benchmarks talk to, only when it is missing.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::run;

/// Debian packages and the command each provides.
const PACKAGES: &[(&str, &str)] = &[
    // Packer 1.6.6: the reference implementation the differential tests compare against.
    ("packer", "packer"),
    // The reference for hashing speed.
    ("b3sum", "b3sum"),
    // ssh-keygen, for the example workspace's build key.
    ("ssh-keygen", "openssh-client"),
    // scp: the reference for SFTP upload speed.
    ("scp", "openssh-client"),
    // The SSH server the communicator tests and the SFTP benchmark run against. An absolute path:
    // /usr/sbin is not on every user's PATH, and joining an absolute path to a PATH entry keeps it.
    ("/usr/sbin/sshd", "openssh-server"),
    // The qemu tests: layers made and inspected with qemu-img, guests booted (or refused) by qemu, and
    // files read back out of a finished disk with debugfs.
    ("qemu-img", "qemu-utils"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("/sbin/debugfs", "e2fsprogs"),
];

/// What `cargo xtask base-image` runs to make the base disk offline.
const BASE_IMAGE_PACKAGES: &[(&str, &str)] = &[
    // Installs Debian into a directory from the machine's mirror, without a VM or an installer.
    ("mmdebstrap", "mmdebstrap"),
    // mkfs.ext4 -d: the directory tree becomes a filesystem image without mounting anything. By its
    // path in the package (/sbin), which is not on every PATH.
    ("/sbin/mkfs.ext4", "e2fsprogs"),
    ("qemu-img", "qemu-utils"),
    // Boots the new disk once to check that the build user can log in.
    ("qemu-system-x86_64", "qemu-system-x86"),
    // setpriv --pdeathsig: qemu dies with the task even when the task is killed outright.
    ("setpriv", "util-linux"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
];

/// The EC2 API server the amazon-ebs tests talk to, from PyPI; the version the tests were written
/// against (a newer moto may model EC2 differently).
const MOTO: &str = "moto[server,ec2]==5.2.1";

pub fn install_test_peers() -> Result<()> {
    install_missing(PACKAGES)?;
    install_moto()
}

/// moto from PyPI, unless a moto server with its EC2 dependencies is already importable.
fn install_moto() -> Result<()> {
    let importable = || {
        Command::new("python3")
            .args(["-c", "import moto.server, moto.ec2, flask_cors"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable() {
        return Ok(());
    }
    if !on_path("python3") {
        install_missing(&[("python3", "python3"), ("pip3", "python3-pip")])?;
    }
    let pip = |extra: &[&str]| {
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(extra)
        .arg(MOTO);
        cmd
    };
    // Debian's own Python refuses `pip install` outside a virtual environment (PEP 668); moto is a
    // test peer, not part of the system, so installing it for this user is what is wanted there.
    if run(&mut pip(&[])).is_err() {
        run(&mut pip(&["--user", "--break-system-packages"]))?;
    }
    if !importable() {
        bail!("moto was installed but `import moto.server` still fails; install `{MOTO}` by hand");
    }
    Ok(())
}

pub fn install_base_image_tools() -> Result<()> {
    install_missing(BASE_IMAGE_PACKAGES)
}

/// Install the packages whose command is not on PATH (each package once, however many commands it has).
fn install_missing(packages: &[(&str, &str)]) -> Result<()> {
    let mut missing: Vec<&str> = packages
        .iter()
        .filter(|(cmd, _)| !on_path(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    if !on_path("apt-get") {
        bail!(
            "missing {}: install these Debian packages (no apt-get here)",
            missing.join(", ")
        );
    }
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let apt = |args: &[&str]| {
        let mut cmd = Command::new(sudo.first().copied().unwrap_or("apt-get"));
        if !sudo.is_empty() {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(&mut apt(&["update", "-qq"]))?;
    run(apt(&["install", "-y", "-qq", "--no-install-recommends"]).args(&missing))
}

pub fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(cmd).is_file()))
        .unwrap_or(false)
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// The example templates log in with `cache/base-image/id_ed25519` (as Packer, imgs checks that the key
/// file exists). Make one if this checkout has none yet; the base-image step installs its public half.
pub fn example_build_key(root: &Path) -> Result<()> {
    let key = root.join("cache/base-image/id_ed25519");
    if key.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(key.parent().unwrap())?;
    if !on_path("ssh-keygen") {
        install_test_peers()?;
    }
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "imgs-build", "-f"])
        .arg(&key))
}
