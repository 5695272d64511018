//! Local volumes with driver options (`type`, `device`, `o`): like dockerd's
//! `local` driver, the device is mounted on the volume's `_data` directory
//! while a container uses it (a tmpfs, a bind of a host directory, an
//! ext4 image…) and unmounted when the last user stops.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::errdefs::{Error, Result};
use crate::fsutil::is_mounted;

/// What `mount(2)` gets for a volume's options.
#[derive(Debug, PartialEq, Eq)]
pub struct MountArgs {
    pub fstype: Option<String>,
    pub device: String,
    pub flags: MsFlags,
    pub data: String,
}

/// None for a plain volume (a directory); the mount otherwise. `o` is split
/// like mount(8) does: flag words become mount flags, the rest is data.
pub fn mount_args(options: &BTreeMap<String, String>) -> Result<Option<MountArgs>> {
    let (typ, device) = (options.get("type"), options.get("device"));
    if typ.is_none() && device.is_none() {
        return Ok(None);
    }
    let device = device.cloned().unwrap_or_default();
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for word in options
        .get("o")
        .map(String::as_str)
        .unwrap_or("")
        .split(',')
    {
        let flag = match word {
            "" => continue,
            "ro" => MsFlags::MS_RDONLY,
            "rw" => MsFlags::empty(),
            "bind" => MsFlags::MS_BIND,
            "rbind" => MsFlags::MS_BIND | MsFlags::MS_REC,
            "nosuid" => MsFlags::MS_NOSUID,
            "nodev" => MsFlags::MS_NODEV,
            "noexec" => MsFlags::MS_NOEXEC,
            "sync" => MsFlags::MS_SYNCHRONOUS,
            "noatime" => MsFlags::MS_NOATIME,
            "nodiratime" => MsFlags::MS_NODIRATIME,
            "relatime" => MsFlags::MS_RELATIME,
            "strictatime" => MsFlags::MS_STRICTATIME,
            "suid" | "dev" | "exec" | "async" | "defaults" => MsFlags::empty(),
            other => {
                data.push(other);
                MsFlags::empty()
            }
        };
        flags |= flag;
    }
    let bind = flags.contains(MsFlags::MS_BIND);
    if device.is_empty() {
        return Err(Error::invalid("missing required option: \"device\""));
    }
    if bind && !Path::new(&device).is_absolute() {
        return Err(Error::invalid(format!(
            "invalid device for a bind mount: {device}: must be an absolute path"
        )));
    }
    let fstype = typ.filter(|t| !t.is_empty() && *t != "none").cloned();
    if fstype.is_none() && !bind {
        return Err(Error::invalid(
            "a volume with a device needs a type, or o=bind for a host directory",
        ));
    }
    Ok(Some(MountArgs {
        fstype,
        device,
        flags,
        data: data.join(","),
    }))
}

/// Which containers hold each mounted volume.
#[derive(Default)]
pub struct Holders {
    by_volume: Mutex<HashMap<String, HashSet<String>>>,
}

impl Holders {
    /// Mounts the volume on `target` unless it is mounted already, and notes
    /// `container` as a user.
    pub fn acquire(
        &self,
        volume: &str,
        args: &MountArgs,
        target: &Path,
        container: &str,
    ) -> Result<()> {
        let mut map = self.by_volume.lock().unwrap_or_else(|p| p.into_inner());
        if !is_mounted(target) {
            mount_volume(args, target).map_err(|e| {
                Error::system(format!(
                    "error while mounting volume '{}': failed to mount local volume: mount {}:{}, flags: {:#x}, data: {}: {e}",
                    target.display(),
                    args.device,
                    target.display(),
                    args.flags.bits(),
                    args.data
                ))
            })?;
            tracing::debug!(volume, "mounted {} on {}", args.device, target.display());
        }
        map.entry(volume.to_string())
            .or_default()
            .insert(container.to_string());
        Ok(())
    }

    /// The container no longer uses its volumes: those nobody else holds are
    /// unmounted. `mountpoint` names each volume's directory.
    pub fn release(&self, container: &str, mountpoint: impl Fn(&str) -> std::path::PathBuf) {
        let mut map = self.by_volume.lock().unwrap_or_else(|p| p.into_inner());
        let mut emptied = Vec::new();
        for (volume, users) in map.iter_mut() {
            if users.remove(container) && users.is_empty() {
                emptied.push(volume.clone());
            }
        }
        for volume in emptied {
            map.remove(&volume);
            if let Err(e) = unmount(&mountpoint(&volume)) {
                tracing::warn!(volume, "unmounting the volume: {e}");
            }
        }
    }
}

fn mount_volume(args: &MountArgs, target: &Path) -> nix::Result<()> {
    let data = (!args.data.is_empty()).then_some(args.data.as_str());
    mount(
        Some(args.device.as_str()),
        target,
        args.fstype.as_deref(),
        args.flags,
        data,
    )?;
    // A read-only bind needs a remount to take effect.
    if args.flags.contains(MsFlags::MS_BIND) && args.flags.contains(MsFlags::MS_RDONLY) {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            args.flags | MsFlags::MS_REMOUNT,
            None::<&str>,
        )?;
    }
    Ok(())
}

/// Detaches whatever is mounted on `target` (nothing to do when nothing is).
pub fn unmount(target: &Path) -> std::io::Result<()> {
    if is_mounted(target) {
        umount2(target, MntFlags::MNT_DETACH).map_err(std::io::Error::from)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_volumes_mount_nothing() {
        assert_eq!(mount_args(&opts(&[])).unwrap(), None);
    }

    #[test]
    fn tmpfs_options_go_to_data() {
        let a = mount_args(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=64m,uid=1000,noexec"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(a.fstype.as_deref(), Some("tmpfs"));
        assert_eq!(a.data, "size=64m,uid=1000");
        assert_eq!(a.flags, MsFlags::MS_NOEXEC);
    }

    #[test]
    fn bind_of_a_host_directory() {
        let a = mount_args(&opts(&[
            ("type", "none"),
            ("o", "bind,ro"),
            ("device", "/srv/x"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(a.fstype, None);
        assert_eq!(a.flags, MsFlags::MS_BIND | MsFlags::MS_RDONLY);
        assert!(mount_args(&opts(&[("o", "bind"), ("device", "rel/dir")])).is_err());
        assert!(
            mount_args(&opts(&[("type", "tmpfs")])).is_err(),
            "no device"
        );
        assert!(
            mount_args(&opts(&[("device", "/dev/sdb1")])).is_err(),
            "no type"
        );
    }
}
