//! Crash-safe file writes: a kill -9 at any moment leaves either the old or
//! the new content, never a torn file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `data` to `path` via a temp file in the same directory, fsync, rename,
/// and, for a new file, fsync of the directory so that the file's existence is
/// durable. Replacing a file skips that last step, as dockerd does: a power
/// cut may then bring back the previous version, never a torn one (and it
/// halves the syncs of a container's start, whose record changes often).
pub fn atomic_write(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_via_temp(path, data, mode, true)
}

/// Like [`atomic_write`] without any fsync: for files derived from records
/// and written anew at each use (a container's hostname, hosts and
/// resolv.conf), where surviving a power cut does not matter but a torn
/// file would.
pub fn replace_derived(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_via_temp(path, data, mode, false)
}

fn write_via_temp(path: &Path, data: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        if !durable {
            return fs::rename(&tmp, path);
        }
        f.sync_all()?;
        let existed = path.exists();
        fs::rename(&tmp, path)?;
        match existed {
            true => Ok(()),
            false => File::open(dir)?.sync_all(),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("berth-fsutil-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        atomic_write(&p, b"one", 0o600).unwrap();
        atomic_write(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
