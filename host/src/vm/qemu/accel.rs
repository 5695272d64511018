//! Choosing between KVM and software emulation (TCG).
//!
//! `/dev/kvm` alone does not mean a stock kernel can run: some clouds expose a paravirtual
//! hypervisor (PVM) there that only runs specially built guests. Hardware virtualisation shows
//! as the `vmx` (Intel) or `svm` (AMD) CPU flag; without it Berth emulates.

use crate::settings::Accel;

/// The accelerator QEMU gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    Kvm,
    Tcg,
}

impl Chosen {
    pub fn as_str(self) -> &'static str {
        match self {
            Chosen::Kvm => "kvm",
            Chosen::Tcg => "tcg",
        }
    }
}

/// What the host offers, read from the system (kept apart so the choice is testable).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostCaps {
    /// `/dev/kvm` opens read-write.
    pub kvm_device: bool,
    /// The CPU flags include vmx or svm.
    pub hw_virt_flag: bool,
}

impl HostCaps {
    pub fn probe() -> HostCaps {
        let kvm_device = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        HostCaps {
            kvm_device,
            hw_virt_flag: has_virt_flag(&cpuinfo),
        }
    }
}

fn has_virt_flag(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

/// The accelerator for `setting` on a host with `caps`, and why (for `berth doctor`).
pub fn choose(setting: Accel, caps: HostCaps) -> (Chosen, &'static str) {
    match setting {
        Accel::Kvm => (Chosen::Kvm, "accel = kvm in the settings"),
        Accel::Tcg => (Chosen::Tcg, "accel = tcg in the settings"),
        Accel::Auto if caps.kvm_device && caps.hw_virt_flag => {
            (Chosen::Kvm, "/dev/kvm works and the CPU has vmx/svm")
        }
        Accel::Auto if caps.kvm_device => (
            Chosen::Tcg,
            "/dev/kvm exists but the CPU shows no vmx/svm (a paravirtual hypervisor that cannot run a stock kernel): software emulation, slower",
        ),
        Accel::Auto => (Chosen::Tcg, "no usable /dev/kvm: software emulation, slower"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_only_with_the_device_and_the_cpu_flag() {
        let both = HostCaps {
            kvm_device: true,
            hw_virt_flag: true,
        };
        let pvm = HostCaps {
            kvm_device: true,
            hw_virt_flag: false,
        };
        let none = HostCaps::default();
        assert_eq!(choose(Accel::Auto, both).0, Chosen::Kvm);
        assert_eq!(choose(Accel::Auto, pvm).0, Chosen::Tcg);
        assert_eq!(choose(Accel::Auto, none).0, Chosen::Tcg);
        assert_eq!(choose(Accel::Tcg, both).0, Chosen::Tcg);
        assert_eq!(choose(Accel::Kvm, none).0, Chosen::Kvm);
    }

    #[test]
    fn cpu_flags_are_words_of_the_flags_line() {
        assert!(has_virt_flag("processor: 0\nflags\t\t: fpu vme vmx sse\n"));
        assert!(has_virt_flag("flags : fpu svm\n"));
        assert!(!has_virt_flag("flags : fpu vmxnot sse\nvmx flags : ept\n"));
    }
}
