//! Where Berth keeps its files on the host.

use std::path::{Path, PathBuf};

/// Berth's folder: `$BERTH_HOME`, else `~/.berth`.
///
/// ```text
/// config.json      settings (Settings)
/// daemon.json      berthd's configuration, passed into the guest
/// run/docker.sock  the forwarded Docker socket (default)
/// vm/              data.img, console.log, vsock sockets, host.pid, host.log
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// `$BERTH_HOME`, else `$HOME/.berth`.
    pub fn from_env() -> anyhow::Result<Home> {
        if let Some(dir) = std::env::var_os("BERTH_HOME").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            anyhow::ensure!(
                dir.is_absolute(),
                "BERTH_HOME must be an absolute path, not {}",
                dir.display()
            );
            return Ok(Home { dir });
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("neither BERTH_HOME nor HOME is set: set one of them")
            })?;
        Ok(Home {
            dir: PathBuf::from(home).join(".berth"),
        })
    }

    pub fn at(dir: &Path) -> Home {
        Home {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn daemon_json(&self) -> PathBuf {
        self.dir.join("daemon.json")
    }

    /// The VM's runtime files.
    pub fn vm_dir(&self) -> PathBuf {
        self.dir.join("vm")
    }

    pub fn console_log(&self) -> PathBuf {
        self.vm_dir().join("console.log")
    }

    /// The supervisor's own log (QEMU, virtiofsd and vhost-device-vsock errors land here).
    pub fn host_log(&self) -> PathBuf {
        self.vm_dir().join("host.log")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.vm_dir().join("host.pid")
    }

    /// The supervisor's stream socket: each connection sends a vmlink header and becomes a
    /// stream to the agent (`berth shell`, benchmarks).
    pub fn agent_socket(&self) -> PathBuf {
        self.vm_dir().join("agent.sock")
    }

    /// The guest images: `images_dir` from the settings, else `<home>/images`, else the
    /// `vm-images/out` of the source tree this binary was built in, else the packaged location.
    pub fn images_dir(&self, configured: Option<&Path>) -> PathBuf {
        if let Some(dir) = configured {
            return dir.to_path_buf();
        }
        let mut candidates = vec![self.dir.join("images")];
        if let Ok(exe) = std::env::current_exe() {
            // target/<profile>/berth → <repo>/vm-images/out
            if let Some(repo) = exe
                .parent()
                .and_then(|p| p.parent())
                .and_then(|p| p.parent())
            {
                candidates.push(repo.join("vm-images").join("out"));
            }
        }
        candidates.push(PathBuf::from("/usr/share/berth/images"));
        candidates
            .iter()
            .find(|d| d.join("vmlinuz").exists())
            .cloned()
            .unwrap_or_else(|| candidates[0].clone())
    }
}
