//! Facts read from the machine berthd runs on: kernel, OS, CPUs, memory,
//! cgroups, and the filesystem under the data root.

use std::path::Path;

/// How the cgroup hierarchy at /sys/fs/cgroup is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// Which resource limits the kernel's cgroups can enforce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupCaps {
    pub memory: bool,
    pub swap: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    pub cpu_shares: bool,
    pub cpuset: bool,
    pub pids: bool,
    pub oom_kill_disable: bool,
}

#[derive(Debug, Clone)]
pub struct HostFacts {
    pub kernel_version: String,
    pub operating_system: String,
    pub os_version: String,
    pub architecture: String,
    pub ncpu: i64,
    pub mem_total: i64,
    pub hostname: String,
    pub cgroup_version: CgroupVersion,
    pub cgroup_caps: CgroupCaps,
    pub backing_fs: String,
    pub supports_d_type: bool,
    pub open_fds: i64,
    pub threads: i64,
    pub rootless: bool,
    pub ipv4_forwarding: bool,
}

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The running kernel: all `/version` needs, and cheap to read.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub release: String,
    pub machine: String,
}

pub fn kernel() -> Kernel {
    let uts = nix::sys::utsname::uname().ok();
    Kernel {
        release: uts
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        machine: uts
            .as_ref()
            .map(|u| u.machine().to_string_lossy().into_owned())
            .unwrap_or_else(|| std::env::consts::ARCH.to_string()),
    }
}

impl HostFacts {
    pub fn read(data_root: &Path) -> HostFacts {
        let Kernel { release, machine } = kernel();
        let (operating_system, os_version) = os_release();
        let cgroup_version = cgroup_version();
        let (backing_fs, supports_d_type) = backing_fs(data_root);
        HostFacts {
            kernel_version: release,
            architecture: machine,
            operating_system,
            os_version,
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            mem_total: mem_total().unwrap_or(0),
            hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            cgroup_caps: cgroup_caps(cgroup_version, Path::new("/sys/fs/cgroup")),
            cgroup_version,
            backing_fs,
            supports_d_type,
            open_fds: std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count() as i64)
                .unwrap_or(0),
            threads: proc_status_field("Threads").unwrap_or(0),
            rootless: !nix::unistd::geteuid().is_root(),
            ipv4_forwarding: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .map(|v| v.trim() == "1")
                .unwrap_or(false),
        }
    }
}

fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    parse_os_release(&text)
}

/// `PRETTY_NAME` and `VERSION_ID`, unquoted.
pub fn parse_os_release(text: &str) -> (String, String) {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_string())
    };
    (
        get("PRETTY_NAME").unwrap_or_else(|| "Linux".into()),
        get("VERSION_ID").unwrap_or_default(),
    )
}

fn mem_total() -> Option<i64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&text)
}

/// MemTotal from /proc/meminfo, in bytes.
pub fn parse_mem_total(meminfo: &str) -> Option<i64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn proc_status_field(name: &str) -> Option<i64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

fn cgroup_version() -> CgroupVersion {
    match nix::sys::statfs::statfs("/sys/fs/cgroup") {
        Ok(s) if s.filesystem_type().0 == CGROUP2_SUPER_MAGIC => CgroupVersion::V2,
        _ => CgroupVersion::V1,
    }
}

/// What the cgroup tree under `root` can limit. On v1 each controller is its
/// own mount; on v2 the root lists its controllers in one file.
pub fn cgroup_caps(version: CgroupVersion, root: &Path) -> CgroupCaps {
    let has = |p: &str| root.join(p).exists();
    match version {
        CgroupVersion::V1 => CgroupCaps {
            memory: has("memory/memory.limit_in_bytes"),
            swap: has("memory/memory.memsw.limit_in_bytes"),
            cpu_cfs_period: has("cpu/cpu.cfs_period_us"),
            cpu_cfs_quota: has("cpu/cpu.cfs_quota_us"),
            cpu_shares: has("cpu/cpu.shares"),
            cpuset: has("cpuset/cpuset.cpus"),
            pids: has("pids"),
            oom_kill_disable: has("memory/memory.oom_control"),
        },
        CgroupVersion::V2 => {
            let controllers =
                std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            let on = |c: &str| controllers.split_whitespace().any(|x| x == c);
            CgroupCaps {
                memory: on("memory"),
                // v2 accounts swap with the memory controller unless the kernel was
                // booted with swapaccount=0, which leaves no trace at the root.
                swap: on("memory"),
                cpu_cfs_period: on("cpu"),
                cpu_cfs_quota: on("cpu"),
                cpu_shares: on("cpu"),
                cpuset: on("cpuset"),
                pids: on("pids"),
                oom_kill_disable: false,
            }
        }
    }
}

/// The filesystem holding the data root, named as dockerd names it, and
/// whether it records file types in directory entries (overlayfs needs it).
fn backing_fs(data_root: &Path) -> (String, bool) {
    let name = match nix::sys::statfs::statfs(data_root) {
        Ok(s) => match s.filesystem_type().0 {
            0xEF53 => "extfs",
            0x5846_5342 => "xfs",
            0x9123_683E => "btrfs",
            0x0102_1994 => "tmpfs",
            0x794C_7630 => "overlayfs",
            0x2FC1_2FC1 => "zfs",
            0x6573_5546 => "fuseblk",
            _ => "<unknown>",
        },
        Err(_) => "<unknown>",
    };
    (name.to_string(), supports_d_type(data_root))
}

fn supports_d_type(dir: &Path) -> bool {
    use nix::dir::{Dir, Type};
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    let Ok(mut d) = Dir::open(dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()) else {
        return false;
    };
    // "." always exists: its type must come back as a directory.
    let found = d
        .iter()
        .flatten()
        .find(|e| e.file_name().to_bytes() == b".")
        .map(|e| e.file_type() == Some(Type::Directory))
        .unwrap_or(false);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields_are_unquoted() {
        let (name, ver) = parse_os_release(
            "NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n",
        );
        assert_eq!(name, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(ver, "12");
    }

    #[test]
    fn mem_total_is_in_bytes() {
        assert_eq!(
            parse_mem_total("MemTotal:       1024 kB\nMemFree: 1 kB\n"),
            Some(1024 * 1024)
        );
        assert_eq!(parse_mem_total("garbage"), None);
    }

    #[test]
    fn cgroup_v1_caps_follow_the_controller_files() {
        let root = std::env::temp_dir().join(format!("berth-cg-{}", std::process::id()));
        std::fs::create_dir_all(root.join("memory")).unwrap();
        std::fs::write(root.join("memory/memory.limit_in_bytes"), "").unwrap();
        std::fs::create_dir_all(root.join("pids")).unwrap();
        let caps = cgroup_caps(CgroupVersion::V1, &root);
        assert!(caps.memory && caps.pids);
        assert!(!caps.swap && !caps.cpu_shares && !caps.cpuset);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn cgroup_v2_caps_follow_the_root_controllers() {
        let root = std::env::temp_dir().join(format!("berth-cg2-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        let caps = cgroup_caps(CgroupVersion::V2, &root);
        assert!(caps.memory && caps.cpu_shares && caps.cpuset && caps.pids);
        assert!(!caps.oom_kill_disable);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn reads_this_machine() {
        let f = HostFacts::read(Path::new("/"));
        assert!(!f.kernel_version.is_empty());
        assert!(f.ncpu >= 1);
        assert!(f.mem_total > 0);
        assert!(f.threads >= 1);
    }
}
