//! The host's device nodes, which a privileged container gets in its /dev
//! (containerd's `oci.HostDevices`, which dockerd uses for `--privileged`).

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{major, minor, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

/// Every character and block device under /dev.
pub(super) fn host_devices() -> io::Result<Vec<LinuxDevice>> {
    let mut out = Vec::new();
    walk(Path::new("/dev"), &mut out)?;
    Ok(out)
}

/// containerd's `getDevices`: the same directories skipped (what the
/// container mounts itself, and LXC/LXD/udev internals), /dev/console
/// skipped (the runtime sets the console up), symlinks and other files
/// ignored, and nodes that vanish while walking ignored.
fn walk(dir: &Path, out: &mut Vec<LinuxDevice>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            let skip = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
            if !skip.iter().any(|s| name == *s) {
                walk(&path, out)?;
            }
            continue;
        }
        if name == "console" {
            continue;
        }
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if let Some(dev) = device(&path, &meta) {
            out.push(dev);
        }
    }
    Ok(())
}

fn device(path: &Path, meta: &fs::Metadata) -> Option<LinuxDevice> {
    let rdev = meta.rdev();
    if major(rdev) == 0 {
        return None;
    }
    let fmt = SFlag::from_bits_truncate(meta.mode() & SFlag::S_IFMT.bits());
    let typ = match fmt {
        SFlag::S_IFCHR => LinuxDeviceType::C,
        SFlag::S_IFBLK => LinuxDeviceType::B,
        _ => return None,
    };
    let mut d = LinuxDevice::default();
    d.set_path(path.to_path_buf());
    d.set_typ(typ);
    d.set_major(major(rdev) as i64);
    d.set_minor(minor(rdev) as i64);
    d.set_file_mode(Some(meta.permissions().mode() & 0o7777));
    d.set_uid(Some(meta.uid()));
    d.set_gid(Some(meta.gid()));
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_null_and_skips_what_the_container_mounts() {
        let devs = host_devices().unwrap();
        let null = devs
            .iter()
            .find(|d| d.path() == Path::new("/dev/null"))
            .expect("/dev/null");
        assert_eq!(null.typ(), LinuxDeviceType::C);
        assert_eq!((null.major(), null.minor()), (1, 3));
        assert_eq!(null.file_mode(), Some(0o666));
        assert!(devs.iter().all(|d| {
            let p = d.path();
            !p.starts_with("/dev/pts")
                && !p.starts_with("/dev/shm")
                && p != Path::new("/dev/console")
                && d.major() != 0
        }));
    }
}
