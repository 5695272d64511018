//! The daemon's side: `docker logs`.

use std::io;

use serde::Deserialize;

use super::config::{Driver, LogConfig};
use super::files::{self, Opened, Step};
use super::follow::{Cursor, Follower};
use super::lines;
use super::{timefmt, Entry, ReadOptions, Stream};

/// dockerd's error for `docker logs` on a container logging to `none`.
pub(super) fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "configured logging driver does not support reading",
    )
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    log: String,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    time: String,
}

/// One line of a file; `None` for anything that is not an entry (a corrupt
/// line is skipped, where dockerd gives up on the rest of that file).
pub(super) fn decode(line: &[u8]) -> Option<Entry> {
    let raw: Raw = serde_json::from_slice(line).ok()?;
    let stream = Stream::parse(&raw.stream)?;
    let unix = timefmt::parse_rfc3339(&raw.time)?;
    Some(Entry {
        stream,
        time: raw.time,
        unix,
        line: raw.log.into_bytes(),
    })
}

/// The since/until state of one `docker logs` request, carried from the
/// first read into following, as dockerd's forwarder is.
#[derive(Debug, Clone, Default)]
pub(super) struct Window {
    /// dockerd checks `since` only until one entry passes it: timestamps
    /// need not be monotonic, and later entries are not filtered out.
    since_met: bool,
    /// An entry after `until` was met: the request is over.
    pub ended: bool,
}

impl Window {
    /// Filters in dockerd's order: time window on all entries, then the
    /// streams asked for (dockerd drops streams only when writing the
    /// response).
    pub fn offer(&mut self, opts: &ReadOptions, entry: Entry, out: &mut Vec<Entry>) {
        if self.ended {
            return;
        }
        if !self.since_met {
            if opts.since.is_some_and(|since| entry.unix < since) {
                return;
            }
            self.since_met = true;
        }
        if opts.until.is_some_and(|until| entry.unix > until) {
            self.ended = true;
            return;
        }
        let wanted = match entry.stream {
            Stream::Stdout => opts.stdout,
            Stream::Stderr => opts.stderr,
        };
        if wanted {
            out.push(entry);
        }
    }
}

/// The matching entries of every file, oldest first.
pub fn read(cfg: &LogConfig, opts: &ReadOptions) -> io::Result<Vec<Entry>> {
    read_and_follow(cfg, opts).map(|(entries, _)| entries)
}

/// [`read`], and a [`Follower`] that continues exactly where it stopped:
/// no entry is lost or repeated between the two.
///
/// As in dockerd, `tail` picks the last N lines of the files first (both
/// streams), `since` and `until` apply to those, and the stream filter
/// last. An entry after `until` ends the request: the follower is then
/// [done](Follower::is_done) from the start.
pub fn read_and_follow(cfg: &LogConfig, opts: &ReadOptions) -> io::Result<(Vec<Entry>, Follower)> {
    if cfg.driver == Driver::None {
        return Err(unsupported());
    }
    let keep = cfg.max_file.saturating_sub(1);
    // Newest first, each file with the part to read: walking back from the
    // live file means tail stops early, and every step is checked against
    // concurrent rotation (see files::older).
    let mut chain: Vec<(Opened, u64, u64)> = Vec::new();
    let mut next = files::newest(&cfg.path, keep)?;
    let mut left = opts.tail.unwrap_or(usize::MAX);
    while let Some(file) = next.take() {
        // Bounds are fixed now, so what the writer adds meanwhile is left
        // whole to the follower.
        let end = lines::complete_end(&file.file, file.size()?)?;
        let start = match opts.tail {
            Some(_) => {
                let (start, count) = lines::tail_start(&file.file, end, left)?;
                left -= count;
                start
            }
            None => 0,
        };
        let id = file.id;
        chain.push((file, start, end));
        if left == 0 {
            break;
        }
        if let Step::Found(file) = files::older(&cfg.path, keep, id)? {
            next = Some(file);
        }
    }
    let mut window = Window::default();
    let mut out = Vec::new();
    for (file, start, end) in chain.iter().rev() {
        if window.ended {
            break;
        }
        lines::read_lines(&file.file, *start, Some(*end), |line| {
            if let Some(entry) = decode(line) {
                window.offer(opts, entry, &mut out);
            }
        })?;
    }
    let cursor = chain
        .into_iter()
        .next()
        .map(|(file, _, pos)| Cursor { file, pos });
    Ok((out, Follower::resume(cfg, cursor, window)))
}
