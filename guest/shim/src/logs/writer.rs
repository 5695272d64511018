//! The shim's side: container output in, json-file entries out.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::config::{Driver, LogConfig};
use super::{encode, files, timefmt, Stream};

/// dockerd's copier buffer: a line longer than this is logged in pieces of
/// exactly this size, each without a line feed.
pub(super) const MAX_LINE: usize = 16 * 1024;

type Clock = Box<dyn FnMut() -> (i64, u32) + Send>;

pub struct LogWriter {
    /// `None` for the `none` driver: everything is dropped.
    sink: Option<Sink>,
    /// The unfinished line of each stream (stdout, stderr).
    pending: [Pending; 2],
    pub(super) clock: Clock,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Set once a piece of the line has been logged: dockerd stamps every
    /// piece of a split line with the time of the first.
    stamp: Option<(i64, u32)>,
}

struct Sink {
    file: File,
    path: PathBuf,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    buf: Vec<u8>,
}

impl LogWriter {
    /// Opens the live file for appending: a restarted container keeps its
    /// earlier logs, as with docker.
    pub fn open(cfg: &LogConfig) -> io::Result<LogWriter> {
        let sink = match cfg.driver {
            Driver::None => None,
            Driver::JsonFile | Driver::Local => Some(Sink::open(cfg)?),
        };
        Ok(LogWriter {
            sink,
            pending: Default::default(),
            clock: Box::new(timefmt::now),
        })
    }

    /// Takes bytes read from the stream's pipe, chunked any way: every
    /// complete line becomes an entry, and an unfinished one is held until
    /// its line feed comes or it reaches 16 KiB. If the file cannot be
    /// written, the rest of `bytes` is dropped (as dockerd drops the
    /// message) and the error returned.
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let Some(sink) = self.sink.as_mut() else {
            return Ok(());
        };
        let pending = &mut self.pending[stream as usize];
        let mut rest = bytes;
        while !rest.is_empty() {
            // Never look further than the buffer would hold: a line feed
            // beyond it comes after a 16 KiB piece has been logged.
            let seg = &rest[..rest.len().min(MAX_LINE - pending.bytes.len())];
            if let Some(nl) = seg.iter().position(|&b| b == b'\n') {
                let stamp = pending.stamp.take().unwrap_or_else(&mut self.clock);
                let result = if pending.bytes.is_empty() {
                    sink.emit(stream, &seg[..nl], true, stamp)
                } else {
                    pending.bytes.extend_from_slice(&seg[..nl]);
                    let result = sink.emit(stream, &pending.bytes, true, stamp);
                    pending.bytes.clear();
                    result
                };
                result?;
                rest = &rest[nl + 1..];
            } else {
                pending.bytes.extend_from_slice(seg);
                rest = &rest[seg.len()..];
                if pending.bytes.len() == MAX_LINE {
                    let stamp = *pending.stamp.get_or_insert_with(&mut self.clock);
                    let result = sink.emit(stream, &pending.bytes, false, stamp);
                    pending.bytes.clear();
                    result?;
                }
            }
        }
        Ok(())
    }

    /// At EOF of the stream: logs what is held, without adding a line feed.
    pub fn flush_partial(&mut self, stream: Stream) -> io::Result<()> {
        let pending = &mut self.pending[stream as usize];
        let stamp = pending.stamp.take();
        let Some(sink) = self.sink.as_mut() else {
            pending.bytes.clear();
            return Ok(());
        };
        if pending.bytes.is_empty() {
            return Ok(());
        }
        let stamp = stamp.unwrap_or_else(&mut self.clock);
        let result = sink.emit(stream, &pending.bytes, false, stamp);
        pending.bytes.clear();
        result
    }
}

impl Sink {
    fn open(cfg: &LogConfig) -> io::Result<Sink> {
        if let Some(dir) = cfg.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // dockerd creates local-logs/ 0700; the container dir exists.
            DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o640)
            .open(&cfg.path)?;
        let mut size = file.seek(SeekFrom::End(0))?;
        if size > 0 {
            // A shim killed mid-write leaves half a line: end it, so that it
            // is one corrupt line for readers to skip rather than a prefix
            // spoiling the next entry.
            let mut last = [0u8];
            file.seek(SeekFrom::Start(size - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                size += 1;
            }
        }
        Ok(Sink {
            file,
            path: cfg.path.clone(),
            size,
            max_size: cfg.max_size,
            max_file: cfg.max_file,
            buf: Vec::with_capacity(256),
        })
    }

    fn emit(
        &mut self,
        stream: Stream,
        line: &[u8],
        newline: bool,
        stamp: (i64, u32),
    ) -> io::Result<()> {
        // Like dockerd, rotate once the file has reached max-size, before
        // the next entry: a file can exceed it by one entry.
        if self.max_size.is_some_and(|max| self.size >= max) {
            self.rotate()?;
        }
        self.buf.clear();
        let time = crate::clock::go_rfc3339_nano(stamp);
        encode::entry(&mut self.buf, stream, line, newline, &time);
        // One write per entry, so readers rarely see half of one.
        match self.file.write_all(&self.buf) {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.size = self.file.metadata().map_or(self.size, |m| m.len());
                Err(e)
            }
        }
    }

    /// `<path>` becomes `<path>.1`, `.1` becomes `.2` and so on, the oldest
    /// beyond max-file is removed; with max-file 1 the live file is removed.
    /// Unlinking rather than truncating lets readers that hold the old file
    /// finish it. Only the run of existing `.N` files is shifted, so a huge
    /// max-file costs nothing.
    fn rotate(&mut self) -> io::Result<()> {
        // dockerd logs a failed rename and carries on; the shim has no log,
        // and the entry still goes to a fresh live file below.
        let _ = self.shift();
        // Truncate in case a step above did not happen: the live file
        // must start empty either way.
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o640)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }

    fn shift(&self) -> io::Result<()> {
        let keep = self.max_file.saturating_sub(1);
        if keep == 0 {
            return remove_if_present(&self.path);
        }
        let mut oldest = files::count_rotated(&self.path, keep);
        if oldest == keep {
            remove_if_present(&files::rotated(&self.path, keep))?;
            oldest -= 1;
        }
        for n in (1..=oldest).rev() {
            rename_if_present(
                &files::rotated(&self.path, n),
                &files::rotated(&self.path, n + 1),
            )?;
        }
        rename_if_present(&self.path, &files::rotated(&self.path, 1))
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
