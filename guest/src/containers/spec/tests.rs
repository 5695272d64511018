use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use bollard_stubs::models::{
    ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, Mount as ApiMount,
    MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType,
    ResourcesUlimits,
};
use oci_spec::runtime::{Capability, LinuxNamespaceType, Mount, PosixRlimitType, Spec};
use serde_json::json;

use super::*;
use crate::errdefs::Kind;

struct TempRoot(PathBuf);

impl TempRoot {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "berth-spec-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n\
             # a comment\n\
             daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             app:x:1000:1000:App:/home/app:/bin/sh\n\
             nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("etc/group"),
            "root:x:0:\n\
             daemon:x:1:\n\
             wheel:x:10:root,app\n\
             audio:x:29:app\n\
             app:x:1000:\n\
             staff:x:50:\n",
        )
        .unwrap();
        TempRoot(dir)
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bits 0..=40 except CAP_SYS_RESOURCE (24), like this host's CapBnd.
fn fake_bounding() -> std::io::Result<u64> {
    Ok(((1u64 << 41) - 1) & !(1 << 24))
}

fn failing_bounding() -> std::io::Result<u64> {
    Err(std::io::Error::other("must not be read"))
}

fn fake_devices() -> std::io::Result<Vec<oci_spec::runtime::LinuxDevice>> {
    let mut kmsg = oci_spec::runtime::LinuxDevice::default();
    kmsg.set_path(PathBuf::from("/dev/kmsg"));
    kmsg.set_typ(oci_spec::runtime::LinuxDeviceType::C);
    kmsg.set_major(1);
    kmsg.set_minor(11);
    Ok(vec![kmsg])
}

fn failing_devices() -> std::io::Result<Vec<oci_spec::runtime::LinuxDevice>> {
    Err(std::io::Error::other("must not be read"))
}

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Case {
    root: TempRoot,
    cfg: ContainerCreateBody,
    image: serde_json::Value,
    netns: Option<PathBuf>,
    cgroup_v2: bool,
    ulimits: Vec<(String, i64, i64)>,
    resolv: PathBuf,
    init: Option<PathBuf>,
}

impl Case {
    fn new() -> Self {
        Case {
            root: TempRoot::new(),
            cfg: ContainerCreateBody {
                host_config: Some(HostConfig::default()),
                ..Default::default()
            },
            image: json!({"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]}),
            netns: None,
            cgroup_v2: false,
            ulimits: vec![("nofile".into(), 1024, 1024)],
            resolv: PathBuf::from("/var/lib/berth/containers/x/resolv.conf"),
            init: None,
        }
    }
    fn hc(&mut self) -> &mut HostConfig {
        self.cfg.host_config.as_mut().unwrap()
    }
    fn build(&self) -> crate::errdefs::Result<Spec> {
        build_with_devices(
            &SpecInput {
                config: &self.cfg,
                image_config: &self.image,
                rootfs: &self.root.0,
                hostname: "0123456789ab",
                etc_files: EtcFiles {
                    resolv_conf: Some(&self.resolv),
                    hosts: Some(Path::new("/var/lib/berth/containers/x/hosts")),
                    hostname: Some(Path::new("/var/lib/berth/containers/x/hostname")),
                },
                cgroups_path: format!("/berth/{ID}"),
                netns: self.netns.as_deref(),
                seccomp: Some(Default::default()),
                default_ulimits: &self.ulimits,
                cgroup_v2: self.cgroup_v2,
                bounding_set: failing_bounding,
                init: self.init.as_deref(),
            },
            failing_devices,
        )
    }
    fn build_with(&self, bounding: fn() -> std::io::Result<u64>) -> crate::errdefs::Result<Spec> {
        build_with_devices(
            &SpecInput {
                config: &self.cfg,
                image_config: &self.image,
                rootfs: &self.root.0,
                hostname: "0123456789ab",
                etc_files: EtcFiles::default(),
                cgroups_path: format!("/berth/{ID}"),
                netns: None,
                seccomp: Some(Default::default()),
                default_ulimits: &[],
                cgroup_v2: false,
                bounding_set: bounding,
                init: None,
            },
            fake_devices,
        )
    }
    fn err(&self) -> crate::errdefs::Error {
        self.build().expect_err("expected an error")
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn args(spec: &Spec) -> Vec<String> {
    spec.process().as_ref().unwrap().args().clone().unwrap()
}

fn env(spec: &Spec) -> Vec<String> {
    spec.process().as_ref().unwrap().env().clone().unwrap()
}

fn mount_at<'a>(spec: &'a Spec, dest: &str) -> Option<&'a Mount> {
    spec.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == Path::new(dest))
}

fn opts(m: &Mount) -> Vec<String> {
    m.options().clone().unwrap_or_default()
}

fn ns_types(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
    spec.linux()
        .as_ref()
        .unwrap()
        .namespaces()
        .clone()
        .unwrap()
        .iter()
        .map(|n| (n.typ(), n.path().clone()))
        .collect()
}

#[test]
fn entrypoint_and_cmd_table() {
    // (image Entrypoint, image Cmd, client Entrypoint, client Cmd, expected args or None = error)
    type L = Option<&'static [&'static str]>;
    type Row = (L, L, L, L, L);
    let table: &[Row] = &[
        (None, Some(&["sh"]), None, None, Some(&["sh"])),
        (
            Some(&["/ep"]),
            Some(&["a"]),
            None,
            None,
            Some(&["/ep", "a"]),
        ),
        (
            Some(&["/ep"]),
            Some(&["a"]),
            None,
            Some(&["b"]),
            Some(&["/ep", "b"]),
        ),
        // --entrypoint drops the image Cmd
        (
            Some(&["/ep"]),
            Some(&["a"]),
            Some(&["/x"]),
            None,
            Some(&["/x"]),
        ),
        (
            Some(&["/ep"]),
            Some(&["a"]),
            Some(&["/x"]),
            Some(&["b"]),
            Some(&["/x", "b"]),
        ),
        // --entrypoint "" clears the entrypoint and the image Cmd
        (
            Some(&["/ep"]),
            Some(&["a"]),
            Some(&[""]),
            Some(&["b"]),
            Some(&["b"]),
        ),
        (Some(&["/ep"]), Some(&["a"]), Some(&[""]), None, None),
        // an explicit empty list keeps the image Cmd but not its Entrypoint
        (Some(&["/ep"]), Some(&["a"]), Some(&[]), None, Some(&["a"])),
        (None, None, None, None, None),
        (None, None, None, Some(&["true"]), Some(&["true"])),
    ];
    for (i, (iep, icmd, cep, ccmd, want)) in table.iter().enumerate() {
        let mut c = Case::new();
        c.image = json!({"Entrypoint": iep, "Cmd": icmd});
        c.cfg.entrypoint = cep.map(strs);
        c.cfg.cmd = ccmd.map(strs);
        match want {
            Some(w) => assert_eq!(args(&c.build().unwrap()), strs(w), "case {i}"),
            None => {
                let e = c.err();
                assert_eq!(e.message, "no command specified", "case {i}");
                assert_eq!(e.kind, Kind::InvalidParameter);
            }
        }
    }
}

#[test]
fn env_merge() {
    let mut c = Case::new();
    c.cfg.env = Some(strs(&["LANG=fr_FR", "EXTRA=1"]));
    let e = env(&c.build().unwrap());
    assert_eq!(
        e,
        strs(&[
            "PATH=/usr/bin:/bin",
            "HOSTNAME=0123456789ab",
            "LANG=fr_FR",
            "EXTRA=1",
            "HOME=/root"
        ])
    );

    // no PATH anywhere: the default; Tty adds TERM; a name without = unsets it
    let mut c = Case::new();
    c.image = json!({"Cmd": ["sh"], "Env": ["FOO=bar"]});
    c.cfg.tty = Some(true);
    c.cfg.env = Some(strs(&["FOO", "HOME=/srv"]));
    let e = env(&c.build().unwrap());
    assert_eq!(
        e,
        strs(&[
            &format!("PATH={}", process::DEFAULT_PATH),
            "HOSTNAME=0123456789ab",
            "TERM=xterm",
            "HOME=/srv"
        ])
    );
}

#[test]
fn working_dir() {
    let mut c = Case::new();
    assert_eq!(
        c.build().unwrap().process().as_ref().unwrap().cwd(),
        Path::new("/")
    );
    c.image["WorkingDir"] = json!("/app");
    assert_eq!(
        c.build().unwrap().process().as_ref().unwrap().cwd(),
        Path::new("/app")
    );
    c.cfg.working_dir = Some("/srv/../data/".into());
    assert_eq!(
        c.build().unwrap().process().as_ref().unwrap().cwd(),
        Path::new("/data")
    );
    c.cfg.working_dir = Some("rel".into());
    assert_eq!(
        c.err().message,
        "the working directory 'rel' is invalid, it needs to be an absolute path"
    );
}

fn user_of(c: &Case) -> (u32, u32, Vec<u32>, String) {
    let spec = c.build().unwrap();
    let p = spec.process().as_ref().unwrap();
    let home = env(&spec)
        .into_iter()
        .find_map(|e| e.strip_prefix("HOME=").map(String::from))
        .unwrap();
    (
        p.user().uid(),
        p.user().gid(),
        p.user().additional_gids().clone().unwrap_or_default(),
        home,
    )
}

#[test]
fn user_resolution() {
    type Want = (u32, u32, &'static [u32], &'static str);
    let cases: &[(&str, Want)] = &[
        // moby puts the primary group first among the supplementary ones.
        ("", (0, 0, &[0, 10], "/root")),
        ("app", (1000, 1000, &[1000, 10, 29], "/home/app")),
        ("1000", (1000, 1000, &[1000, 10, 29], "/home/app")),
        ("4242", (4242, 0, &[0], "/")),
        ("app:staff", (1000, 50, &[50], "/home/app")),
        ("1000:50", (1000, 50, &[50], "/home/app")),
        ("app:777", (1000, 777, &[777], "/home/app")),
        ("4242:4343", (4242, 4343, &[4343], "/")),
        ("daemon", (1, 1, &[1], "/usr/sbin")),
    ];
    for (spec, (uid, gid, groups, home)) in cases {
        let mut c = Case::new();
        c.cfg.user = Some(spec.to_string());
        assert_eq!(
            user_of(&c),
            (*uid, *gid, groups.to_vec(), home.to_string()),
            "user {spec:?}"
        );
    }

    // the image's User applies when the client gives none
    let mut c = Case::new();
    c.image["User"] = json!("nobody");
    assert_eq!(user_of(&c).0, 65534);

    // GroupAdd: names and numbers
    let mut c = Case::new();
    c.cfg.user = Some("app".into());
    c.hc().group_add = Some(strs(&["staff", "1234", "audio"]));
    assert_eq!(user_of(&c).2, vec![1000, 10, 29, 50, 1234]);
}

#[test]
fn user_errors() {
    let mut c = Case::new();
    c.cfg.user = Some("ghost".into());
    let e = c.err();
    assert_eq!(e.kind, Kind::InvalidParameter);
    assert_eq!(
        e.message,
        "unable to find user ghost: no matching entries in passwd file"
    );

    c.cfg.user = Some("app:ghosts".into());
    assert_eq!(
        c.err().message,
        "unable to find group ghosts: no matching entries in group file"
    );

    c.cfg.user = Some("-1".into());
    assert_eq!(
        c.err().message,
        "uids and gids must be in range 0-2147483647"
    );

    c.cfg.user = None;
    c.hc().group_add = Some(strs(&["nogroup"]));
    assert_eq!(
        c.err().message,
        "Unable to find group nogroup: no matching entries in group file"
    );
}

#[test]
fn passwd_symlink_stays_in_rootfs() {
    let c = Case::new();
    let etc = c.root.0.join("etc");
    std::fs::remove_file(etc.join("passwd")).unwrap();
    std::fs::create_dir_all(c.root.0.join("lib")).unwrap();
    std::fs::write(c.root.0.join("lib/passwd"), "svc:x:7:7::/svc:/bin/sh\n").unwrap();
    // absolute: must resolve to <rootfs>/lib/passwd, not the host's /lib/passwd
    std::os::unix::fs::symlink("/lib/passwd", etc.join("passwd")).unwrap();
    let mut c = c;
    c.cfg.user = Some("svc".into());
    assert_eq!(user_of(&c).0, 7);

    // no passwd at all: numeric users still work, names do not
    std::fs::remove_file(c.root.0.join("lib/passwd")).unwrap();
    c.cfg.user = Some("55".into());
    assert_eq!(user_of(&c).0, 55);
    c.cfg.user = Some("svc".into());
    assert!(c.err().message.starts_with("unable to find user svc"));
}

fn caps(spec: &Spec) -> (Vec<Capability>, bool) {
    let c = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    let mut b: Vec<Capability> = c.bounding().clone().unwrap().into_iter().collect();
    b.sort_by_key(|c| c.to_string());
    let same = c.effective() == c.bounding()
        && c.permitted() == c.bounding()
        && c.inheritable().as_ref().unwrap().is_empty()
        && c.ambient().as_ref().unwrap().is_empty();
    (b, same)
}

fn sorted(v: &[Capability]) -> Vec<Capability> {
    let mut v = v.to_vec();
    v.sort_by_key(|c| c.to_string());
    v
}

#[test]
fn capabilities_default_add_drop() {
    let mut c = Case::new();
    let (got, same) = caps(&c.build().unwrap());
    assert!(same);
    assert_eq!(got, sorted(&caps::DEFAULT));

    c.hc().cap_add = Some(strs(&["net_admin", "CAP_SYS_PTRACE"]));
    c.hc().cap_drop = Some(strs(&["mknod", "Cap_Net_Raw"]));
    let (got, _) = caps(&c.build().unwrap());
    let mut want: Vec<Capability> = caps::DEFAULT
        .iter()
        .copied()
        .filter(|c| *c != Capability::Mknod && *c != Capability::NetRaw)
        .collect();
    want.extend([Capability::NetAdmin, Capability::SysPtrace]);
    assert_eq!(got, sorted(&want));

    // drop ALL: only the added ones
    c.hc().cap_add = Some(strs(&["chown"]));
    c.hc().cap_drop = Some(strs(&["all"]));
    assert_eq!(caps(&c.build().unwrap()).0, vec![Capability::Chown]);

    c.hc().cap_add = Some(strs(&["foo"]));
    let e = c.err();
    assert_eq!(e.message, "invalid CapAdd: unknown capability: \"CAP_FOO\"");
    assert_eq!(e.kind, Kind::InvalidParameter);
    c.hc().cap_add = None;
    c.hc().cap_drop = Some(strs(&["CAP_BAR"]));
    assert_eq!(
        c.err().message,
        "invalid CapDrop: unknown capability: \"CAP_BAR\""
    );
}

#[test]
fn capabilities_all_and_privileged_use_bounding_set() {
    let mut c = Case::new();
    c.hc().cap_add = Some(strs(&["ALL"]));
    c.hc().cap_drop = Some(strs(&["SYS_ADMIN"]));
    let (got, same) = caps(&c.build_with(fake_bounding).unwrap());
    assert!(same);
    assert_eq!(got.len(), 39);
    assert!(!got.contains(&Capability::SysResource));
    assert!(!got.contains(&Capability::SysAdmin));

    let mut c = Case::new();
    c.hc().privileged = Some(true);
    c.hc().cap_drop = Some(strs(&["CHOWN"])); // ignored, as by dockerd
    let (got, _) = caps(&c.build_with(fake_bounding).unwrap());
    assert_eq!(got.len(), 40);
    assert!(got.contains(&Capability::SysAdmin));
    assert!(!got.contains(&Capability::SysResource));
    assert!(got.contains(&Capability::Chown));
}

#[test]
fn host_bounding_set_reads_proc() {
    let mask = host_bounding_set().unwrap();
    assert_ne!(mask, 0);
}

#[test]
fn default_mounts() {
    let c = Case::new();
    let spec = c.build().unwrap();
    let dests: Vec<String> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect();
    assert_eq!(
        dests,
        strs(&[
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm",
            "/etc/resolv.conf",
            "/etc/hostname",
            "/etc/hosts"
        ])
    );
    let dev = mount_at(&spec, "/dev").unwrap();
    assert!(opts(dev).contains(&"mode=755".into()) && opts(dev).contains(&"size=65536k".into()));
    let pts = opts(mount_at(&spec, "/dev/pts").unwrap());
    for o in ["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] {
        assert!(pts.contains(&o.to_string()), "{o}");
    }
    assert!(opts(mount_at(&spec, "/dev/shm").unwrap()).contains(&format!("size={}", 64 << 20)));
    assert!(opts(mount_at(&spec, "/sys").unwrap()).contains(&"ro".into()));
    let cg = mount_at(&spec, "/sys/fs/cgroup").unwrap();
    assert_eq!(cg.typ().as_deref(), Some("cgroup"));
    assert!(opts(cg).contains(&"ro".into()));
    let resolv = mount_at(&spec, "/etc/resolv.conf").unwrap();
    assert_eq!(resolv.source().as_deref(), Some(c.resolv.as_path()));
    assert_eq!(opts(resolv), strs(&["rbind", "rprivate"]));
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(false));
    assert_eq!(spec.root().as_ref().unwrap().path(), &c.root.0);
}

#[test]
fn shm_size_and_ipc_none() {
    let mut c = Case::new();
    c.hc().shm_size = Some(128 << 20);
    let spec = c.build().unwrap();
    assert!(opts(mount_at(&spec, "/dev/shm").unwrap()).contains(&"size=134217728".into()));
    c.hc().shm_size = Some(-1);
    assert_eq!(c.err().message, "SHM size can not be less than 0");
    c.hc().shm_size = None;
    c.hc().ipc_mode = Some("none".into());
    assert!(mount_at(&c.build().unwrap(), "/dev/shm").is_none());
    c.hc().ipc_mode = Some("host".into());
    assert_eq!(c.err().kind, Kind::NotImplemented);
}

#[test]
fn readonly_rootfs() {
    let mut c = Case::new();
    c.hc().readonly_rootfs = Some(true);
    let spec = c.build().unwrap();
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    assert!(opts(mount_at(&spec, "/etc/hosts").unwrap()).contains(&"ro".into()));
}

#[test]
fn tmpfs_options() {
    let mut c = Case::new();
    c.hc().tmpfs = Some(HashMap::from([
        ("/run".to_string(), "size=64m,mode=1777".to_string()),
        ("/tmp".to_string(), "exec,size=1g,size=2g".to_string()),
        ("/cache".to_string(), String::new()),
    ]));
    let spec = c.build().unwrap();
    let run = mount_at(&spec, "/run").unwrap();
    assert_eq!(run.typ().as_deref(), Some("tmpfs"));
    assert_eq!(
        opts(run),
        strs(&[
            "noexec",
            "nosuid",
            "nodev",
            "rprivate",
            "size=64m",
            "mode=1777"
        ])
    );
    assert_eq!(
        opts(mount_at(&spec, "/tmp").unwrap()),
        strs(&["nosuid", "nodev", "rprivate", "exec", "size=2g"])
    );
    assert_eq!(
        opts(mount_at(&spec, "/cache").unwrap()),
        strs(&["noexec", "nosuid", "nodev", "rprivate"])
    );

    c.hc().tmpfs = Some(HashMap::from([("/x".to_string(), "bogus".to_string())]));
    assert_eq!(c.err().message, "invalid tmpfs option [\"bogus\"]");

    // user tmpfs over /dev/shm replaces the default one
    c.hc().tmpfs = Some(HashMap::from([(
        "/dev/shm".to_string(),
        "size=1m".to_string(),
    )]));
    let spec = c.build().unwrap();
    let shm: Vec<_> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|m| m.destination() == Path::new("/dev/shm"))
        .collect();
    assert_eq!(shm.len(), 1);
    assert!(opts(shm[0]).contains(&"size=1m".into()));
}

#[test]
fn binds() {
    let mut c = Case::new();
    c.hc().binds = Some(strs(&[
        "/srv/data:/data:ro",
        "/srv/a/b:/data/sub",
        "/srv/logs:/logs:rw,rslave",
        "/srv/conf:/etc/hosts",
    ]));
    let spec = c.build().unwrap();
    let data = mount_at(&spec, "/data").unwrap();
    assert_eq!(data.typ().as_deref(), Some("bind"));
    assert_eq!(data.source().as_deref(), Some(Path::new("/srv/data")));
    assert_eq!(opts(data), strs(&["rbind", "ro", "rprivate"]));
    assert_eq!(
        opts(mount_at(&spec, "/logs").unwrap()),
        strs(&["rbind", "rslave"])
    );
    assert_eq!(
        spec.linux()
            .as_ref()
            .unwrap()
            .rootfs_propagation()
            .as_deref(),
        Some("slave")
    );
    // the user's /etc/hosts wins over the generated one
    assert_eq!(
        mount_at(&spec, "/etc/hosts").unwrap().source().as_deref(),
        Some(Path::new("/srv/conf"))
    );
    // parents before children
    let dests: Vec<PathBuf> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().clone())
        .collect();
    let pos = |d: &str| dests.iter().position(|x| x == Path::new(d)).unwrap();
    assert!(pos("/data") < pos("/data/sub"));

    for (bind, msg) in [
        ("/a:/b:bogus", "invalid mode: bogus"),
        ("/a:/b:c:d", "invalid volume specification: '/a:/b:c:d'"),
        ("/a:/", "invalid specification: destination can't be '/'"),
        ("myvol:/data", "named volumes are not supported yet"),
        ("/data", "named volumes are not supported yet"),
    ] {
        c.hc().binds = Some(strs(&[bind]));
        assert_eq!(c.err().message, msg, "{bind}");
    }
    c.hc().binds = Some(strs(&["/a:/x", "/b:/x"]));
    assert_eq!(c.err().message, "Duplicate mount point: /x");
}

#[test]
fn api_mounts() {
    let src = TempRoot::new();
    let mut c = Case::new();
    c.hc().mounts = Some(vec![
        ApiMount {
            target: Some("/m".into()),
            source: Some(src.0.display().to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            bind_options: Some(MountBindOptions {
                propagation: Some(MountBindOptionsPropagationEnum::RSHARED),
                non_recursive: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        },
        ApiMount {
            target: Some("/t".into()),
            typ: Some(MountType::TMPFS),
            tmpfs_options: Some(MountTmpfsOptions {
                size_bytes: Some(3 << 20),
                mode: Some(0o700),
                options: Some(vec![strs(&["exec"])]),
            }),
            ..Default::default()
        },
    ]);
    let spec = c.build().unwrap();
    assert_eq!(
        opts(mount_at(&spec, "/m").unwrap()),
        strs(&["bind", "ro", "rshared"])
    );
    assert_eq!(
        spec.linux()
            .as_ref()
            .unwrap()
            .rootfs_propagation()
            .as_deref(),
        Some("shared")
    );
    assert_eq!(
        opts(mount_at(&spec, "/t").unwrap()),
        strs(&["nosuid", "nodev", "rprivate", "mode=700", "size=3m", "exec"])
    );

    c.hc().mounts = Some(vec![ApiMount {
        target: Some("/v".into()),
        source: Some("myvol".into()),
        typ: Some(MountType::VOLUME),
        ..Default::default()
    }]);
    let e = c.err();
    assert_eq!(e.message, "named volumes are not supported yet");
    assert_eq!(e.kind, Kind::NotImplemented);

    c.hc().mounts = Some(vec![ApiMount {
        target: Some("/m".into()),
        source: Some("/does/not/exist/berth".into()),
        typ: Some(MountType::BIND),
        ..Default::default()
    }]);
    assert_eq!(
        c.err().message,
        "invalid mount config for type \"bind\": bind source path does not exist: /does/not/exist/berth"
    );
}

fn resources(spec: &Spec) -> oci_spec::runtime::LinuxResources {
    spec.linux().as_ref().unwrap().resources().clone().unwrap()
}

#[test]
fn cpu_and_memory() {
    let mut c = Case::new();
    c.hc().nano_cpus = Some(1_500_000_000);
    c.hc().memory = Some(512 << 20);
    c.hc().memory_reservation = Some(256 << 20);
    c.hc().cpu_shares = Some(512);
    c.hc().cpuset_cpus = Some("0-1".into());
    let r = resources(&c.build().unwrap());
    let cpu = r.cpu().clone().unwrap();
    assert_eq!(cpu.quota(), Some(150_000));
    assert_eq!(cpu.period(), Some(100_000));
    assert_eq!(cpu.shares(), Some(512));
    assert_eq!(cpu.cpus().as_deref(), Some("0-1"));
    let mem = r.memory().unwrap();
    assert_eq!(mem.limit(), Some(512 << 20));
    assert_eq!(mem.swap(), Some(1024 << 20));
    assert_eq!(mem.reservation(), Some(256 << 20));

    c.hc().memory_swap = Some(-1);
    let mem = resources(&c.build().unwrap()).memory().unwrap();
    assert_eq!(mem.swap(), Some(-1));

    let mut c = Case::new();
    c.hc().cpu_quota = Some(50_000);
    c.hc().cpu_period = Some(200_000);
    let cpu = resources(&c.build().unwrap()).cpu().clone().unwrap();
    assert_eq!((cpu.quota(), cpu.period()), (Some(50_000), Some(200_000)));

    let none = Case::new();
    let r = resources(&none.build().unwrap());
    assert!(r.cpu().is_none() && r.memory().is_none() && r.pids().is_none());

    for (f, msg) in [
        (
            (|h: &mut HostConfig| {
                h.nano_cpus = Some(1);
                h.cpu_quota = Some(2000);
            }) as fn(&mut HostConfig),
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        (
            |h| h.memory = Some(1 << 20),
            "Minimum memory limit allowed is 6MB",
        ),
        (
            |h| {
                h.memory = Some(64 << 20);
                h.memory_swap = Some(32 << 20);
            },
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            |h| h.memory_swap = Some(64 << 20),
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ),
        (
            |h| h.blkio_weight = Some(5),
            "Range of blkio weight is from 10 to 1000",
        ),
        (
            |h| h.cpuset_cpus = Some("0-x".into()),
            "Invalid value 0-x for cpuset cpus",
        ),
        (
            |h| h.oom_score_adj = Some(2000),
            "Invalid value 2000, range for oom score adj is [-1000, 1000]",
        ),
    ] {
        let mut c = Case::new();
        f(c.hc());
        assert_eq!(c.err().message, msg);
    }
}

#[test]
fn pids_limit() {
    for (given, want) in [
        (Some(100), Some(100)),
        (Some(0), None),
        (Some(-1), None),
        (None, None),
    ] {
        let mut c = Case::new();
        c.hc().pids_limit = given;
        let got = resources(&c.build().unwrap()).pids().map(|p| p.limit());
        assert_eq!(got, want, "{given:?}");
    }
}

#[test]
fn ulimits_and_oom_score() {
    let mut c = Case::new();
    c.ulimits.push(("nproc".into(), 100, 200));
    c.hc().ulimits = Some(vec![
        ResourcesUlimits {
            name: Some("nofile".into()),
            soft: Some(4096),
            hard: Some(8192),
        },
        ResourcesUlimits {
            name: Some("core".into()),
            soft: Some(-1),
            hard: Some(-1),
        },
    ]);
    c.hc().oom_score_adj = Some(-500);
    let spec = c.build().unwrap();
    let p = spec.process().as_ref().unwrap();
    let rl: Vec<(PosixRlimitType, u64, u64)> = p
        .rlimits()
        .clone()
        .unwrap()
        .iter()
        .map(|r| (r.typ(), r.soft(), r.hard()))
        .collect();
    assert_eq!(
        rl,
        vec![
            (PosixRlimitType::RlimitNofile, 4096, 8192),
            (PosixRlimitType::RlimitCore, u64::MAX, u64::MAX),
            (PosixRlimitType::RlimitNproc, 100, 200),
        ]
    );
    assert_eq!(p.oom_score_adj(), Some(-500));

    c.hc().ulimits = Some(vec![ResourcesUlimits {
        name: Some("nofile".into()),
        soft: Some(10),
        hard: Some(5),
    }]);
    assert_eq!(
        c.err().message,
        "ulimit soft limit must be less than or equal to hard limit: 10 > 5"
    );
    c.hc().ulimits = Some(vec![ResourcesUlimits {
        name: Some("bogus".into()),
        soft: Some(1),
        hard: Some(1),
    }]);
    assert_eq!(c.err().message, "invalid ulimit type: bogus");
}

#[test]
fn sysctl_validation() {
    let mut c = Case::new();
    c.hc().sysctls = Some(HashMap::from([
        ("net.ipv4.ip_forward".to_string(), "1".to_string()),
        ("kernel.shmmax".to_string(), "1000".to_string()),
        ("fs.mqueue.msg_max".to_string(), "20".to_string()),
    ]));
    let spec = c.build().unwrap();
    assert_eq!(
        spec.linux()
            .as_ref()
            .unwrap()
            .sysctl()
            .as_ref()
            .unwrap()
            .len(),
        3
    );

    c.hc().network_mode = Some("host".into());
    assert_eq!(
        c.err().message,
        "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"
    );

    let mut c = Case::new();
    c.hc().sysctls = Some(HashMap::from([(
        "vm.swappiness".to_string(),
        "1".to_string(),
    )]));
    assert_eq!(
        c.err().message,
        "sysctl \"vm.swappiness\" is not in a separate kernel namespace"
    );
}

#[test]
fn namespaces_per_network_mode() {
    use LinuxNamespaceType::*;
    let c = Case::new();
    let spec = c.build().unwrap();
    assert_eq!(
        ns_types(&spec),
        vec![
            (Mount, None),
            (Network, None),
            (Uts, None),
            (Pid, None),
            (Ipc, None)
        ]
    );
    assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));

    let mut c = Case::new();
    c.netns = Some(PathBuf::from("/run/berth/netns/abc"));
    assert!(ns_types(&c.build().unwrap())
        .contains(&(Network, Some(PathBuf::from("/run/berth/netns/abc")))));

    let mut c = Case::new();
    c.hc().network_mode = Some("host".into());
    c.netns = Some(PathBuf::from("/ignored"));
    assert!(!ns_types(&c.build().unwrap())
        .iter()
        .any(|(t, _)| *t == Network));

    let mut c = Case::new();
    c.hc().network_mode = Some("none".into());
    assert!(ns_types(&c.build().unwrap()).contains(&(Network, None)));

    // cgroup namespace: private by default on v2 only, or when asked
    let mut c = Case::new();
    assert!(!ns_types(&c.build().unwrap())
        .iter()
        .any(|(t, _)| *t == Cgroup));
    c.cgroup_v2 = true;
    assert!(ns_types(&c.build().unwrap()).contains(&(Cgroup, None)));
    c.hc().cgroupns_mode = Some(HostConfigCgroupnsModeEnum::HOST);
    assert!(!ns_types(&c.build().unwrap())
        .iter()
        .any(|(t, _)| *t == Cgroup));
    c.cgroup_v2 = false;
    c.hc().cgroupns_mode = Some(HostConfigCgroupnsModeEnum::PRIVATE);
    assert!(ns_types(&c.build().unwrap()).contains(&(Cgroup, None)));

    let mut c = Case::new();
    c.hc().pid_mode = Some("host".into());
    c.hc().uts_mode = Some("host".into());
    let spec = c.build().unwrap();
    assert!(!ns_types(&spec).iter().any(|(t, _)| *t == Pid || *t == Uts));
    assert!(spec.hostname().is_none());
}

#[test]
fn privileged_unmasks_and_opens_devices() {
    let c = Case::new();
    let spec = c.build().unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux
        .masked_paths()
        .as_ref()
        .unwrap()
        .contains(&"/proc/kcore".to_string()));
    assert!(linux
        .readonly_paths()
        .as_ref()
        .unwrap()
        .contains(&"/proc/sys".to_string()));
    assert!(linux.seccomp().is_some());
    let devs = linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    assert!(!devs[0].allow() && devs[0].typ().is_none());
    assert!(devs
        .iter()
        .any(|d| d.allow() && d.major() == Some(1) && d.minor() == Some(3)));
    assert_eq!(linux.devices().as_deref(), Some(&[][..]));

    let mut c = Case::new();
    c.hc().privileged = Some(true);
    let spec = c.build_with(fake_bounding).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux.masked_paths().as_ref().unwrap().is_empty());
    assert!(linux.readonly_paths().as_ref().unwrap().is_empty());
    assert!(linux.seccomp().is_none());
    let devs = linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    assert_eq!(devs.len(), 1);
    assert!(devs[0].allow());
    assert!(opts(mount_at(&spec, "/sys").unwrap()).contains(&"rw".into()));
    // the host's device nodes
    assert_eq!(linux.devices().clone().unwrap(), fake_devices().unwrap());
}

#[test]
fn security_opts() {
    let mut c = Case::new();
    assert_eq!(
        c.build()
            .unwrap()
            .process()
            .as_ref()
            .unwrap()
            .no_new_privileges(),
        Some(false)
    );
    for (opt, nnp) in [
        ("no-new-privileges", true),
        ("no-new-privileges:true", true),
        ("no-new-privileges=false", false),
    ] {
        c.hc().security_opt = Some(strs(&[opt]));
        let spec = c.build().unwrap();
        assert_eq!(
            spec.process().as_ref().unwrap().no_new_privileges(),
            Some(nnp),
            "{opt}"
        );
    }
    c.hc().security_opt = Some(strs(&["seccomp=unconfined"]));
    assert!(c
        .build()
        .unwrap()
        .linux()
        .as_ref()
        .unwrap()
        .seccomp()
        .is_none());
    c.hc().security_opt = Some(strs(&["bogus"]));
    assert_eq!(c.err().message, "invalid --security-opt 1: \"bogus\"");
    c.hc().security_opt = Some(strs(&["no-new-privileges=maybe"]));
    assert_eq!(
        c.err().message,
        "invalid --security-opt 2: \"no-new-privileges=maybe\""
    );
}

#[test]
fn device_cgroup_rules() {
    let mut c = Case::new();
    c.hc().device_cgroup_rules = Some(strs(&["c 10:200 rwm"]));
    let devs = resources(&c.build().unwrap()).devices().clone().unwrap();
    let last = devs.last().unwrap();
    assert_eq!(
        (last.major(), last.minor(), last.access().as_deref()),
        (Some(10), Some(200), Some("rwm"))
    );
    c.hc().device_cgroup_rules = Some(strs(&["x 1:2 rwm"]));
    assert_eq!(c.err().message, "invalid device cgroup format 'x 1:2 rwm'");
}

#[test]
fn serialises_and_parses_back() {
    let mut c = Case::new();
    c.cfg.tty = Some(true);
    c.hc().console_size = Some(vec![24, 80]);
    c.hc().memory = Some(64 << 20);
    c.hc().binds = Some(strs(&["/srv:/srv:ro"]));
    c.hc().sysctls = Some(HashMap::from([(
        "net.core.somaxconn".into(),
        "1024".into(),
    )]));
    let spec = c.build().unwrap();
    let text = serde_json::to_string_pretty(&spec).unwrap();
    let back: Spec = serde_json::from_str(&text).unwrap();
    assert_eq!(back, spec);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ociVersion"], "1.1.0");
    assert_eq!(v["linux"]["cgroupsPath"], format!("/berth/{ID}"));
    assert_eq!(v["process"]["consoleSize"]["width"], 80);
    assert_eq!(v["process"]["terminal"], true);
}

#[test]
fn init_runs_in_front_of_the_command_from_a_read_only_mount() {
    let mut c = Case::new();
    c.image = json!({"Entrypoint": ["/ep"], "Cmd": ["a", "b"]});
    let spec = c.build().unwrap();
    assert_eq!(args(&spec), strs(&["/ep", "a", "b"]));
    assert!(mount_at(&spec, "/sbin/docker-init").is_none());

    c.init = Some(PathBuf::from("/usr/libexec/berth/berth-container-init"));
    let spec = c.build().unwrap();
    assert_eq!(
        args(&spec),
        strs(&["/sbin/docker-init", "--", "/ep", "a", "b"])
    );
    let m = mount_at(&spec, "/sbin/docker-init").unwrap();
    assert_eq!(m.typ().as_deref(), Some("bind"));
    assert_eq!(
        m.source().as_deref(),
        Some(Path::new("/usr/libexec/berth/berth-container-init"))
    );
    assert_eq!(opts(m), strs(&["bind", "ro"]));
    // With dockerd's defaults, before the container's own mounts.
    let dests: Vec<_> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().to_str().unwrap().to_string())
        .collect();
    let init_at = dests.iter().position(|d| d == "/sbin/docker-init").unwrap();
    let resolv_at = dests.iter().position(|d| d == "/etc/resolv.conf").unwrap();
    assert!(init_at < resolv_at, "{dests:?}");

    // A bind on the same path replaces it, as in moby.
    c.hc().binds = Some(strs(&["/opt/tini:/sbin/docker-init:ro"]));
    let spec = c.build().unwrap();
    let m = mount_at(&spec, "/sbin/docker-init").unwrap();
    assert_eq!(m.source().as_deref(), Some(Path::new("/opt/tini")));
    let count = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|m| m.destination() == Path::new("/sbin/docker-init"))
        .count();
    assert_eq!(count, 1);
}

#[test]
fn init_is_the_container_s_choice_else_the_daemon_s() {
    // (HostConfig.Init, daemon "init", PidMode, runs an init)
    let table: &[(Option<bool>, bool, Option<&str>, bool)] = &[
        (None, false, None, false),
        (None, true, None, true),
        (Some(true), false, None, true),
        (Some(false), true, None, false),
        (Some(true), false, Some("private"), true),
        // In the host's PID namespace, PID 1 is the host's own.
        (Some(true), false, Some("host"), false),
        (None, true, Some("host"), false),
        (Some(true), true, Some("container:other"), false),
    ];
    for &(init, default, pid_mode, want) in table {
        let cfg = ContainerCreateBody {
            host_config: Some(HostConfig {
                init,
                pid_mode: pid_mode.map(String::from),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            wants_init(&cfg, default),
            want,
            "{init:?} {default} {pid_mode:?}"
        );
    }
    assert!(wants_init(&ContainerCreateBody::default(), true));
    assert!(!wants_init(&ContainerCreateBody::default(), false));
}

#[test]
fn validate_makes_the_create_time_checks() {
    let mut c = Case::new();
    assert!(validate(&c.cfg).is_ok());
    c.hc().memory = Some(1 << 20);
    assert_eq!(
        validate(&c.cfg).unwrap_err().message,
        "Minimum memory limit allowed is 6MB"
    );
    let mut c = Case::new();
    c.hc().security_opt = Some(strs(&["bogus=1"]));
    assert_eq!(
        validate(&c.cfg).unwrap_err().message,
        "invalid --security-opt 2: \"bogus=1\""
    );
    // capability names are checked for privileged containers too
    let mut c = Case::new();
    c.hc().privileged = Some(true);
    c.hc().cap_drop = Some(strs(&["nope"]));
    assert_eq!(
        validate(&c.cfg).unwrap_err().message,
        "invalid CapDrop: unknown capability: \"CAP_NOPE\""
    );
    let mut c = Case::new();
    c.hc().oom_score_adj = Some(1001);
    assert_eq!(validate(&c.cfg).unwrap_err().kind, Kind::InvalidParameter);
    // what needs the image (the command, the user) is left to build
    let mut c = Case::new();
    c.cfg.user = Some("ghost".into());
    c.image = json!({});
    assert!(validate(&c.cfg).is_ok());
}
