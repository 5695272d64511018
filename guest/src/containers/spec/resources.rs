//! Cgroup resources, device rules, rlimits and sysctls, validated with
//! dockerd's messages (`daemon/daemon_unix.go` verifyContainerResources).

use std::collections::HashMap;

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxPids,
    LinuxResources, PosixRlimit, PosixRlimitBuilder, PosixRlimitType as R,
};

use crate::errdefs::{Error, Result};

/// The CFS period dockerd uses to express NanoCpus as a quota.
pub(super) const CPU_PERIOD: u64 = 100_000;
const MIN_MEMORY: i64 = 6 << 20;
const MIN_CPU_SHARES: i64 = 2;
const MAX_CPU_SHARES: i64 = 262_144;

fn invalid(m: impl Into<String>) -> Error {
    Error::invalid(m)
}

fn rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// Deny everything, then allow the devices every container gets (the nodes
/// the runtime creates, the pty multiplexer and its slaves) and mknod of any
/// node, which is harmless without read/write access.
pub(super) fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    let c = |major, minor| rule(true, Some(C), Some(major), minor, "rwm");
    vec![
        rule(false, None, None, None, "rwm"),
        rule(true, Some(C), None, None, "m"),
        rule(true, Some(B), None, None, "m"),
        c(1, Some(3)), // null
        c(1, Some(5)), // zero
        c(1, Some(7)), // full
        c(1, Some(8)), // random
        c(1, Some(9)), // urandom
        c(5, Some(0)), // tty
        c(5, Some(1)), // console
        c(5, Some(2)), // ptmx
        c(136, None),  // pts/*
    ]
}

/// HostConfig.DeviceCgroupRules: "type major:minor access", e.g. "c 1:3 rwm".
fn parse_device_rule(s: &str) -> Result<LinuxDeviceCgroup> {
    let bad = || invalid(format!("invalid device cgroup format '{s}'"));
    let f: Vec<&str> = s.split(' ').collect();
    let [typ, nums, access] = f.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (major, minor) = nums.split_once(':').ok_or_else(bad)?;
    let num = |n: &str| -> Result<Option<i64>> {
        if n == "*" {
            Ok(None)
        } else {
            n.parse().map(Some).map_err(|_| bad())
        }
    };
    if access.is_empty() || access.len() > 3 || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    Ok(rule(true, Some(typ), num(major)?, num(minor)?, access))
}

pub(super) fn build(hc: &HostConfig, privileged: bool) -> Result<LinuxResources> {
    if hc.devices.as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(Error::not_implemented(
            "host devices (--device) are not supported yet",
        ));
    }
    let devices = if privileged {
        // Privileged containers get the host's device nodes (spec::devices)
        // and may use any device, as with dockerd.
        vec![rule(true, None, None, None, "rwm")]
    } else {
        let mut d = default_device_rules();
        for r in hc.device_cgroup_rules.as_deref().unwrap_or_default() {
            d.push(parse_device_rule(r)?);
        }
        d
    };

    let mut res = LinuxResources::default();
    res.set_devices(Some(devices));
    res.set_memory(memory(hc)?);
    res.set_cpu(cpu(hc)?);
    // The API takes 0 and -1 as "unlimited": like dockerd, write no pids
    // limit then, which also runs where the pids controller is not enabled
    // (a cgroup v2 tree that does not delegate it).
    res.set_pids(hc.pids_limit.filter(|l| *l > 0).map(|l| {
        let mut p = LinuxPids::default();
        p.set_limit(l);
        p
    }));
    res.set_block_io(match hc.blkio_weight.filter(|w| *w != 0) {
        None => None,
        Some(w) if !(10..=1000).contains(&w) => {
            return Err(invalid("Range of blkio weight is from 10 to 1000"))
        }
        Some(w) => {
            let mut b = LinuxBlockIo::default();
            b.set_weight(Some(w));
            Some(b)
        }
    });
    Ok(res)
}

fn memory(hc: &HostConfig) -> Result<Option<LinuxMemory>> {
    let limit = hc.memory.unwrap_or(0);
    let mut swap = hc.memory_swap.unwrap_or(0);
    let reservation = hc.memory_reservation.unwrap_or(0);
    let swappiness = hc.memory_swappiness.unwrap_or(-1);
    let oom_kill_disable = hc.oom_kill_disable.unwrap_or(false);

    if limit != 0 && limit < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if limit > 0 && swap > 0 && swap < limit {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if limit == 0 && swap > 0 {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if reservation != 0 && reservation < MIN_MEMORY {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if limit > 0 && reservation > 0 && limit < reservation {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return Err(invalid(format!(
            "Invalid value: {swappiness}, valid memory swappiness range is 0-100"
        )));
    }
    // dockerd's adaptContainerSettings: unset swap means as much swap as memory.
    if limit > 0 && swap == 0 {
        swap = limit * 2;
    }
    if limit == 0 && swap == 0 && reservation == 0 && swappiness == -1 && !oom_kill_disable {
        return Ok(None);
    }
    let mut m = LinuxMemory::default();
    m.set_limit((limit > 0).then_some(limit));
    m.set_swap((swap != 0).then_some(swap));
    m.set_reservation((reservation > 0).then_some(reservation));
    m.set_swappiness((swappiness >= 0).then_some(swappiness as u64));
    m.set_disable_oom_killer(oom_kill_disable.then_some(true));
    Ok(Some(m))
}

fn cpu(hc: &HostConfig) -> Result<Option<LinuxCpu>> {
    let nano = hc.nano_cpus.unwrap_or(0);
    let mut quota = hc.cpu_quota.unwrap_or(0);
    let mut period = hc.cpu_period.unwrap_or(0);
    let mut shares = hc.cpu_shares.unwrap_or(0);

    if nano > 0 && period > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && quota > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if nano < 0 {
        return Err(invalid(
            "Range of CPUs is from 0.01 to the number of CPUs available",
        ));
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if quota > 0 && quota < 1000 {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if nano > 0 {
        period = CPU_PERIOD as i64;
        quota = nano * period / 1_000_000_000;
    }
    // dockerd clamps shares (with a warning) instead of refusing them.
    if shares < 0 {
        shares = MIN_CPU_SHARES;
    } else if shares > MAX_CPU_SHARES {
        shares = MAX_CPU_SHARES;
    }
    let cpus = hc.cpuset_cpus.clone().filter(|s| !s.is_empty());
    let mems = hc.cpuset_mems.clone().filter(|s| !s.is_empty());
    for (what, v) in [("cpus", &cpus), ("mems", &mems)] {
        if let Some(v) = v {
            if !valid_uint_list(v) {
                return Err(invalid(format!("Invalid value {v} for cpuset {what}")));
            }
        }
    }
    if quota == 0 && period == 0 && shares == 0 && cpus.is_none() && mems.is_none() {
        return Ok(None);
    }
    let mut c = LinuxCpu::default();
    c.set_quota((quota != 0).then_some(quota));
    c.set_period((period > 0).then_some(period as u64));
    c.set_shares((shares > 0).then_some(shares as u64));
    c.set_cpus(cpus);
    c.set_mems(mems);
    Ok(Some(c))
}

/// "0-3,5": what the kernel's cpuset files accept.
fn valid_uint_list(s: &str) -> bool {
    s.split(',').all(|part| match part.split_once('-') {
        Some((a, b)) => matches!((a.parse::<u32>(), b.parse::<u32>()), (Ok(a), Ok(b)) if a <= b),
        None => part.parse::<u32>().is_ok(),
    })
}

fn rlimit_type(name: &str) -> Option<R> {
    Some(match name {
        "as" => R::RlimitAs,
        "core" => R::RlimitCore,
        "cpu" => R::RlimitCpu,
        "data" => R::RlimitData,
        "fsize" => R::RlimitFsize,
        "locks" => R::RlimitLocks,
        "memlock" => R::RlimitMemlock,
        "msgqueue" => R::RlimitMsgqueue,
        "nice" => R::RlimitNice,
        "nofile" => R::RlimitNofile,
        "nproc" => R::RlimitNproc,
        "rss" => R::RlimitRss,
        "rtprio" => R::RlimitRtprio,
        "rttime" => R::RlimitRttime,
        "sigpending" => R::RlimitSigpending,
        "stack" => R::RlimitStack,
        _ => return None,
    })
}

/// HostConfig.Ulimits, then the daemon's defaults for names not given.
pub(super) fn rlimits(
    hc: &HostConfig,
    defaults: &[(String, i64, i64)],
) -> Result<Vec<PosixRlimit>> {
    let mut list: Vec<(String, i64, i64)> = hc
        .ulimits
        .iter()
        .flatten()
        .map(|u| {
            (
                u.name.clone().unwrap_or_default(),
                u.soft.unwrap_or(0),
                u.hard.unwrap_or(0),
            )
        })
        .collect();
    for d in defaults {
        if !list.iter().any(|(n, _, _)| *n == d.0) {
            list.push(d.clone());
        }
    }
    list.into_iter()
        .map(|(name, soft, hard)| {
            let typ = rlimit_type(&name)
                .ok_or_else(|| invalid(format!("invalid ulimit type: {name}")))?;
            // -1 is "unlimited": as u64 it is RLIM_INFINITY, as dockerd's uint64() cast makes it.
            if soft as u64 > hard as u64 {
                return Err(invalid(format!(
                    "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
                )));
            }
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(soft as u64)
                .hard(hard as u64)
                .build()
                .map_err(super::oci_err)
        })
        .collect()
}

/// Only sysctls the container's own namespaces scope may be set; the
/// messages are runc's, which dockerd passes through at start.
pub(super) fn sysctls(hc: &HostConfig, private_net: bool) -> Result<HashMap<String, String>> {
    let sysctls = hc.sysctls.clone().unwrap_or_default();
    for key in sysctls.keys() {
        let ipc = [
            "kernel.msgmax",
            "kernel.msgmnb",
            "kernel.msgmni",
            "kernel.sem",
        ]
        .contains(&key.as_str())
            || key.starts_with("kernel.shm")
            || key.starts_with("kernel.msg")
            || key.starts_with("fs.mqueue.");
        if ipc || key == "kernel.domainname" {
            continue;
        }
        if key == "kernel.hostname" {
            return Err(invalid(format!(
                "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
            )));
        }
        if key.starts_with("net.") {
            if private_net {
                continue;
            }
            return Err(invalid(format!(
                "sysctl {key:?} not allowed in host network namespace"
            )));
        }
        return Err(invalid(format!(
            "sysctl {key:?} is not in a separate kernel namespace"
        )));
    }
    Ok(sysctls)
}
