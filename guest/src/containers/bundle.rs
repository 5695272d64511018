//! A container's bundle, ready for the runtime: its root filesystem mounted
//! (overlayfs on the image's layers), its /etc/hostname, hosts and resolv.conf,
//! and `config.json` built from its configuration with the seccomp profile
//! its capabilities call for.

use std::path::{Path, PathBuf};

use bollard_stubs::models::ContainerCreateBody;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{LinuxSeccomp, Spec};
use serde_json::Value;

use super::record::Container;
use super::runtime;
use super::seccomp::{kernel_version, Profile};
use super::service::Containers;
use super::spec::{self, EtcFiles, SpecInput};
use crate::errdefs::{Error, Result};
use crate::fsutil::{ensure_dir, replace_derived};

pub struct Bundle {
    /// Holds `config.json`; the runtime's bundle path.
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    /// An init runs the command: the init, not the runtime, reports a command
    /// that cannot run (tini's message, exit 127), after a successful start.
    pub init: bool,
}

impl Containers {
    pub(super) fn bundle_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join("containers").join(id)
    }

    fn merged_dir(&self, c: &Container) -> PathBuf {
        self.images.overlay_root().join(&c.mount_id).join("merged")
    }

    /// Mounts the root filesystem and writes the bundle. Safe to call again.
    pub fn prepare(&self, c: &Container) -> Result<Bundle> {
        let rootfs = self.mount_rootfs(c)?;
        let files = self.store.dir(&c.id);
        let hostname = c.config["Hostname"]
            .as_str()
            .unwrap_or(&c.id[..12])
            .to_string();
        let etc = self.etc_inputs(c, &hostname);
        write_etc_files(&files, &etc)?;

        let netns = match self.net_mode(c)? {
            super::network::NetMode::Bridge(_) => Some(self.netns_path(&c.id)),
            super::network::NetMode::Join(p) => Some(p),
            _ => None,
        };
        let body = self.with_volumes_as_binds(c, create_body(c)?)?;
        let image_config = self.images.image_config(
            &crate::images::digest::Digest::parse(&c.image)
                .map_err(|e| Error::system(e.to_string()))?,
        )?;
        let (resolv, hosts, hostname_file) = (
            files.join("resolv.conf"),
            files.join("hosts"),
            files.join("hostname"),
        );
        let daemon = self.config.get();
        let init = if spec::wants_init(&body, daemon.init) {
            Some(init_binary(
                daemon.init_path.as_deref(),
                &default_init_locations(),
            )?)
        } else {
            None
        };
        let input = SpecInput {
            config: &body,
            image_config: &image_config["config"],
            rootfs: &rootfs,
            hostname: &hostname,
            etc_files: EtcFiles {
                resolv_conf: Some(&resolv),
                hosts: Some(&hosts),
                hostname: Some(&hostname_file),
            },
            cgroups_path: self.cgroups_path(c),
            netns: netns.as_deref(),
            seccomp: None,
            default_ulimits: &[],
            cgroup_v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            bounding_set: spec::host_bounding_set,
            init: init.as_deref(),
        };
        let mut spec = spec::build(&input)?;
        let mut own = vec![daemon.data_root.as_path(), self.exec_root.as_path()];
        own.extend(init.as_deref());
        self.stage_private_binds(&c.id, &mut spec, &own)?;
        let seccomp = seccomp_for(&spec, &c.host_config)?;
        if let Some(linux) = spec.linux_mut().as_mut() {
            linux.set_seccomp(seccomp);
        }
        let dir = self.bundle_dir(&c.id);
        ensure_dir(&dir, 0o700)?;
        runtime::write_config(&dir, &spec)?;
        Ok(Bundle {
            dir,
            rootfs,
            init: init.is_some(),
        })
    }

    /// Where the runtime puts the container's cgroups.
    pub fn cgroups_path(&self, c: &Container) -> String {
        format!(
            "/{}/{}",
            c.host_config["CgroupParent"]
                .as_str()
                .filter(|p| !p.is_empty())
                .unwrap_or(&self.cgroup_parent)
                .trim_matches('/'),
            c.id
        )
    }

    /// Unmounts the root filesystem and removes the bundle. Safe to call again.
    pub fn unprepare(&self, c: &Container) -> Result<()> {
        self.volumes.release(&c.id);
        self.release_private_binds(&c.id);
        let merged = self.merged_dir(c);
        if is_mounted(&merged) {
            umount2(&merged, MntFlags::MNT_DETACH)
                .map_err(|e| Error::system(format!("cannot unmount {}: {e}", merged.display())))?;
        }
        let dir = self.bundle_dir(&c.id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        Ok(())
    }

    pub(super) fn mount_rootfs(&self, c: &Container) -> Result<PathBuf> {
        let merged = self.merged_dir(c);
        if is_mounted(&merged) {
            return Ok(merged);
        }
        ensure_dir(&merged, 0o755)?;
        let root = self.images.overlay_root();
        let layer = root.join(&c.mount_id);
        let lower: Vec<String> = c
            .lower
            .split(':')
            .map(|l| root.join(l).display().to_string())
            .collect();
        // Absolute short-link paths keep the options well under the page size
        // for images of up to ~70 layers; dockerd chdirs to go further.
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            layer.join("diff").display(),
            layer.join("work").display()
        );
        mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
        .map_err(|e| Error::system(format!("cannot mount the root filesystem of {}: {e}", c.id)))?;
        Ok(merged)
    }
}

impl Containers {
    /// Named and anonymous volumes become binds of their directories (the
    /// spec builder knows only host paths); a volume used for the first time
    /// gets what the image has at its mount point, as dockerd does. Host
    /// directories taken with `--volumes-from` join the binds as they are.
    fn with_volumes_as_binds(
        &self,
        c: &Container,
        mut body: ContainerCreateBody,
    ) -> Result<ContainerCreateBody> {
        if c.volumes.is_empty() && c.inherited_binds.is_empty() {
            return Ok(body);
        }
        let hc = body.host_config.get_or_insert_with(Default::default);
        let mut binds: Vec<String> = hc
            .binds
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b.starts_with('/'))
            .collect();
        if let Some(mounts) = hc.mounts.as_mut() {
            mounts.retain(|m| m.typ != Some(bollard_stubs::models::MountType::VOLUME));
        }
        let rootfs = self.merged_dir(c);
        for v in &c.volumes {
            let data = self.volumes.acquire(&v.name, &c.id)?;
            if !v.nocopy {
                copy_up(&rootfs, &v.destination, &data);
            }
            let mode = if v.read_only { "ro" } else { "rw" };
            binds.push(format!("{}:{}:{mode}", data.display(), v.destination));
        }
        binds.extend(c.inherited_binds.iter().map(|b| b.as_bind()));
        hc.binds = Some(binds);
        Ok(body)
    }
}

/// Fills an empty volume directory with the image's files at `dest`.
fn copy_up(rootfs: &Path, dest: &str, volume: &Path) {
    let Some(src) = spec::resolve_in_root(rootfs, dest) else {
        return;
    };
    let empty = std::fs::read_dir(volume)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if !empty || !src.is_dir() {
        return;
    }
    // cp -a keeps owners, modes, links and xattrs; the source is inside
    // the container's root and the target is the volume's own directory.
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(volume)
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        tracing::warn!(dest, volume = %volume.display(), "copying the image's files into a new volume failed");
    }
}

/// The init's file name, in Berth's build output and packages.
const INIT_BINARY: &str = "berth-container-init";

/// Where Berth's init is looked for unless `init-path` names one: next to
/// berthd (a build tree: scripts/build-init.sh puts it there), then where
/// packages and `scripts/start-native.sh` install it.
fn default_init_locations() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs.push("/usr/libexec/berth".into());
    dirs.push("/usr/local/libexec/berth".into());
    dirs.into_iter().map(|d| d.join(INIT_BINARY)).collect()
}

/// The init binary to mount: `init-path` (a bare name is looked up in PATH,
/// as dockerd does), else the first of `locations` that exists.
fn init_binary(configured: Option<&Path>, locations: &[PathBuf]) -> Result<PathBuf> {
    let (candidates, hint) = match configured {
        None => (
            locations.to_vec(),
            "build it with scripts/build-init.sh, or set \"init-path\" in daemon.json".to_string(),
        ),
        Some(path) if path.components().count() > 1 => (
            vec![path.to_path_buf()],
            format!("\"init-path\" is {}", path.display()),
        ),
        Some(name) => (
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|dir| dir.join(name))
                .collect(),
            format!("\"init-path\" is {}, looked up in PATH", name.display()),
        ),
    };
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            Error::system(format!(
                "cannot run the container with an init: none found at {} ({hint})",
                looked.join(", ")
            ))
        })
}

/// The Config + HostConfig a container was created with, as the spec builder takes them.
fn create_body(c: &Container) -> Result<ContainerCreateBody> {
    let mut v = c.config.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("HostConfig".into(), c.host_config.clone());
    }
    serde_json::from_value(v)
        .map_err(|e| Error::system(format!("container {} has an unreadable config: {e}", c.id)))
}

/// Docker's rules: no filter for privileged containers or `seccomp=unconfined`,
/// a custom profile from `seccomp=<json>`, else the default profile, for the
/// capabilities the spec gives the container.
fn seccomp_for(spec: &Spec, host_config: &Value) -> Result<Option<LinuxSeccomp>> {
    if host_config["Privileged"].as_bool().unwrap_or(false) {
        return Ok(None);
    }
    let custom = host_config["SecurityOpt"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|o| {
            o.strip_prefix("seccomp=")
                .or_else(|| o.strip_prefix("seccomp:"))
        });
    let parsed;
    let profile = match custom {
        Some("unconfined") => return Ok(None),
        Some(json) => {
            parsed = Profile::parse(json)?;
            if parsed.is_unconfined() {
                return Ok(None);
            }
            &parsed
        }
        None => Profile::default_profile(),
    };
    let caps = spec::bounding_caps(spec);
    profile
        .to_oci(&caps, std::env::consts::ARCH, kernel_version())
        .map(Some)
}

/// What the container's /etc/hostname, hosts and resolv.conf say.
pub struct EtcInputs {
    pub hostname: String,
    /// The container's own addresses, named by its hostname.
    pub ips: Vec<String>,
    /// `--add-host name:ip` (host-gateway already resolved).
    pub extra_hosts: Vec<(String, String)>,
    /// Replaces the host's nameservers when set.
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl Containers {
    fn etc_inputs(&self, c: &Container, hostname: &str) -> EtcInputs {
        let cfg = self.config.get();
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        };
        let or_daemon = |mine: Vec<String>, daemon: &Vec<String>| {
            if mine.is_empty() {
                daemon.clone()
            } else {
                mine
            }
        };
        let gateway = self
            .networks
            .get("bridge")
            .ok()
            .and_then(|n| n.gateway)
            .unwrap_or_default();
        let extra_hosts = list(&c.host_config["ExtraHosts"])
            .into_iter()
            .filter_map(|h| {
                let (name, ip) = h.split_once(':')?;
                let ip = if ip == "host-gateway" {
                    gateway.clone()
                } else {
                    ip.to_string()
                };
                Some((name.to_string(), ip))
            })
            .collect();
        let mut nameservers = or_daemon(list(&c.host_config["Dns"]), &cfg.dns);
        if let Some(dns) = self.container_dns(c) {
            // A user network's own DNS server answers names and forwards the rest.
            nameservers = vec![dns];
        }
        EtcInputs {
            hostname: hostname.to_string(),
            ips: c.networks.values().map(|e| e.ip.clone()).collect(),
            extra_hosts,
            nameservers,
            search: or_daemon(list(&c.host_config["DnsSearch"]), &cfg.dns_search),
            options: or_daemon(list(&c.host_config["DnsOptions"]), &cfg.dns_opts),
        }
    }
}

fn write_etc_files(dir: &Path, etc: &EtcInputs) -> Result<()> {
    let hostname = &etc.hostname;
    // Written anew at every start: no need to survive a power cut.
    replace_derived(
        &dir.join("hostname"),
        format!("{hostname}\n").as_bytes(),
        0o644,
    )?;
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, ip) in &etc.extra_hosts {
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    if etc.ips.is_empty() {
        hosts.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    for ip in &etc.ips {
        hosts.push_str(&format!("{ip}\t{hostname}\n"));
    }
    replace_derived(&dir.join("hosts"), hosts.as_bytes(), 0o644)?;
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut resolv = resolv_conf(&host);
    if !etc.nameservers.is_empty() || !etc.search.is_empty() || !etc.options.is_empty() {
        let keep = |prefix: &str, mine: &[String]| -> Vec<String> {
            if mine.is_empty() {
                resolv
                    .lines()
                    .filter(|l| l.trim_start().starts_with(prefix))
                    .map(String::from)
                    .collect()
            } else {
                vec![format!("{prefix} {}", mine.join(" "))]
            }
        };
        let servers: Vec<String> = if etc.nameservers.is_empty() {
            keep("nameserver", &[])
        } else {
            etc.nameservers
                .iter()
                .map(|s| format!("nameserver {s}"))
                .collect()
        };
        let mut out = servers;
        out.extend(keep("search", &etc.search));
        out.extend(keep("options", &etc.options));
        resolv = out.join("\n") + "\n";
    }
    replace_derived(&dir.join("resolv.conf"), resolv.as_bytes(), 0o644)?;
    Ok(())
}

/// The host's resolv.conf without loopback nameservers (unreachable from a
/// container's own network namespace), falling back to public resolvers as
/// dockerd does when none remain.
pub fn resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let t = line.trim();
        if let Some(ip) = t.strip_prefix("nameserver") {
            let ip = ip.trim();
            if ip.starts_with("127.") || ip == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

use crate::fsutil::is_mounted;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_nameservers_are_dropped() {
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\nsearch lan\n"),
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            resolv_conf("nameserver 10.0.0.1\n"),
            "nameserver 10.0.0.1\n"
        );
    }
}

/// A container created through the real stores, prepared here and run by the
/// runtime: the whole path `docker run` will take, minus the shim.
#[cfg(test)]
mod run_tests {
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::sync::Arc;

    use super::*;
    use crate::containers::runtime::tests::{skip_reason, SERIAL};
    use crate::containers::runtime::{create_and_start, delete, wait, Exit, ProcessIo, Stdio};
    use crate::images::import::ImportRequest;
    use crate::images::service::Images;
    use crate::volumes::service::Volumes;

    fn busybox_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        b.append_path_with_name("/bin/busybox", "bin/busybox")
            .unwrap();
        for applet in ["sh", "cat", "echo", "id", "hostname"] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            b.append_link(&mut h, format!("bin/{applet}"), "busybox")
                .unwrap();
        }
        let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(passwd.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "etc/passwd", &passwd[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
    }

    #[test]
    fn a_created_container_runs_from_its_prepared_bundle() {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
        let _one_at_a_time = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let root = std::env::temp_dir().join(format!(
            "bb-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        let (data, exec) = (root.join("data"), root.join("exec"));
        std::fs::create_dir_all(&exec).unwrap();
        let events = Arc::new(crate::events::Events::default());
        let config = Arc::new(crate::config::Shared::new(Default::default()));
        let images = Images::open(&data, config, events.clone()).unwrap();
        let volumes = Volumes::open(&data, events.clone()).unwrap();
        let parent = format!(
            "berth-test-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let daemon_config = berth_common::daemon_config::DaemonConfig {
            exec_root: exec.clone(),
            cgroup_parent: Some(parent.clone()),
            ..Default::default()
        };
        let shared = Arc::new(crate::config::Shared::new(daemon_config));
        let containers = Containers::open(
            &data,
            images.clone(),
            volumes,
            events,
            shared.clone(),
            crate::networks::service::Networks::open(
                &data,
                shared,
                Arc::new(crate::events::Events::default()),
                Arc::new(crate::os::net::Linux),
                crate::networks::firewall::NetFirewall::disabled(),
            )
            .unwrap(),
        )
        .unwrap();
        let req = ImportRequest {
            repo: Some("bb".into()),
            tag: Some("1".into()),
            changes: vec![r#"CMD ["sh"]"#.into()],
            message: None,
            platform: None,
        };
        images.import(&busybox_tar()[..], &req).unwrap();

        let body: ContainerCreateBody = serde_json::from_value(serde_json::json!({
            "Image": "bb:1",
            "Cmd": ["sh", "-c", "echo hello from $(hostname); cat /etc/hostname; id -u; echo oops >&2; echo x > /written; exit 4"],
            "HostConfig": {"NetworkMode": "none"},
            "Env": ["GREETING=hi"],
        }))
        .unwrap();
        let (id, _) = containers.create(Some("runner"), &body).unwrap();
        let c = containers.store.get(&id).unwrap();
        let bundle = containers.prepare(&c).unwrap();
        assert!(
            bundle.rootfs.join("bin/busybox").exists(),
            "the overlay shows the image"
        );

        let (out_r, out_w) = pipe();
        let (err_r, err_w) = pipe();
        let state = exec.join("runtime");
        std::fs::create_dir_all(&state).unwrap();
        let pid = create_and_start(
            &id,
            &bundle.dir,
            &state,
            ProcessIo::Pipes(Stdio {
                stdin: None,
                stdout: out_w,
                stderr: err_w,
            }),
        )
        .unwrap();
        let exit = wait(pid).unwrap();
        delete(&id, &state, true).unwrap();
        let read = |fd: OwnedFd| {
            let mut s = String::new();
            std::fs::File::from(fd).read_to_string(&mut s).unwrap();
            s
        };
        let (out, err) = (read(out_r), read(err_r));
        assert_eq!(exit, Exit::Code(4), "stdout: {out} stderr: {err}");
        let short = &id[..12];
        assert_eq!(out, format!("hello from {short}\n{short}\n0\n"));
        assert_eq!(err, "oops\n");

        // The write landed in the container's own layer, not the image's.
        let upper = images.overlay_root().join(&c.mount_id).join("diff");
        assert_eq!(
            std::fs::read_to_string(upper.join("written")).unwrap(),
            "x\n"
        );

        containers.unprepare(&c).unwrap();
        assert!(!is_mounted(&bundle.rootfs));
        containers.unprepare(&c).unwrap(); // again: nothing to do
        containers.remove(&id, false, true).unwrap();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(root.to_str().unwrap()),
            "a mount was left behind"
        );
        // The runtime removed the container's cgroups; the parent is this test's to remove.
        for ctrl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let dir = ctrl.path().join(&parent);
            if dir.exists() {
                assert!(!dir.join(&id).exists(), "cgroup left in {}", dir.display());
                std::fs::remove_dir(&dir).unwrap();
            }
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}

#[cfg(test)]
mod init_tests {
    use super::*;

    #[test]
    fn the_init_is_the_configured_one_else_the_first_found() {
        let dir = std::env::temp_dir().join(format!("berth-init-lookup-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::create_dir_all(&b).unwrap();
        std::fs::create_dir_all(&a).unwrap();
        let in_b = b.join(INIT_BINARY);
        std::fs::write(&in_b, "").unwrap();
        let locations = [a.join(INIT_BINARY), in_b.clone()];
        assert_eq!(init_binary(None, &locations).unwrap(), in_b);

        let e = init_binary(None, &locations[..1]).unwrap_err();
        assert!(
            e.message
                .contains(&a.join(INIT_BINARY).display().to_string())
                && e.message.contains("init-path"),
            "{}",
            e.message
        );

        let tini = dir.join("tini");
        std::fs::write(&tini, "").unwrap();
        assert_eq!(init_binary(Some(&tini), &locations).unwrap(), tini);
        let missing = dir.join("missing");
        let e = init_binary(Some(&missing), &locations).unwrap_err();
        assert!(
            e.message.contains(&missing.display().to_string()),
            "{}",
            e.message
        );
        // A bare name is looked up in PATH, never in Berth's own locations.
        assert_eq!(
            init_binary(Some(Path::new("sh")), &locations).unwrap(),
            std::env::split_paths(&std::env::var_os("PATH").unwrap())
                .map(|d| d.join("sh"))
                .find(|p| p.is_file())
                .unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
