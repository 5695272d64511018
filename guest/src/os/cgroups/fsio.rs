//! Reading and writing cgroupfs files, with the path in every error so a
//! failed `docker update` says which knob the kernel refused.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

pub(super) fn read(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| with_path(path, e))
}

/// Missing files are normal: a controller may not be enabled, or the kernel
/// may be too old for a file. Readers treat them as zero.
pub(super) fn read_opt(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(with_path(path, e)),
    }
}

pub(super) fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value).map_err(|e| with_path(path, e))
}

fn invalid(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: unexpected content {what:?}", path.display()),
    )
}

/// A single number; `max` (unlimited) is `u64::MAX`, as containerd reads it.
pub(super) fn parse_u64(path: &Path, s: &str) -> io::Result<u64> {
    if s == "max" {
        return Ok(u64::MAX);
    }
    s.parse().map_err(|_| invalid(path, s))
}

/// A single-number file, 0 if absent.
pub(super) fn read_u64(path: &Path) -> io::Result<u64> {
    match read_opt(path)? {
        Some(s) => parse_u64(path, &s),
        None => Ok(0),
    }
}

/// `key value` lines (memory.stat, cpu.stat, memory.events, cpuacct.stat);
/// empty if the file is absent. Values that are not numbers are skipped so a
/// new kernel's odd line cannot break stats.
pub(super) fn read_flat_keyed(path: &Path) -> io::Result<BTreeMap<String, u64>> {
    let Some(text) = read_opt(path)? else {
        return Ok(BTreeMap::new());
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(char::is_whitespace)?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect())
}

/// Space-separated numbers (cpuacct.usage_percpu).
pub(super) fn read_u64_list(path: &Path) -> io::Result<Vec<u64>> {
    let Some(text) = read_opt(path)? else {
        return Ok(Vec::new());
    };
    text.split_whitespace()
        .map(|v| v.parse().map_err(|_| invalid(path, v)))
        .collect()
}

/// The host's RAM in bytes, which dockerd reports as the limit of a
/// container without one.
pub(super) fn host_memory() -> io::Result<u64> {
    let text = read(Path::new("/proc/meminfo"))?;
    parse_meminfo_total(&text).ok_or_else(|| invalid(Path::new("/proc/meminfo"), "MemTotal"))
}

pub(super) fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
