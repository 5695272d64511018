//! Container logs in Docker's `json-file` format.
//!
//! The shim writes them ([`LogWriter`]: synchronous, no threads, one `write`
//! per entry) and the daemon reads them for `docker logs` ([`read`],
//! [`Follower`]). The two are different processes, so nothing is shared but
//! the files: readers hold file descriptors, which keep a rotated-away file
//! readable, and recognise files by inode across renames.
//!
//! One entry a line, the bytes dockerd writes (the time is RFC3339Nano: UTC,
//! trailing zeros of the fraction dropped):
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-23T10:00:00.123456789Z"}`.

mod config;
mod encode;
mod files;
mod follow;
mod lines;
mod reader;
mod timefmt;
mod writer;

#[cfg(test)]
mod tests;

pub use config::{Driver, LogConfig};
// A caller that only uses what `read_and_follow` returns never names it.
#[allow(unused_imports)]
pub use follow::Follower;
pub use reader::{read, read_and_follow};
pub use timefmt::{format_timestamp, parse_time_param};
pub use writer::LogWriter;

/// Which of the container's output pipes an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name stored in the `stream` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn parse(s: &str) -> Option<Stream> {
        match s {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// What `docker logs` asked for. There is no `Default`: a reader that asked
/// for neither stream would silently get nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    pub stdout: bool,
    pub stderr: bool,
    /// Entries from the first one stamped at or after this instant.
    pub since: Option<(i64, u32)>,
    /// Reading ends at the first entry stamped after this instant.
    pub until: Option<(i64, u32)>,
    /// The last N entries of both streams; `None` means all.
    pub tail: Option<usize>,
}

/// One decoded log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stream: Stream,
    /// The `time` field exactly as stored.
    pub time: String,
    /// `time` as seconds and nanoseconds since the Unix epoch.
    pub unix: (i64, u32),
    /// The output bytes, with their `\n` unless the line was split (16 KiB
    /// pieces) or ended by EOF.
    pub line: Vec<u8>,
}
