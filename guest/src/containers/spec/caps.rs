//! Capabilities: docker's default set tweaked by CapAdd/CapDrop (moby's
//! `caps.TweakCapabilities`), or the whole host bounding set when privileged.

use std::collections::HashSet;

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::{Capability as C, LinuxCapabilities};

use crate::errdefs::{Error, Result};

/// Kernel capability numbers (linux/capability.h), which index the CapBnd mask.
const ALL: [(u32, &str, C); 41] = [
    (0, "CAP_CHOWN", C::Chown),
    (1, "CAP_DAC_OVERRIDE", C::DacOverride),
    (2, "CAP_DAC_READ_SEARCH", C::DacReadSearch),
    (3, "CAP_FOWNER", C::Fowner),
    (4, "CAP_FSETID", C::Fsetid),
    (5, "CAP_KILL", C::Kill),
    (6, "CAP_SETGID", C::Setgid),
    (7, "CAP_SETUID", C::Setuid),
    (8, "CAP_SETPCAP", C::Setpcap),
    (9, "CAP_LINUX_IMMUTABLE", C::LinuxImmutable),
    (10, "CAP_NET_BIND_SERVICE", C::NetBindService),
    (11, "CAP_NET_BROADCAST", C::NetBroadcast),
    (12, "CAP_NET_ADMIN", C::NetAdmin),
    (13, "CAP_NET_RAW", C::NetRaw),
    (14, "CAP_IPC_LOCK", C::IpcLock),
    (15, "CAP_IPC_OWNER", C::IpcOwner),
    (16, "CAP_SYS_MODULE", C::SysModule),
    (17, "CAP_SYS_RAWIO", C::SysRawio),
    (18, "CAP_SYS_CHROOT", C::SysChroot),
    (19, "CAP_SYS_PTRACE", C::SysPtrace),
    (20, "CAP_SYS_PACCT", C::SysPacct),
    (21, "CAP_SYS_ADMIN", C::SysAdmin),
    (22, "CAP_SYS_BOOT", C::SysBoot),
    (23, "CAP_SYS_NICE", C::SysNice),
    (24, "CAP_SYS_RESOURCE", C::SysResource),
    (25, "CAP_SYS_TIME", C::SysTime),
    (26, "CAP_SYS_TTY_CONFIG", C::SysTtyConfig),
    (27, "CAP_MKNOD", C::Mknod),
    (28, "CAP_LEASE", C::Lease),
    (29, "CAP_AUDIT_WRITE", C::AuditWrite),
    (30, "CAP_AUDIT_CONTROL", C::AuditControl),
    (31, "CAP_SETFCAP", C::Setfcap),
    (32, "CAP_MAC_OVERRIDE", C::MacOverride),
    (33, "CAP_MAC_ADMIN", C::MacAdmin),
    (34, "CAP_SYSLOG", C::Syslog),
    (35, "CAP_WAKE_ALARM", C::WakeAlarm),
    (36, "CAP_BLOCK_SUSPEND", C::BlockSuspend),
    (37, "CAP_AUDIT_READ", C::AuditRead),
    (38, "CAP_PERFMON", C::Perfmon),
    (39, "CAP_BPF", C::Bpf),
    (40, "CAP_CHECKPOINT_RESTORE", C::CheckpointRestore),
];

/// moby's `caps.DefaultCapabilities`.
pub(super) const DEFAULT: [C; 14] = [
    C::Chown,
    C::DacOverride,
    C::Fsetid,
    C::Fowner,
    C::Mknod,
    C::NetRaw,
    C::Setgid,
    C::Setuid,
    C::Setfcap,
    C::Setpcap,
    C::NetBindService,
    C::SysChroot,
    C::Kill,
    C::AuditWrite,
];

/// The `CapBnd` mask of this process from /proc/self/status. Privileged
/// containers get exactly this set rather than every capability the kernel
/// knows (what dockerd does): a runtime cannot grant what its own bounding set
/// lacks, and some hosts (FACTS: no CAP_SYS_RESOURCE here) lack some.
pub(super) fn host_bounding_set() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| std::io::Error::other("no CapBnd line in /proc/self/status"))
}

pub(super) fn all_names(mask: u64) -> Vec<String> {
    from_mask(mask)
        .into_iter()
        .filter_map(|c| serde_json::to_value(c).ok()?.as_str().map(String::from))
        .collect()
}

fn from_mask(mask: u64) -> Vec<C> {
    ALL.iter()
        .filter(|(bit, _, _)| mask & (1u64 << bit) != 0)
        .map(|(_, _, c)| *c)
        .collect()
}

enum Normalized {
    All,
    Cap(C),
}

/// Case-insensitive, with or without the CAP_ prefix; "ALL" is special.
fn normalize(names: &[String]) -> Result<Vec<Normalized>> {
    names
        .iter()
        .map(|n| {
            let upper = n.to_uppercase();
            if upper == "ALL" {
                return Ok(Normalized::All);
            }
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            ALL.iter()
                .find(|(_, name, _)| *name == full)
                .map(|(_, _, c)| Normalized::Cap(*c))
                .ok_or_else(|| Error::invalid(format!("unknown capability: {full:?}")))
        })
        .collect()
}

/// Both lists, with dockerd's `validateCapabilities` messages, which name the
/// list that holds the unknown capability.
fn normalize_lists(
    adds: &[String],
    drops: &[String],
) -> Result<(Vec<Normalized>, Vec<Normalized>)> {
    let adds =
        normalize(adds).map_err(|e| Error::invalid(format!("invalid CapAdd: {}", e.message)))?;
    let drops =
        normalize(drops).map_err(|e| Error::invalid(format!("invalid CapDrop: {}", e.message)))?;
    Ok((adds, drops))
}

/// Only the names, as dockerd checks them at create (privileged or not).
pub(super) fn validate(hc: &HostConfig) -> Result<()> {
    normalize_lists(
        hc.cap_add.as_deref().unwrap_or_default(),
        hc.cap_drop.as_deref().unwrap_or_default(),
    )
    .map(|_| ())
}

/// The capability list in docker's order, without duplicates.
pub(super) fn tweak(
    adds: &[String],
    drops: &[String],
    privileged: bool,
    bounding_set: fn() -> std::io::Result<u64>,
) -> Result<Vec<C>> {
    let host_all = || {
        bounding_set()
            .map(from_mask)
            .map_err(|e| Error::system(format!("reading the capability bounding set: {e}")))
    };
    if privileged {
        return host_all();
    }
    let (adds, drops) = normalize_lists(adds, drops)?;
    let has_all = |l: &[Normalized]| l.iter().any(|n| matches!(n, Normalized::All));
    let caps_of = |l: &[Normalized]| -> Vec<C> {
        l.iter()
            .filter_map(|n| match n {
                Normalized::Cap(c) => Some(*c),
                Normalized::All => None,
            })
            .collect()
    };
    let (add_caps, drop_caps) = (caps_of(&adds), caps_of(&drops));

    let caps: Vec<C> = if has_all(&adds) {
        host_all()?
            .into_iter()
            .filter(|c| !drop_caps.contains(c))
            .collect()
    } else if has_all(&drops) {
        add_caps
    } else {
        DEFAULT
            .iter()
            .copied()
            .filter(|c| !drop_caps.contains(c))
            .chain(add_caps)
            .collect()
    };
    let mut seen = HashSet::new();
    Ok(caps.into_iter().filter(|c| seen.insert(*c)).collect())
}

/// Inheritable and ambient stay empty like dockerd's since CVE-2022-24769:
/// a non-root process must not pick capabilities up across execve.
pub(super) fn build(
    hc: &HostConfig,
    privileged: bool,
    bounding_set: fn() -> std::io::Result<u64>,
) -> Result<LinuxCapabilities> {
    let list = tweak(
        hc.cap_add.as_deref().unwrap_or_default(),
        hc.cap_drop.as_deref().unwrap_or_default(),
        privileged,
        bounding_set,
    )?;
    let set: HashSet<C> = list.into_iter().collect();
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(Some(HashSet::new()));
    caps.set_ambient(Some(HashSet::new()));
    Ok(caps)
}
