//! The end of a resolved path, and the few things done to it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::fs::dir_flags;

/// What a path names once resolved.
pub enum Leaf {
    /// `name` in the directory `dir`; it may not exist.
    Entry { dir: OwnedFd, name: Vec<u8> },
    /// A directory reached by the walk itself, or a mount's root.
    Open { fd: OwnedFd, is_dir: bool },
}

impl Leaf {
    /// The leaf's own status, never following it.
    pub fn lstat(&self) -> std::io::Result<rfs::Stat> {
        Ok(match self {
            Leaf::Entry { dir, name } => {
                rfs::statat(dir, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?
            }
            Leaf::Open { fd, .. } => rfs::fstat(fd)?,
        })
    }

    /// The leaf as a readable directory; `ENOTDIR`/`ELOOP` when it is not one.
    pub fn open_dir(&self) -> std::io::Result<OwnedFd> {
        Ok(match self {
            Leaf::Entry { dir, name } => {
                rfs::openat(dir, name.as_slice(), dir_flags(), Mode::empty())?
            }
            Leaf::Open { fd, is_dir: true } => fd.try_clone()?,
            Leaf::Open { is_dir: false, .. } => return Err(Errno::NOTDIR.into()),
        })
    }

    /// The leaf opened for reading; it must not be a symlink.
    pub fn open_file(&self) -> std::io::Result<std::fs::File> {
        let fd = match self {
            Leaf::Entry { dir, name } => rfs::openat(
                dir,
                name.as_slice(),
                // Non-blocking: a fifo swapped in since the stat must not hang the copy.
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )?,
            Leaf::Open { fd, is_dir: true } => fd.try_clone()?,
            // An O_PATH descriptor of a bind-mounted file: reopened through
            // /proc, which gives the very same inode.
            Leaf::Open { fd, is_dir: false } => rfs::open(
                reopen_path(fd.as_fd()),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )?,
        };
        Ok(std::fs::File::from(fd))
    }

    pub fn readlink(&self) -> std::io::Result<Vec<u8>> {
        Ok(match self {
            Leaf::Entry { dir, name } => {
                rfs::readlinkat(dir, name.as_slice(), Vec::new())?.into_bytes()
            }
            // A mount root is never a symlink: the kernel followed it.
            Leaf::Open { .. } => return Err(Errno::INVAL.into()),
        })
    }
}

fn reopen_path(fd: BorrowedFd<'_>) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
