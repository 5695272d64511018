//! The daemon's PID file: refuses to start a second daemon on the same state.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::fsutil;

#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    pub fn create(path: &Path) -> anyhow::Result<PidFile> {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                if pid != std::process::id() as i32 && process_alive(pid) {
                    bail!(
                        "pid file found, ensure berthd is not running or delete {} (it names running process {pid})",
                        path.display()
                    );
                }
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        fsutil::atomic_write(path, format!("{}\n", std::process::id()).as_bytes(), 0o644)
            .with_context(|| format!("cannot write the pid file {}", path.display()))?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn process_alive(pid: i32) -> bool {
    // A zombie or a recycled PID of another program must not block start-up.
    if kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| comm.trim() == "berthd")
        .unwrap_or(false)
}
