//! Applies one layer tar onto that layer's own overlayfs `diff` directory, with the
//! rules dockerd's overlay2 driver applies (moby `pkg/archive` `Unpack` with the overlay
//! whiteout converter), and without ever writing outside that directory.
//!
//! Layers are not applied on top of each other here: overlayfs merges the directories,
//! so AUFS-style whiteouts in the tar are converted to overlayfs's own markers
//! (`.wh.<name>` → a 0/0 character device `<name>`, `.wh..wh..opq` → the directory's
//! `trusted.overlay.opaque=y`) instead of deleting anything.
//!
//! Path safety. Every filesystem call is made relative to a directory file descriptor
//! that was reached from `dest` one component at a time with `O_NOFOLLOW`, so no entry
//! can be written through a symlink, whatever earlier entries created. Where docker runs
//! its extraction in a chroot (so that a symlinked parent resolves inside the layer),
//! this refuses an entry whose parent is a symlink: layer tars from `docker build`,
//! buildkit or any registry never route an entry through a symlink, only crafted ones do.
//! Lexically, names and link targets are judged as docker judges them:
//! - names are cleaned like Go's `filepath.Clean`: a leading `/` is dropped
//!   (`/abs/path` lands at `<dest>/abs/path`, `/../etc` at `<dest>/etc`), and a relative
//!   name that climbs above the root (`../x`, `a/../../b`) is refused;
//! - a symlink whose target, joined to the link's directory, climbs above the root
//!   (`evil -> ../../..`) is refused; absolute targets are allowed (they mean the
//!   container's root);
//! - a hard link's target is a path inside the layer (`/etc/passwd` means
//!   `<dest>/etc/passwd`), must have been extracted earlier in the same layer, and may
//!   not climb above the root.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    /// Give entries the owner recorded in the tar (true when berthd runs as root).
    pub same_owner: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries applied: files, directories, links, device nodes and whiteout markers.
    pub entries: u64,
    /// What dockerd reports as the layer's size (`directory.Size` of the diff
    /// directory): regular files' bytes and symlinks' target lengths, each inode once.
    pub bytes: u64,
}

/// Why a layer could not be applied. Every variant but a failure to read the archive
/// names the offending entry as it appears in the tar.
#[derive(Debug)]
pub enum UnpackError {
    /// The archive could not be read: corrupt compression, truncated tar, bad header.
    Read {
        entry: Option<String>,
        source: io::Error,
    },
    /// The entry, or its link target, would land outside the layer directory.
    Breakout { entry: String, detail: String },
    /// A parent directory of the entry (or of a hard link's target) is a symlink or not
    /// a directory.
    BadParent {
        entry: String,
        component: String,
        symlink: bool,
    },
    /// A device node, fifo or whiteout needs a privilege berthd does not have.
    NotPermitted {
        entry: String,
        what: &'static str,
        needs: &'static str,
    },
    /// An entry refused for what it is: an unknown type, an invalid whiteout, a hard
    /// link to something not in this layer.
    Invalid { entry: String, reason: String },
    /// A filesystem operation failed.
    Io {
        entry: String,
        op: String,
        source: io::Error,
    },
}

impl fmt::Display for UnpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnpackError::Read {
                entry: None,
                source,
            } => {
                write!(f, "reading the layer archive: {source}")
            }
            UnpackError::Read {
                entry: Some(e),
                source,
            } => {
                write!(f, "layer entry {e:?}: reading the layer archive: {source}")
            }
            UnpackError::Breakout { entry, detail } => write!(f, "layer entry {entry:?}: {detail}"),
            UnpackError::BadParent {
                entry,
                component,
                symlink: true,
            } => write!(
                f,
                "layer entry {entry:?}: parent {component:?} is a symbolic link; \
                 refusing to write through it"
            ),
            UnpackError::BadParent {
                entry,
                component,
                symlink: false,
            } => {
                write!(
                    f,
                    "layer entry {entry:?}: parent {component:?} is not a directory"
                )
            }
            UnpackError::NotPermitted { entry, what, needs } => write!(
                f,
                "layer entry {entry:?}: cannot create {what}: operation not permitted \
                 (this needs {needs}: run berthd as root)"
            ),
            UnpackError::Invalid { entry, reason } => write!(f, "layer entry {entry:?}: {reason}"),
            UnpackError::Io { entry, op, source } => {
                write!(f, "layer entry {entry:?}: {op}: {source}")
            }
        }
    }
}

impl std::error::Error for UnpackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UnpackError::Read { source, .. } | UnpackError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// AUFS's own bookkeeping names; only the opaque marker and the hard-link directory
/// mean anything to a layer.
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
/// Old AUFS layers keep hard-link targets here and link to them from elsewhere; docker
/// extracts its regular files aside so those links resolve, then drops the directory.
const WHITEOUT_LINK_DIR: &[u8] = b".wh..wh.plnk";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// overlayfs's own attributes are never taken from a tar: one could redirect lookups
/// or mark metacopy files. Opaqueness comes from `.wh..wh..opq` only.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";
const COPY_BUF: usize = 128 * 1024;

/// Applies the layer tar `tar` onto `dest`, which must exist (normally empty).
pub fn unpack_layer<R: Read>(
    tar: R,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    let root = rfs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Io {
        entry: "/".into(),
        op: format!("opening the layer directory {}", dest.display()),
        source: e.into(),
    })?;
    let mut u = Unpacker {
        dest: dest.to_path_buf(),
        same_owner: opts.same_owner,
        names: Walker::new(&root)?,
        links: Walker::new(&root)?,
        root,
        dirs: Vec::new(),
        plnk: HashMap::new(),
        plnk_created: false,
        stats: UnpackStats::default(),
        buf: vec![0; COPY_BUF],
    };
    let mut archive = tar::Archive::new(tar);
    let entries = archive.entries().map_err(|source| UnpackError::Read {
        entry: None,
        source,
    })?;
    for entry in entries {
        let mut entry = entry.map_err(|source| UnpackError::Read {
            entry: None,
            source,
        })?;
        u.apply(&mut entry)?;
    }
    u.finish()
}

/// What a tar entry says about the file it describes, beyond its name and type.
pub(crate) struct Meta {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
    pub(crate) times: Timestamps,
    pub(crate) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Unpacker {
    dest: PathBuf,
    same_owner: bool,
    root: OwnedFd,
    /// Directories on the path of the entry being written.
    names: Walker,
    /// Directories on the path of the last hard link's target.
    links: Walker,
    /// Directories whose times are set at the end: creating their children moves them.
    dirs: Vec<(Vec<Vec<u8>>, String, Timestamps)>,
    /// Sizes of the AUFS hard-link sources, counted once something links to them.
    plnk: HashMap<Vec<u8>, u64>,
    /// Something was written under `.wh..wh.plnk`, which goes at the end.
    plnk_created: bool,
    stats: UnpackStats,
    buf: Vec<u8>,
}

/// How an entry is to be applied, once its name is classified.
enum Action<'n> {
    Write,
    Whiteout(&'n [u8]),
    Opaque,
    Skip,
}

impl Unpacker {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw_name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        let read_err = |source| UnpackError::Read {
            entry: Some(name.clone()),
            source,
        };
        let invalid = |reason: String| UnpackError::Invalid {
            entry: name.clone(),
            reason,
        };

        let Some(comps) = clean(&raw_name) else {
            return Err(UnpackError::Breakout {
                entry: name,
                detail: "the path climbs above the layer root".into(),
            });
        };
        let Some((leaf, parents)) = comps.split_last() else {
            // docker skips the root directory's own entry ("./"); anything else there
            // would replace the layer directory itself.
            return match kind {
                EntryType::Directory => Ok(()),
                _ => Err(invalid(
                    "only a directory can stand for the layer root".into(),
                )),
            };
        };
        let action = classify(&comps, kind);
        if let Action::Skip = action {
            return Ok(());
        }
        let leaf: &[u8] = match action {
            Action::Whiteout(original) => {
                if matches!(original, b"" | b"." | b"..") {
                    return Err(invalid("invalid whiteout name".into()));
                }
                original
            }
            _ => leaf,
        };
        let meta = read_meta(entry).map_err(read_err)?;
        if comps[0] == WHITEOUT_LINK_DIR {
            self.plnk_created = true;
        }

        self.names
            .open(parents, true)
            .map_err(|e| e.into_error(&name, parents))?;
        let parent_path = self.host_path(parents);
        let parent = self.names.current();

        if let Action::Opaque = action {
            rfs::fsetxattr(parent, OPAQUE_XATTR, b"y", XattrFlags::empty()).map_err(|e| {
                if e == Errno::PERM {
                    UnpackError::NotPermitted {
                        entry: name.clone(),
                        what: "an opaque directory marker",
                        needs: "CAP_SYS_ADMIN to set trusted.* xattrs",
                    }
                } else {
                    io_err(&name, format!("setting {OPAQUE_XATTR}"), e)
                }
            })?;
            self.stats.entries += 1;
            return Ok(());
        }

        // A later entry replaces an earlier one, except that a directory over a directory
        // merges (only its metadata is applied again).
        let is_dir_entry = kind == EntryType::Directory && matches!(action, Action::Write);
        match rfs::statat(parent, leaf, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let existing = FileType::from_raw_mode(st.st_mode);
                if !(existing == FileType::Directory && is_dir_entry) {
                    let freed = remove_all_at(parent, OsStr::from_bytes(leaf))
                        .map_err(|e| io_err(&name, "removing the existing entry".into(), e))?;
                    self.stats.bytes = self.stats.bytes.saturating_sub(freed);
                    // The removed entry is a child of `names`' last directory, so that
                    // chain stays valid; `links` may hold the removed directory.
                    self.links.forget();
                }
            }
            Err(Errno::NOENT) => {}
            Err(e) => return Err(io_err(&name, "inspecting the existing entry".into(), e)),
        }
        let parent = self.names.current();

        if let Action::Whiteout(_) = action {
            mknod(parent, leaf, FileType::CharacterDevice, 0, 0)
                .map_err(|e| mknod_err(&name, "an overlay whiteout", e))?;
            if self.same_owner {
                chown_at(parent, leaf, &meta).map_err(|e| io_err(&name, "chown".into(), e))?;
            }
            self.stats.entries += 1;
            return Ok(());
        }

        let leaf_path = parent_path.join(OsStr::from_bytes(leaf));
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let fd = rfs::openat(
                    parent,
                    leaf,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| io_err(&name, "creating the file".into(), e))?;
                let mut file = File::from(fd);
                let written = copy(entry, &mut file, &mut self.buf, &name)?;
                if comps.first().map(Vec::as_slice) == Some(WHITEOUT_LINK_DIR) {
                    self.plnk.insert(comps.concat(), written);
                } else {
                    self.stats.bytes += written;
                }
                self.finish_fd(file.as_fd(), &meta, &name, &leaf_path, true)?;
            }
            EntryType::Directory => {
                match rfs::mkdirat(parent, leaf, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(io_err(&name, "creating the directory".into(), e)),
                }
                let dir = open_dir(parent, leaf)
                    .map_err(|e| io_err(&name, "opening the directory".into(), e))?;
                self.finish_fd(dir.as_fd(), &meta, &name, &leaf_path, false)?;
                self.dirs.push((comps.clone(), name.clone(), meta.times));
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid("symbolic link without a target".into()))?
                    .into_owned();
                if resolve_within(parents, &target).is_none() {
                    return Err(UnpackError::Breakout {
                        entry: name.clone(),
                        detail: format!(
                            "invalid symlink {name:?} -> {:?}: the target is outside of the layer root",
                            String::from_utf8_lossy(&target)
                        ),
                    });
                }
                rfs::symlinkat(OsStr::from_bytes(&target), parent, leaf)
                    .map_err(|e| io_err(&name, "creating the symbolic link".into(), e))?;
                self.stats.bytes += target.len() as u64;
                if self.same_owner {
                    chown_at(parent, leaf, &meta).map_err(|e| io_err(&name, "lchown".into(), e))?;
                }
                set_xattrs(None, &leaf_path, &meta, &name)?;
                rfs::utimensat(parent, leaf, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| io_err(&name, "setting times".into(), e))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid("hard link without a target".into()))?
                    .into_owned();
                self.hard_link(&name, &target, leaf)?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (file_type, what) = match kind {
                    EntryType::Char => (FileType::CharacterDevice, "a character device"),
                    EntryType::Block => (FileType::BlockDevice, "a block device"),
                    _ => (FileType::Fifo, "a fifo"),
                };
                let header = entry.header();
                let major = header.device_major().map_err(read_err)?.unwrap_or(0);
                let minor = header.device_minor().map_err(read_err)?.unwrap_or(0);
                mknod(parent, leaf, file_type, major, minor)
                    .map_err(|e| mknod_err(&name, what, e))?;
                if self.same_owner {
                    chown_at(parent, leaf, &meta).map_err(|e| io_err(&name, "chown".into(), e))?;
                }
                set_xattrs(None, &leaf_path, &meta, &name)?;
                // Not a symlink (just created), so following is harmless; Linux has no
                // lchmod.
                rfs::chmodat(
                    parent,
                    leaf,
                    Mode::from_raw_mode(meta.mode),
                    AtFlags::empty(),
                )
                .map_err(|e| io_err(&name, "chmod".into(), e))?;
                rfs::utimensat(parent, leaf, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| io_err(&name, "setting times".into(), e))?;
            }
            other => {
                let code = other.as_byte();
                return Err(invalid(format!(
                    "unsupported tar entry type {:?}",
                    char::from(code)
                )));
            }
        }
        self.stats.entries += 1;
        Ok(())
    }

    /// Links `parents/leaf` (already opened in `self.names`) to `target`.
    fn hard_link(&mut self, name: &str, target: &[u8], leaf: &[u8]) -> Result<(), UnpackError> {
        let shown = String::from_utf8_lossy(target).into_owned();
        // docker joins the target to the layer root, so "/etc/passwd" is the layer's own
        // and "/../x" climbs out just as "../x" does.
        let Some(tcomps) = resolve_within(&[], target) else {
            return Err(UnpackError::Breakout {
                entry: name.into(),
                detail: format!("invalid hardlink {name:?} -> {shown:?}: the target is outside of the layer root"),
            });
        };
        let Some((tleaf, tparents)) = tcomps.split_last() else {
            return Err(UnpackError::Invalid {
                entry: name.into(),
                reason: "a hard link to the layer root".into(),
            });
        };
        let missing = || UnpackError::Invalid {
            entry: name.into(),
            reason: format!("hard link target {shown:?} does not exist in this layer"),
        };
        match self.links.open(tparents, false) {
            Ok(()) => {}
            Err(WalkError::Missing) => return Err(missing()),
            Err(e) => return Err(e.into_error(name, tparents)),
        }
        let tdir = self.links.current();
        match rfs::statat(tdir, tleaf.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                return Err(UnpackError::Invalid {
                    entry: name.into(),
                    reason: format!("hard link target {shown:?} is a directory"),
                });
            }
            Ok(_) => {}
            Err(Errno::NOENT) => return Err(missing()),
            Err(e) => {
                return Err(io_err(
                    name,
                    format!("inspecting hard link target {shown:?}"),
                    e,
                ))
            }
        }
        // No AT_SYMLINK_FOLLOW: a link to a symlink is a link to the symlink itself.
        rfs::linkat(
            tdir,
            tleaf.as_slice(),
            self.names.current(),
            leaf,
            AtFlags::empty(),
        )
        .map_err(|e| io_err(name, format!("linking to {shown:?}"), e))?;
        if tcomps.first().map(Vec::as_slice) == Some(WHITEOUT_LINK_DIR) {
            if let Some(size) = self.plnk.remove(&tcomps.concat()) {
                self.stats.bytes += size;
            }
        }
        Ok(())
    }

    /// Ownership, xattrs, mode and (except for directories) times, in the order that
    /// keeps each: chown clears setuid/setgid and file capabilities, so it goes first.
    fn finish_fd(
        &self,
        fd: BorrowedFd<'_>,
        meta: &Meta,
        name: &str,
        path: &Path,
        set_times: bool,
    ) -> Result<(), UnpackError> {
        if self.same_owner {
            rfs::fchown(
                fd,
                Some(rfs::Uid::from_raw(meta.uid)),
                Some(rfs::Gid::from_raw(meta.gid)),
            )
            .map_err(|e| io_err(name, "chown".into(), e))?;
        }
        set_xattrs(Some(fd), path, meta, name)?;
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode))
            .map_err(|e| io_err(name, "chmod".into(), e))?;
        if set_times {
            rfs::futimens(fd, &meta.times).map_err(|e| io_err(name, "setting times".into(), e))?;
        }
        Ok(())
    }

    /// The host path of a directory below `dest`, for calls that have no fd form. Only
    /// used after `self.names` has opened that very chain without meeting a symlink, and
    /// nothing else writes into `dest` meanwhile, so the path names the same directory.
    fn host_path(&self, comps: &[Vec<u8>]) -> PathBuf {
        let mut p = self.dest.clone();
        p.extend(comps.iter().map(|c| OsStr::from_bytes(c)));
        p
    }

    fn finish(mut self) -> Result<UnpackStats, UnpackError> {
        for (comps, name, times) in std::mem::take(&mut self.dirs) {
            let Some((leaf, parents)) = comps.split_last() else {
                continue;
            };
            // A directory replaced later in the tar (by a file, a symlink, or under a
            // removed parent) keeps no times of its own: skip it.
            if self.names.open(parents, false).is_err() {
                continue;
            }
            let parent = self.names.current();
            match rfs::statat(parent, leaf.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                _ => continue,
            }
            rfs::utimensat(parent, leaf.as_slice(), &times, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| io_err(&name, "setting times".into(), e))?;
        }
        if self.plnk_created {
            match remove_all_at(self.root.as_fd(), OsStr::from_bytes(WHITEOUT_LINK_DIR)) {
                Ok(_) | Err(Errno::NOENT) => {}
                Err(e) => {
                    return Err(io_err(
                        &String::from_utf8_lossy(WHITEOUT_LINK_DIR),
                        "removing the AUFS hard-link directory".into(),
                        e,
                    ))
                }
            }
        }
        Ok(self.stats)
    }
}

fn classify(comps: &[Vec<u8>], kind: EntryType) -> Action<'_> {
    let Some((leaf, parents)) = comps.split_last() else {
        return Action::Skip;
    };
    let meta = |c: &Vec<u8>| c.starts_with(WHITEOUT_META_PREFIX);
    if parents.iter().any(meta) {
        // Only the AUFS hard-link sources are kept (until the end), directly under a
        // top-level .wh..wh.plnk.
        let plnk_file = parents.len() == 1
            && parents[0] == WHITEOUT_LINK_DIR
            && matches!(kind, EntryType::Regular | EntryType::Continuous);
        return if plnk_file {
            Action::Write
        } else {
            Action::Skip
        };
    }
    if leaf == WHITEOUT_OPAQUE {
        return Action::Opaque;
    }
    if meta(leaf) {
        let plnk_dir =
            parents.is_empty() && leaf == WHITEOUT_LINK_DIR && kind == EntryType::Directory;
        return if plnk_dir {
            Action::Write
        } else {
            Action::Skip
        };
    }
    match leaf.strip_prefix(WHITEOUT_PREFIX) {
        Some(original) => Action::Whiteout(original),
        None => Action::Write,
    }
}

/// Go's `filepath.Clean` of a tar name, as components: `.` and empty components go,
/// `..` cancels the previous component, and at the root of an absolute name is dropped.
/// `None` when a relative name climbs above the root.
pub(crate) fn clean(name: &[u8]) -> Option<Vec<Vec<u8>>> {
    let rooted = name.first() == Some(&b'/');
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() && !rooted {
                    return None;
                }
            }
            _ => out.push(c.to_vec()),
        }
    }
    Some(out)
}

/// `rel` joined to the directory `base` and cleaned, leading `/` or not, as Go's
/// `filepath.Join` does; `None` when it climbs above the root.
pub(crate) fn resolve_within(base: &[Vec<u8>], rel: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = base.to_vec();
    for c in rel.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            _ => out.push(c.to_vec()),
        }
    }
    Some(out)
}

pub(crate) fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let header = entry.header();
    let id = |v: u64| {
        u32::try_from(v).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("owner id {v} out of range"),
            )
        })
    };
    let old = header.as_old();
    // The tar crate has already applied PAX uid/gid records to the header.
    let uid = id(numeric(header.uid(), &old.uid)?)?;
    let gid = id(numeric(header.gid(), &old.gid)?)?;
    let mode = numeric(header.mode().map(u64::from), &old.mode)? as u32 & 0o7777;
    let mut mtime = (
        i64::try_from(numeric(header.mtime(), &old.mtime)?).unwrap_or(0),
        0,
    );
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let key = ext.key_bytes();
            if key == b"mtime" {
                mtime = parse_pax_time(ext.value_bytes()).unwrap_or(mtime);
            } else if key == b"atime" {
                atime = parse_pax_time(ext.value_bytes());
            } else if let Some(attr) = key.strip_prefix(PAX_XATTR_PREFIX) {
                xattrs.push((attr.to_vec(), ext.value_bytes().to_vec()));
            }
        }
    }
    // docker sets atime to the later of atime and mtime.
    let atime = atime.map_or(mtime, |a| a.max(mtime));
    let ts = |(s, n): (i64, i64)| Timespec {
        tv_sec: s,
        tv_nsec: n as _,
    };
    Ok(Meta {
        uid,
        gid,
        mode,
        times: Timestamps {
            last_access: ts(atime),
            last_modification: ts(mtime),
        },
        xattrs,
    })
}

/// A numeric header field; one left blank (all NULs or spaces) reads as 0, as Go's
/// archive/tar reads it, where the tar crate refuses it.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

/// A PAX time, `secs[.fraction]`. Like docker's `boundTime`, times before the epoch
/// become the epoch.
fn parse_pax_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?;
    if s.starts_with('-') {
        return Some((0, 0));
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let nanos = format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()?;
    Some((secs, nanos))
}

fn copy<R: Read>(
    from: &mut R,
    to: &mut File,
    buf: &mut [u8],
    name: &str,
) -> Result<u64, UnpackError> {
    let mut total = 0u64;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(UnpackError::Read {
                    entry: Some(name.into()),
                    source,
                })
            }
        };
        to.write_all(&buf[..n]).map_err(|source| UnpackError::Io {
            entry: name.into(),
            op: "writing the file's contents".into(),
            source,
        })?;
        total += n as u64;
    }
}

fn set_xattrs(
    fd: Option<BorrowedFd<'_>>,
    path: &Path,
    meta: &Meta,
    name: &str,
) -> Result<(), UnpackError> {
    for (key, value) in &meta.xattrs {
        let shown = String::from_utf8_lossy(key);
        if key.starts_with(OVERLAY_XATTR_PREFIX) {
            tracing::debug!(entry = name, xattr = %shown, "ignoring an overlayfs xattr from a layer");
            continue;
        }
        let key = OsStr::from_bytes(key);
        let res = match fd {
            Some(fd) => rfs::fsetxattr(fd, key, value, XattrFlags::empty()),
            None => rfs::lsetxattr(path, key, value, XattrFlags::empty()),
        };
        match res {
            Ok(()) => {}
            // Not allowed here (a user.* attribute on a symlink or device, security.*
            // without the capability) or not supported by the filesystem: the file is
            // still usable, so warn as docker does for EPERM rather than fail the pull.
            Err(e @ (Errno::PERM | Errno::OPNOTSUPP)) => {
                tracing::warn!(entry = name, xattr = %shown, error = %e, "ignored an xattr from the layer");
            }
            Err(e) => return Err(io_err(name, format!("setting xattr {shown}"), e)),
        }
    }
    Ok(())
}

fn chown_at(dir: BorrowedFd<'_>, leaf: &[u8], meta: &Meta) -> rustix::io::Result<()> {
    rfs::chownat(
        dir,
        leaf,
        Some(rfs::Uid::from_raw(meta.uid)),
        Some(rfs::Gid::from_raw(meta.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
}

fn mknod(
    dir: BorrowedFd<'_>,
    leaf: &[u8],
    kind: FileType,
    major: u32,
    minor: u32,
) -> rustix::io::Result<()> {
    rfs::mknodat(dir, leaf, kind, Mode::empty(), rfs::makedev(major, minor))
}

fn mknod_err(name: &str, what: &'static str, e: Errno) -> UnpackError {
    if e == Errno::PERM {
        UnpackError::NotPermitted {
            entry: name.into(),
            what,
            needs: "CAP_MKNOD",
        }
    } else {
        io_err(name, format!("creating {what}"), e)
    }
}

fn io_err(name: &str, op: String, e: Errno) -> UnpackError {
    UnpackError::Io {
        entry: name.into(),
        op,
        source: e.into(),
    }
}

fn open_dir<P: rustix::path::Arg>(parent: BorrowedFd<'_>, leaf: P) -> rustix::io::Result<OwnedFd> {
    rfs::openat(
        parent,
        leaf,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Removes `name` in `dir` and, for a directory, everything below it, never following
/// a symlink. Returns the bytes this frees by `UnpackStats::bytes`' measure: regular
/// files whose last link goes, and symlinks.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<u64> {
    let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let size = u64::try_from(st.st_size).unwrap_or(0);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {}
        kind => {
            rfs::unlinkat(dir, name, AtFlags::empty())?;
            let last_link = kind == FileType::RegularFile && st.st_nlink == 1;
            return Ok(if last_link || kind == FileType::Symlink {
                size
            } else {
                0
            });
        }
    }
    let sub = open_dir(dir, name)?;
    let children: Vec<Vec<u8>> = rfs::Dir::read_from(&sub)?
        .map(|e| e.map(|e| e.file_name().to_bytes().to_vec()))
        .collect::<rustix::io::Result<_>>()?;
    let mut freed = 0;
    for child in children
        .iter()
        .filter(|c| !matches!(c.as_slice(), b"." | b".."))
    {
        freed += remove_all_at(sub.as_fd(), OsStr::from_bytes(child))?;
    }
    rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    Ok(freed)
}

/// Directories open along one path below the layer root, each reached from its parent
/// with O_NOFOLLOW. Consecutive tar entries mostly share their parents, so the chain is
/// kept and only the part that differs is reopened.
struct Walker {
    root: OwnedFd,
    chain: Vec<(Vec<u8>, OwnedFd)>,
}

enum WalkError {
    /// The component at this index is a symlink, or not a directory.
    Bad {
        at: usize,
        symlink: bool,
    },
    Missing,
    Io {
        at: usize,
        source: Errno,
    },
}

impl WalkError {
    fn into_error(self, name: &str, comps: &[Vec<u8>]) -> UnpackError {
        let shown = |at: usize| String::from_utf8_lossy(&comps[..=at].join(&b'/')).into_owned();
        match self {
            WalkError::Bad { at, symlink } => UnpackError::BadParent {
                entry: name.into(),
                component: shown(at),
                symlink,
            },
            WalkError::Missing => UnpackError::Invalid {
                entry: name.into(),
                reason: "a parent directory is missing".into(),
            },
            WalkError::Io { at, source } => {
                io_err(name, format!("opening directory {:?}", shown(at)), source)
            }
        }
    }
}

impl Walker {
    fn new(root: &OwnedFd) -> Result<Walker, UnpackError> {
        let root = root.try_clone().map_err(|source| UnpackError::Io {
            entry: "/".into(),
            op: "duplicating the layer directory's descriptor".into(),
            source,
        })?;
        Ok(Walker {
            root,
            chain: Vec::new(),
        })
    }

    /// The directory `open` reached last.
    fn current(&self) -> BorrowedFd<'_> {
        self.chain
            .last()
            .map_or(self.root.as_fd(), |(_, fd)| fd.as_fd())
    }

    /// Drops every cached directory: one of them may just have been removed.
    fn forget(&mut self) {
        self.chain.clear();
    }

    /// Opens the directory `comps` below the root, creating missing components (mode
    /// 0755, as docker creates implied parents) when `create`.
    fn open(&mut self, comps: &[Vec<u8>], create: bool) -> Result<(), WalkError> {
        let common = self
            .chain
            .iter()
            .zip(comps)
            .take_while(|((have, _), want)| have == *want)
            .count();
        self.chain.truncate(common);
        for (at, comp) in comps.iter().enumerate().skip(common) {
            let parent = self.current();
            let fd = match open_dir(parent, comp.as_slice()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rfs::mkdirat(parent, comp.as_slice(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(source) => return Err(WalkError::Io { at, source }),
                    }
                    open_dir(parent, comp.as_slice())
                        .map_err(|source| WalkError::Io { at, source })?
                }
                Err(Errno::NOENT) => return Err(WalkError::Missing),
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    let symlink = rfs::statat(parent, comp.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
                    return Err(WalkError::Bad { at, symlink });
                }
                Err(source) => return Err(WalkError::Io { at, source }),
            };
            self.chain.push((comp.clone(), fd));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const MTIME: u64 = 1_600_000_000;

    /// One tar entry, written with raw header fields so that hostile names reach the
    /// extractor unvalidated (the tar crate's own setters refuse `..`).
    struct E {
        kind: EntryType,
        name: Vec<u8>,
        link: Vec<u8>,
        data: Vec<u8>,
        mode: u32,
        owner: (u64, u64),
        mtime: u64,
        dev: (u32, u32),
        pax: Vec<(String, Vec<u8>)>,
    }

    impl E {
        fn new(kind: EntryType, name: &str) -> E {
            E {
                kind,
                name: name.as_bytes().to_vec(),
                link: Vec::new(),
                data: Vec::new(),
                mode: if kind == EntryType::Directory {
                    0o755
                } else {
                    0o644
                },
                owner: (0, 0),
                mtime: MTIME,
                dev: (0, 0),
                pax: Vec::new(),
            }
        }
        fn file(name: &str, data: &[u8]) -> E {
            E {
                data: data.to_vec(),
                ..E::new(EntryType::Regular, name)
            }
        }
        fn dir(name: &str) -> E {
            E::new(EntryType::Directory, name)
        }
        fn symlink(name: &str, target: &str) -> E {
            E {
                link: target.as_bytes().to_vec(),
                mode: 0o777,
                ..E::new(EntryType::Symlink, name)
            }
        }
        fn hardlink(name: &str, target: &str) -> E {
            E {
                link: target.as_bytes().to_vec(),
                ..E::new(EntryType::Link, name)
            }
        }
        fn node(kind: EntryType, name: &str, major: u32, minor: u32) -> E {
            E {
                dev: (major, minor),
                ..E::new(kind, name)
            }
        }
        fn mode(self, mode: u32) -> E {
            E { mode, ..self }
        }
        fn owner(self, uid: u64, gid: u64) -> E {
            E {
                owner: (uid, gid),
                ..self
            }
        }
        fn mtime(self, mtime: u64) -> E {
            E { mtime, ..self }
        }
        fn pax(mut self, key: &str, value: &[u8]) -> E {
            self.pax.push((key.into(), value.to_vec()));
            self
        }
    }

    fn tar(entries: Vec<E>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut pax: Vec<(String, Vec<u8>)> = e.pax.clone();
            if e.name.len() > 100 {
                pax.push(("path".into(), e.name.clone()));
            }
            if e.link.len() > 100 {
                pax.push(("linkpath".into(), e.link.clone()));
            }
            if !pax.is_empty() {
                b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                    .unwrap();
            }
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(e.kind);
            h.set_mode(e.mode);
            h.set_uid(e.owner.0);
            h.set_gid(e.owner.1);
            h.set_mtime(e.mtime);
            h.set_size(e.data.len() as u64);
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
            let old = h.as_old_mut();
            let n = e.name.len().min(100);
            old.name[..n].copy_from_slice(&e.name[..n]);
            let n = e.link.len().min(100);
            old.linkname[..n].copy_from_slice(&e.link[..n]);
            h.set_cksum();
            b.append(&h, e.data.as_slice()).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A private directory holding the layer directory (three levels down, so that
    /// `../../x` still lands inside the sandbox) and `outside/`, a stand-in for the host.
    struct Sandbox {
        root: PathBuf,
        /// Whether this process may chown, mknod and set trusted.* xattrs here.
        privileged: bool,
    }

    impl Sandbox {
        fn new() -> Sandbox {
            static N: AtomicUsize = AtomicUsize::new(0);
            let root = std::env::temp_dir().join(format!(
                "berth-unpack-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("jail/cell/dest")).unwrap();
            fs::create_dir_all(root.join("outside/sub")).unwrap();
            fs::write(root.join("outside/passwd"), "root:x:0:0\n").unwrap();
            let probe = root.join("probe");
            let privileged = rfs::mknodat(
                rfs::CWD,
                &probe,
                FileType::CharacterDevice,
                Mode::empty(),
                0,
            )
            .is_ok()
                && rfs::chownat(
                    rfs::CWD,
                    &probe,
                    Some(rfs::Uid::from_raw(4321)),
                    None,
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .is_ok()
                && rfs::lsetxattr(&root, "trusted.berth-probe", b"1", XattrFlags::empty()).is_ok();
            let _ = fs::remove_file(&probe);
            let _ = rfs::lremovexattr(&root, "trusted.berth-probe");
            Sandbox { root, privileged }
        }

        /// Owners are applied only where this process may apply them.
        fn opts(&self) -> UnpackOptions {
            UnpackOptions {
                same_owner: self.privileged,
            }
        }

        fn dest(&self) -> PathBuf {
            self.root.join("jail/cell/dest")
        }

        fn outside(&self) -> PathBuf {
            self.root.join("outside")
        }

        fn unpack(&self, entries: Vec<E>) -> Result<UnpackStats, UnpackError> {
            unpack_layer(tar(entries).as_slice(), &self.dest(), &self.opts())
        }

        /// Everything in the sandbox but the layer directory, with what each thing is.
        fn snapshot(&self) -> Vec<String> {
            fn walk(dir: &Path, base: &Path, skip: &Path, out: &mut Vec<String>) {
                let mut names: Vec<_> = fs::read_dir(dir)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                names.sort();
                for p in names {
                    if p == skip {
                        continue;
                    }
                    let m = fs::symlink_metadata(&p).unwrap();
                    let what = if m.is_symlink() {
                        format!("-> {:?}", fs::read_link(&p).unwrap())
                    } else if m.is_file() {
                        format!("{:?}", fs::read(&p).unwrap())
                    } else {
                        String::new()
                    };
                    let rel = p.strip_prefix(base).unwrap().display().to_string();
                    out.push(format!(
                        "{rel} {:o} {} {} {what}",
                        m.mode(),
                        m.nlink(),
                        m.uid()
                    ));
                    if m.is_dir() {
                        walk(&p, base, skip, out);
                    }
                }
            }
            let mut out = Vec::new();
            walk(&self.root, &self.root, &self.dest(), &mut out);
            out
        }

        /// Runs a hostile layer and checks that it failed, naming `entry`, and that
        /// nothing outside the layer directory changed.
        fn refuse(&self, entries: Vec<E>, entry: &str) -> UnpackError {
            let before = self.snapshot();
            let e = self
                .unpack(entries)
                .expect_err("a hostile layer was applied");
            assert!(
                e.to_string().contains(&format!("{entry:?}")),
                "{e} does not name {entry:?}"
            );
            assert_eq!(
                self.snapshot(),
                before,
                "the sandbox outside the layer changed: {e}"
            );
            e
        }

        /// Tests of what only root may do call this first, and stop when it says no.
        fn privileged(&self) -> bool {
            if !self.privileged {
                eprintln!("skipping: needs root (CAP_CHOWN, CAP_MKNOD, CAP_SYS_ADMIN)");
            }
            self.privileged
        }
    }

    impl Drop for Sandbox {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    fn meta(p: &Path) -> fs::Metadata {
        fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 256];
        let n = rfs::lgetxattr(p, name, &mut buf[..]).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    #[test]
    fn files_directories_and_implied_parents() {
        let s = Sandbox::new();
        let stats = s
            .unpack(vec![
                E::dir("./"),
                E::dir("etc/").mode(0o750),
                E::file("etc/hostname", b"berth\n").mode(0o640),
                E::file("./usr/lib/deep/file", b"x"),
                E::file("empty", b""),
                E::file("noise", &[7u8; 300_000]),
            ])
            .unwrap();
        let d = s.dest();
        assert_eq!(fs::read(d.join("etc/hostname")).unwrap(), b"berth\n");
        assert_eq!(meta(&d.join("etc/hostname")).mode() & 0o7777, 0o640);
        assert_eq!(meta(&d.join("etc")).mode() & 0o7777, 0o750);
        // Parents the tar never names are made as docker makes them.
        assert!(meta(&d.join("usr/lib/deep")).is_dir());
        assert_eq!(meta(&d.join("usr/lib")).mode() & 0o7777, 0o755);
        assert_eq!(fs::read(d.join("noise")).unwrap().len(), 300_000);
        assert_eq!(
            stats,
            UnpackStats {
                entries: 5,
                bytes: 6 + 1 + 300_000
            }
        );
    }

    #[test]
    fn symlinks_keep_their_target_owner_and_times() {
        let s = Sandbox::new();
        let privileged = s.privileged();
        s.unpack(vec![
            E::file("bin/busybox", b"elf"),
            E::symlink("bin/sh", "busybox")
                .owner(7, 8)
                .mtime(1_500_000_000),
            E::symlink("abs", "/bin/busybox"),
            E::symlink("up", "bin/.."),
            E::symlink("dangling", "no/such/file"),
        ])
        .unwrap();
        let d = s.dest();
        assert_eq!(
            fs::read_link(d.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert_eq!(
            fs::read_link(d.join("abs")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert_eq!(
            fs::read_link(d.join("dangling")).unwrap(),
            Path::new("no/such/file")
        );
        let m = meta(&d.join("bin/sh"));
        assert_eq!(m.mtime(), 1_500_000_000);
        if privileged {
            assert_eq!((m.uid(), m.gid()), (7, 8));
        }
    }

    #[test]
    fn hard_links_share_the_inode_and_count_once() {
        let s = Sandbox::new();
        let stats = s
            .unpack(vec![
                E::file("usr/bin/perl", b"12345"),
                E::hardlink("usr/bin/perl5", "usr/bin/perl"),
                E::hardlink("other/dir/perl", "/usr/bin/perl"),
                E::symlink("sl", "usr/bin/perl"),
                E::hardlink("sl2", "sl"),
            ])
            .unwrap();
        let d = s.dest();
        let ino = meta(&d.join("usr/bin/perl")).ino();
        assert_eq!(meta(&d.join("usr/bin/perl5")).ino(), ino);
        assert_eq!(meta(&d.join("other/dir/perl")).ino(), ino);
        assert_eq!(meta(&d.join("usr/bin/perl")).nlink(), 3);
        // A link to a symlink is the symlink itself, not what it points at.
        assert!(meta(&d.join("sl2")).is_symlink());
        assert_eq!(stats.bytes, 5 + "usr/bin/perl".len() as u64);
        assert_eq!(stats.entries, 5);

        let e = s.refuse(vec![E::hardlink("x", "missing")], "x");
        assert!(
            e.to_string().contains("does not exist in this layer"),
            "{e}"
        );
        let e = s.refuse(vec![E::dir("d"), E::hardlink("y", "d")], "y");
        assert!(e.to_string().contains("is a directory"), "{e}");
        s.refuse(vec![E::hardlink("z", "/")], "z");
        s.refuse(vec![E::hardlink("w", "")], "w");
    }

    #[test]
    fn device_nodes_and_fifos() {
        let s = Sandbox::new();
        if !s.privileged() {
            return;
        }
        s.unpack(vec![
            E::node(EntryType::Char, "dev/null", 1, 3).mode(0o666),
            E::node(EntryType::Block, "dev/loop0", 7, 0)
                .mode(0o660)
                .owner(0, 6),
            E::node(EntryType::Fifo, "run/fifo", 0, 0).mode(0o620),
        ])
        .unwrap();
        let d = s.dest();
        let null = meta(&d.join("dev/null"));
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), rfs::makedev(1, 3));
        assert_eq!(null.mode() & 0o7777, 0o666);
        let lp = meta(&d.join("dev/loop0"));
        assert!(lp.file_type().is_block_device());
        assert_eq!((lp.rdev(), lp.gid()), (rfs::makedev(7, 0), 6));
        let fifo = meta(&d.join("run/fifo"));
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.mode() & 0o7777, 0o620);
    }

    #[test]
    fn whiteouts_become_overlay_markers() {
        let s = Sandbox::new();
        if !s.privileged() {
            return;
        }
        let stats = s
            .unpack(vec![
                E::file(".wh.gone", b"").owner(5, 5),
                E::file("etc/old.conf", b"replaced by its whiteout"),
                E::file("etc/.wh.old.conf", b""),
                E::file("var/cache/.wh..wh..opq", b""),
                E::dir("var/cache/apt/"),
                E::file("opt/.wh..wh..opq", b""),
                E::file(".wh..wh.aufs", b""),
                E::dir(".wh..wh.orph/"),
                E::file(".wh..wh.orph/x", b"aufs bookkeeping"),
            ])
            .unwrap();
        let d = s.dest();
        for p in ["gone", "etc/old.conf"] {
            let m = meta(&d.join(p));
            assert!(m.file_type().is_char_device(), "{p}");
            assert_eq!(m.rdev(), 0, "{p}");
        }
        assert_eq!(meta(&d.join("gone")).uid(), 5);
        assert!(!d.join(".wh.gone").exists());
        assert!(!d.join("etc/.wh.old.conf").exists());
        assert_eq!(
            xattr(&d.join("var/cache"), OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(
            xattr(&d.join("opt"), OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
        assert!(!d.join("var/cache/.wh..wh..opq").exists());
        assert!(meta(&d.join("var/cache/apt")).is_dir());
        assert!(!d.join(".wh..wh.aufs").exists());
        assert!(!d.join(".wh..wh.orph").exists());
        // The file and its whiteout, two whiteouts, two opaque markers and one directory.
        assert_eq!(stats.entries, 6);

        let e = s.refuse(vec![E::file("a/.wh..", b"")], "a/.wh..");
        assert!(e.to_string().contains("invalid whiteout"), "{e}");
        s.refuse(vec![E::file("a/.wh.", b"")], "a/.wh.");
    }

    #[test]
    fn aufs_hard_link_directory_is_resolved_then_dropped() {
        let s = Sandbox::new();
        let stats = s
            .unpack(vec![
                E::dir(".wh..wh.plnk/"),
                E::file(".wh..wh.plnk/262.1234", b"shared").mode(0o755),
                E::file(".wh..wh.plnk/263.99", b"unused"),
                E::hardlink("usr/bin/a", "/.wh..wh.plnk/262.1234"),
                E::hardlink("usr/bin/b", ".wh..wh.plnk/262.1234"),
            ])
            .unwrap();
        let d = s.dest();
        assert_eq!(fs::read(d.join("usr/bin/a")).unwrap(), b"shared");
        assert_eq!(
            meta(&d.join("usr/bin/a")).ino(),
            meta(&d.join("usr/bin/b")).ino()
        );
        assert_eq!(meta(&d.join("usr/bin/a")).mode() & 0o7777, 0o755);
        assert!(!d.join(".wh..wh.plnk").exists());
        assert_eq!(stats.bytes, 6);
    }

    #[test]
    fn long_names_pax_and_gnu() {
        let s = Sandbox::new();
        let long_dir = "d".repeat(120);
        let pax_name = format!("{long_dir}/{}", "f".repeat(200));
        let target = format!("/{}", "t".repeat(150));
        s.unpack(vec![
            E::file(&pax_name, b"pax"),
            E::symlink("pax-link", &target),
        ])
        .unwrap();
        assert_eq!(fs::read(s.dest().join(&pax_name)).unwrap(), b"pax");
        assert_eq!(
            fs::read_link(s.dest().join("pax-link")).unwrap(),
            Path::new(&target)
        );

        // GNU 'L'/'K' records, as the tar crate's builder writes them for GNU headers.
        let gnu_name = format!("gnu/{}", "g".repeat(180));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        // uid, gid and mtime left blank, as some writers leave them: they read as 0.
        h.set_mode(0o600);
        b.append_data(&mut h, &gnu_name, &b"gnu"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "gnu-link", &target).unwrap();
        let bytes = b.into_inner().unwrap();
        unpack_layer(
            bytes.as_slice(),
            &s.dest(),
            &UnpackOptions { same_owner: false },
        )
        .unwrap();
        assert_eq!(fs::read(s.dest().join(&gnu_name)).unwrap(), b"gnu");
        assert_eq!(
            fs::read_link(s.dest().join("gnu-link")).unwrap(),
            Path::new(&target)
        );
    }

    #[test]
    fn xattrs_from_pax_headers() {
        let s = Sandbox::new();
        let privileged = s.privileged();
        // VFS_CAP_REVISION_2 with CAP_NET_RAW permitted and effective.
        let cap = [
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        s.unpack(vec![
            E::file("bin/ping", b"elf")
                .mode(0o4755)
                .owner(1000, 1000)
                .pax("SCHILY.xattr.security.capability", &cap)
                .pax("SCHILY.xattr.user.note", b"hello\0binary")
                .pax("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
            E::dir("data/").pax("SCHILY.xattr.user.dir", b"1"),
            // user.* is not allowed on symlinks: warned about, not fatal.
            E::symlink("link", "bin/ping").pax("SCHILY.xattr.user.nope", b"1"),
        ])
        .unwrap();
        let d = s.dest();
        assert_eq!(
            xattr(&d.join("bin/ping"), "user.note").as_deref(),
            Some(&b"hello\0binary"[..])
        );
        assert_eq!(
            xattr(&d.join("data"), "user.dir").as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(xattr(&d.join("bin/ping"), "trusted.overlay.redirect"), None);
        if privileged {
            // Set after the chown, which would have dropped it.
            assert_eq!(
                xattr(&d.join("bin/ping"), "security.capability").as_deref(),
                Some(&cap[..])
            );
        }
    }

    #[test]
    fn special_mode_bits_survive_chown() {
        let s = Sandbox::new();
        if !s.privileged() {
            return;
        }
        s.unpack(vec![
            E::file("usr/bin/sudo", b"elf")
                .mode(0o4755)
                .owner(1000, 1000),
            E::file("usr/bin/wall", b"elf").mode(0o2755).owner(0, 5),
            E::dir("tmp/").mode(0o1777).owner(1000, 1000),
            E::dir("shared/").mode(0o3775).owner(1000, 1001),
        ])
        .unwrap();
        let d = s.dest();
        for (p, mode, uid, gid) in [
            ("usr/bin/sudo", 0o4755, 1000, 1000),
            ("usr/bin/wall", 0o2755, 0, 5),
            ("tmp", 0o1777, 1000, 1000),
            ("shared", 0o3775, 1000, 1001),
        ] {
            let m = meta(&d.join(p));
            assert_eq!(
                (m.mode() & 0o7777, m.uid(), m.gid()),
                (mode, uid, gid),
                "{p}"
            );
        }
    }

    #[test]
    fn times_of_files_and_directories() {
        let s = Sandbox::new();
        s.unpack(vec![
            E::dir("a/").mtime(1_000_000_000),
            E::dir("a/b/").mtime(1_100_000_000),
            E::file("a/b/f", b"x").mtime(1_200_000_000),
            E::file("a/g", b"y").mtime(1_300_000_000),
            E::file("precise", b"")
                .pax("mtime", b"1600000000.25")
                .pax("atime", b"1700000000.5"),
            E::file("ancient", b"").pax("mtime", b"-12.5"),
        ])
        .unwrap();
        let d = s.dest();
        assert_eq!(meta(&d.join("a")).mtime(), 1_000_000_000);
        assert_eq!(meta(&d.join("a/b")).mtime(), 1_100_000_000);
        assert_eq!(meta(&d.join("a/b/f")).mtime(), 1_200_000_000);
        let p = meta(&d.join("precise"));
        assert_eq!((p.mtime(), p.mtime_nsec()), (1_600_000_000, 250_000_000));
        assert_eq!((p.atime(), p.atime_nsec()), (1_700_000_000, 500_000_000));
        assert_eq!(meta(&d.join("ancient")).mtime(), 0);
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let s = Sandbox::new();
        let stats = s
            .unpack(vec![
                E::file("f", b"first version"),
                E::file("f", b"second"),
                E::file("was-file", b"x"),
                E::dir("was-file/"),
                E::file("was-file/child", b"c"),
                E::dir("was-dir/"),
                E::file("was-dir/child", b"c"),
                E::file("was-dir", b"now a file"),
                E::dir("merge/").mode(0o700),
                E::file("merge/kept", b"k"),
                E::dir("merge/").mode(0o755),
            ])
            .unwrap();
        let d = s.dest();
        assert_eq!(fs::read(d.join("f")).unwrap(), b"second");
        assert_eq!(fs::read(d.join("was-file/child")).unwrap(), b"c");
        assert_eq!(fs::read(d.join("was-dir")).unwrap(), b"now a file");
        assert_eq!(fs::read(d.join("merge/kept")).unwrap(), b"k");
        assert_eq!(meta(&d.join("merge")).mode() & 0o7777, 0o755);
        // "second" + "c" + "now a file" + "k"; the replaced and removed files are not counted.
        assert_eq!(stats.bytes, 6 + 1 + 10 + 1);
    }

    #[test]
    fn a_symlink_is_replaced_not_followed() {
        let s = Sandbox::new();
        let passwd = s.outside().join("passwd");
        let before = s.snapshot();
        s.unpack(vec![
            E::symlink("etc-passwd", passwd.to_str().unwrap()),
            E::file("etc-passwd", b"hacked"),
            E::symlink("sub", s.outside().join("sub").to_str().unwrap()),
            E::dir("sub/"),
        ])
        .unwrap();
        assert_eq!(s.snapshot(), before);
        assert_eq!(fs::read(s.dest().join("etc-passwd")).unwrap(), b"hacked");
        assert!(meta(&s.dest().join("sub")).is_dir());
    }

    #[test]
    fn unreadable_and_unknown_entries() {
        let s = Sandbox::new();
        let e = s.refuse(vec![E::new(EntryType::new(b'V'), "volume")], "volume");
        assert!(
            e.to_string().contains("unsupported tar entry type 'V'"),
            "{e}"
        );
        let mut bytes = tar(vec![E::file("big", &[1u8; 5000])]);
        bytes.truncate(2048);
        let e = unpack_layer(bytes.as_slice(), &s.dest(), &s.opts()).unwrap_err();
        assert!(matches!(e, UnpackError::Read { .. }), "{e}");
        // An empty stream is an empty layer.
        let stats = unpack_layer(&b""[..], &s.dest(), &s.opts()).unwrap();
        assert_eq!(stats, UnpackStats::default());
    }

    #[test]
    fn hostile_names_that_climb_out() {
        let s = Sandbox::new();
        for name in [
            "../../escape",
            "a/../../b",
            "..",
            "../",
            "x/y/../../../../../../tmp/evil",
        ] {
            let e = s.refuse(vec![E::file(name, b"pwned")], name);
            assert!(matches!(e, UnpackError::Breakout { .. }), "{name}: {e}");
            let e = s.refuse(vec![E::dir(name)], name);
            assert!(matches!(e, UnpackError::Breakout { .. }), "{name}: {e}");
        }
        s.refuse(vec![E::symlink("../../link", "x")], "../../link");
        s.refuse(vec![E::hardlink("../../hard", "x")], "../../hard");
        s.refuse(vec![E::file("../../.wh.dest", b"")], "../../.wh.dest");
        s.refuse(vec![E::file("../.wh..wh..opq", b"")], "../.wh..wh..opq");
    }

    #[test]
    fn absolute_names_are_taken_inside_the_layer() {
        let s = Sandbox::new();
        let before = s.snapshot();
        s.unpack(vec![
            E::file("/abs/path", b"1"),
            E::file("/../../etc/x", b"2"),
            E::file("//double//slash/./f", b"3"),
            E::file(&format!("{}/passwd", s.outside().display()), b"4"),
        ])
        .unwrap();
        let d = s.dest();
        assert_eq!(fs::read(d.join("abs/path")).unwrap(), b"1");
        assert_eq!(fs::read(d.join("etc/x")).unwrap(), b"2");
        assert_eq!(fs::read(d.join("double/slash/f")).unwrap(), b"3");
        let inner = d
            .join(s.outside().strip_prefix("/").unwrap())
            .join("passwd");
        assert_eq!(fs::read(inner).unwrap(), b"4");
        assert_eq!(s.snapshot(), before);
    }

    #[test]
    fn nothing_is_written_through_a_symlink() {
        let outside_parent = |s: &Sandbox| E::symlink("evil", s.outside().to_str().unwrap());
        type Case = (&'static str, fn(&str) -> E);
        let cases: [Case; 8] = [
            ("evil/passwd", |n| E::file(n, b"pwned")),
            ("evil/new/file", |n| E::file(n, b"pwned")),
            ("evil/newdir/", |n| E::dir(n)),
            ("evil/sub/", |n| E::dir(n).mode(0o777)),
            ("evil/.wh.passwd", |n| E::file(n, b"")),
            ("evil/.wh..wh..opq", |n| E::file(n, b"")),
            ("evil/link", |n| E::symlink(n, "x")),
            ("evil/hard", |n| E::hardlink(n, "target")),
        ];
        for (name, make) in cases {
            let s = Sandbox::new();
            let e = s.refuse(
                vec![E::file("target", b"t"), outside_parent(&s), make(name)],
                name,
            );
            assert!(
                matches!(e, UnpackError::BadParent { symlink: true, .. }),
                "{name}: {e}"
            );
            assert!(e.to_string().contains("\"evil\" is a symbolic link"), "{e}");
        }
        let s = Sandbox::new();
        if s.privileged() {
            let e = s.refuse(
                vec![
                    outside_parent(&s),
                    E::node(EntryType::Char, "evil/null", 1, 3),
                ],
                "evil/null",
            );
            assert!(matches!(e, UnpackError::BadParent { .. }), "{e}");
        }
        // A parent that is a file is refused too, naming it.
        let e = s.refuse(vec![E::file("f", b""), E::file("f/g", b"")], "f/g");
        assert!(
            e.to_string().contains("parent \"f\" is not a directory"),
            "{e}"
        );
    }

    #[test]
    fn symlinks_climbing_out_are_refused() {
        let s = Sandbox::new();
        for (name, target) in [
            ("evil", "../../.."),
            ("d/up", "../.."),
            ("d/e/f", "../../../x"),
            ("g", "a/../../b"),
        ] {
            let e = s.refuse(vec![E::symlink(name, target)], name);
            assert!(e.to_string().contains("invalid symlink"), "{e}");
        }
        // Up to the root but not beyond, and absolute targets, are what images contain.
        s.unpack(vec![
            E::symlink("d/root", ".."),
            E::symlink("d/e/root", "../../x/.."),
            E::symlink("etc-link", "/etc"),
        ])
        .unwrap();
    }

    #[test]
    fn symlink_chains_through_parents() {
        let s = Sandbox::new();
        s.unpack(vec![
            E::dir("d/"),
            // Each allowed on its own: lexically both stay inside the layer...
            E::symlink("d/up", ".."),
            E::symlink("d/up2", "up/.."),
            E::symlink("loop", "loop"),
        ])
        .unwrap();
        // ...but d/up2 really is the layer's parent. Nothing may go through either.
        for (name, entry) in [
            ("d/up2/escape", E::file("d/up2/escape", b"pwned")),
            ("d/up/x", E::file("d/up/x", b"pwned")),
            (
                "d/up2/outside/passwd",
                E::file("d/up2/outside/passwd", b"pwned"),
            ),
            ("loop/x", E::file("loop/x", b"")),
            ("h", E::hardlink("h", "d/up2/outside/passwd")),
            ("h2", E::hardlink("h2", "d/up/d/up2/cell/dest/x")),
        ] {
            let e = s.refuse(vec![entry], name);
            assert!(
                matches!(
                    e,
                    UnpackError::BadParent { symlink: true, .. } | UnpackError::Breakout { .. }
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn hard_links_to_host_files_are_refused() {
        let s = Sandbox::new();
        let host = format!("{}/passwd", s.outside().display());
        for (name, target) in [("x", "/etc/passwd"), ("y", host.as_str())] {
            let e = s.refuse(vec![E::hardlink(name, target)], name);
            assert!(
                e.to_string().contains("does not exist in this layer"),
                "{e}"
            );
            assert!(!s.dest().join(name).exists());
        }
        for target in [
            "../outside/passwd",
            "../../../outside/passwd",
            "/../../../outside/passwd",
            "a/../../x",
        ] {
            let e = s.refuse(vec![E::hardlink("z", target)], "z");
            assert!(e.to_string().contains("invalid hardlink"), "{target}: {e}");
        }
        assert_eq!(meta(&s.outside().join("passwd")).nlink(), 1);
    }

    #[test]
    fn a_symlink_replacing_a_directory() {
        let s = Sandbox::new();
        let e = s.refuse(
            vec![
                E::dir("dir/"),
                E::file("dir/a", b"a"),
                E::hardlink("dir/hard", "dir/a"),
                E::symlink("dir", s.outside().to_str().unwrap()),
                E::file("dir/b", b"pwned"),
            ],
            "dir/b",
        );
        assert!(
            matches!(e, UnpackError::BadParent { symlink: true, .. }),
            "{e}"
        );
        assert!(meta(&s.dest().join("dir")).is_symlink());

        // The hard-link side caches directories too: a link resolved through "d" before
        // "d" became a symlink must not reuse the old directory.
        let s = Sandbox::new();
        fs::write(s.outside().join("f"), "host").unwrap();
        let e = s.refuse(
            vec![
                E::file("d/f", b"layer"),
                E::hardlink("h1", "d/f"),
                E::symlink("d", s.outside().to_str().unwrap()),
                E::hardlink("h2", "d/f"),
            ],
            "h2",
        );
        assert!(
            matches!(e, UnpackError::BadParent { symlink: true, .. }),
            "{e}"
        );
    }

    #[test]
    fn errors_read_clearly() {
        let s = Sandbox::new();
        let e = s.refuse(vec![E::file("../../escape", b"")], "../../escape");
        assert_eq!(
            e.to_string(),
            "layer entry \"../../escape\": the path climbs above the layer root"
        );
        let e = s.refuse(vec![E::symlink("evil", "../../..")], "evil");
        assert_eq!(
            e.to_string(),
            "layer entry \"evil\": invalid symlink \"evil\" -> \"../../..\": the target is outside of the layer root"
        );
    }

    #[test]
    fn clean_matches_go() {
        let c = |s: &str| {
            clean(s.as_bytes()).map(|v| {
                v.iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
        };
        assert_eq!(c("./a/b/"), Some("a/b".into()));
        assert_eq!(c("/a/../../b"), Some("b".into()));
        assert_eq!(c("a/./b/../c"), Some("a/c".into()));
        assert_eq!(c("a/.."), Some("".into()));
        assert_eq!(c("a/../.."), None);
        assert_eq!(c("/.."), Some("".into()));
        assert_eq!(parse_pax_time(b"12.3456789999"), Some((12, 345_678_999)));
        assert_eq!(parse_pax_time(b"12"), Some((12, 0)));
        assert_eq!(parse_pax_time(b"x"), None);
    }
}
