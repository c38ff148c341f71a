//! Installing what the tests and benchmarks talk to, only when it is missing.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::cmd::run;

/// Debian packages and the command each provides.
const PACKAGES: &[(&str, &str)] = &[
    // Packer 1.6.6: the reference implementation the differential tests compare against.
    ("packer", "packer"),
    // The differential corpus holds templates with ansible provisioners, which Packer and imgs check by
    // running `ansible-playbook --version`: without it both refuse them and the recorded verdicts
    // no longer hold.
    ("ansible-playbook", "ansible"),
    // The puppet-masterless and puppet-server tests run the real Puppet on the test sshd's machine.
    ("puppet", "puppet"),
    // Packer's guest commands for Puppet start with `sudo` unless `prevent_sudo` is set; the tests
    // keep that default.
    ("sudo", "sudo"),
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
    // The vagrant post-processor's tests check that `vagrant box add` accepts the boxes imgs writes.
    ("vagrant", "vagrant"),
    // The docker builder's and post-processors' tests run a private Docker daemon
    // (imgs_test_peers::docker), with the containerd and runc docker.io depends on.
    ("/usr/sbin/dockerd", "docker.io"),
    // The registry those tests push to and pull from.
    ("/usr/bin/docker-registry", "docker-registry"),
    // The Docker tests' base image is a statically linked busybox. Debian's `busybox` has a
    // dynamically linked /bin/busybox and `busybox-static` replaces it with the static one, so the
    // path cannot tell them apart: the key is dpkg's list of busybox-static's files instead.
    ("/var/lib/dpkg/info/busybox-static.list", "busybox-static"),
    // The HTTP server behind the tests' HTTP PUT peer; nginx-light brings /usr/sbin/nginx with its
    // dependency `nginx`.
    ("/usr/sbin/nginx", "nginx-light"),
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

/// What `cargo xtask dist` runs to split the binary from its debug information.
const DIST_PACKAGES: &[(&str, &str)] = &[("objcopy", "binutils")];

/// What installing moto needs.
const PYTHON: &[(&str, &str)] = &[("python3", "python3"), ("pip3", "python3-pip")];

/// What `cargo xtask fuzz` needs besides cargo-afl: installing cargo-afl builds AFL++ from its C
/// sources (make and a C compiler), and `cargo afl cmin` is AFL++'s Python script.
const FUZZ_PACKAGES: &[(&str, &str)] = &[("cc", "gcc"), ("make", "make"), ("python3", "python3")];

/// The cargo-afl release the fuzz targets' `afl` crate (fuzz/Cargo.toml) goes with.
const CARGO_AFL: &str = "0.18.2";

/// The EC2 API server the amazon-ebs tests talk to, from PyPI; the version the tests were written
/// against (a newer moto may model EC2 differently). Its S3, on the same port, is the remote
/// cache's test server; its SSM holds the parameters `imgs publish` writes.
const MOTO: &str = "moto[server,ec2,s3,ssm]==5.2.1";

/// Salt for the salt-masterless test, from PyPI (no Debian package carries it); the last 3006 (LTS)
/// release whose dependencies the package registry has.
const SALT: &str = "salt==3006.29";

pub fn install_test_peers() -> Result<()> {
    install_missing(PACKAGES)?;
    install_moto()?;
    install_salt()
}

/// `cargo xtask setup`: the test peers, and what fuzzing needs.
pub fn install_everything() -> Result<()> {
    install_test_peers()?;
    install_fuzzing()
}

/// cargo-afl (from the crates registry, with the AFL++ it builds), unless it is on PATH, and AFL++
/// built for the current Rust toolchain: cargo-afl keeps one build per rustc version, so a newer
/// toolchain needs `cargo afl config --build` once.
pub fn install_fuzzing() -> Result<()> {
    install_missing(FUZZ_PACKAGES)?;
    if !on_path("cargo-afl") {
        run(crate::cargo().args(["install", "--locked", "--version", CARGO_AFL, "cargo-afl"]))?;
    }
    let output = crate::cargo()
        .args(["afl", "config", "--build"])
        .output()
        .context("cannot run `cargo afl config --build`")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // It refuses to build again what it built for this toolchain before; that is success here.
    if output.status.success() || stderr.contains("already built") {
        return Ok(());
    }
    bail!(
        "`cargo afl config --build` failed ({}): {}",
        output.status,
        stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(5)
            .collect::<Vec<_>>()
            .join(" / ")
    )
}

/// Where Salt's virtual environment lives: `imgs-test-peers/salt` in `$XDG_CACHE_HOME`, else in
/// `~/.cache`, outside the checkout so that every clone finds it. The tests compute the same path
/// (`imgs_test_peers::salt::venv`); keep the two in step.
fn salt_venv() -> Option<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(cache.join("imgs-test-peers").join("salt"))
}

/// Salt in its own virtual environment, unless its `salt-call` is already there. Debian's Python
/// makes virtual environments only with `python3-venv` (ensurepip), which is installed when
/// `python3 -m venv` fails for want of it.
fn install_salt() -> Result<()> {
    let Some(venv) = salt_venv() else {
        bail!("neither XDG_CACHE_HOME nor HOME is set: there is nowhere to install Salt");
    };
    let salt_call = venv.join("bin").join("salt-call");
    if salt_call.is_file() {
        return Ok(());
    }
    if !on_path("python3") {
        install_missing(PYTHON)?;
    }
    let make_venv = || {
        run(Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv))
    };
    if make_venv().is_err() {
        let ensurepip = python_stdlib()?.join("ensurepip").join("__init__.py");
        // The installer keys packages by a file they provide; this one is Python's own path.
        let marker: &'static str = Box::leak(ensurepip.display().to_string().into_boxed_str());
        install_missing(&[(marker, "python3-venv")])?;
        make_venv()?;
    }
    run(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        SALT,
    ]))?;
    run(Command::new(&salt_call)
        .arg("--version")
        .stdout(Stdio::null()))
    .context("Salt was installed but `salt-call --version` fails")
}

/// The standard library directory of `python3`.
fn python_stdlib() -> Result<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('stdlib'))",
        ])
        .output()
        .context("cannot run python3")?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// moto from PyPI, unless a moto server with its EC2 dependencies is already importable.
fn install_moto() -> Result<()> {
    let importable = || {
        Command::new("python3")
            .args([
                "-c",
                "import moto.server, moto.ec2, moto.ssm, yaml, flask_cors",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable() {
        return Ok(());
    }
    if !on_path("python3") {
        install_missing(PYTHON)?;
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

pub fn install_dist_tools() -> Result<()> {
    install_missing(DIST_PACKAGES)
}

fn install_missing(packages: &[(&'static str, &'static str)]) -> Result<()> {
    Installer::for_this_machine().ensure(packages)?;
    Ok(())
}

/// Is `cmd` on this process's PATH (or, for an absolute path, there)?
pub fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| find_on(&paths, cmd).is_some())
}

/// `cmd` in the first directory of `paths` that has it.
fn find_on(paths: &OsStr, cmd: &str) -> Option<PathBuf> {
    // Joining an absolute path to a directory gives the absolute path.
    std::env::split_paths(paths)
        .map(|dir| dir.join(cmd))
        .find(|path| path.is_file())
}

/// Installs Debian packages for missing commands and makes sure that afterwards every command the
/// tasks use and the machine had is still there.
///
/// apt resolves a version conflict by removing what stands in the way: a machine with a newer
/// `qemu-utils` than Debian's loses it (and `qemu-img`) when Debian's `qemu-system-x86` is installed,
/// since the newer one breaks the older qemu-system. So after an install every known command is
/// looked for again, a package whose command vanished is installed again (Debian's version, which
/// fits), and a command still missing after that is an error naming it and its package.
pub struct Installer {
    /// Where commands are looked for, as a PATH value.
    search_path: OsString,
    /// The apt-get to run, by path or name.
    apt_get: OsString,
    /// Run apt-get through sudo (not root).
    sudo: bool,
    /// Every command the tasks use, whoever asked for it.
    known: Vec<(&'static str, &'static str)>,
}

/// What [`Installer::ensure`] did.
#[derive(Debug, Default, PartialEq)]
pub struct Installed {
    /// Packages installed for commands that were missing.
    pub packages: Vec<String>,
    /// Commands apt removed while installing those, with the package installed again for each.
    pub reinstalled: Vec<(String, String)>,
}

impl Installer {
    /// apt-get on this machine's PATH, through sudo unless root; every list of the tasks known.
    pub fn for_this_machine() -> Installer {
        Installer {
            search_path: std::env::var_os("PATH").unwrap_or_default(),
            apt_get: "apt-get".into(),
            sudo: !is_root(),
            known: [
                PACKAGES,
                BASE_IMAGE_PACKAGES,
                DIST_PACKAGES,
                PYTHON,
                FUZZ_PACKAGES,
            ]
            .concat()
            .into_iter()
            .collect(),
        }
    }

    fn has(&self, cmd: &str) -> bool {
        self.find(cmd).is_some()
    }

    fn find(&self, cmd: &str) -> Option<PathBuf> {
        find_on(&self.search_path, cmd)
    }

    fn apt(&self, args: &[&str]) -> Command {
        let mut cmd = if self.sudo {
            let mut cmd = Command::new("sudo");
            cmd.arg(&self.apt_get);
            cmd
        } else {
            Command::new(&self.apt_get)
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }

    fn install(&self, packages: &[&str]) -> Result<()> {
        run(self
            .apt(&["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages))
    }

    /// Installs the packages of the commands of `wanted` that are missing (each package once); then
    /// checks every command of `wanted` and of the known lists again, as the type explains.
    pub fn ensure(&self, wanted: &[(&'static str, &'static str)]) -> Result<Installed> {
        let missing: Vec<(&str, &str)> = wanted
            .iter()
            .copied()
            .filter(|(cmd, _)| !self.has(cmd))
            .collect();
        if missing.is_empty() {
            return Ok(Installed::default());
        }
        let packages = packages(&missing);
        if !self.has(&self.apt_get.to_string_lossy()) {
            bail!(
                "missing {}: install the Debian packages {} (there is no apt-get here)",
                commands(&missing),
                packages.join(", ")
            );
        }
        let had: Vec<(&str, &str)> = self
            .known
            .iter()
            .chain(wanted)
            .copied()
            .filter(|(cmd, _)| self.has(cmd))
            .collect();
        let versions_before = self.installed_versions(&self::packages(&had));
        run(&mut self.apt(&["update", "-qq"]))?;
        self.install(&packages)?;
        let mut installed = Installed {
            packages: packages.iter().map(|p| p.to_string()).collect(),
            reinstalled: Vec::new(),
        };

        let vanished: Vec<(&str, &str)> = dedup(
            had.iter()
                .copied()
                .filter(|(cmd, _)| !self.has(cmd))
                .collect(),
        );
        if !vanished.is_empty() {
            let again = self::packages(&vanished);
            for (cmd, package) in &vanished {
                let version = versions_before
                    .get(*package)
                    .map(|v| format!(" {v}"))
                    .unwrap_or_default();
                eprintln!(
                    "note: to install {}, apt removed {package}{version} and with it `{cmd}`; \
                     installing Debian's {package} again",
                    packages.join(", ")
                );
                installed
                    .reinstalled
                    .push((cmd.to_string(), package.to_string()));
            }
            self.install(&again).with_context(|| {
                format!(
                    "cannot install {} again after apt removed it to install {}",
                    again.join(", "),
                    packages.join(", ")
                )
            })?;
            for (package, version) in self.installed_versions(&again) {
                eprintln!("note: {package} is now {version}");
            }
        }

        // What is still missing now, another round of apt would not bring either.
        let still_missing = wanted
            .iter()
            .chain(&had)
            .copied()
            .find(|(cmd, _)| !self.has(cmd));
        if let Some((cmd, package)) = still_missing {
            let install = if vanished.iter().any(|(_, p)| *p == package) {
                format!("apt removed {package} and it was installed again")
            } else {
                format!("`apt-get install {}`", packages.join(" "))
            };
            bail!(
                "`{cmd}` is still missing after {install}: the Debian package {package} should provide it; \
                 install it by hand"
            );
        }
        Ok(installed)
    }

    /// The installed versions of those of `packages` that are installed, by dpkg-query (when this
    /// machine has it), for the notes.
    fn installed_versions(&self, packages: &[&str]) -> BTreeMap<String, String> {
        let dpkg_query = match self.find("dpkg-query") {
            Some(path) if !packages.is_empty() => path,
            _ => return BTreeMap::new(),
        };
        // Exits 1 when one of the packages is unknown, and still lists the others.
        let output = Command::new(dpkg_query)
            .args(["-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Version}\n"])
            .args(packages)
            .stderr(Stdio::null())
            .output();
        let Ok(output) = output else {
            return BTreeMap::new();
        };
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let (package, status, version) = (fields.next()?, fields.next()?, fields.next()?);
                // `ii`: installed; a removed package with its configuration left is `rc`.
                (status.trim() == "ii").then(|| (package.to_string(), version.to_string()))
            })
            .collect()
    }
}

/// The packages of `commands`, each once, sorted.
fn packages<'a>(commands: &[(&str, &'a str)]) -> Vec<&'a str> {
    let mut packages: Vec<&str> = commands.iter().map(|(_, package)| *package).collect();
    packages.sort_unstable();
    packages.dedup();
    packages
}

fn commands(commands: &[(&str, &str)]) -> String {
    commands
        .iter()
        .map(|(cmd, _)| format!("`{cmd}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn dedup<'a>(mut list: Vec<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    let mut seen = Vec::new();
    list.retain(|item| {
        let new = !seen.contains(item);
        seen.push(*item);
        new
    });
    list
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A machine in a temporary directory: `bin/` is its search path, holding the commands it has
    /// and a stand-in `apt-get` that logs its arguments to `apt.log` and runs `on_install` for each
    /// package it is asked to install (`$bin` is the bin directory, `$pkg` the package).
    struct Machine {
        dir: tempfile::TempDir,
    }

    impl Machine {
        fn new(has: &[&str], on_install: &str) -> Machine {
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("bin");
            fs::create_dir(&bin).unwrap();
            for cmd in has {
                fs::write(bin.join(cmd), "").unwrap();
            }
            let apt = bin.join("apt-get");
            fs::write(
                &apt,
                format!(
                    "#!/bin/sh\n\
                     bin=$(dirname \"$0\")\n\
                     echo \"$*\" >> \"$bin/../apt.log\"\n\
                     [ \"$1\" = install ] || exit 0\n\
                     for pkg; do\n\
                     case $pkg in -*|install) continue;; esac\n\
                     {on_install}\n\
                     done\n"
                ),
            )
            .unwrap();
            fs::set_permissions(&apt, fs::Permissions::from_mode(0o755)).unwrap();
            Machine { dir }
        }

        fn installer(&self, known: &[(&'static str, &'static str)]) -> Installer {
            let bin = self.dir.path().join("bin");
            Installer {
                search_path: bin.clone().into(),
                apt_get: bin.join("apt-get").into(),
                sudo: false,
                known: known.to_vec(),
            }
        }

        fn has(&self, cmd: &str) -> bool {
            self.dir.path().join("bin").join(cmd).exists()
        }

        fn apt_log(&self) -> String {
            fs::read_to_string(self.dir.path().join("apt.log")).unwrap_or_default()
        }
    }

    /// What Debian's apt did on a machine with a newer qemu-utils: installing qemu-system-x86
    /// removed qemu-utils; installing qemu-utils afterwards gave Debian's, which fits.
    const DEBIAN_QEMU: &str = "\
        case $pkg in\n\
        qemu-system-x86) touch \"$bin/qemu-system-x86_64\"; rm -f \"$bin/qemu-img\";;\n\
        qemu-utils) touch \"$bin/qemu-img\";;\n\
        mmdebstrap) touch \"$bin/mmdebstrap\";;\n\
        esac";

    const BASE_IMAGE: &[(&str, &str)] = &[
        ("mmdebstrap", "mmdebstrap"),
        ("qemu-img", "qemu-utils"),
        ("qemu-system-x86_64", "qemu-system-x86"),
    ];

    #[test]
    fn nothing_missing_runs_no_apt() {
        let machine = Machine::new(&["mmdebstrap", "qemu-img", "qemu-system-x86_64"], "");
        let installed = machine.installer(&[]).ensure(BASE_IMAGE).unwrap();
        assert_eq!(installed, Installed::default());
        assert_eq!(machine.apt_log(), "");
    }

    #[test]
    fn a_command_apt_removed_while_installing_another_is_installed_again() {
        let machine = Machine::new(&["qemu-img"], DEBIAN_QEMU);
        let installed = machine.installer(&[]).ensure(BASE_IMAGE).unwrap();
        assert_eq!(
            installed,
            Installed {
                packages: vec!["mmdebstrap".into(), "qemu-system-x86".into()],
                reinstalled: vec![("qemu-img".into(), "qemu-utils".into())],
            }
        );
        assert!(machine.has("qemu-img") && machine.has("qemu-system-x86_64"));
        assert_eq!(
            machine.apt_log(),
            "update -qq\n\
             install -y -qq --no-install-recommends mmdebstrap qemu-system-x86\n\
             install -y -qq --no-install-recommends qemu-utils\n"
        );
    }

    #[test]
    fn every_known_command_is_checked_not_only_the_wanted_ones() {
        // The tests' list wants qemu-img; the base image's wants qemu-system only.
        let machine = Machine::new(&["qemu-img"], DEBIAN_QEMU);
        let installer = machine.installer(&[("qemu-img", "qemu-utils"), ("b3sum", "b3sum")]);
        let installed = installer
            .ensure(&[("qemu-system-x86_64", "qemu-system-x86")])
            .unwrap();
        assert_eq!(
            installed.reinstalled,
            [("qemu-img".to_string(), "qemu-utils".to_string())]
        );
        assert!(machine.has("qemu-img"));
        // b3sum was missing before and nobody asked for it: not installed.
        assert!(!machine.apt_log().contains("b3sum"));
    }

    #[test]
    fn a_command_apt_never_provides_is_named_with_its_package() {
        let machine = Machine::new(&[], "true");
        let err = machine
            .installer(&[])
            .ensure(&[("qemu-system-x86_64", "qemu-system-x86")])
            .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "`qemu-system-x86_64` is still missing after `apt-get install qemu-system-x86`: \
             the Debian package qemu-system-x86 should provide it; install it by hand"
        );
    }

    #[test]
    fn a_removed_command_that_does_not_come_back_is_named_with_its_package() {
        // The package apt removed cannot be installed again: it stays missing.
        let machine = Machine::new(
            &["qemu-img"],
            "case $pkg in qemu-system-x86) touch \"$bin/qemu-system-x86_64\"; rm -f \"$bin/qemu-img\";; esac",
        );
        let err = machine
            .installer(&[])
            .ensure(BASE_IMAGE[1..].as_ref())
            .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "`qemu-img` is still missing after apt removed qemu-utils and it was installed again: \
             the Debian package qemu-utils should provide it; install it by hand"
        );
    }

    #[test]
    fn a_failing_apt_is_named_with_its_status_and_stderr() {
        let machine = Machine::new(
            &[],
            "echo 'E: Unable to correct problems, you have held broken packages.' >&2; exit 100",
        );
        let err = machine
            .installer(&[])
            .ensure(&[("mmdebstrap", "mmdebstrap")])
            .unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.ends_with(
                "install -y -qq --no-install-recommends mmdebstrap` failed with exit status: 100: \
                 E: Unable to correct problems, you have held broken packages."
            ),
            "{message}"
        );
    }

    #[test]
    fn without_apt_the_missing_commands_and_packages_are_named() {
        let machine = Machine::new(&[], "");
        fs::remove_file(machine.dir.path().join("bin/apt-get")).unwrap();
        let err = machine.installer(&[]).ensure(BASE_IMAGE).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing `mmdebstrap`, `qemu-img`, `qemu-system-x86_64`: install the Debian packages \
             mmdebstrap, qemu-system-x86, qemu-utils (there is no apt-get here)"
        );
    }
}
