//! The set of log files on disk, seen from a reader in another process than
//! the writer: no lock is shared, so files are told apart by inode and held
//! open, which keeps them readable whatever the writer renames or unlinks.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Device and inode: a file's identity across renames.
pub(super) type FileId = (u64, u64);

/// `<path>.<n>`.
pub(super) fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// How many of `<path>.1`, `<path>.2`, ... exist in a row, up to `limit`.
pub(super) fn count_rotated(path: &Path, limit: u32) -> u32 {
    (1..=limit)
        .take_while(|&n| rotated(path, n).symlink_metadata().is_ok())
        .count() as u32
}

/// The identity of whatever `path` names now; `None` if nothing.
pub(super) fn id_at(path: &Path) -> io::Result<Option<FileId>> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some((m.dev(), m.ino()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) struct Opened {
    pub file: File,
    pub id: FileId,
}

impl Opened {
    fn open(path: &Path) -> io::Result<Option<Opened>> {
        match File::open(path) {
            Ok(file) => {
                let m = file.metadata()?;
                Ok(Some(Opened {
                    file,
                    id: (m.dev(), m.ino()),
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

/// Where a held file stands in the rotation chain, seen from it.
pub(super) enum Step {
    /// The neighbouring file, open.
    Found(Opened),
    /// There is none: the held file is the oldest kept, or the live one.
    End,
    /// The writer is in the middle of a rotation: try again shortly.
    Busy,
    /// The held file has no name any more: rotated out (or max-file 1).
    Gone,
}

/// How often a lookup that raced with a rotation is retried; a rotation's
/// renames take microseconds, or milliseconds with hundreds of files.
const RETRIES: u32 = 20;

fn pause() {
    std::thread::sleep(Duration::from_millis(1));
}

/// `<path>` for 0, `<path>.<n>` for n.
fn name(path: &Path, n: u32) -> PathBuf {
    match n {
        0 => path.to_path_buf(),
        n => rotated(path, n),
    }
}

/// The index of the name `id` has now: 0 for the live file, n for `.n`.
/// A scan can miss a file being renamed past it, so `None` is retried.
fn locate(path: &Path, keep: u32, id: FileId) -> io::Result<Option<u32>> {
    let mut misses = 0;
    for n in 0..=keep {
        match id_at(&name(path, n))? {
            Some(found) if found == id => return Ok(Some(n)),
            Some(_) => misses = 0,
            // The names in use run from .1 up, with at most one hole
            // while a rotation shifts them.
            None if n > 0 => {
                misses += 1;
                if misses == 2 {
                    break;
                }
            }
            None => {}
        }
    }
    Ok(None)
}

/// The file written just before `held`. Opening `.n+1` while `held` is at
/// `.n` before and after proves it is the one: a rotation renames `.n+1`
/// away before it moves `held`, leaving a hole, never a stranger.
pub(super) fn older(path: &Path, keep: u32, held: FileId) -> io::Result<Step> {
    for _ in 0..RETRIES {
        let Some(n) = locate(path, keep, held)? else {
            if keep == 0 {
                break;
            }
            pause();
            continue;
        };
        if n == keep {
            return Ok(Step::End);
        }
        let candidate = Opened::open(&name(path, n + 1))?;
        if id_at(&name(path, n))? != Some(held) {
            continue;
        }
        match candidate {
            Some(file) => return Ok(Step::Found(file)),
            None if n + 1 < keep && id_at(&name(path, n + 2))?.is_some() => pause(),
            None => return Ok(Step::End),
        }
    }
    Ok(Step::Gone)
}

/// The file written just after `held`, by the same reasoning as [`older`]:
/// `.n-1` is renamed onto `.n` only after `held` has left it.
pub(super) fn newer(path: &Path, keep: u32, held: FileId) -> io::Result<Step> {
    for _ in 0..RETRIES {
        let Some(n) = locate(path, keep, held)? else {
            if keep == 0 {
                break;
            }
            pause();
            continue;
        };
        if n == 0 {
            return Ok(Step::End);
        }
        let candidate = Opened::open(&name(path, n - 1))?;
        if id_at(&name(path, n))? != Some(held) {
            continue;
        }
        return Ok(match candidate {
            Some(file) => Step::Found(file),
            None => Step::Busy,
        });
    }
    Ok(Step::Gone)
}

/// The live file; between the writer renaming it away and creating the
/// next, the one just renamed. `None` if there is no log at all.
pub(super) fn newest(path: &Path, keep: u32) -> io::Result<Option<Opened>> {
    for _ in 0..RETRIES {
        if let Some(live) = Opened::open(path)? {
            return Ok(Some(live));
        }
        if keep == 0 {
            return Ok(None);
        }
        let previous = Opened::open(&rotated(path, 1))?;
        if id_at(path)?.is_none() {
            return Ok(previous);
        }
    }
    Ok(None)
}

/// The oldest file kept, for a reader whose file was rotated out: every
/// file left is newer than it.
pub(super) fn oldest(path: &Path, keep: u32) -> io::Result<Option<Opened>> {
    let mut last = 0;
    let mut misses = 0;
    for n in 1..=keep {
        if rotated(path, n).symlink_metadata().is_ok() {
            last = n;
            misses = 0;
        } else {
            misses += 1;
            if misses == 2 {
                break;
            }
        }
    }
    for n in (0..=last).rev() {
        if let Some(file) = Opened::open(&name(path, n))? {
            return Ok(Some(file));
        }
    }
    Ok(None)
}
