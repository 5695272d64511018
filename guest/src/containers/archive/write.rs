//! Creating one archive entry in a directory already reached safely: every
//! call is relative to that directory's descriptor and never follows the
//! entry's own name.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, XattrFlags};
use rustix::io::Errno;

use crate::errdefs::{Error, Result};
use crate::images::unpack::Meta;

/// Where an entry goes: `leaf` in `dir`; `shown` is its container path, for messages.
pub struct Place<'a> {
    pub dir: BorrowedFd<'a>,
    pub leaf: &'a [u8],
    pub shown: &'a str,
}

impl Place<'_> {
    fn err(&self, op: &str, e: impl Into<io::Error>) -> Error {
        io_err(op, self.shown, e.into())
    }

    /// Creates the file and has `fill` write its data; `fill`'s errors are
    /// the archive's, except those of writing the file.
    pub fn file(
        &self,
        fill: impl FnOnce(&mut dyn Write, &mut [u8]) -> io::Result<()>,
        meta: &Meta,
        owner: (u32, u32),
        buf: &mut [u8],
    ) -> Result<()> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(self.dir, self.leaf, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| self.err("creating", e))?;
        let mut file = std::fs::File::from(fd);
        fill(&mut Marked(&mut file), buf).map_err(|e| match WriteFailed::take(e) {
            Ok(e) => self.err("writing", e),
            Err(e) => read_err(e),
        })?;
        finish_fd(file.as_fd(), meta, owner, true).map_err(|e| self.err("applying metadata to", e))
    }

    /// Creates the directory, or takes the one there; its times are the caller's.
    pub fn dir(&self, meta: &Meta, owner: (u32, u32)) -> Result<()> {
        match rfs::mkdirat(self.dir, self.leaf, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(self.err("creating", e)),
        }
        let dir: OwnedFd = rfs::openat(self.dir, self.leaf, super::fs::dir_flags(), Mode::empty())
            .map_err(|e| self.err("opening", e))?;
        finish_fd(dir.as_fd(), meta, owner, false).map_err(|e| self.err("applying metadata to", e))
    }

    pub fn symlink(&self, target: &[u8], meta: &Meta, owner: (u32, u32)) -> Result<()> {
        rfs::symlinkat(OsStr::from_bytes(target), self.dir, self.leaf)
            .map_err(|e| self.err("creating", e))?;
        self.own_and_date(meta, owner)
    }

    /// A device node or a fifo (`dev` 0).
    pub fn node(&self, kind: FileType, dev: u64, meta: &Meta, owner: (u32, u32)) -> Result<()> {
        rfs::mknodat(self.dir, self.leaf, kind, Mode::empty(), dev)
            .map_err(|e| self.err("creating", e))?;
        self.own_and_date(meta, owner)?;
        // Just created, so not a symlink: following is harmless (Linux has no lchmod).
        rfs::chmodat(
            self.dir,
            self.leaf,
            Mode::from_raw_mode(meta.mode),
            AtFlags::empty(),
        )
        .map_err(|e| self.err("changing the mode of", e))
    }

    fn own_and_date(&self, meta: &Meta, owner: (u32, u32)) -> Result<()> {
        rfs::chownat(
            self.dir,
            self.leaf,
            Some(rfs::Uid::from_raw(owner.0)),
            Some(rfs::Gid::from_raw(owner.1)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.err("changing the owner of", e))?;
        rfs::utimensat(self.dir, self.leaf, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.err("setting the times of", e))
    }
}

/// Owner, xattrs, mode and (for files) times, in the order that keeps each:
/// chown clears setuid/setgid and file capabilities, so it goes first.
pub fn finish_fd(
    fd: BorrowedFd<'_>,
    meta: &Meta,
    owner: (u32, u32),
    set_times: bool,
) -> io::Result<()> {
    rfs::fchown(
        fd,
        Some(rfs::Uid::from_raw(owner.0)),
        Some(rfs::Gid::from_raw(owner.1)),
    )?;
    for (key, value) in &meta.xattrs {
        // overlayfs's own attributes could redirect lookups: never from an archive.
        if key.starts_with(b"trusted.overlay.") {
            continue;
        }
        match rfs::fsetxattr(fd, OsStr::from_bytes(key), value, XattrFlags::empty()) {
            // Not allowed or not supported here: the file is still usable, as docker judges.
            Ok(()) | Err(Errno::PERM | Errno::OPNOTSUPP) => {}
            Err(e) => return Err(e.into()),
        }
    }
    rfs::fchmod(fd, Mode::from_raw_mode(meta.mode))?;
    if set_times {
        rfs::futimens(fd, &meta.times)?;
    }
    Ok(())
}

/// Copies what `data` yields into `out`, a buffer at a time: a syscall per
/// piece of the archive would cost dearly in an emulated VM.
pub fn copy_through(data: &mut impl Read, out: &mut dyn Write, buf: &mut [u8]) -> io::Result<()> {
    loop {
        let n = crate::images::compression::read_up_to(data, buf)?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])?;
    }
}

/// A file whose write errors are told apart from the archive's read errors.
struct Marked<'a>(&'a mut std::fs::File);

#[derive(Debug)]
struct WriteFailed(io::Error);

impl std::fmt::Display for WriteFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WriteFailed {}

impl WriteFailed {
    /// Keeps the kind, so that `Interrupted` is retried as ever.
    fn mark(e: io::Error) -> io::Error {
        io::Error::new(e.kind(), WriteFailed(e))
    }

    /// The write error inside `e`, or `e` itself if it is not one.
    fn take(e: io::Error) -> std::result::Result<io::Error, io::Error> {
        if !e.get_ref().is_some_and(|i| i.is::<WriteFailed>()) {
            return Err(e);
        }
        match e.into_inner().map(|i| i.downcast::<WriteFailed>()) {
            Some(Ok(w)) => Ok(w.0),
            _ => Err(io::Error::other("internal error: a lost write error")),
        }
    }
}

impl Write for Marked<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.write(b).map_err(WriteFailed::mark)
    }

    fn write_vectored(&mut self, b: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(b).map_err(WriteFailed::mark)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub fn read_err(e: io::Error) -> Error {
    Error::system(format!("reading the archive: {e}"))
}

/// moby's breakoutError: an archive that tries to write outside the destination.
pub fn breakout(detail: String) -> Error {
    Error::system(detail)
}

pub fn io_err(op: &str, path: &str, e: io::Error) -> Error {
    Error::system(format!("{op} {path}: {e}"))
}
