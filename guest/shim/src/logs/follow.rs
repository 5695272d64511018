//! `docker logs -f`: polling the files for what the shim appends.

use std::io;
use std::path::PathBuf;

use super::config::{Driver, LogConfig};
use super::files::{self, Opened, Step};
use super::lines;
use super::reader::{decode, unsupported, Window};
use super::{Entry, ReadOptions};

/// A file being read and how far: just past the last complete line.
pub(super) struct Cursor {
    pub file: Opened,
    pub pos: u64,
}

/// Follows the logs from a point on, across rotations: the file it holds
/// stays readable after the writer renames or unlinks it, so it finishes
/// that file, then goes on with the next newer one from its start.
pub struct Follower {
    path: PathBuf,
    max_file: u32,
    /// `None` while there was no log file at all: everything is new then.
    cur: Option<Cursor>,
    window: Window,
}

impl Follower {
    /// Starts at the current end of the logs, for a caller that wants no
    /// history. An entry the writer is in the middle of is not skipped: it
    /// comes with the first poll after it ends.
    // `docker logs -f` goes through `read_and_follow`, so berthd may not
    // call this.
    #[allow(dead_code)]
    pub fn new(cfg: &LogConfig) -> io::Result<Follower> {
        if cfg.driver == Driver::None {
            return Err(unsupported());
        }
        let keep = cfg.max_file.saturating_sub(1);
        let cur = match files::newest(&cfg.path, keep)? {
            Some(file) => {
                let pos = lines::complete_end(&file.file, file.size()?)?;
                Some(Cursor { file, pos })
            }
            None => None,
        };
        Ok(Follower::resume(cfg, cur, Window::default()))
    }

    pub(super) fn resume(cfg: &LogConfig, cur: Option<Cursor>, window: Window) -> Follower {
        Follower {
            path: cfg.path.clone(),
            max_file: cfg.max_file,
            cur,
            window,
        }
    }

    /// The entries written since the last call (or since the start), oldest
    /// first. `tail` is ignored; `since` applies until one entry passes it.
    pub fn poll(&mut self, opts: &ReadOptions) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        // Each round moves to a newer file, so this bounds a poll even if
        // the files were tampered with.
        for _ in 0..u64::from(self.max_file) + 2 {
            self.drain(opts, &mut out)?;
            if self.window.ended {
                break;
            }
            match files::id_at(&self.path)? {
                // No live file: none yet, or the writer is between renaming
                // the old one away and creating the new one.
                None => break,
                Some(id) if self.cur.as_ref().is_some_and(|c| c.file.id == id) => break,
                Some(_) => {}
            }
            // The writer has moved on, so the held file is complete: take
            // what it added since the drain above, then the next file.
            self.drain(opts, &mut out)?;
            match self.successor()? {
                Some(file) => self.cur = Some(Cursor { file, pos: 0 }),
                None => break,
            }
        }
        Ok(out)
    }

    /// True once an entry after `until` was met: no more will be returned.
    pub fn is_done(&self) -> bool {
        self.window.ended
    }

    fn drain(&mut self, opts: &ReadOptions, out: &mut Vec<Entry>) -> io::Result<()> {
        let Some(cur) = self.cur.as_mut() else {
            return Ok(());
        };
        let window = &mut self.window;
        cur.pos = lines::read_lines(&cur.file.file, cur.pos, None, |line| {
            if let Some(entry) = decode(line) {
                window.offer(opts, entry, out);
            }
        })?;
        Ok(())
    }

    /// The file written after the held one. If the held one has no name
    /// any more (more rotations than max-file since the last poll, or
    /// max-file 1), every file left is newer: go on with the oldest.
    fn successor(&self) -> io::Result<Option<Opened>> {
        let keep = self.max_file.saturating_sub(1);
        let Some(cur) = &self.cur else {
            return files::oldest(&self.path, keep);
        };
        match files::newer(&self.path, keep, cur.file.id)? {
            Step::Found(file) => Ok(Some(file)),
            Step::End | Step::Busy => Ok(None),
            Step::Gone => files::oldest(&self.path, keep),
        }
    }
}
