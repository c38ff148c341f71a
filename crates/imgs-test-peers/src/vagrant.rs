//! Vagrant, to check that a box imgs writes is one Vagrant accepts (`vagrant box add`), with the
//! same policy as Packer's: where Vagrant is missing the check is skipped with a line saying so, and
//! where `CI` is set a missing Vagrant fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::packer::{in_ci, skipped};

const INSTALL_HINT: &str = "Debian's `vagrant` (`apt-get install --no-install-recommends vagrant`; `cargo xtask setup` installs it)";

/// Vagrant: `/usr/bin/vagrant`, else `vagrant` on `PATH`.
pub fn find() -> Option<PathBuf> {
    let installed = PathBuf::from("/usr/bin/vagrant");
    if installed.is_file() {
        return Some(installed);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("vagrant"))
        .find(|p| p.is_file())
}

/// Vagrant for the check `what`, or None when it is missing and the check is skipped.
///
/// # Panics
/// When Vagrant is missing and `CI` is set.
pub fn vagrant_for(what: &str) -> Option<PathBuf> {
    if let Some(vagrant) = find() {
        return Some(vagrant);
    }
    assert!(
        !in_ci(),
        "Vagrant is missing, and CI is set: {what} needs {INSTALL_HINT}"
    );
    skipped(&format!(
        "{what}: Vagrant is missing; install {INSTALL_HINT} (with CI set, this fails)"
    ));
    None
}

/// `vagrant box add --name NAME BOX` in a Vagrant home of its own (nothing of the user's is read or
/// written); the provider Vagrant added the box for, from `vagrant box list`.
///
/// # Panics
/// When Vagrant refuses the box, with its output.
pub fn box_add(vagrant: &Path, name: &str, box_file: &Path) -> String {
    let home = tempfile::Builder::new()
        .prefix("imgs-vagrant-home-")
        .tempdir()
        .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(vagrant)
            .args(args)
            .env("VAGRANT_HOME", home.path())
            .env("VAGRANT_CHECKPOINT_DISABLE", "1")
            .env("VAGRANT_NO_COLOR", "1")
            .current_dir(home.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "vagrant {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&[
        "box",
        "add",
        "--name",
        name,
        &box_file.display().to_string(),
    ]);
    let listed = run(&["box", "list"]);
    // `NAME (PROVIDER, VERSION)`
    listed
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_once('('))
        .and_then(|(_, rest)| rest.split(',').next())
        .unwrap_or_else(|| panic!("box {name} not listed:\n{listed}"))
        .trim()
        .to_string()
}
