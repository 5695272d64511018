//! Running the guest VM. A [`Backend`] boots the kernel + initramfs with the data disk, the
//! shared folders, the daemon.json and a vsock device, and exposes the vsock as a hybrid-vsock
//! Unix socket on the host ([`crate::forward::hvsock`]).

pub mod disk;
pub mod images;
#[cfg(target_os = "macos")]
pub mod krun;
#[cfg(target_os = "linux")]
pub mod qemu;

use crate::settings::{Accel, Home, Settings};
use std::path::PathBuf;

/// A folder shared into the guest at the same path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The virtio-fs tag (short, unique per VM).
    pub tag: String,
    pub path: PathBuf,
}

/// Everything a backend needs to boot the guest.
#[derive(Debug, Clone)]
pub struct VmSpec {
    pub cpus: u32,
    pub memory_mib: u64,
    pub accel: Accel,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub data_disk: PathBuf,
    pub shares: Vec<Share>,
    /// Passed to the guest as berthd's daemon.json; `None`: the guest uses `{}`.
    pub daemon_json: Option<PathBuf>,
    pub console_log: PathBuf,
    /// Where the backend keeps its sockets and pid files.
    pub run_dir: PathBuf,
}

impl VmSpec {
    /// The spec from the settings, checking that the images and the shared folders exist.
    pub fn from_settings(home: &Home, settings: &Settings) -> anyhow::Result<VmSpec> {
        let images = images::Images::find(home, settings)?;
        let mut shares = Vec::new();
        for (i, path) in settings.shares.iter().enumerate() {
            anyhow::ensure!(
                path.is_dir(),
                "shared folder {} does not exist: create it or remove it from \"shares\" in {}",
                path.display(),
                home.config_file().display()
            );
            shares.push(Share {
                tag: format!("berth{i}"),
                path: path.clone(),
            });
        }
        let daemon_json = Some(home.daemon_json()).filter(|p| p.exists());
        if let Some(p) = &daemon_json {
            let text = std::fs::read_to_string(p)?;
            if let Err(e) = berth_common::daemon_config::validate_text(&text) {
                anyhow::bail!("{} is not valid: {e}", p.display());
            }
        }
        Ok(VmSpec {
            cpus: settings.cpus,
            memory_mib: settings.memory_mib,
            accel: settings.accel,
            kernel: images.kernel,
            initrd: images.initrd,
            data_disk: home.vm_dir().join("data.img"),
            shares,
            daemon_json,
            console_log: home.console_log(),
            run_dir: home.vm_dir(),
        })
    }

    /// The guest kernel's command line (the guest init reads the `berth.*` words).
    pub fn kernel_cmdline(&self, unix_time: u64) -> String {
        let mut words = vec![
            "console=ttyS0".to_string(),
            "panic=-1".into(),
            // Serial output is slow under emulation: the console shows warnings and worse.
            "loglevel=4".into(),
            "berth.data=/dev/vda".into(),
        ];
        if !self.shares.is_empty() {
            let shares: Vec<String> = self
                .shares
                .iter()
                .map(|s| format!("{}={}", s.tag, s.path.display()))
                .collect();
            words.push(format!("berth.shares={}", shares.join(",")));
        }
        words.push(format!("berth.time={unix_time}"));
        words.join(" ")
    }
}

/// A way of running the VM. Methods are called from the supervisor's main thread.
pub trait Backend: Send {
    /// A short name for messages (`qemu (tcg)`).
    fn describe(&self) -> String;
    /// Starts the VM (and its helper processes) and returns once it is booting.
    fn start(&mut self, spec: &VmSpec) -> anyhow::Result<()>;
    /// The Unix socket that reaches the agent's vsock port.
    fn vsock_socket(&self) -> PathBuf;
    /// Whether that socket speaks hybrid vsock (`CONNECT <port>` first) or is the port itself.
    fn vsock_handshake(&self) -> bool {
        true
    }
    /// `Some(description)` once the VM has exited.
    fn exited(&mut self) -> Option<String>;
    /// Stops whatever is still running (the VM first), without waiting for the guest.
    fn kill(&mut self);
}

/// The backend for this platform.
pub fn backend(spec: &VmSpec) -> anyhow::Result<Box<dyn Backend>> {
    #[cfg(target_os = "linux")]
    {
        Ok(Box::new(qemu::Qemu::new(spec)?))
    }
    #[cfg(target_os = "macos")]
    {
        Ok(Box::new(krun::Krun::new(spec)?))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = spec;
        anyhow::bail!("the Berth VM runs on Linux (QEMU) and macOS (libkrun) hosts only so far")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_command_line_carries_disk_shares_and_time() {
        let spec = VmSpec {
            cpus: 1,
            memory_mib: 512,
            accel: Accel::Tcg,
            kernel: "/k".into(),
            initrd: "/i".into(),
            data_disk: "/d".into(),
            shares: vec![
                Share {
                    tag: "berth0".into(),
                    path: "/home/me".into(),
                },
                Share {
                    tag: "berth1".into(),
                    path: "/srv".into(),
                },
            ],
            daemon_json: None,
            console_log: "/c".into(),
            run_dir: "/r".into(),
        };
        let line = spec.kernel_cmdline(1_700_000_000);
        assert!(line.starts_with("console=ttyS0 panic=-1 "), "{line}");
        assert!(line.contains(" berth.data=/dev/vda "), "{line}");
        assert!(
            line.contains(" berth.shares=berth0=/home/me,berth1=/srv "),
            "{line}"
        );
        assert!(line.ends_with(" berth.time=1700000000"), "{line}");
    }
}
