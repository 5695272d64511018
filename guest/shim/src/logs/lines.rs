//! Finding lines in a file the writer may be appending to: only complete
//! lines count, an unfinished one is left for the next look.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const BLOCK: usize = 64 * 1024;
/// Far beyond the longest entry the writer makes (16 KiB, each byte at most
/// six once escaped): a longer run without line feed is garbage, dropped
/// in pieces rather than held in memory.
const MAX_RUN: usize = 1024 * 1024;

/// The offset just past the last line feed before `size`: what follows it
/// is an entry the writer has not finished.
pub(super) fn complete_end(file: &File, size: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; BLOCK];
    let mut pos = size;
    while pos > 0 {
        let len = (pos as usize).min(BLOCK);
        let at = pos - len as u64;
        file.read_exact_at(&mut buf[..len], at)?;
        if let Some(i) = buf[..len].iter().rposition(|&b| b == b'\n') {
            return Ok(at + i as u64 + 1);
        }
        pos = at;
    }
    Ok(0)
}

/// Where the last `n` lines before `end` (just past a line feed) start, and
/// how many lines there are from there, fewer than `n` if the file is short.
pub(super) fn tail_start(file: &File, end: u64, n: usize) -> io::Result<(u64, usize)> {
    if n == 0 {
        return Ok((end, 0));
    }
    let mut buf = vec![0u8; BLOCK];
    let mut seen = 0;
    let mut pos = end;
    while pos > 0 {
        let len = (pos as usize).min(BLOCK);
        let at = pos - len as u64;
        file.read_exact_at(&mut buf[..len], at)?;
        for i in (0..len).rev().filter(|&i| buf[i] == b'\n') {
            // The first line feed met ends the last line; the (n+1)th ends
            // the line before the ones wanted.
            seen += 1;
            if seen == n + 1 {
                return Ok((at + i as u64 + 1, n));
            }
        }
        pos = at;
    }
    Ok((0, seen))
}

/// Calls `each` with every complete line (without its line feed) from
/// `from` up to `to` or the end of the file, and returns the offset past
/// the last one: an unfinished line is left for the next call.
pub(super) fn read_lines(
    file: &File,
    from: u64,
    to: Option<u64>,
    mut each: impl FnMut(&[u8]),
) -> io::Result<u64> {
    let mut buf: Vec<u8> = Vec::new();
    // `buf` holds the file from `done` on; `scanned` bytes of it hold no
    // line feed, so a long line is not searched again on every read.
    let mut done = from;
    let mut scanned = 0;
    loop {
        let filled = done + buf.len() as u64;
        let want = to.map_or(BLOCK as u64, |t| t.saturating_sub(filled).min(BLOCK as u64));
        if want == 0 {
            break;
        }
        let old = buf.len();
        buf.resize(old + want as usize, 0);
        let n = loop {
            match file.read_at(&mut buf[old..], filled) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        buf.truncate(old + n);
        if n == 0 {
            break;
        }
        let mut start = 0;
        while let Some(i) = buf[scanned..].iter().position(|&b| b == b'\n') {
            let nl = scanned + i;
            each(&buf[start..nl]);
            start = nl + 1;
            scanned = start;
        }
        if start == 0 && buf.len() > MAX_RUN {
            start = buf.len();
        }
        scanned = buf.len();
        buf.drain(..start);
        scanned -= start;
        done += start as u64;
    }
    Ok(done)
}
