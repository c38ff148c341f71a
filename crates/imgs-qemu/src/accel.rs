//! Choosing the accelerator for `accelerator: auto` (imgs's default; Packer's default is kvm).
//!
//! KVM is used only when `/dev/kvm` opens for reading and writing AND the CPU advertises hardware
//! virtualisation (`vmx` or `svm` in /proc/cpuinfo). The second check matters on cloud machines that are
//! themselves virtual: `/dev/kvm` can exist there while the CPU shows neither flag, and guest kernels
//! then hang early under KVM instead of failing, so a test boot would only find out after the SSH
//! timeout. Reading two files costs nothing; a probe boot would cost seconds on every build.

use std::fs::OpenOptions;

use crate::config::Accelerator;

/// The accelerator qemu is actually given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    Kvm,
    Tcg,
    /// No `accel=`: qemu picks.
    Unset,
}

impl Resolved {
    pub fn name(self) -> &'static str {
        match self {
            Resolved::Kvm => "kvm",
            Resolved::Tcg => "tcg",
            Resolved::Unset => "qemu's default",
        }
    }
}

pub fn resolve(accelerator: Accelerator) -> Resolved {
    match accelerator {
        Accelerator::Kvm => Resolved::Kvm,
        Accelerator::Tcg => Resolved::Tcg,
        Accelerator::None => Resolved::Unset,
        Accelerator::Auto if kvm_usable() => Resolved::Kvm,
        Accelerator::Auto => Resolved::Tcg,
    }
}

fn kvm_usable() -> bool {
    let device = OpenOptions::new().read(true).write(true).open("/dev/kvm");
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    device.is_ok() && cpu_virtualizes(&cpuinfo)
}

/// Whether /proc/cpuinfo's `flags` lines list Intel VT-x (`vmx`) or AMD-V (`svm`).
fn cpu_virtualizes(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim() == "flags")
        .any(|(_, flags)| flags.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_vmx_or_svm_flags_count() {
        assert!(cpu_virtualizes(
            "processor\t: 0\nflags\t\t: fpu vme vmx sse\n"
        ));
        assert!(cpu_virtualizes("flags\t\t: fpu svm\n"));
        assert!(!cpu_virtualizes(
            "flags\t\t: fpu vme hypervisor\nvmx flags\t: ept\n"
        ));
        assert!(!cpu_virtualizes(""));
    }

    #[test]
    fn explicit_choices_are_kept() {
        assert_eq!(resolve(Accelerator::Tcg), Resolved::Tcg);
        assert_eq!(resolve(Accelerator::Kvm), Resolved::Kvm);
        assert_eq!(resolve(Accelerator::None), Resolved::Unset);
    }
}
