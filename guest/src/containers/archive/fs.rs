//! A container's filesystem as its processes see it: the root filesystem with
//! its volumes and binds on top, walked the way a chroot resolves paths.
//!
//! dockerd gets this by mounting the volumes into the container's root in a
//! private mount namespace and chrooting. Here nothing is mounted: each mount
//! is a directory opened once, entered when the walk reaches its destination.
//! Every step is an `*at()` call with `O_NOFOLLOW` on a directory descriptor
//! held since the step before, symlinks are read and resolved by the walk
//! itself (an absolute target restarts from the container's root, `..` never
//! climbs above it), so neither a crafted path nor a container process
//! swapping a directory for a symlink mid-walk can lead outside.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};

pub use super::leaf::Leaf;
use rustix::io::Errno;

/// A path inside the container, as its components.
pub type CPath = Vec<Vec<u8>>;

/// The kernel's limit on symlinks followed in one lookup.
const MAX_HOPS: u32 = 40;

/// A mount to overlay on the root filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct MountSpec {
    pub dest: String,
    pub source: PathBuf,
    pub read_only: bool,
}

struct Mount {
    /// Where the container sees it, with symlinks resolved as the runtime
    /// resolved them when it mounted.
    dest: CPath,
    /// `O_RDONLY|O_DIRECTORY` for a directory, `O_PATH` for a file bind.
    root: OwnedFd,
    is_dir: bool,
    read_only: bool,
}

pub struct ContainerFs {
    /// The root filesystem first (destination `/`), then the mounts in the
    /// order they stack: a later one on the same destination hides an earlier one.
    mounts: Vec<Mount>,
}

pub struct Resolved {
    /// The container path the leaf really is at: no symlinks, no `..`.
    pub path: CPath,
    pub leaf: Leaf,
    /// Index of the mount holding the leaf, for [`ContainerFs::read_only`].
    pub mount: usize,
}

struct Frame {
    name: Vec<u8>,
    fd: OwnedFd,
    mount: usize,
}

pub fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The components of a slash-separated path; `.` and empty ones dropped, `..` kept.
pub fn split(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

pub fn display(path: &[Vec<u8>]) -> String {
    let joined: Vec<u8> = path.join(&b'/');
    format!("/{}", String::from_utf8_lossy(&joined))
}

impl ContainerFs {
    /// `rootfs` is the container's mounted root; `mounts` are applied as the
    /// runtime applies them: shallowest destination first, each destination
    /// resolved through the symlinks of what is below it. A mount whose source
    /// is gone is left out (the runtime would refuse to start the container).
    pub fn open(
        rootfs: &Path,
        read_only_root: bool,
        mounts: &[MountSpec],
    ) -> std::io::Result<Self> {
        let root = rfs::open(rootfs, dir_flags(), Mode::empty())?;
        let mut fs = ContainerFs {
            mounts: vec![Mount {
                dest: Vec::new(),
                root,
                is_dir: true,
                read_only: read_only_root,
            }],
        };
        let mut ordered: Vec<&MountSpec> = mounts.iter().collect();
        ordered.sort_by_key(|m| split(m.dest.as_bytes()).len());
        for m in ordered {
            let lexical = crate::images::unpack::clean(m.dest.as_bytes()).unwrap_or_default();
            if lexical.is_empty() {
                continue;
            }
            let dest = fs
                .resolve(m.dest.as_bytes(), true)
                .map(|r| r.path)
                .unwrap_or(lexical);
            let opened = match rfs::open(
                &m.source,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => Ok((fd, true)),
                Err(Errno::NOTDIR) => {
                    rfs::open(&m.source, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                        .map(|fd| (fd, false))
                }
                Err(e) => Err(e),
            };
            match opened {
                Ok((root, is_dir)) => fs.mounts.push(Mount {
                    dest,
                    root,
                    is_dir,
                    read_only: m.read_only,
                }),
                Err(e) => {
                    tracing::debug!(source = %m.source.display(), dest = m.dest, "mount source unavailable: {e}")
                }
            }
        }
        Ok(fs)
    }

    pub fn read_only(&self, mount: usize) -> bool {
        self.mounts.get(mount).is_some_and(|m| m.read_only)
    }

    /// dockerd's refusal to write into a read-only volume or root filesystem.
    pub fn check_writable(&self, mount: usize) -> crate::errdefs::Result<()> {
        if !self.read_only(mount) {
            return Ok(());
        }
        Err(crate::errdefs::Error::invalid(if mount > 0 {
            "mounted volume is marked read-only"
        } else {
            "container rootfs is marked read-only"
        }))
    }

    /// The mount whose destination is exactly `path`, the last one stacked there.
    pub fn mount_at(&self, path: &[Vec<u8>]) -> Option<usize> {
        if path.is_empty() {
            return None;
        }
        self.mounts.iter().rposition(|m| m.dest == path)
    }

    /// A new descriptor of mount `i`'s root.
    pub fn mount_root(&self, i: usize) -> std::io::Result<(OwnedFd, bool)> {
        let m = &self.mounts[i];
        Ok((m.root.try_clone()?, m.is_dir))
    }

    /// Resolves `path` (relative to the container's root, leading `/` or not).
    /// Every component but the last must be a directory (or a symlink to one);
    /// the last is followed only when `follow_last`, and need not exist.
    pub fn resolve(&self, path: &[u8], follow_last: bool) -> std::io::Result<Resolved> {
        self.walk(split(path), follow_last, false)
    }

    /// [`ContainerFs::resolve`] for a path already split into components.
    pub fn resolve_components(
        &self,
        path: &[Vec<u8>],
        follow_last: bool,
    ) -> std::io::Result<Resolved> {
        self.walk(path.iter().cloned().collect(), follow_last, false)
    }

    /// The directory at `path`, creating what is missing (mode 0755, as docker
    /// creates the parents of archive entries), following symlinks all the way.
    pub fn make_dirs(&self, path: &[Vec<u8>]) -> std::io::Result<(OwnedFd, CPath, usize)> {
        let r = self.walk(path.iter().cloned().collect(), true, true)?;
        let fd = r.leaf.open_dir()?;
        Ok((fd, r.path, r.mount))
    }

    fn walk(
        &self,
        mut pending: VecDeque<Vec<u8>>,
        follow_last: bool,
        create: bool,
    ) -> std::io::Result<Resolved> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop_front() {
            if part == b".." {
                stack.pop();
                continue;
            }
            let last = pending.is_empty();
            let (cur, cur_mount) = match stack.last() {
                Some(f) => (f.fd.as_fd(), f.mount),
                None => (self.mounts[0].root.as_fd(), 0),
            };
            let mut path: CPath = stack.iter().map(|f| f.name.clone()).collect();
            path.push(part.clone());
            if let Some(m) = self.mount_at(&path) {
                let (fd, is_dir) = self.mount_root(m)?;
                if last {
                    return Ok(Resolved {
                        path,
                        leaf: Leaf::Open { fd, is_dir },
                        mount: m,
                    });
                }
                if !is_dir {
                    return Err(Errno::NOTDIR.into());
                }
                stack.push(Frame {
                    name: part,
                    fd,
                    mount: m,
                });
                continue;
            }
            let kind = match rfs::statat(cur, part.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
                Err(Errno::NOENT) => None,
                Err(e) => return Err(e.into()),
            };
            match kind {
                Some(FileType::Symlink) if !last || follow_last => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(Errno::LOOP.into());
                    }
                    let target = rfs::readlinkat(cur, part.as_slice(), Vec::new())?.into_bytes();
                    if target.first() == Some(&b'/') {
                        stack.clear();
                    }
                    for c in split(&target).into_iter().rev() {
                        pending.push_front(c);
                    }
                }
                None if create => {
                    // What the kernel would answer for the mounted volume.
                    if self.mounts[cur_mount].read_only {
                        return Err(Errno::ROFS.into());
                    }
                    match rfs::mkdirat(cur, part.as_slice(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    pending.push_front(part);
                }
                None if !last => return Err(Errno::NOENT.into()),
                _ if last => {
                    return Ok(Resolved {
                        path,
                        leaf: Leaf::Entry {
                            dir: cur.try_clone_to_owned()?,
                            name: part,
                        },
                        mount: cur_mount,
                    })
                }
                Some(FileType::Directory) => {
                    // A directory swapped for a symlink since the stat fails
                    // here (ELOOP/ENOTDIR) rather than being followed.
                    let fd = rfs::openat(cur, part.as_slice(), dir_flags(), Mode::empty())?;
                    stack.push(Frame {
                        name: part,
                        fd,
                        mount: cur_mount,
                    });
                }
                _ => return Err(Errno::NOTDIR.into()),
            }
        }
        // The path ended on a directory the walk entered (or on the root).
        let (fd, mount) = match stack.last() {
            Some(f) => (f.fd.try_clone()?, f.mount),
            None => (self.mounts[0].root.try_clone()?, 0),
        };
        Ok(Resolved {
            path: stack.into_iter().map(|f| f.name).collect(),
            leaf: Leaf::Open { fd, is_dir: true },
            mount,
        })
    }
}
