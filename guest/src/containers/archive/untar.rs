//! Extracts the tar of `PUT /containers/{id}/archive` into a directory of the
//! container, with the rules of moby's `archive.Untar` run chrooted in the
//! container (the API's semantics), but without a chroot:
//! - names are cleaned like Go's `filepath.Clean` (`/abs` lands at
//!   `<dest>/abs`); a name that climbs above the destination is refused;
//! - a symlink whose target, joined to the link's directory, climbs above
//!   the destination is refused; a hard link's target is a path under the
//!   destination and must exist there;
//! - parents are created as needed and reached through [`ContainerFs`], so a
//!   symlink on the way (one in the container, or one the archive made) is
//!   followed inside the container's root, never out of it, and a volume on
//!   the way is written to as the container would;
//! - an existing entry is replaced, except that a directory over a directory
//!   merges; `no_overwrite_dir_non_dir` refuses a directory replacing a
//!   non-directory and the other way round.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Timestamps};
use rustix::io::Errno;
use tar::EntryType;

use super::fs::{display, CPath, ContainerFs};
use super::input::{Input, Shared};
use super::write::{breakout, copy_through, finish_fd, io_err, read_err, Place};
use crate::errdefs::{Error, Result};
use crate::images::unpack::{clean, read_meta, remove_all_at, resolve_within};

#[derive(Debug, Clone, Copy, Default)]
pub struct UntarOptions {
    pub no_overwrite_dir_non_dir: bool,
    /// The owner of every entry instead of the archive's (`copyUIDGID` in a
    /// container with a `User`).
    pub owner: Option<(u32, u32)>,
}

// One write per 512 KiB of a file: a syscall costs dearly in an emulated VM.
const COPY_BUF: usize = 512 * 1024;

/// Extracts `input` into the directory at `dest` (a resolved container path).
/// Returns how many entries were written.
pub fn untar<I: Input>(
    fs: &ContainerFs,
    dest: &[Vec<u8>],
    input: I,
    opts: &UntarOptions,
) -> Result<u64> {
    let input = Shared::new(input);
    let mut u = Untar {
        fs,
        dest: dest.to_vec(),
        opts: *opts,
        parent: None,
        dirs: Vec::new(),
        buf: vec![0; COPY_BUF],
        written: 0,
    };
    let mut archive = tar::Archive::new(input.parser());
    let entries = archive.entries_with_seek().map_err(read_err)?;
    for entry in entries {
        let mut entry = entry.map_err(read_err)?;
        u.apply(&mut entry, &input)?;
    }
    u.finish()?;
    Ok(u.written)
}

struct Untar<'a> {
    fs: &'a ContainerFs,
    dest: CPath,
    opts: UntarOptions,
    /// The last entry's parent: (its components under `dest`, the open
    /// directory, its resolved container path, its mount). Consecutive
    /// entries mostly share it. An entry that replaces that directory or one
    /// above it has another parent, so a cached one is never stale.
    parent: Option<(CPath, OwnedFd, CPath, usize)>,
    /// Directories whose times are set at the end: creating their children
    /// moves them.
    dirs: Vec<(CPath, Timestamps)>,
    buf: Vec<u8>,
    written: u64,
}

impl Untar<'_> {
    fn apply<R: Read, I: Input>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        input: &Shared<I>,
    ) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        let Some(comps) = clean(&raw) else {
            return Err(breakout(format!(
                "{name:?} is outside of {:?}",
                display(&self.dest)
            )));
        };
        let Some((leaf, parents)) = comps.split_last() else {
            // The destination's own entry ("./"): docker leaves it alone.
            return match kind {
                EntryType::Directory => Ok(()),
                _ => Err(Error::invalid(format!(
                    "cannot extract {name:?}: only a directory can stand for the extraction point"
                ))),
            };
        };
        let meta = read_meta(entry).map_err(read_err)?;
        self.open_parent(parents)?;
        let Some((_, parent, parent_path, parent_mount)) = &self.parent else {
            return Err(Error::system("internal error: no parent directory"));
        };
        let (parent, parent_mount) = (parent.try_clone()?, *parent_mount);
        let mut path = parent_path.clone();
        path.push(leaf.clone());
        let shown = display(&path);
        let at_mount = self.fs.mount_at(&path);
        self.fs.check_writable(at_mount.unwrap_or(parent_mount))?;
        let owner = self.opts.owner.unwrap_or((meta.uid, meta.gid));

        if let Some(m) = at_mount {
            // A volume's root: merged with a directory entry, never replaced.
            let (fd, is_dir) = self.fs.mount_root(m)?;
            if kind != EntryType::Directory || !is_dir {
                return Err(Error::system(format!(
                    "cannot replace the mount point {shown:?} from the archive entry {name:?}"
                )));
            }
            finish_fd(fd.as_fd(), &meta, owner, false)
                .map_err(|e| io_err("applying metadata to", &shown, e))?;
            self.dirs.push((comps.clone(), meta.times));
            self.written += 1;
            return Ok(());
        }

        let is_dir_entry = kind == EntryType::Directory;
        match rfs::statat(&parent, leaf.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                let dest = display(&self.dest);
                if self.opts.no_overwrite_dir_non_dir && is_dir && !is_dir_entry {
                    return Err(Error::system(format!(
                        "cannot overwrite directory {shown:?} with non-directory {dest:?}"
                    )));
                }
                if self.opts.no_overwrite_dir_non_dir && !is_dir && is_dir_entry {
                    return Err(Error::system(format!(
                        "cannot overwrite non-directory {shown:?} with directory {dest:?}"
                    )));
                }
                if !(is_dir && is_dir_entry) {
                    remove_all_at(parent.as_fd(), std::ffi::OsStr::from_bytes(leaf))
                        .map_err(|e| io_err("removing", &shown, e.into()))?;
                }
            }
            Err(Errno::NOENT) => {}
            Err(e) => return Err(io_err("inspecting", &shown, e.into())),
        }

        let place = Place {
            dir: parent.as_fd(),
            leaf,
            shown: &shown,
        };
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                // Straight from the input: the parser skips what was written.
                let size = entry.size();
                place.file(
                    |file, buf| input.write_next(size, file, buf),
                    &meta,
                    owner,
                    &mut self.buf,
                )?
            }
            EntryType::GNUSparse => place.file(
                // The tar crate maps a sparse file's regions onto its data.
                |file, buf| copy_through(entry, file, buf),
                &meta,
                owner,
                &mut self.buf,
            )?,
            EntryType::Directory => {
                place.dir(&meta, owner)?;
                self.dirs.push((comps.clone(), meta.times));
            }
            EntryType::Symlink => {
                let target = link_name(entry, &name)?;
                if resolve_within(parents, &target).is_none() {
                    return Err(breakout(format!(
                        "invalid symlink {shown:?} -> {:?}",
                        String::from_utf8_lossy(&target)
                    )));
                }
                place.symlink(&target, &meta, owner)?;
            }
            EntryType::Link => {
                let target = link_name(entry, &name)?;
                self.hard_link(&place, &target)?;
            }
            EntryType::Char | EntryType::Block => {
                let h = entry.header();
                let major = h.device_major().map_err(read_err)?.unwrap_or(0);
                let minor = h.device_minor().map_err(read_err)?.unwrap_or(0);
                let t = if kind == EntryType::Char {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                place.node(t, rfs::makedev(major, minor), &meta, owner)?;
            }
            EntryType::Fifo => place.node(FileType::Fifo, 0, &meta, owner)?,
            other => {
                return Err(Error::invalid(format!(
                    "archive entry {name:?}: unsupported tar entry type {:?}",
                    char::from(other.as_byte())
                )))
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Makes `self.parent` the directory `dest/parents`, creating it if needed.
    fn open_parent(&mut self, parents: &[Vec<u8>]) -> Result<()> {
        if self.parent.as_ref().is_some_and(|(p, ..)| p == parents) {
            return Ok(());
        }
        self.parent = None;
        let mut want = self.dest.clone();
        want.extend(parents.iter().cloned());
        let (fd, path, mount) = self
            .fs
            .make_dirs(&want)
            .map_err(|e| io_err("creating the directory", &display(&want), e))?;
        self.parent = Some((parents.to_vec(), fd, path, mount));
        Ok(())
    }

    /// Links `place` to `target`, a path under the destination.
    fn hard_link(&self, place: &Place<'_>, target: &[u8]) -> Result<()> {
        let shown = place.shown;
        let shown_target = String::from_utf8_lossy(target).into_owned();
        let refuse = || breakout(format!("invalid hardlink {shown:?} -> {shown_target:?}"));
        let tcomps = resolve_within(&[], target).ok_or_else(refuse)?;
        let Some((tleaf, tparents)) = tcomps.split_last() else {
            return Err(refuse());
        };
        let mut tdir_path = self.dest.clone();
        tdir_path.extend(tparents.iter().cloned());
        let tdir = self
            .fs
            .resolve_components(&tdir_path, true)
            .and_then(|r| r.leaf.open_dir())
            .map_err(|e| io_err("finding the hard link target", &shown_target, e))?;
        match rfs::statat(&tdir, tleaf.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                return Err(Error::invalid(format!(
                    "hard link {shown:?} -> {shown_target:?}: the target is a directory"
                )));
            }
            Ok(_) => {}
            Err(e) => {
                return Err(io_err(
                    "finding the hard link target",
                    &shown_target,
                    e.into(),
                ))
            }
        }
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
        rfs::linkat(
            &tdir,
            tleaf.as_slice(),
            place.dir,
            place.leaf,
            AtFlags::empty(),
        )
        .map_err(|e| io_err("linking", shown, e.into()))
    }

    fn finish(&mut self) -> Result<()> {
        for (comps, times) in std::mem::take(&mut self.dirs) {
            let mut path = self.dest.clone();
            path.extend(comps);
            // Replaced later in the archive (by a file or a symlink): no times of its own.
            let Ok(r) = self.fs.resolve_components(&path, false) else {
                continue;
            };
            let Ok(dir) = r.leaf.open_dir() else {
                continue;
            };
            rfs::futimens(&dir, &times)
                .map_err(|e| io_err("setting the times of", &display(&path), e.into()))?;
        }
        Ok(())
    }
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, name: &str) -> Result<Vec<u8>> {
    entry
        .link_name_bytes()
        .map(|l| l.into_owned())
        .ok_or_else(|| Error::invalid(format!("archive entry {name:?}: a link without a target")))
}
