//! The OCI runtime spec (`config.json`) for a container, built the way dockerd
//! builds it (moby's `oci.DefaultLinuxSpec` plus `daemon/oci_linux.go`): the
//! same defaults, the same merge of image and container config, and the same
//! error messages for bad input, so that clients see what they see with docker.
//!
//! Pure: it reads only the container's own `etc/passwd` and `etc/group` (and,
//! for privileged containers, the host's capability bounding set and device
//! nodes through injectable functions). Nothing is created, mounted or started here.

mod caps;
mod devices;
mod mounts;
mod process;
mod resources;
mod user;

pub use user::{resolve as resolve_user, resolve_in_root};

#[cfg(test)]
mod tests;

use std::path::Path;

use bollard_stubs::models::{ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum};
use oci_spec::runtime::{
    LinuxBuilder, LinuxDevice, LinuxNamespace, LinuxNamespaceType, LinuxSeccomp, ProcessBuilder,
    Root, Spec, UserBuilder,
};

use crate::errdefs::{Error, Result};

/// Host paths of the per-container files dockerd also bind-mounts over the
/// image's: they are written by the networking code, not by the image.
#[derive(Debug, Clone, Copy, Default)]
pub struct EtcFiles<'a> {
    pub resolv_conf: Option<&'a Path>,
    pub hosts: Option<&'a Path>,
    pub hostname: Option<&'a Path>,
}

pub struct SpecInput<'a> {
    /// What the client sent: Config with HostConfig in `.host_config`.
    pub config: &'a ContainerCreateBody,
    /// The image config's `config` object (Env, Cmd, Entrypoint, WorkingDir, User…).
    pub image_config: &'a serde_json::Value,
    /// The mounted overlay; users and groups are resolved from its etc/passwd and etc/group.
    pub rootfs: &'a Path,
    pub hostname: &'a str,
    pub etc_files: EtcFiles<'a>,
    /// Set explicitly because libcontainer's default is not where berthd looks (FACTS).
    pub cgroups_path: String,
    /// Network namespace to join; None = a new, empty one. NetworkMode "host" wins over both.
    pub netns: Option<&'a Path>,
    /// Built by the seccomp module; None = unconfined.
    pub seccomp: Option<LinuxSeccomp>,
    /// The daemon's `default-ulimits`: (name, soft, hard).
    pub default_ulimits: &'a [(String, i64, i64)],
    /// The host runs the unified cgroup v2 hierarchy: dockerd then defaults
    /// CgroupnsMode to "private" (to "host" on v1 and hybrid hosts like this one).
    pub cgroup_v2: bool,
    /// The host's capability bounding set as a bit mask (`CapBnd`). Only
    /// privileged containers and `--cap-add ALL` call it; tests inject a fixed set.
    pub bounding_set: fn() -> std::io::Result<u64>,
    /// The init binary on the host, when the container runs one in front of
    /// its command ([`wants_init`]): mounted at [`INIT_IN_CONTAINER`].
    pub init: Option<&'a Path>,
}

/// Where dockerd mounts its init (docker-init, i.e. tini), which images and
/// scripts may rely on.
pub const INIT_IN_CONTAINER: &str = "/sbin/docker-init";

/// Whether the container runs an init as PID 1: its `HostConfig.Init`, else
/// the daemon's `init` default; never in a PID namespace it shares (the host's,
/// another container's), where PID 1 is someone else already (moby's `WithInit`).
pub fn wants_init(config: &ContainerCreateBody, daemon_default: bool) -> bool {
    let Some(hc) = config.host_config.as_ref() else {
        return daemon_default;
    };
    let pid_mode = hc.pid_mode.as_deref().unwrap_or_default();
    let own_pid_namespace = pid_mode != "host" && !pid_mode.starts_with("container:");
    own_pid_namespace && hc.init.unwrap_or(daemon_default)
}

/// The names (`CAP_CHOWN`, …) in the spec's bounding set: the capabilities
/// the seccomp profile is chosen for.
pub fn bounding_caps(spec: &Spec) -> Vec<String> {
    spec.process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .map(|set| {
            set.iter()
                .filter_map(|c| serde_json::to_value(c).ok()?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The host's capability bounding set, the production value of
/// [`SpecInput::bounding_set`].
pub fn host_bounding_set() -> std::io::Result<u64> {
    caps::host_bounding_set()
}

/// Every capability of the host's bounding set by name (`CAP_CHOWN`, …):
/// what a privileged exec gets.
pub fn all_capabilities() -> Vec<String> {
    caps::all_names(caps::host_bounding_set().unwrap_or(0))
}

/// The checks dockerd makes when the container is created (`verifyContainerSettings`),
/// which need neither the image nor the host: security options, capability names,
/// resources and the OOM score adjustment. [`build`] makes them too.
pub fn validate(config: &ContainerCreateBody) -> Result<()> {
    let default_hc = HostConfig::default();
    let hc = config.host_config.as_ref().unwrap_or(&default_hc);
    SecurityOpts::parse(hc.security_opt.as_deref().unwrap_or_default())?;
    caps::validate(hc)?;
    resources::build(hc, hc.privileged.unwrap_or(false))?;
    checked_oom_score_adj(hc)?;
    Ok(())
}

fn checked_oom_score_adj(hc: &HostConfig) -> Result<i64> {
    let adj = hc.oom_score_adj.unwrap_or(0);
    if !(-1000..=1000).contains(&adj) {
        return Err(Error::invalid(format!(
            "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
        )));
    }
    Ok(adj)
}

/// The spec for one container, or dockerd's error for the input that makes it impossible.
pub fn build(input: &SpecInput) -> Result<Spec> {
    build_with_devices(input, devices::host_devices)
}

/// [`build`] with the host's device nodes (only privileged containers read them) injected.
fn build_with_devices(
    input: &SpecInput,
    host_devices: fn() -> std::io::Result<Vec<LinuxDevice>>,
) -> Result<Spec> {
    validate(input.config)?;
    let default_hc = HostConfig::default();
    let hc = input.config.host_config.as_ref().unwrap_or(&default_hc);
    let privileged = hc.privileged.unwrap_or(false);
    let security = SecurityOpts::parse(hc.security_opt.as_deref().unwrap_or_default())?;
    let tty = input.config.tty.unwrap_or(false);

    let namespaces = Namespaces::from_input(input, hc)?;

    let mut args = process::args(input.config, input.image_config)?;
    if input.init.is_some() {
        args.splice(0..0, [INIT_IN_CONTAINER.to_string(), "--".to_string()]);
    }
    let cwd = process::cwd(input.config, input.image_config)?;
    let user_spec = match input.config.user.as_deref() {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => process::image_str(input.image_config, "User").unwrap_or_default(),
    };
    let exec_user = user::resolve(
        input.rootfs,
        &user_spec,
        hc.group_add.as_deref().unwrap_or_default(),
    )?;
    let env = process::env(
        input.config,
        input.image_config,
        input.hostname,
        tty,
        &exec_user.home,
    );
    let capabilities = caps::build(hc, privileged, input.bounding_set)?;
    let rlimits = resources::rlimits(hc, input.default_ulimits)?;

    let oom_score_adj = checked_oom_score_adj(hc)?;

    let user = UserBuilder::default()
        .uid(exec_user.uid)
        .gid(exec_user.gid)
        .additional_gids(exec_user.additional_gids)
        .build()
        .map_err(oci_err)?;
    let mut process = ProcessBuilder::default()
        .terminal(tty)
        .user(user)
        .args(args)
        .env(env)
        .cwd(cwd)
        .capabilities(capabilities)
        .rlimits(rlimits)
        .no_new_privileges(security.no_new_privileges)
        .oom_score_adj(oom_score_adj as i32)
        .build()
        .map_err(oci_err)?;
    if tty {
        process.set_console_size(process::console_size(hc)?);
    }

    let mounts = mounts::build(input, hc, privileged, namespaces.private_ipc_shm)?;

    let sysctl = resources::sysctls(hc, namespaces.private_net)?;
    let resources = resources::build(hc, privileged)?;
    let (masked, readonly) = if privileged {
        // moby: a privileged container sees the host's /proc and /sys unmasked.
        (Vec::new(), Vec::new())
    } else {
        (
            hc.masked_paths.clone().unwrap_or_else(default_masked_paths),
            hc.readonly_paths
                .clone()
                .unwrap_or_else(default_readonly_paths),
        )
    };
    let devices = if privileged {
        host_devices().map_err(|e| Error::system(format!("reading the host's devices: {e}")))?
    } else {
        Vec::new()
    };
    let seccomp = if privileged || security.seccomp_unconfined {
        None
    } else {
        input.seccomp.clone()
    };

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces.list)
        .resources(resources)
        .cgroups_path(input.cgroups_path.clone())
        // The runtime creates the standard device nodes itself (runtime-spec "default devices");
        // a privileged container also gets every device of the host, as with dockerd.
        .devices(devices)
        .masked_paths(masked)
        .readonly_paths(readonly)
        .sysctl(sysctl)
        .build()
        .map_err(oci_err)?;
    linux.set_seccomp(seccomp);
    linux.set_rootfs_propagation(mounts.rootfs_propagation);

    let mut root = Root::default();
    root.set_path(input.rootfs.to_path_buf());
    root.set_readonly(Some(hc.readonly_rootfs.unwrap_or(false)));

    let mut spec = Spec::default();
    spec.set_version(oci_spec::runtime::VERSION.to_string());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mounts.mounts));
    spec.set_process(Some(process));
    spec.set_hostname(namespaces.private_uts.then(|| input.hostname.to_string()));
    spec.set_domainname(
        input
            .config
            .domainname
            .clone()
            .filter(|d| !d.is_empty() && namespaces.private_uts),
    );
    spec.set_annotations(None);
    spec.set_hooks(None);
    spec.set_linux(Some(linux));
    Ok(spec)
}

fn oci_err(e: oci_spec::OciSpecError) -> Error {
    Error::system(format!("building the OCI spec: {e}"))
}

/// moby's `oci.DefaultLinuxSpec` list, as of docker 28.
fn default_masked_paths() -> Vec<String> {
    [
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .map(String::from)
    .to_vec()
}

fn default_readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .map(String::from)
    .to_vec()
}

/// The parts of HostConfig.SecurityOpt the spec depends on; the seccomp
/// profile itself (`seccomp=<json>`) is the seccomp module's business.
#[derive(Debug, Default, PartialEq, Eq)]
struct SecurityOpts {
    no_new_privileges: bool,
    seccomp_unconfined: bool,
}

impl SecurityOpts {
    /// dockerd's `parseSecurityOpt`: the same accepted keys, separators and messages.
    fn parse(opts: &[String]) -> Result<Self> {
        let mut out = SecurityOpts::default();
        for opt in opts {
            if opt == "no-new-privileges" {
                out.no_new_privileges = true;
                continue;
            }
            if opt == "disable" {
                continue;
            }
            let (key, value) = match opt.split_once('=').or_else(|| opt.split_once(':')) {
                Some(kv) => kv,
                None => return Err(Error::invalid(format!("invalid --security-opt 1: {opt:?}"))),
            };
            match key {
                // No SELinux or AppArmor in Berth's guest: accepted like dockerd
                // does on hosts without them.
                "label" | "apparmor" | "writable-cgroups" => {}
                "seccomp" => out.seccomp_unconfined = value == "unconfined",
                "no-new-privileges" => {
                    out.no_new_privileges = parse_go_bool(value).ok_or_else(|| {
                        Error::invalid(format!("invalid --security-opt 2: {opt:?}"))
                    })?
                }
                _ => return Err(Error::invalid(format!("invalid --security-opt 2: {opt:?}"))),
            }
        }
        Ok(out)
    }
}

/// Go's `strconv.ParseBool`, which is what dockerd accepts.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

struct Namespaces {
    list: Vec<LinuxNamespace>,
    private_net: bool,
    private_uts: bool,
    /// /dev/shm is a private tmpfs (IpcMode private/shareable), not absent ("none").
    private_ipc_shm: bool,
}

impl Namespaces {
    fn from_input(input: &SpecInput, hc: &HostConfig) -> Result<Self> {
        let mut list = vec![ns(LinuxNamespaceType::Mount, None)];

        let private_net = hc.network_mode.as_deref() != Some("host");
        if private_net {
            list.push(ns(LinuxNamespaceType::Network, input.netns));
        }

        let private_uts = match hc.uts_mode.as_deref().unwrap_or_default() {
            "" => true,
            "host" => false,
            other => return Err(unsupported_mode("UTS", other)),
        };
        if private_uts {
            list.push(ns(LinuxNamespaceType::Uts, None));
        }

        match hc.pid_mode.as_deref().unwrap_or_default() {
            "" | "private" => list.push(ns(LinuxNamespaceType::Pid, None)),
            "host" => {}
            other => return Err(unsupported_mode("PID", other)),
        }

        // "shareable" only matters to containers joining this one's IPC
        // namespace, which is not supported yet: it runs like "private".
        let private_ipc_shm = match hc.ipc_mode.as_deref().unwrap_or_default() {
            "" | "private" | "shareable" => true,
            "none" => false,
            other => return Err(unsupported_mode("IPC", other)),
        };
        list.push(ns(LinuxNamespaceType::Ipc, None));

        let cgroupns_private = match hc.cgroupns_mode {
            Some(HostConfigCgroupnsModeEnum::PRIVATE) => true,
            Some(HostConfigCgroupnsModeEnum::HOST) => false,
            Some(HostConfigCgroupnsModeEnum::EMPTY) | None => input.cgroup_v2,
        };
        if cgroupns_private {
            list.push(ns(LinuxNamespaceType::Cgroup, None));
        }

        Ok(Namespaces {
            list,
            private_net,
            private_uts,
            private_ipc_shm,
        })
    }
}

fn ns(typ: LinuxNamespaceType, path: Option<&Path>) -> LinuxNamespace {
    let mut n = LinuxNamespace::default();
    n.set_typ(typ);
    n.set_path(path.map(Path::to_path_buf));
    n
}

fn unsupported_mode(what: &str, mode: &str) -> Error {
    Error::not_implemented(format!("{what} mode {mode:?} is not supported yet"))
}
