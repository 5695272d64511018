//! Finding QEMU and its helpers, with the install hint when one is missing.

use std::path::{Path, PathBuf};

/// A helper program Berth runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Qemu,
    Virtiofsd,
    VhostVsock,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Qemu => "qemu-system-x86_64",
            Tool::Virtiofsd => "virtiofsd",
            Tool::VhostVsock => "vhost-device-vsock",
        }
    }

    /// Where packages put it when it is not on PATH.
    fn extra_dirs(self) -> Vec<PathBuf> {
        let mut dirs = vec![];
        match self {
            Tool::Virtiofsd => {
                dirs.push("/usr/lib/qemu".into());
                dirs.push("/usr/libexec".into());
            }
            Tool::VhostVsock => {
                if let Some(home) = std::env::var_os("CARGO_HOME") {
                    dirs.push(PathBuf::from(home).join("bin"));
                }
                if let Some(home) = std::env::var_os("HOME") {
                    dirs.push(PathBuf::from(home).join(".cargo/bin"));
                }
                dirs.push("/root/.cargo/bin".into());
            }
            Tool::Qemu => {}
        }
        dirs
    }

    /// How to install it.
    pub fn install_hint(self) -> &'static str {
        match self {
            Tool::Qemu => "install QEMU: `sudo apt-get install --no-install-recommends qemu-system-x86` (Debian/Ubuntu) or `sudo dnf install qemu-system-x86` (Fedora); `bash scripts/deps-vm.sh` does it for you",
            Tool::Virtiofsd => "install virtiofsd: `sudo apt-get install --no-install-recommends qemu-system-common` (Debian 12) or the `virtiofsd` package; `bash scripts/deps-vm.sh` does it for you",
            Tool::VhostVsock => "install vhost-device-vsock: `cargo install vhost-device-vsock --version 0.3.0 --locked`; `bash scripts/deps-vm.sh` does it for you",
        }
    }

    /// The program's path: `$BERTH_<NAME>` when set, else PATH, else the package locations.
    pub fn find(self) -> anyhow::Result<PathBuf> {
        let var = format!("BERTH_{}", self.name().to_uppercase().replace(['-'], "_"));
        if let Some(p) = std::env::var_os(&var) {
            let p = PathBuf::from(p);
            anyhow::ensure!(
                is_executable(&p),
                "{var}={} is not an executable file",
                p.display()
            );
            return Ok(p);
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(self.extra_dirs())
            .map(|d| d.join(self.name()))
            .find(|p| is_executable(p))
            .ok_or_else(|| anyhow::anyhow!("{} not found: {}", self.name(), self.install_hint()))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
