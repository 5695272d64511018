//! Tests on real files in per-test directories under the system temp dir.

mod config;
mod follow;
mod format;
mod reader;
mod stress;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Driver, Entry, LogConfig, LogWriter, ReadOptions, Stream};

/// A directory removed, with everything in it, when the test ends.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("berth-logs-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn json_cfg(dir: &Path, max_size: Option<u64>, max_file: u32) -> LogConfig {
    LogConfig {
        driver: Driver::JsonFile,
        path: dir.join("c-json.log"),
        max_size,
        max_file,
    }
}

pub(super) fn both() -> ReadOptions {
    ReadOptions {
        stdout: true,
        stderr: true,
        since: None,
        until: None,
        tail: None,
    }
}

/// A writer whose clock hands out these stamps (whole seconds), one a call.
pub(super) fn writer_at(cfg: &LogConfig, secs: Vec<i64>) -> LogWriter {
    let mut w = LogWriter::open(cfg).unwrap();
    let mut stamps = secs.into_iter();
    w.clock = Box::new(move || (stamps.next().expect("clock ran out"), 0));
    w
}

/// A writer whose clock says 1s after the epoch, so entries have a known size.
pub(super) fn steady_writer(cfg: &LogConfig) -> LogWriter {
    let mut w = LogWriter::open(cfg).unwrap();
    w.clock = Box::new(|| (1, 0));
    w
}

pub(super) fn texts(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| String::from_utf8(e.line.clone()).unwrap())
        .collect()
}

pub(super) fn streams(entries: &[Entry]) -> Vec<Stream> {
    entries.iter().map(|e| e.stream).collect()
}

/// `line 00\n` ... : each numbered line, written as one entry.
pub(super) fn write_numbered(w: &mut LogWriter, range: std::ops::Range<u32>) {
    for n in range {
        w.write(Stream::Stdout, format!("line {n:02}\n").as_bytes())
            .unwrap();
    }
}

pub(super) fn numbered(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|n| format!("line {n:02}\n")).collect()
}

pub(super) fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}
