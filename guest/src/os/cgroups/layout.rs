//! Which cgroup hierarchies this host has, read from mountinfo.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

/// The standard place for the cgroup tree; a cgroup2 mount there means the
/// host is unified (pure v2), which is the same test libcontainer makes when
/// it chooses its manager.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers we may touch; other super-options on a `cgroup` mount
/// (`rw`, `name=systemd`, `xattr`, …) are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Legacy or hybrid host: each controller has its own mount (several
    /// controllers may share one, like `cpu,cpuacct`).
    V1 { mounts: BTreeMap<String, PathBuf> },
    /// Unified host: one tree with every controller.
    V2 { root: PathBuf },
}

impl Layout {
    pub fn detect() -> io::Result<Layout> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        Ok(Self::detect_from(&mountinfo))
    }

    /// A hybrid host (v1 controllers plus a controller-less cgroup2 at
    /// `/sys/fs/cgroup/unified`) counts as v1: that is where libcontainer
    /// puts the containers' limits.
    pub fn detect_from(mountinfo: &str) -> Layout {
        let mut mounts = BTreeMap::new();
        let mut v2_mounts = Vec::new();
        for m in mountinfo.lines().filter_map(parse_line) {
            match m.fstype {
                "cgroup2" => v2_mounts.push(m.mount_point),
                "cgroup" => {
                    for opt in m.super_opts.split(',') {
                        if V1_CONTROLLERS.contains(&opt) {
                            // The first mount wins: later ones are usually
                            // bind mounts of the same hierarchy.
                            mounts
                                .entry(opt.to_string())
                                .or_insert_with(|| m.mount_point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        let root = PathBuf::from(CGROUP_ROOT);
        if v2_mounts.contains(&root) {
            return Layout::V2 { root };
        }
        if mounts.is_empty() {
            if let Some(root) = v2_mounts.into_iter().next() {
                return Layout::V2 { root };
            }
        }
        Layout::V1 { mounts }
    }

    #[cfg(test)]
    pub fn is_v2(&self) -> bool {
        matches!(self, Layout::V2 { .. })
    }
}

struct Mount<'a> {
    mount_point: PathBuf,
    fstype: &'a str,
    super_opts: &'a str,
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`:
/// the optional fields before ` - ` vary in number, so split there first.
fn parse_line(line: &str) -> Option<Mount<'_>> {
    let (left, right) = line.split_once(" - ")?;
    let mount_point = left.split(' ').nth(4)?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let _source = right.next()?;
    let super_opts = right.next().unwrap_or("");
    Some(Mount {
        mount_point: PathBuf::from(unescape(mount_point)),
        fstype,
        super_opts,
    })
}

/// The kernel writes space, tab, newline and backslash in paths as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).unwrap_or_default();
        let octal =
            oct.len() == 3 && oct[0] <= b'3' && oct.iter().all(|c| (b'0'..=b'7').contains(c));
        if b[i] == b'\\' && octal {
            out.push(oct.iter().fold(0u8, |v, c| v * 8 + (c - b'0')));
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:7 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 22 0:32 / /mnt/memory\\040copy rw,relatime - cgroup cgroup rw,memory
";

    #[test]
    fn hybrid_is_v1_with_shared_mounts() {
        let Layout::V1 { mounts } = Layout::detect_from(HYBRID) else {
            panic!("expected v1");
        };
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(mounts["cpu"], p("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(mounts["cpuacct"], p("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(mounts["cpuset"], p("/sys/fs/cgroup/cpuset"));
        assert_eq!(mounts["memory"], p("/sys/fs/cgroup/memory"));
        assert_eq!(mounts.len(), 4, "{mounts:?}");
    }

    #[test]
    fn unified_is_v2() {
        let mi = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            Layout::detect_from(mi),
            Layout::V2 {
                root: PathBuf::from("/sys/fs/cgroup")
            }
        );
    }

    #[test]
    fn lone_cgroup2_elsewhere_is_v2() {
        let mi = "30 23 0:26 / /run/cg rw - cgroup2 none rw\n";
        assert!(Layout::detect_from(mi).is_v2());
        assert_eq!(
            Layout::detect_from(""),
            Layout::V1 {
                mounts: BTreeMap::new()
            }
        );
    }

    #[test]
    fn escaped_mount_points() {
        assert_eq!(unescape("/a\\040b\\011c"), "/a b\tc");
        assert_eq!(unescape("/plain\\"), "/plain\\");
        assert_eq!(unescape("/x\\99z"), "/x\\99z");
    }

    #[test]
    fn this_host_detects() {
        // Whatever the host is, detection must not fail where /proc exists.
        if let Ok(layout) = Layout::detect() {
            eprintln!("host layout: {layout:?}");
        }
    }
}
