//! QEMU's command line, built from the spec without touching the system (unit-tested).

use super::accel::Chosen;
use crate::vm::VmSpec;
use std::path::{Path, PathBuf};

/// The machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// PCI devices, firmware boot; works everywhere.
    Q35,
    /// No PCI, no firmware: boots a little faster; needs `tsc_early_khz` under TCG.
    Microvm,
}

/// Host-side sockets of the vhost-user devices.
#[derive(Debug, Clone)]
pub struct Sockets {
    /// vhost-device-vsock's vhost-user socket.
    pub vsock: PathBuf,
    /// One virtiofsd socket per share, in share order.
    pub fs: Vec<PathBuf>,
}

/// The CPU an emulated guest sees: everything TCG offers but the "fast string"
/// flags. With ERMS (or FSRM) the guest kernel and glibc copy and clear memory
/// with `rep movsb`, which TCG runs one byte per step; without them they use
/// eight-byte or vector moves. Measured here: the vsock transport twice as
/// fast, docker cp 1.8 times, boot faster. A KVM guest keeps the host's CPU.
const TCG_CPU: &str = "max,-erms,-fsrm";

/// The arguments after `qemu-system-x86_64`.
pub fn args(
    spec: &VmSpec,
    accel: Chosen,
    machine: Machine,
    sockets: &Sockets,
    cmdline: &str,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |words: &[&str]| a.extend(words.iter().map(|w| w.to_string()));
    let p = |path: &Path| path.display().to_string();
    let pci = machine == Machine::Q35;
    let dev = |pci_name: &str, mmio_name: &str| {
        if pci {
            pci_name.to_string()
        } else {
            mmio_name.to_string()
        }
    };

    push(&["-nodefaults", "-no-user-config", "-display", "none"]);
    // The guest powers off or panics (panic=-1 reboots): either way QEMU must exit.
    push(&["-no-reboot"]);
    let machine_name = match machine {
        Machine::Q35 => "q35",
        Machine::Microvm => "microvm",
    };
    // vhost-user devices (vsock, virtio-fs) map guest memory: it must be a shareable memfd.
    push(&[
        "-machine",
        &format!("{machine_name},memory-backend=mem"),
        "-object",
        &format!(
            "memory-backend-memfd,id=mem,size={}M,share=on",
            spec.memory_mib
        ),
        "-m",
        &format!("{}M", spec.memory_mib),
        "-smp",
        &spec.cpus.to_string(),
    ]);
    match accel {
        Chosen::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
        Chosen::Tcg => push(&["-accel", "tcg,thread=multi", "-cpu", TCG_CPU]),
    }
    push(&[
        "-kernel",
        &p(&spec.kernel),
        "-initrd",
        &p(&spec.initrd),
        "-append",
        cmdline,
    ]);
    push(&[
        "-chardev",
        &format!("file,id=console,path={}", p(&spec.console_log)),
        "-serial",
        "chardev:console",
    ]);
    // The data disk is the first virtio-blk disk (/dev/vda). A full host disk is reported to
    // the guest as a write error instead of pausing the VM forever (QEMU's default).
    push(&[
        "-drive",
        &format!(
            "file={},format=raw,if=none,id=data,cache=writeback,discard=unmap,werror=report,rerror=report",
            p(&spec.data_disk)
        ),
        "-device",
        &format!("{},drive=data", dev("virtio-blk-pci", "virtio-blk-device")),
    ]);
    push(&[
        "-netdev",
        "user,id=net0",
        "-device",
        &format!("{},netdev=net0", dev("virtio-net-pci", "virtio-net-device")),
    ]);
    push(&[
        "-chardev",
        &format!("socket,id=vsock,path={}", p(&sockets.vsock)),
        "-device",
        &format!(
            "{},chardev=vsock",
            dev("vhost-user-vsock-pci", "vhost-user-vsock-device")
        ),
    ]);
    for (i, (share, sock)) in spec.shares.iter().zip(&sockets.fs).enumerate() {
        push(&[
            "-chardev",
            &format!("socket,id=fs{i},path={}", p(sock)),
            "-device",
            &format!(
                "{},chardev=fs{i},tag={}",
                dev("vhost-user-fs-pci", "vhost-user-fs-device"),
                share.tag
            ),
        ]);
    }
    if let Some(dj) = &spec.daemon_json {
        push(&[
            "-fw_cfg",
            &format!("name=opt/berth/daemon.json,file={}", p(dj)),
        ]);
    }
    a
}

/// Extra kernel command line words the machine type needs.
pub fn machine_cmdline(machine: Machine, accel: Chosen, host_khz: Option<u64>) -> Option<String> {
    if accel != Chosen::Tcg {
        return None;
    }
    // Under TCG every vCPU reads the host's own TSC, but the guest's check of the TSCs
    // against each other fails under emulation's timing, and the kernel falls back to the
    // HPET: then every clock read (the kernel's timekeeping, tokio's timers, hyper) is an
    // emulated device access under QEMU's big lock. Measured: boot, the vsock transport and
    // docker cp all faster with the TSC. The guest's wall clock still comes from the host.
    let mut words = vec!["tsc=reliable".to_string()];
    if let (Machine::Microvm, Some(khz)) = (machine, host_khz) {
        // Without it the emulated guest can spend a long time calibrating the TSC, or hang.
        words.push(format!("tsc_early_khz={khz}"));
    }
    Some(words.join(" "))
}

/// The host CPU's frequency in kHz from /proc/cpuinfo.
pub fn host_cpu_khz() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz: f64 = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    Some((mhz * 1000.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Accel;
    use crate::vm::Share;

    fn spec() -> VmSpec {
        VmSpec {
            cpus: 2,
            memory_mib: 1024,
            accel: Accel::Auto,
            kernel: "/img/vmlinuz".into(),
            initrd: "/img/initramfs.img".into(),
            data_disk: "/h/vm/data.img".into(),
            shares: vec![Share {
                tag: "berth0".into(),
                path: "/home/me".into(),
            }],
            daemon_json: Some("/h/daemon.json".into()),
            console_log: "/h/vm/console.log".into(),
            run_dir: "/h/vm".into(),
        }
    }

    fn sockets() -> Sockets {
        Sockets {
            vsock: "/h/vm/vhost-vsock.sock".into(),
            fs: vec!["/h/vm/fs0.sock".into()],
        }
    }

    fn after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn q35_with_tcg_has_every_device() {
        let a = args(
            &spec(),
            Chosen::Tcg,
            Machine::Q35,
            &sockets(),
            "console=ttyS0",
        );
        assert_eq!(after(&a, "-machine"), ["q35,memory-backend=mem"]);
        assert_eq!(
            after(&a, "-object"),
            ["memory-backend-memfd,id=mem,size=1024M,share=on"]
        );
        assert_eq!(after(&a, "-accel"), ["tcg,thread=multi"]);
        assert_eq!(after(&a, "-cpu"), ["max,-erms,-fsrm"]);
        assert_eq!(after(&a, "-smp"), ["2"]);
        assert_eq!(after(&a, "-kernel"), ["/img/vmlinuz"]);
        assert_eq!(after(&a, "-append"), ["console=ttyS0"]);
        let devices = after(&a, "-device");
        assert!(
            devices[0].starts_with("virtio-blk-pci,drive=data"),
            "{devices:?}"
        );
        assert!(devices.contains(&"virtio-net-pci,netdev=net0"));
        assert!(devices.contains(&"vhost-user-vsock-pci,chardev=vsock"));
        assert!(devices.contains(&"vhost-user-fs-pci,chardev=fs0,tag=berth0"));
        let chardevs = after(&a, "-chardev");
        assert!(chardevs.contains(&"socket,id=vsock,path=/h/vm/vhost-vsock.sock"));
        assert!(chardevs.contains(&"socket,id=fs0,path=/h/vm/fs0.sock"));
        assert!(chardevs.contains(&"file,id=console,path=/h/vm/console.log"));
        assert_eq!(
            after(&a, "-fw_cfg"),
            ["name=opt/berth/daemon.json,file=/h/daemon.json"]
        );
        assert!(after(&a, "-drive")[0].contains("werror=report"));
        assert!(a.contains(&"-no-reboot".to_string()));
    }

    #[test]
    fn microvm_uses_mmio_devices_and_kvm_the_host_cpu() {
        let mut s = spec();
        s.daemon_json = None;
        let a = args(&s, Chosen::Kvm, Machine::Microvm, &sockets(), "x");
        assert_eq!(after(&a, "-accel"), ["kvm"]);
        assert_eq!(after(&a, "-cpu"), ["host"]);
        let devices = after(&a, "-device");
        assert!(devices.iter().all(|d| !d.contains("-pci")), "{devices:?}");
        assert!(devices.contains(&"vhost-user-vsock-device,chardev=vsock"));
        assert!(after(&a, "-fw_cfg").is_empty());
    }

    #[test]
    fn tcg_guests_keep_the_tsc_and_microvm_gets_its_frequency() {
        assert_eq!(
            machine_cmdline(Machine::Microvm, Chosen::Tcg, Some(2_000_000)).as_deref(),
            Some("tsc=reliable tsc_early_khz=2000000")
        );
        assert_eq!(
            machine_cmdline(Machine::Q35, Chosen::Tcg, Some(2_000_000)).as_deref(),
            Some("tsc=reliable")
        );
        assert_eq!(
            machine_cmdline(Machine::Q35, Chosen::Kvm, Some(2_000_000)),
            None
        );
    }
}
