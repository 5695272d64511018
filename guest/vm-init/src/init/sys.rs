//! The system calls of the boot sequence behind a trait, so that the order
//! and the arguments are tested without root (a recording double in tests).

use nix::mount::MsFlags;
use std::io;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub flags: MsFlags,
    pub data: Option<String>,
}

impl MountSpec {
    pub fn new(
        source: &str,
        target: &str,
        fstype: &str,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Self {
        MountSpec {
            source: source.into(),
            target: target.into(),
            fstype: fstype.into(),
            flags,
            data: data.map(Into::into),
        }
    }
}

pub trait Sys {
    fn mkdir_p(&self, path: &Path) -> io::Result<()>;
    fn mount(&self, m: &MountSpec) -> io::Result<()>;
    fn read(&self, path: &Path) -> io::Result<String>;
    fn write(&self, path: &Path, contents: &str) -> io::Result<()>;
}

pub struct Linux;

impl Sys for Linux {
    fn mkdir_p(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn mount(&self, m: &MountSpec) -> io::Result<()> {
        nix::mount::mount(
            Some(m.source.as_str()),
            m.target.as_str(),
            Some(m.fstype.as_str()),
            m.flags,
            m.data.as_deref(),
        )
        .map_err(|e| io::Error::other(format!("mount {} on {}: {e}", m.fstype, m.target)))
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn write(&self, path: &Path, contents: &str) -> io::Result<()> {
        std::fs::write(path, contents)
    }
}

/// The pseudo filesystems every Linux user space expects, in mount order
/// (/dev is mounted earlier, by PID 1 itself, for the console).
pub fn base_mounts() -> Vec<MountSpec> {
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    vec![
        MountSpec::new("proc", "/proc", "proc", nodev, None),
        MountSpec::new("sysfs", "/sys", "sysfs", nodev, None),
        MountSpec::new(
            "devpts",
            "/dev/pts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ),
        MountSpec::new("shm", "/dev/shm", "tmpfs", nodev, Some("mode=1777")),
        MountSpec::new("mqueue", "/dev/mqueue", "mqueue", nodev, None),
        MountSpec::new(
            "tmpfs",
            "/run",
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        ),
        MountSpec::new(
            "tmpfs",
            "/tmp",
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=1777"),
        ),
        MountSpec::new(
            "cgroup2",
            "/sys/fs/cgroup",
            "cgroup2",
            nodev,
            Some("nsdelegate"),
        ),
    ]
}

/// Mounts each (creating its mount point); failures are collected so that
/// one missing filesystem does not hide the others.
pub fn mount_all(sys: &dyn Sys, mounts: &[MountSpec]) -> Vec<String> {
    let mut errors = Vec::new();
    for m in mounts {
        if let Err(e) = sys.mkdir_p(Path::new(&m.target)).and_then(|_| sys.mount(m)) {
            errors.push(e.to_string());
        }
    }
    errors
}

/// Hands every available cgroup controller to child cgroups, so berthd can
/// limit containers' memory, CPU, pids and I/O.
pub fn enable_controllers(sys: &dyn Sys, root: &Path) -> io::Result<String> {
    let available = sys.read(&root.join("cgroup.controllers"))?;
    let enable = available
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    if !enable.is_empty() {
        sys.write(&root.join("cgroup.subtree_control"), &enable)?;
    }
    Ok(enable)
}

#[cfg(test)]
pub mod fake {
    use super::*;
    use std::sync::Mutex;

    /// Records every call; reads come from `files`.
    #[derive(Default)]
    pub struct Recorder {
        pub calls: Mutex<Vec<String>>,
        pub files: Mutex<std::collections::HashMap<String, String>>,
        pub fail_mount: Option<String>,
    }

    impl Sys for Recorder {
        fn mkdir_p(&self, path: &Path) -> io::Result<()> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("mkdir {}", path.display()));
            Ok(())
        }
        fn mount(&self, m: &MountSpec) -> io::Result<()> {
            if self.fail_mount.as_deref() == Some(m.target.as_str()) {
                return Err(io::Error::other(format!("mount {}: ENODEV", m.target)));
            }
            self.calls
                .lock()
                .unwrap()
                .push(format!("mount {} {} {}", m.fstype, m.source, m.target));
            Ok(())
        }
        fn read(&self, path: &Path) -> io::Result<String> {
            self.files
                .lock()
                .unwrap()
                .get(&path.display().to_string())
                .cloned()
                .ok_or_else(|| io::ErrorKind::NotFound.into())
        }
        fn write(&self, path: &Path, contents: &str) -> io::Result<()> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("write {} {contents}", path.display()));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::Recorder;
    use super::*;

    #[test]
    fn base_mounts_come_in_order_with_their_mount_points() {
        let sys = Recorder::default();
        assert!(mount_all(&sys, &base_mounts()).is_empty());
        let calls = sys.calls.lock().unwrap();
        let mounts: Vec<_> = calls.iter().filter(|c| c.starts_with("mount")).collect();
        assert_eq!(mounts[0], "mount proc proc /proc");
        assert_eq!(mounts[1], "mount sysfs sysfs /sys");
        // cgroup2 lives inside /sys: after it.
        assert_eq!(
            mounts.last().unwrap().as_str(),
            "mount cgroup2 cgroup2 /sys/fs/cgroup"
        );
        assert!(calls.contains(&"mkdir /dev/pts".to_string()));
    }

    #[test]
    fn a_failed_mount_is_reported_and_the_rest_goes_on() {
        let sys = Recorder {
            fail_mount: Some("/dev/mqueue".into()),
            ..Default::default()
        };
        let errors = mount_all(&sys, &base_mounts());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("/dev/mqueue"));
        assert!(sys
            .calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.ends_with("/sys/fs/cgroup")));
    }

    #[test]
    fn every_controller_is_delegated() {
        let sys = Recorder::default();
        sys.files.lock().unwrap().insert(
            "/sys/fs/cgroup/cgroup.controllers".into(),
            "cpuset cpu io memory pids\n".into(),
        );
        let enabled = enable_controllers(&sys, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(enabled, "+cpuset +cpu +io +memory +pids");
        assert_eq!(
            sys.calls.lock().unwrap().as_slice(),
            ["write /sys/fs/cgroup/cgroup.subtree_control +cpuset +cpu +io +memory +pids"]
        );
    }
}
