//! Mounts: dockerd's defaults (proc, /dev, devpts, shm, mqueue, sysfs,
//! cgroup), then the container's own (etc files, Binds, Mounts, Tmpfs) sorted
//! so that a parent is mounted before what is mounted inside it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bollard_stubs::models::{
    HostConfig, Mount as ApiMount, MountBindOptionsPropagationEnum as Prop, MountType,
};
use oci_spec::runtime::Mount;

use super::process::clean_abs;
use super::{SpecInput, INIT_IN_CONTAINER};
use crate::errdefs::{Error, Result};

/// dockerd's default ShmSize.
pub(super) const DEFAULT_SHM_SIZE: i64 = 64 << 20;

pub(super) struct Mounts {
    pub mounts: Vec<Mount>,
    /// Set when a bind asks for shared or slave propagation, which only works
    /// if the container's root mount propagates too (moby does the same).
    pub rootfs_propagation: Option<String>,
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

fn defaults(hc: &HostConfig, privileged: bool, shm: bool) -> Result<Vec<Mount>> {
    let shm_size = match hc.shm_size.unwrap_or(0) {
        s if s < 0 => return Err(Error::invalid("SHM size can not be less than 0")),
        0 => DEFAULT_SHM_SIZE,
        s => s,
    };
    // Privileged containers may write to /sys and the cgroup tree, as with docker.
    let sys_mode = if privileged { "rw" } else { "ro" };
    let mut v = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_mode],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", sys_mode],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
    ];
    if shm {
        let size = format!("size={shm_size}");
        v.push(mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &size],
        ));
    }
    Ok(v)
}

pub(super) fn build(
    input: &SpecInput,
    hc: &HostConfig,
    privileged: bool,
    shm: bool,
) -> Result<Mounts> {
    let readonly_rootfs = hc.readonly_rootfs.unwrap_or(false);
    let mut user: Vec<(PathBuf, Mount)> = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut rootfs_propagation: Option<String> = None;

    let add = |user: &mut Vec<(PathBuf, Mount)>,
               seen: &mut HashSet<PathBuf>,
               dest: PathBuf,
               m: Mount|
     -> Result<()> {
        if !seen.insert(dest.clone()) {
            return Err(Error::invalid(format!(
                "Duplicate mount point: {}",
                dest.display()
            )));
        }
        user.push((dest, m));
        Ok(())
    };

    for raw in hc.binds.as_deref().unwrap_or_default() {
        let b = parse_bind(raw)?;
        note_propagation(&mut rootfs_propagation, &b.propagation);
        add(&mut user, &mut seen, b.dest.clone(), bind_mount(&b))?;
    }
    for m in hc.mounts.as_deref().unwrap_or_default() {
        let (dest, mnt) = api_mount(m, &mut rootfs_propagation)?;
        add(&mut user, &mut seen, dest, mnt)?;
    }
    let mut tmpfs: Vec<(&String, &String)> = hc.tmpfs.iter().flatten().collect();
    tmpfs.sort();
    for (dest, data) in tmpfs {
        if !dest.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid mount config for type \"tmpfs\": invalid mount path: '{dest}' mount path must be absolute"
            )));
        }
        let dest_path = clean_abs(dest);
        let mut opts: Vec<String> = vec![];
        if !data.is_empty() {
            opts.extend(data.split(',').map(String::from));
        }
        add(
            &mut user,
            &mut seen,
            dest_path.clone(),
            tmpfs_mount(&dest_path, &opts)?,
        )?;
    }

    // The etc files give way to a user mount on the same path, as in moby.
    let etc = [
        ("/etc/resolv.conf", input.etc_files.resolv_conf),
        ("/etc/hostname", input.etc_files.hostname),
        ("/etc/hosts", input.etc_files.hosts),
    ];
    for (dest, src) in etc {
        let Some(src) = src else { continue };
        let dest = PathBuf::from(dest);
        if seen.contains(&dest) {
            continue;
        }
        let mut opts = vec!["rbind", "rprivate"];
        if readonly_rootfs {
            opts.push("ro");
        }
        let m = mount(
            dest.to_str().unwrap_or_default(),
            "bind",
            &src.to_string_lossy(),
            &opts,
        );
        add(&mut user, &mut seen, dest, m)?;
    }

    let over_dev = seen.contains(Path::new("/dev"));
    let mut all: Vec<Mount> = defaults(hc, privileged, shm)?
        .into_iter()
        .filter(|m| {
            let d = m.destination();
            let overridden = seen.contains(d) || (over_dev && d.starts_with("/dev"));
            !overridden
        })
        .collect();
    // moby adds the init's mount with the defaults, so a user mount on its path replaces it.
    if let Some(init) = input
        .init
        .filter(|_| !seen.contains(Path::new(INIT_IN_CONTAINER)))
    {
        all.push(mount(
            INIT_IN_CONTAINER,
            "bind",
            &init.to_string_lossy(),
            &["bind", "ro"],
        ));
    }
    user.sort_by_key(|(dest, _)| dest.components().count());
    all.extend(user.into_iter().map(|(_, m)| m));
    Ok(Mounts {
        mounts: all,
        rootfs_propagation,
    })
}

struct Bind {
    source: PathBuf,
    dest: PathBuf,
    read_only: bool,
    propagation: String,
    recursive: bool,
}

fn bind_mount(b: &Bind) -> Mount {
    let mut opts = vec![if b.recursive { "rbind" } else { "bind" }];
    if b.read_only {
        opts.push("ro");
    }
    opts.push(&b.propagation);
    mount(
        b.dest.to_str().unwrap_or_default(),
        "bind",
        &b.source.to_string_lossy(),
        &opts,
    )
}

/// moby: shared binds make the root shared, slave binds a slave (unless
/// already shared). Written without the "r": libcontainer knows only the
/// OCI names and always makes the root's propagation recursive.
fn note_propagation(root: &mut Option<String>, p: &str) {
    let root_shared = root.as_deref() == Some("shared");
    match p {
        "shared" | "rshared" if !root_shared => *root = Some("shared".into()),
        "slave" | "rslave" if !root_shared => *root = Some("slave".into()),
        _ => {}
    }
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn volumes_unsupported() -> Error {
    // Named and anonymous volumes need the volume store, which does not exist
    // yet; until it does they are refused rather than silently not persisted.
    Error::not_implemented("named volumes are not supported yet")
}

fn valid_mode(mode: &str) -> bool {
    let (mut rw, mut prop, mut label, mut copy, mut consistency) = (0, 0, 0, 0, 0);
    for m in mode.split(',') {
        match m {
            "rw" | "ro" => rw += 1,
            "z" | "Z" => label += 1,
            "nocopy" => copy += 1,
            "consistent" | "cached" | "delegated" => consistency += 1,
            p if PROPAGATIONS.contains(&p) => prop += 1,
            _ => return false,
        }
    }
    rw <= 1 && prop <= 1 && label <= 1 && copy <= 1 && consistency <= 1
}

/// HostConfig.Binds: "src:dst[:mode]" with moby's Linux parser rules.
fn parse_bind(raw: &str) -> Result<Bind> {
    let invalid = || Error::invalid(format!("invalid volume specification: '{raw}'"));
    let parts: Vec<&str> = raw.split(':').collect();
    if parts[0].is_empty() {
        return Err(invalid());
    }
    let (src, dst, mode) = match parts.as_slice() {
        [_] => return Err(volumes_unsupported()),
        [_, m] if valid_mode(m) => return Err(volumes_unsupported()),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid()),
    };
    if !mode.is_empty() && !valid_mode(mode) {
        return Err(Error::invalid(format!("invalid mode: {mode}")));
    }
    if !src.starts_with('/') {
        return Err(volumes_unsupported());
    }
    if !dst.starts_with('/') {
        return Err(Error::invalid(format!(
            "invalid volume specification: '{raw}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    if clean_abs(dst) == Path::new("/") {
        return Err(Error::invalid(
            "invalid specification: destination can't be '/'",
        ));
    }
    let modes: Vec<&str> = mode.split(',').collect();
    if modes.contains(&"nocopy") {
        return Err(Error::invalid(format!("invalid mode: {mode}")));
    }
    let propagation = modes
        .iter()
        .find(|m| PROPAGATIONS.contains(m))
        .copied()
        .unwrap_or("rprivate");
    Ok(Bind {
        source: clean_abs(src),
        dest: clean_abs(dst),
        read_only: modes.contains(&"ro"),
        propagation: propagation.to_string(),
        recursive: true,
    })
}

fn mount_err(typ: &str, msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("invalid mount config for type \"{typ}\": {msg}"))
}

/// HostConfig.Mounts entries of type bind and tmpfs.
fn api_mount(m: &ApiMount, root_prop: &mut Option<String>) -> Result<(PathBuf, Mount)> {
    let typ = m.typ.as_ref().map(|t| t.to_string()).unwrap_or_default();
    let target = m.target.as_deref().unwrap_or_default();
    if target.is_empty() {
        return Err(mount_err(&typ, "field Target must not be empty"));
    }
    if !target.starts_with('/') {
        return Err(mount_err(
            &typ,
            format!("invalid mount path: '{target}' mount path must be absolute"),
        ));
    }
    let dest = clean_abs(target);
    let source = m.source.as_deref().unwrap_or_default();
    let read_only = m.read_only.unwrap_or(false);
    match m.typ {
        Some(MountType::BIND) => {
            if source.is_empty() {
                return Err(mount_err("bind", "field Source must not be empty"));
            }
            if !source.starts_with('/') {
                return Err(mount_err(
                    "bind",
                    format!("invalid mount path: '{source}' mount path must be absolute"),
                ));
            }
            if dest == Path::new("/") {
                return Err(mount_err(
                    "bind",
                    "invalid specification: destination can't be '/'",
                ));
            }
            // Unlike Binds, the Mounts API never creates a missing source.
            if std::fs::symlink_metadata(source).is_err() {
                return Err(mount_err(
                    "bind",
                    format!("bind source path does not exist: {source}"),
                ));
            }
            let opts = m.bind_options.as_ref();
            let propagation = match opts.and_then(|o| o.propagation) {
                None | Some(Prop::EMPTY) => "rprivate".to_string(),
                Some(p) => p.to_string(),
            };
            note_propagation(root_prop, &propagation);
            let b = Bind {
                source: clean_abs(source),
                dest: dest.clone(),
                read_only,
                propagation,
                recursive: !opts.and_then(|o| o.non_recursive).unwrap_or(false),
            };
            Ok((dest, bind_mount(&b)))
        }
        Some(MountType::TMPFS) => {
            if !source.is_empty() {
                return Err(mount_err("tmpfs", "field Source must not be specified"));
            }
            let mut opts = Vec::new();
            if read_only {
                opts.push("ro".to_string());
            }
            if let Some(t) = &m.tmpfs_options {
                if let Some(mode) = t.mode.filter(|m| *m != 0) {
                    opts.push(format!("mode={mode:o}"));
                }
                if let Some(size) = t.size_bytes.filter(|s| *s != 0) {
                    opts.push(format!("size={}", size_with_suffix(size)));
                }
                for kv in t.options.iter().flatten() {
                    match kv.as_slice() {
                        [k] => opts.push(k.clone()),
                        [k, v] => opts.push(format!("{k}={v}")),
                        _ => return Err(mount_err("tmpfs", format!("invalid option {kv:?}"))),
                    }
                }
            }
            let mnt = tmpfs_mount(&dest, &opts)?;
            Ok((dest, mnt))
        }
        Some(MountType::VOLUME) => Err(volumes_unsupported()),
        _ => Err(Error::not_implemented(format!(
            "mount type \"{typ}\" is not supported"
        ))),
    }
}

/// moby writes the largest unit that divides the size evenly.
fn size_with_suffix(size: i64) -> String {
    for (suffix, div) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if size % div == 0 {
            return format!("{}{suffix}", size / div);
        }
    }
    size.to_string()
}

fn tmpfs_mount(dest: &Path, user_opts: &[String]) -> Result<Mount> {
    let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
        .map(String::from)
        .to_vec();
    opts.extend(user_opts.iter().cloned());
    let merged = merge_tmpfs_options(&opts)?;
    let refs: Vec<&str> = merged.iter().map(String::as_str).collect();
    Ok(mount(
        dest.to_str().unwrap_or_default(),
        "tmpfs",
        "tmpfs",
        &refs,
    ))
}

/// Which flag an option sets, so a later "exec" replaces the default "noexec".
fn flag_group(opt: &str) -> Option<&'static str> {
    Some(match opt {
        "ro" | "rw" => "rdonly",
        "suid" | "nosuid" => "nosuid",
        "dev" | "nodev" => "nodev",
        "exec" | "noexec" => "noexec",
        "sync" | "async" => "sync",
        "dirsync" => "dirsync",
        "remount" => "remount",
        "mand" | "nomand" => "mand",
        "atime" | "noatime" => "noatime",
        "diratime" | "nodiratime" => "nodiratime",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        "bind" | "rbind" => "bind",
        "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
        | "runbindable" => "propagation",
        _ => return None,
    })
}

/// moby's `mount.MergeTmpfsOptions`: the last of each flag or key wins.
pub(super) fn merge_tmpfs_options(opts: &[String]) -> Result<Vec<String>> {
    const DATA_KEYS: [&str; 7] = [
        "size",
        "mode",
        "uid",
        "gid",
        "nr_inodes",
        "nr_blocks",
        "mpol",
    ];
    let mut seen: HashSet<String> = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for opt in opts.iter().rev() {
        if opt == "defaults" {
            continue;
        }
        let key = match flag_group(opt) {
            Some(g) => format!("flag:{g}"),
            None => match opt.split_once('=') {
                Some((k, _)) if DATA_KEYS.contains(&k) => format!("data:{k}"),
                _ => {
                    let shown: Vec<&str> = opt.splitn(2, '=').collect();
                    return Err(Error::invalid(format!("invalid tmpfs option {shown:?}")));
                }
            },
        };
        if seen.insert(key) {
            out.push(opt.clone());
        }
    }
    out.reverse();
    Ok(out)
}
