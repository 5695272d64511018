//! File-system steps the store's ordering rules are built from.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// Writes a new file and fsyncs it; for files inside a directory that is
/// itself renamed into place afterwards, where per-file renames buy nothing.
pub(super) fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Makes a rename or unlink in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Flushes the whole filesystem holding `path`: one call instead of an fsync
/// per file of an unpacked layer, which can hold tens of thousands.
pub(super) fn sync_fs(path: &Path) -> io::Result<()> {
    let f = File::open(path)?;
    nix::unistd::syncfs(f.as_raw_fd()).map_err(io::Error::from)
}

/// Removes a file, symlink or directory tree; already gone is fine.
pub(super) fn remove_path(path: &Path) -> io::Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn random_bytes() -> [u8; 32] {
    // Hashing two v4 UUIDs spreads their 244 random bits over every output
    // bit, without another dependency for randomness.
    let mut h = Sha256::new();
    h.update(uuid::Uuid::new_v4().as_bytes());
    h.update(uuid::Uuid::new_v4().as_bytes());
    h.finalize().into()
}

/// 64 random hex characters, the shape of dockerd's cache ids.
pub(super) fn random_hex() -> String {
    random_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// 26 characters from dockerd's alphabet for `overlay2/l/` names.
pub(super) fn random_short() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    random_bytes()[..26]
        .iter()
        .map(|b| ALPHABET[(b % 32) as usize] as char)
        .collect()
}

/// Leftovers of [`crate::fsutil::atomic_write`] interrupted by a crash.
pub(super) fn is_atomic_write_temp(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}
