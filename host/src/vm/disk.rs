//! The data disk: a sparse raw file, created at the configured size and grown (never shrunk)
//! when the setting grows; the guest makes the filesystem and resizes it.

use anyhow::Context;
use std::path::Path;

const GIB: u64 = 1 << 30;

/// Below this much free space on the host filesystem the guest would soon fail to write.
pub const MIN_HOST_FREE: u64 = GIB;

/// Makes sure `path` exists with at least `gib` GiB; returns its size in bytes.
pub fn prepare(path: &Path, gib: u64) -> anyhow::Result<u64> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let want = gib * GIB;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open the data disk {}", path.display()))?;
    let have = f.metadata()?.len();
    if have < want {
        // Growing a sparse file takes no space until the guest writes.
        f.set_len(want)
            .with_context(|| format!("cannot grow the data disk {}", path.display()))?;
        f.sync_all()?;
        return Ok(want);
    }
    if have > want {
        tracing::warn!(
            "the data disk is {} GiB, more than disk_gib = {gib}: disks never shrink",
            have / GIB
        );
    }
    Ok(have)
}

/// Free bytes on the filesystem that holds `path`.
pub fn host_free(path: &Path) -> anyhow::Result<u64> {
    // The disk may not exist yet: its nearest existing folder is on the same filesystem.
    let dir = path
        .ancestors()
        .find(|d| d.is_dir())
        .unwrap_or(Path::new("/"));
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string and st a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statvfs {}", dir.display()));
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Fails with an explanation when the host filesystem of the disk is (nearly) full: the guest
/// would see write errors on its data disk.
pub fn check_host_space(path: &Path) -> anyhow::Result<()> {
    let free = host_free(path)?;
    anyhow::ensure!(
        free >= MIN_HOST_FREE,
        "the disk that holds {} is full ({} MiB free): the VM's data disk grows into it as containers write. Free some space (or prune images and containers) and start again",
        path.display(),
        free >> 20
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn the_disk_is_sparse_and_only_grows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vm/data.img");
        assert_eq!(prepare(&p, 2).unwrap(), 2 * GIB);
        let m = std::fs::metadata(&p).unwrap();
        assert!(
            m.blocks() * 512 < 1 << 20,
            "not sparse: {} blocks",
            m.blocks()
        );
        assert_eq!(prepare(&p, 3).unwrap(), 3 * GIB);
        assert_eq!(prepare(&p, 1).unwrap(), 3 * GIB);
    }
}
