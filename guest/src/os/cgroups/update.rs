//! `docker update`: new limits on a running container's cgroup.
//!
//! Values use Docker's HostConfig meanings (`memory_swap` is memory plus
//! swap, shares are v1 shares, -1 is unlimited); v2 gets them translated
//! the way runc does, so a container behaves the same on either host.

use std::io;
use std::path::Path;

use super::fsio::{read_opt, write};
use super::{Cgroup, Dirs};

/// `None` leaves a setting alone. For memory, swap, reservation, quota and
/// period 0 also means "leave alone" (Docker's zero value), while -1 means
/// unlimited; a pids limit of 0 or less means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

fn set(v: Option<i64>) -> Option<i64> {
    v.filter(|v| *v != 0)
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not supported by this kernel"),
    )
}

impl Cgroup {
    pub fn update(&self, r: &Resources) -> io::Result<()> {
        match &self.dirs {
            Dirs::V1(_) => self.update_v1(r),
            Dirs::V2(dir) => update_v2(dir, r),
        }
    }

    fn update_v1(&self, r: &Resources) -> io::Result<()> {
        if r.memory.is_some() || r.memory_swap.is_some() || r.memory_reservation.is_some() {
            let d = self.require("memory")?;
            memory_v1(d, set(r.memory), set(r.memory_swap))?;
            if let Some(v) = set(r.memory_reservation) {
                write(&d.join("memory.soft_limit_in_bytes"), &v.to_string())?;
            }
        }
        if r.cpu_shares.is_some() || r.cpu_quota.is_some() || r.cpu_period.is_some() {
            let d = self.require("cpu")?;
            if let Some(v) = r.cpu_shares.filter(|v| *v != 0) {
                write(&d.join("cpu.shares"), &v.to_string())?;
            }
            cfs_v1(d, set(r.cpu_quota), r.cpu_period.filter(|v| *v != 0))?;
        }
        if r.cpuset_cpus.is_some() || r.cpuset_mems.is_some() {
            let d = self.require("cpuset")?;
            write_cpuset(d, r)?;
        }
        if let Some(v) = r.pids_limit {
            write(&self.require("pids")?.join("pids.max"), &pids_max(v))?;
        }
        if let Some(w) = r.blkio_weight.filter(|w| *w != 0) {
            let d = self.require("blkio")?;
            let file = ["blkio.weight", "blkio.bfq.weight"]
                .iter()
                .map(|f| d.join(f))
                .find(|p| p.exists())
                .ok_or_else(|| unsupported("blkio weight"))?;
            write(&file, &w.to_string())?;
        }
        Ok(())
    }
}

/// The kernel keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes at
/// every step, so raising both must write swap first and lowering both must
/// write memory first. Rather than reading the current values, try memory
/// first and, if the kernel refuses, do swap then memory.
fn memory_v1(d: &Path, memory: Option<i64>, swap: Option<i64>) -> io::Result<()> {
    let memsw = d.join("memory.memsw.limit_in_bytes");
    let limit = d.join("memory.limit_in_bytes");
    // Without swap accounting there is no memsw file; Docker ignores swap then.
    let mut swap = swap.filter(|_| memsw.exists());
    // An unlimited memory with swap left alone would be refused against the
    // old, finite memsw: lift both, as runc does.
    if memory == Some(-1) && swap.is_none() && memsw.exists() {
        swap = Some(-1);
    }
    let Some(mem) = memory else {
        return match swap {
            Some(s) => write(&memsw, &s.to_string()),
            None => Ok(()),
        };
    };
    match write(&limit, &mem.to_string()) {
        Ok(()) => match swap {
            Some(s) => write(&memsw, &s.to_string()),
            None => Ok(()),
        },
        Err(e) => {
            let Some(s) = swap else { return Err(e) };
            write(&memsw, &s.to_string())?;
            write(&limit, &mem.to_string())
        }
    }
}

/// A shorter period can be refused while the old quota is in place
/// (quota/period would exceed the parent's); then it is retried after the
/// quota is written.
fn cfs_v1(d: &Path, quota: Option<i64>, period: Option<u64>) -> io::Result<()> {
    let period_file = d.join("cpu.cfs_period_us");
    let mut period_pending = None;
    if let Some(p) = period {
        if let Err(e) = write(&period_file, &p.to_string()) {
            if e.kind() != io::ErrorKind::InvalidInput || quota.is_none() {
                return Err(e);
            }
            period_pending = Some(p);
        }
    }
    if let Some(q) = quota {
        write(&d.join("cpu.cfs_quota_us"), &q.to_string())?;
    }
    match period_pending {
        Some(p) => write(&period_file, &p.to_string()),
        None => Ok(()),
    }
}

fn write_cpuset(d: &Path, r: &Resources) -> io::Result<()> {
    if let Some(cpus) = &r.cpuset_cpus {
        write(&d.join("cpuset.cpus"), cpus)?;
    }
    if let Some(mems) = &r.cpuset_mems {
        write(&d.join("cpuset.mems"), mems)?;
    }
    Ok(())
}

fn pids_max(v: i64) -> String {
    if v <= 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// v2 limits take "max" for unlimited.
fn limit_v2(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

fn update_v2(d: &Path, r: &Resources) -> io::Result<()> {
    memory_v2(d, set(r.memory), set(r.memory_swap))?;
    if let Some(v) = set(r.memory_reservation) {
        write(&d.join("memory.low"), &limit_v2(v))?;
    }
    if let Some(shares) = r.cpu_shares.filter(|v| *v != 0) {
        write(&d.join("cpu.weight"), &shares_to_weight(shares).to_string())?;
    }
    let (quota, period) = (set(r.cpu_quota), r.cpu_period.filter(|v| *v != 0));
    if quota.is_some() || period.is_some() {
        write(&d.join("cpu.max"), &cpu_max(d, quota, period)?)?;
    }
    write_cpuset(d, r)?;
    if let Some(v) = r.pids_limit {
        write(&d.join("pids.max"), &pids_max(v))?;
    }
    if let Some(w) = r.blkio_weight.filter(|w| *w != 0) {
        // BFQ takes the v1 range (10-1000) as is; io.weight is 1-10000.
        let bfq = d.join("io.bfq.weight");
        if bfq.exists() {
            write(&bfq, &w.to_string())?;
        } else {
            write(&d.join("io.weight"), &blkio_to_io_weight(w).to_string())?;
        }
    }
    Ok(())
}

fn memory_v2(d: &Path, memory: Option<i64>, swap: Option<i64>) -> io::Result<()> {
    let swap_file = d.join("memory.swap.max");
    if (swap.is_some() || memory == Some(-1)) && swap_file.exists() {
        // Docker's swap is memory+swap; v2's is swap alone, so the
        // translation needs the memory limit in force after this update.
        let mem = match memory {
            Some(m) => m,
            None => match read_opt(&d.join("memory.max"))?.as_deref() {
                None | Some("max") => -1,
                Some(v) => v.parse().unwrap_or(-1),
            },
        };
        if let Some(v) = swap_v2(swap.unwrap_or(0), mem)? {
            write(&swap_file, &limit_v2(v))?;
        }
    }
    if let Some(m) = memory {
        write(&d.join("memory.max"), &limit_v2(m))?;
    }
    Ok(())
}

/// runc's ConvertMemorySwapToCgroupV2Value: the value for memory.swap.max
/// (-1 = max), or None to leave it alone.
pub(super) fn swap_v2(memory_swap: i64, memory: i64) -> io::Result<Option<i64>> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_string());
    match (memory_swap, memory) {
        (0, -1) => Ok(Some(-1)),
        (0, _) => Ok(None),
        (-1, _) => Ok(Some(-1)),
        (_, 0 | -1) => Err(invalid("unable to set swap limit without memory limit")),
        (_, m) if m < 0 => Err(invalid(&format!("invalid memory value: {m}"))),
        (s, m) if s < m => Err(invalid("memory+swap limit should be >= memory limit")),
        (s, m) => Ok(Some(s - m)),
    }
}

/// runc's mapping of v1 shares (2-262144) onto v2 weight (1-10000).
pub(super) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// runc's mapping of blkio weight (10-1000) onto io.weight (1-10000).
pub(super) fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// cpu.max is "quota period" together; a half-given update keeps the other
/// half from what is in force now.
fn cpu_max(d: &Path, quota: Option<i64>, period: Option<u64>) -> io::Result<String> {
    let current = read_opt(&d.join("cpu.max"))?.unwrap_or_default();
    let mut cur = current.split_whitespace();
    let cur_quota = cur.next().unwrap_or("max").to_string();
    let cur_period = cur.next().unwrap_or("100000").to_string();
    let quota = match quota {
        Some(q) if q > 0 => q.to_string(),
        Some(_) => "max".to_string(),
        None => cur_quota,
    };
    let period = period.map_or(cur_period, |p| p.to_string());
    Ok(format!("{quota} {period}"))
}
