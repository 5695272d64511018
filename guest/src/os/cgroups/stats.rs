//! One raw reading of a cgroup's counters, in the units dockerd reports
//! (nanoseconds, bytes), from either cgroup version.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use super::fsio::{self, read_flat_keyed, read_u64, read_u64_list};
use super::{Cgroup, Dirs};

/// Linux's USER_HZ, fixed at 100 on every architecture's userspace ABI.
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawStats {
    pub cpu_total_ns: u64,
    /// v1 only (cpuacct.usage_percpu); empty on v2.
    pub cpu_percpu_ns: Vec<u64>,
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    pub throttle_periods: u64,
    pub throttled_periods: u64,
    pub throttled_time_ns: u64,
    pub memory_usage: u64,
    /// v1 only.
    pub memory_max_usage: u64,
    /// Clamped to the host's RAM, as dockerd does for unlimited containers.
    pub memory_limit: u64,
    /// v1 memory.failcnt; v2 the `oom` count of memory.events (as dockerd).
    pub memory_failcnt: u64,
    /// memory.stat as the kernel wrote it (v1 or v2 keys).
    pub memory_stat: BTreeMap<String, u64>,
    pub pids_current: u64,
    /// 0 when unlimited.
    pub pids_limit: u64,
    /// Bytes per device and operation (v1 ops as the kernel names them:
    /// Read, Write, Sync, Async, Discard, Total; v2 Read and Write).
    pub blkio_service_bytes: Vec<BlkioEntry>,
    /// I/O operations, same shape.
    pub blkio_serviced: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

impl Cgroup {
    pub fn stats(&self) -> io::Result<RawStats> {
        if !self.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the container's cgroup does not exist",
            ));
        }
        let host_mem = fsio::host_memory()?;
        let mut s = match &self.dirs {
            Dirs::V1(_) => self.stats_v1()?,
            Dirs::V2(dir) => stats_v2(dir, host_mem)?,
        };
        if host_mem > 0 {
            s.memory_limit = s.memory_limit.min(host_mem);
        }
        Ok(s)
    }

    fn stats_v1(&self) -> io::Result<RawStats> {
        let mut s = RawStats::default();
        if let Some(d) = self.dir("cpuacct") {
            s.cpu_total_ns = read_u64(&d.join("cpuacct.usage"))?;
            s.cpu_percpu_ns = read_u64_list(&d.join("cpuacct.usage_percpu"))?;
            let ticks = read_flat_keyed(&d.join("cpuacct.stat"))?;
            s.cpu_user_ns = ticks.get("user").copied().unwrap_or(0) * NS_PER_TICK;
            s.cpu_system_ns = ticks.get("system").copied().unwrap_or(0) * NS_PER_TICK;
        }
        if let Some(d) = self.dir("cpu") {
            let st = read_flat_keyed(&d.join("cpu.stat"))?;
            let get = |k: &str| st.get(k).copied().unwrap_or(0);
            s.throttle_periods = get("nr_periods");
            s.throttled_periods = get("nr_throttled");
            s.throttled_time_ns = get("throttled_time");
        }
        if let Some(d) = self.dir("memory") {
            s.memory_usage = read_u64(&d.join("memory.usage_in_bytes"))?;
            s.memory_max_usage = read_u64(&d.join("memory.max_usage_in_bytes"))?;
            s.memory_limit = read_u64(&d.join("memory.limit_in_bytes"))?;
            s.memory_failcnt = read_u64(&d.join("memory.failcnt"))?;
            s.memory_stat = read_flat_keyed(&d.join("memory.stat"))?;
        }
        if let Some(d) = self.dir("pids") {
            read_pids(d, &mut s)?;
        }
        if let Some(d) = self.dir("blkio") {
            s.blkio_service_bytes = read_blkio_v1(d, "io_service_bytes")?;
            s.blkio_serviced = read_blkio_v1(d, "io_serviced")?;
        }
        Ok(s)
    }
}

fn stats_v2(dir: &Path, host_mem: u64) -> io::Result<RawStats> {
    let mut s = RawStats::default();
    let cpu = read_flat_keyed(&dir.join("cpu.stat"))?;
    let get = |k: &str| cpu.get(k).copied().unwrap_or(0);
    s.cpu_total_ns = get("usage_usec") * 1000;
    s.cpu_user_ns = get("user_usec") * 1000;
    s.cpu_system_ns = get("system_usec") * 1000;
    s.throttle_periods = get("nr_periods");
    s.throttled_periods = get("nr_throttled");
    s.throttled_time_ns = get("throttled_usec") * 1000;

    s.memory_usage = read_u64(&dir.join("memory.current"))?;
    s.memory_limit = match fsio::read_opt(&dir.join("memory.max"))? {
        Some(v) if v != "max" => fsio::parse_u64(&dir.join("memory.max"), &v)?,
        _ => host_mem,
    };
    s.memory_stat = read_flat_keyed(&dir.join("memory.stat"))?;
    let events = read_flat_keyed(&dir.join("memory.events"))?;
    s.memory_failcnt = events.get("oom").copied().unwrap_or(0);

    read_pids(dir, &mut s)?;
    let io = fsio::read_opt(&dir.join("io.stat"))?.unwrap_or_default();
    (s.blkio_service_bytes, s.blkio_serviced) = parse_io_stat(&io);
    Ok(s)
}

fn read_pids(dir: &Path, s: &mut RawStats) -> io::Result<()> {
    s.pids_current = read_u64(&dir.join("pids.current"))?;
    s.pids_limit = match read_u64(&dir.join("pids.max"))? {
        u64::MAX => 0,
        n => n,
    };
    Ok(())
}

/// The recursive files count I/O of sub-cgroups too. The CFQ-only files
/// (`blkio.io_service_bytes_recursive`) are empty under any other
/// scheduler, so fall back to the throttle ones, which count every bio
/// (older kernels have only the non-recursive throttle file).
fn read_blkio_v1(dir: &Path, stat: &str) -> io::Result<Vec<BlkioEntry>> {
    let candidates = [
        format!("blkio.{stat}_recursive"),
        format!("blkio.throttle.{stat}_recursive"),
        format!("blkio.throttle.{stat}"),
    ];
    for name in candidates {
        if let Some(text) = fsio::read_opt(&dir.join(name))? {
            let entries = parse_blkio_v1(&text);
            if !entries.is_empty() {
                return Ok(entries);
            }
        }
    }
    Ok(Vec::new())
}

/// `8:0 Read 4096` lines, and a final `Total N` for all devices, skipped
/// like containerd does.
pub(super) fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (major, minor) = f.next()?.split_once(':')?;
            let op = f.next()?.to_string();
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op,
                value: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` per device, into
/// (bytes, operations) lists with v1-style Read/Write entries.
pub(super) fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        let kv: BTreeMap<&str, u64> = f
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k, v.parse().ok()?))
            })
            .collect();
        let entry = |op: &str, key: &str| BlkioEntry {
            major,
            minor,
            op: op.to_string(),
            value: kv.get(key).copied().unwrap_or(0),
        };
        bytes.push(entry("Read", "rbytes"));
        bytes.push(entry("Write", "wbytes"));
        ios.push(entry("Read", "rios"));
        ios.push(entry("Write", "wios"));
    }
    (bytes, ios)
}
