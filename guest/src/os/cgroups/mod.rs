//! Containers' cgroups, read and written straight on cgroupfs.
//!
//! libcontainer creates each container's cgroup at `<hierarchy>/<cgroupsPath>`
//! and applies the create-time limits; berthd still needs to look inside it
//! afterwards (`docker stats`, `top`, `pause`, `update`) without a runtime
//! round trip, on v1, hybrid and unified hosts alike.

mod docker;
mod freezer;
mod fsio;
mod layout;
mod stats;
mod update;

#[cfg(test)]
mod tests_fake;
#[cfg(test)]
mod tests_host;
#[cfg(test)]
mod tests_json;
#[cfg(test)]
mod tests_update;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

pub use docker::{online_cpus, stats_json, system_cpu_usage_ns, Sample};
pub use layout::Layout;
#[cfg(test)]
pub use stats::RawStats;
pub use update::Resources;

/// One container's cgroup in every hierarchy the host has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    dirs: Dirs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Dirs {
    /// Controller name to this cgroup's directory in that controller's mount.
    V1(BTreeMap<String, PathBuf>),
    V2(PathBuf),
}

/// v1 hierarchies that hold every process of the container; the first one
/// mounted is where `pids()` looks.
const V1_PROC_SOURCES: &[&str] = &[
    "pids", "memory", "devices", "freezer", "cpuacct", "cpu", "blkio", "cpuset",
];

impl Cgroup {
    /// `cgroups_path` is the OCI spec's `linux.cgroupsPath` (`/berth/<id>`);
    /// like libcontainer it is taken from the root of each hierarchy.
    pub fn new(layout: &Layout, cgroups_path: &str) -> Cgroup {
        let rel = cgroups_path.trim_start_matches('/');
        let dirs = match layout {
            Layout::V1 { mounts } => Dirs::V1(
                mounts
                    .iter()
                    .map(|(ctrl, mnt)| (ctrl.clone(), mnt.join(rel)))
                    .collect(),
            ),
            Layout::V2 { root } => Dirs::V2(root.join(rel)),
        };
        Cgroup { dirs }
    }

    pub fn is_v2(&self) -> bool {
        matches!(self.dirs, Dirs::V2(_))
    }

    pub fn exists(&self) -> bool {
        match &self.dirs {
            Dirs::V1(dirs) => dirs.values().any(|d| d.is_dir()),
            Dirs::V2(dir) => dir.is_dir(),
        }
    }

    /// The directory of a v1 controller, or the unified one on v2.
    fn dir(&self, controller: &str) -> Option<&Path> {
        match &self.dirs {
            Dirs::V1(dirs) => dirs.get(controller).map(PathBuf::as_path),
            Dirs::V2(dir) => Some(dir),
        }
    }

    /// A v1 controller's directory, or an error naming the missing controller.
    fn require(&self, controller: &str) -> io::Result<&Path> {
        self.dir(controller).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("cgroup controller {controller} is not mounted"),
            )
        })
    }

    /// Every process in the cgroup and its sub-cgroups (`docker exec`'d
    /// processes and nested cgroups count too, as for dockerd's `top`).
    pub fn pids(&self) -> io::Result<Vec<i32>> {
        let root = match &self.dirs {
            Dirs::V1(dirs) => V1_PROC_SOURCES
                .iter()
                .filter_map(|c| dirs.get(*c))
                .find(|d| d.is_dir()),
            Dirs::V2(dir) => Some(dir).filter(|d| d.is_dir()),
        };
        let Some(root) = root else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the container's cgroup does not exist",
            ));
        };
        let mut pids = Vec::new();
        collect_procs(root, &mut pids)?;
        let mut seen = std::collections::HashSet::new();
        pids.retain(|p| seen.insert(*p));
        Ok(pids)
    }
}

fn collect_procs(dir: &Path, out: &mut Vec<i32>) -> io::Result<()> {
    // A sub-cgroup can vanish between listing and reading: skip it.
    let Some(procs) = fsio::read_opt(&dir.join("cgroup.procs"))? else {
        return Ok(());
    };
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            collect_procs(&entry.path(), out)?;
        }
    }
    Ok(())
}
