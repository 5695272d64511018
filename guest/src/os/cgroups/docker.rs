//! The Engine API's stats object (`ContainerStatsResponse`) as dockerd
//! writes it, so the docker CLI's CPU % and MEM USAGE / LIMIT come out right.
//!
//! dockerd serialises Go structs: fields tagged omitempty vanish when zero
//! or empty, nested structs never do, and v1/v2 differ in which memory keys
//! and blkio lists are present. Those shapes are reproduced here.

use std::io;

use serde_json::{json, Map, Value};

use super::stats::{BlkioEntry, RawStats};

/// Go's zero time.Time, which dockerd sends as `preread` before it has a
/// previous sample.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// USER_HZ ticks to nanoseconds (USER_HZ is 100 on Linux).
const NS_PER_TICK: u64 = 10_000_000;

/// One reading: the cgroup's counters, the host's CPU time taken right
/// after (the CLI divides container by system deltas), and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    pub raw: RawStats,
    pub system_ns: u64,
    /// RFC 3339 with nanoseconds, e.g. `2025-01-16T13:55:22.165243637Z`.
    pub read: String,
}

/// Host CPU time, as dockerd computes `system_cpu_usage`: the first seven
/// fields of /proc/stat's `cpu` line (user to steal; guest time is already
/// inside user), in nanoseconds.
pub fn system_cpu_usage_ns() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/stat")?;
    parse_proc_stat(&text)
        .map(|(ns, _)| ns)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no cpu line in /proc/stat"))
}

/// CPUs online, counted like dockerd: the `cpuN` lines of /proc/stat (not
/// the process's affinity or quota, which would skew the CLI's CPU %).
pub fn online_cpus() -> u32 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| parse_proc_stat(&t))
        .map(|(_, n)| n)
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
}

/// (system CPU ns, number of cpuN lines); the cpu lines come first.
pub(super) fn parse_proc_stat(text: &str) -> Option<(u64, u32)> {
    let mut total = None;
    let mut cpus = 0;
    for line in text.lines().take_while(|l| l.starts_with("cpu")) {
        let mut fields = line.split_whitespace();
        let name = fields.next()?;
        if name == "cpu" {
            let ticks: Option<Vec<u64>> = fields.take(7).map(|f| f.parse().ok()).collect();
            let ticks = ticks.filter(|t| t.len() == 7)?;
            total = Some(ticks.iter().sum::<u64>() * NS_PER_TICK);
        } else if name[3..].bytes().all(|b| b.is_ascii_digit()) {
            cpus += 1;
        }
    }
    Some((total?, cpus))
}

/// `name` is the container's name as dockerd keeps it (with the leading
/// `/`). Network stats are not included: the CLI shows 0B for a missing
/// `networks` key.
pub fn stats_json(
    id: &str,
    name: &str,
    cur: &Sample,
    prev: Option<&Sample>,
    online_cpus: u32,
    v2: bool,
) -> Value {
    let mut out = Map::new();
    put_nonempty(&mut out, "id", json!(id), !id.is_empty());
    put_nonempty(&mut out, "name", json!(name), !name.is_empty());
    out.insert("os_type".into(), json!("linux"));
    // Go clients decode these as time.Time: an empty string would fail the
    // whole object, the zero time does not.
    let time = |s: Option<&Sample>| match s {
        Some(s) if !s.read.is_empty() => s.read.clone(),
        _ => ZERO_TIME.to_string(),
    };
    out.insert("read".into(), json!(time(Some(cur))));
    out.insert("preread".into(), json!(time(prev)));
    out.insert("cpu_stats".into(), cpu_stats(Some(cur), online_cpus));
    out.insert(
        "precpu_stats".into(),
        cpu_stats(prev, if prev.is_some() { online_cpus } else { 0 }),
    );
    out.insert("memory_stats".into(), memory_stats(&cur.raw, v2));
    let mut pids = Map::new();
    put_nonzero(&mut pids, "current", cur.raw.pids_current);
    put_nonzero(&mut pids, "limit", cur.raw.pids_limit);
    out.insert("pids_stats".into(), Value::Object(pids));
    out.insert("blkio_stats".into(), blkio_stats(&cur.raw, v2));
    out.insert("num_procs".into(), json!(0));
    out.insert("storage_stats".into(), json!({}));
    Value::Object(out)
}

fn put_nonempty(m: &mut Map<String, Value>, k: &str, v: Value, keep: bool) {
    if keep {
        m.insert(k.to_string(), v);
    }
}

fn put_nonzero(m: &mut Map<String, Value>, k: &str, v: u64) {
    put_nonempty(m, k, json!(v), v != 0);
}

/// Without a sample this is Go's zero CPUStats: usage and throttling at 0,
/// system usage and CPU count omitted.
fn cpu_stats(s: Option<&Sample>, online_cpus: u32) -> Value {
    let raw = s.map(|s| &s.raw);
    let get = |f: fn(&RawStats) -> u64| raw.map_or(0, f);
    let mut usage = Map::new();
    usage.insert("total_usage".into(), json!(get(|r| r.cpu_total_ns)));
    if let Some(percpu) = raw.map(|r| &r.cpu_percpu_ns).filter(|p| !p.is_empty()) {
        usage.insert("percpu_usage".into(), json!(percpu));
    }
    usage.insert(
        "usage_in_kernelmode".into(),
        json!(get(|r| r.cpu_system_ns)),
    );
    usage.insert("usage_in_usermode".into(), json!(get(|r| r.cpu_user_ns)));
    let mut cpu = Map::new();
    cpu.insert("cpu_usage".into(), Value::Object(usage));
    put_nonzero(&mut cpu, "system_cpu_usage", s.map_or(0, |s| s.system_ns));
    put_nonzero(&mut cpu, "online_cpus", u64::from(online_cpus));
    cpu.insert(
        "throttling_data".into(),
        json!({
            "periods": get(|r| r.throttle_periods),
            "throttled_periods": get(|r| r.throttled_periods),
            "throttled_time": get(|r| r.throttled_time_ns),
        }),
    );
    Value::Object(cpu)
}

/// The memory.stat keys dockerd copies, always all present (0 if the
/// kernel lacks one). The CLI subtracts `total_inactive_file` (v1) or
/// `inactive_file` (v2) from usage to show the working set.
const V1_MEMORY_KEYS: &[&str] = &[
    "cache",
    "rss",
    "rss_huge",
    "mapped_file",
    "dirty",
    "writeback",
    "pgpgin",
    "pgpgout",
    "pgfault",
    "pgmajfault",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
    "total_cache",
    "total_rss",
    "total_rss_huge",
    "total_mapped_file",
    "total_dirty",
    "total_writeback",
    "total_pgpgin",
    "total_pgpgout",
    "total_pgfault",
    "total_pgmajfault",
    "total_inactive_anon",
    "total_active_anon",
    "total_inactive_file",
    "total_active_file",
    "total_unevictable",
];

const V2_MEMORY_KEYS: &[&str] = &[
    "anon",
    "file",
    "kernel_stack",
    "slab",
    "sock",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "anon_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "pgfault",
    "pgmajfault",
    "workingset_refault",
    "workingset_activate",
    "workingset_nodereclaim",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
];

fn memory_stats(raw: &RawStats, v2: bool) -> Value {
    let keys = if v2 { V2_MEMORY_KEYS } else { V1_MEMORY_KEYS };
    let stats: Map<String, Value> = keys
        .iter()
        .map(|k| {
            (
                k.to_string(),
                json!(raw.memory_stat.get(*k).copied().unwrap_or(0)),
            )
        })
        .collect();
    let mut m = Map::new();
    put_nonzero(&mut m, "usage", raw.memory_usage);
    if !v2 {
        put_nonzero(&mut m, "max_usage", raw.memory_max_usage);
    }
    m.insert("stats".into(), Value::Object(stats));
    put_nonzero(&mut m, "failcnt", raw.memory_failcnt);
    put_nonzero(&mut m, "limit", raw.memory_limit);
    Value::Object(m)
}

const BLKIO_LISTS: &[&str] = &[
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
];

/// v1: every list present, the ones without data empty. v2: only bytes,
/// with lower-case ops, and null where dockerd has nothing.
fn blkio_stats(raw: &RawStats, v2: bool) -> Value {
    let entries = |list: &[BlkioEntry], lower: bool| -> Value {
        list.iter()
            .map(|e| {
                let op = if lower {
                    e.op.to_lowercase()
                } else {
                    e.op.clone()
                };
                json!({"major": e.major, "minor": e.minor, "op": op, "value": e.value})
            })
            .collect()
    };
    let mut m = Map::new();
    for name in BLKIO_LISTS {
        let v = match (*name, v2) {
            ("io_service_bytes_recursive", true) if raw.blkio_service_bytes.is_empty() => {
                Value::Null
            }
            ("io_service_bytes_recursive", _) => entries(&raw.blkio_service_bytes, v2),
            (_, true) => Value::Null,
            ("io_serviced_recursive", false) => entries(&raw.blkio_serviced, false),
            _ => json!([]),
        };
        m.insert(name.to_string(), v);
    }
    Value::Object(m)
}
