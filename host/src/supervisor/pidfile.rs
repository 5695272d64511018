//! `<home>/vm/host.pid`: at most one supervisor per Berth home.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// The supervisor's pid file, removed when dropped.
pub struct PidFile(PathBuf);

impl PidFile {
    pub fn claim(path: &Path) -> anyhow::Result<PidFile> {
        if let Some(pid) = running(path) {
            anyhow::bail!("Berth is already running (supervisor pid {pid}); `berth stop` stops it");
        }
        let me = std::process::id();
        crate::settings::write_atomic(path, format!("{me}\n").as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if read(&self.0) == Some(std::process::id()) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn read(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The pid of a live supervisor recorded at `path`.
pub fn running(path: &Path) -> Option<u32> {
    let pid = read(path)?;
    // A recycled pid would have another command line: check it is a berth supervisor.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let zombie = stat.rsplit(')').next()?.split_whitespace().next() == Some("Z");
    let is_supervisor = cmdline.split(|b| *b == 0).any(|a| a == b"supervise");
    (is_supervisor && !zombie).then_some(pid)
}
