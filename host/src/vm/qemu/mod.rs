//! The QEMU backend (Linux hosts): QEMU plus one `vhost-device-vsock` (the vsock device, its
//! host side a hybrid-vsock Unix socket) and one `virtiofsd` per shared folder, all children
//! of the supervisor that die with it.

pub mod accel;
pub mod cmdline;
pub mod tools;

use super::{Backend, VmSpec};
use anyhow::Context;
use cmdline::{Machine, Sockets};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tools::Tool;

pub struct Qemu {
    qemu: PathBuf,
    virtiofsd: PathBuf,
    vhost_vsock: PathBuf,
    accel: accel::Chosen,
    machine: Machine,
    run_dir: PathBuf,
    helpers: Vec<(String, Child)>,
    vm: Option<Child>,
}

impl Qemu {
    /// Finds the programs and chooses the accelerator; fails with install hints.
    pub fn new(spec: &VmSpec) -> anyhow::Result<Qemu> {
        let (accel, why) = accel::choose(spec.accel, accel::HostCaps::probe());
        tracing::info!("accelerator {}: {why}", accel.as_str());
        // microvm (no PCI, no firmware) reaches the engine 0.4-1.9 s sooner under TCG here, but
        // a container's bind mount of a virtio-fs share hung on it (QEMU 7.2, virtio-mmio): q35
        // by default, microvm on request.
        let machine = match std::env::var("BERTH_QEMU_MACHINE").as_deref() {
            Ok("microvm") => Machine::Microvm,
            _ => Machine::Q35,
        };
        Ok(Qemu {
            qemu: Tool::Qemu.find()?,
            virtiofsd: if spec.shares.is_empty() {
                PathBuf::new()
            } else {
                Tool::Virtiofsd.find()?
            },
            vhost_vsock: Tool::VhostVsock.find()?,
            accel,
            machine,
            run_dir: spec.run_dir.clone(),
            helpers: Vec::new(),
            vm: None,
        })
    }

    fn spawn(&mut self, name: &str, program: &Path, args: &[String]) -> anyhow::Result<()> {
        tracing::debug!("starting {} {}", program.display(), args.join(" "));
        let child = child_command(program, args)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        self.helpers.push((name.to_string(), child));
        Ok(())
    }

    /// Waits for a helper's socket to appear; a helper that exits first is an error.
    fn wait_socket(&mut self, path: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !path.exists() {
            for (name, child) in &mut self.helpers {
                if let Ok(Some(status)) = child.try_wait() {
                    anyhow::bail!(
                        "{name} exited ({status}) before it served {}: see its messages above",
                        path.display()
                    );
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not appear in 10 s",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// A child that dies with the supervisor (even when the supervisor is killed), with stdout and
/// stderr going to the supervisor's log.
fn child_command(program: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

fn remove_stale(path: &Path) {
    let _ = std::fs::remove_file(path);
}

impl Backend for Qemu {
    fn describe(&self) -> String {
        format!("qemu ({})", self.accel.as_str())
    }

    fn start(&mut self, spec: &VmSpec) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.run_dir)?;
        let sockets = Sockets {
            vsock: self.run_dir.join("vhost-vsock.sock"),
            fs: (0..spec.shares.len())
                .map(|i| self.run_dir.join(format!("fs{i}.sock")))
                .collect(),
        };
        let uds = self.vsock_socket();
        remove_stale(&sockets.vsock);
        remove_stale(&uds);
        // The device comes first: QEMU connects to its socket at start-up.
        let vhost = self.vhost_vsock.clone();
        let mut args = vec![
            "--guest-cid".into(),
            berth_common::vmlink::GUEST_CID.to_string(),
            "--socket".into(),
            sockets.vsock.display().to_string(),
            "--uds-path".into(),
            uds.display().to_string(),
        ];
        // vhost-device-vsock 0.3.0 stalls guest-to-host transfers with a 1 MiB buffer: its
        // default (64 KiB) unless told otherwise, for measurements.
        if let Ok(size) = std::env::var("BERTH_VSOCK_TX_BUFFER") {
            args.extend(["--tx-buffer-size".into(), size]);
        }
        self.spawn("vhost-device-vsock", &vhost, &args)?;
        self.wait_socket(&sockets.vsock)?;
        for (share, sock) in spec.shares.iter().zip(&sockets.fs) {
            remove_stale(sock);
            let virtiofsd = self.virtiofsd.clone();
            self.spawn(
                &format!("virtiofsd for {}", share.path.display()),
                &virtiofsd,
                &[
                    format!("--socket-path={}", sock.display()),
                    "-o".into(),
                    format!("source={}", share.path.display()),
                    "-o".into(),
                    "cache=auto".into(),
                    "-o".into(),
                    "log_level=warn".into(),
                ],
            )?;
            self.wait_socket(sock)?;
        }
        // A fresh console log per boot: `berth logs` shows this boot.
        std::fs::write(&spec.console_log, b"")
            .with_context(|| format!("cannot create {}", spec.console_log.display()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut line = spec.kernel_cmdline(now);
        if let Some(extra) =
            cmdline::machine_cmdline(self.machine, self.accel, cmdline::host_cpu_khz())
        {
            line = format!("{line} {extra}");
        }
        let args = cmdline::args(spec, self.accel, self.machine, &sockets, &line);
        tracing::info!("starting {} {}", self.qemu.display(), args.join(" "));
        let vm = child_command(&self.qemu, &args)
            .spawn()
            .with_context(|| format!("cannot start {}", self.qemu.display()))?;
        self.vm = Some(vm);
        Ok(())
    }

    fn vsock_socket(&self) -> PathBuf {
        self.run_dir.join("vsock.sock")
    }

    fn exited(&mut self) -> Option<String> {
        let vm = self.vm.as_mut()?;
        match vm.try_wait() {
            Ok(Some(status)) => Some(format!("QEMU exited ({status})")),
            Ok(None) => None,
            Err(e) => Some(format!("QEMU cannot be waited for: {e}")),
        }
    }

    fn kill(&mut self) {
        if let Some(vm) = &mut self.vm {
            let _ = vm.kill();
            let _ = vm.wait();
        }
        for (name, child) in &mut self.helpers {
            // SIGTERM first: virtiofsd and the vsock device clean up their sockets.
            // SAFETY: a plain kill(2) of our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                tracing::warn!("{name} did not stop on SIGTERM: killing it");
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.helpers.clear();
        // The helpers leave their sockets behind; a socket file without a server is litter.
        if let Ok(entries) = std::fs::read_dir(&self.run_dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name == "vsock.sock"
                    || name == "vhost-vsock.sock"
                    || (name.starts_with("fs") && name.ends_with(".sock"))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
    }
}
