//! Builds the `/version` and `/info` answers from host facts, the running
//! configuration and the daemon's counts. Pure functions: unit-tested with
//! made-up facts.

use std::collections::HashMap;

use berth_common::daemon_config::DaemonConfig;
use bollard_stubs::models::{
    IndexInfo, LocalNodeState, PluginsInfo, RegistryServiceConfig, Runtime, SwarmInfo, SystemInfo,
    SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemInfoDefaultAddressPools,
    SystemVersion, SystemVersionComponents, SystemVersionPlatform,
};

use super::host::{CgroupVersion, HostFacts, Kernel};
use crate::api::version;

pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The runtime built into berthd (youki's libcontainer, linked in).
pub const BUILTIN_RUNTIME: &str = "berth";

/// Container and image counts, from the subsystems that own them.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
}

pub fn version(kernel: &Kernel, config: &DaemonConfig) -> SystemVersion {
    let rustc = option_env!("BERTH_RUSTC_VERSION").unwrap_or("rustc");
    let mut details = HashMap::new();
    details.insert("ApiVersion".to_string(), version::MAX.to_string());
    details.insert("MinAPIVersion".to_string(), version::MIN.to_string());
    details.insert("GitCommit".to_string(), git_commit().to_string());
    details.insert("GoVersion".to_string(), rustc.to_string());
    details.insert("Os".to_string(), "linux".to_string());
    details.insert("Arch".to_string(), go_arch(&kernel.machine).to_string());
    details.insert("KernelVersion".to_string(), kernel.release.clone());
    details.insert("Experimental".to_string(), config.experimental.to_string());
    details.insert("BuildTime".to_string(), build_time().to_string());
    SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: format!("Berth Engine {ENGINE_VERSION}"),
        }),
        components: Some(vec![SystemVersionComponents {
            name: "Engine".into(),
            version: ENGINE_VERSION.into(),
            details: Some(details),
        }]),
        version: Some(ENGINE_VERSION.into()),
        api_version: Some(version::MAX.into()),
        min_api_version: Some(version::MIN.into()),
        git_commit: Some(git_commit().into()),
        // The field is named for Go; the docker CLI prints it as "Go version".
        go_version: Some(rustc.into()),
        os: Some("linux".into()),
        arch: Some(go_arch(&kernel.machine).into()),
        kernel_version: Some(kernel.release.clone()),
        experimental: Some(config.experimental),
        build_time: Some(build_time().into()),
    }
}

fn git_commit() -> &'static str {
    option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown")
}

fn build_time() -> &'static str {
    option_env!("BERTH_BUILD_TIME").unwrap_or("unknown")
}

/// Docker reports architectures with Go's names in /version.
pub fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "armv7l" => "arm",
        "i686" | "i386" => "386",
        other => other,
    }
}

pub struct InfoInputs<'a> {
    pub facts: &'a HostFacts,
    pub config: &'a DaemonConfig,
    pub counts: Counts,
    pub engine_id: &'a str,
    pub events_listeners: i64,
    pub system_time: String,
}

pub fn info(i: InfoInputs<'_>) -> SystemInfo {
    let (f, c) = (i.facts, i.config);
    let caps = &f.cgroup_caps;
    let cgroup_v2 = f.cgroup_version == CgroupVersion::V2;
    SystemInfo {
        id: Some(i.engine_id.to_string()),
        containers: Some(
            i.counts.containers_running + i.counts.containers_paused + i.counts.containers_stopped,
        ),
        containers_running: Some(i.counts.containers_running),
        containers_paused: Some(i.counts.containers_paused),
        containers_stopped: Some(i.counts.containers_stopped),
        images: Some(i.counts.images),
        driver: Some(
            c.storage_driver
                .clone()
                .unwrap_or_else(|| "overlay2".into()),
        ),
        driver_status: Some(vec![
            vec!["Backing Filesystem".into(), f.backing_fs.clone()],
            vec!["Supports d_type".into(), f.supports_d_type.to_string()],
            vec!["Using metacopy".into(), "false".into()],
            vec!["Native Overlay Diff".into(), "true".into()],
            vec!["userxattr".into(), "false".into()],
        ]),
        docker_root_dir: Some(c.data_root.display().to_string()),
        plugins: Some(PluginsInfo {
            volume: Some(vec!["local".into()]),
            network: Some(vec!["bridge".into(), "host".into(), "null".into()]),
            authorization: None,
            log: Some(vec!["json-file".into(), "local".into(), "none".into()]),
        }),
        memory_limit: Some(caps.memory),
        swap_limit: Some(caps.swap),
        cpu_cfs_period: Some(caps.cpu_cfs_period),
        cpu_cfs_quota: Some(caps.cpu_cfs_quota),
        cpu_shares: Some(caps.cpu_shares),
        cpu_set: Some(caps.cpuset),
        pids_limit: Some(caps.pids),
        oom_kill_disable: Some(caps.oom_kill_disable),
        ipv4_forwarding: Some(f.ipv4_forwarding),
        debug: Some(c.debug),
        nfd: Some(f.open_fds),
        n_goroutines: Some(f.threads),
        system_time: Some(i.system_time),
        logging_driver: Some(c.log_driver.clone()),
        cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(if cgroup_v2 {
            SystemInfoCgroupVersionEnum::_2
        } else {
            SystemInfoCgroupVersionEnum::_1
        }),
        n_events_listener: Some(i.events_listeners),
        kernel_version: Some(f.kernel_version.clone()),
        operating_system: Some(f.operating_system.clone()),
        os_version: Some(f.os_version.clone()),
        os_type: Some("linux".into()),
        architecture: Some(f.architecture.clone()),
        ncpu: Some(f.ncpu),
        mem_total: Some(f.mem_total),
        index_server_address: Some("https://index.docker.io/v1/".into()),
        registry_config: Some(registry_config(c)),
        generic_resources: None,
        http_proxy: Some(proxy_env(&["HTTP_PROXY", "http_proxy"])),
        https_proxy: Some(proxy_env(&["HTTPS_PROXY", "https_proxy"])),
        no_proxy: Some(proxy_env(&["NO_PROXY", "no_proxy"])),
        name: Some(f.hostname.clone()),
        labels: Some(c.labels.clone()),
        experimental_build: Some(c.experimental),
        server_version: Some(ENGINE_VERSION.into()),
        runtimes: Some(runtimes(c)),
        default_runtime: Some(
            c.default_runtime
                .clone()
                .unwrap_or_else(|| BUILTIN_RUNTIME.into()),
        ),
        swarm: Some(SwarmInfo {
            node_id: Some(String::new()),
            node_addr: Some(String::new()),
            local_node_state: Some(LocalNodeState::INACTIVE),
            control_available: Some(false),
            error: Some(String::new()),
            remote_managers: None,
            nodes: None,
            managers: None,
            cluster: None,
        }),
        live_restore_enabled: Some(c.live_restore),
        isolation: None,
        init_binary: Some(String::new()),
        containerd_commit: None,
        runc_commit: None,
        init_commit: None,
        security_options: Some(security_options(f, c)),
        product_license: None,
        default_address_pools: Some(
            c.default_address_pools
                .iter()
                .map(|p| SystemInfoDefaultAddressPools {
                    base: Some(p.base.clone()),
                    size: Some(p.size as i64),
                })
                .collect(),
        ),
        firewall_backend: None,
        discovered_devices: None,
        nri: None,
        warnings: Some(warnings(f)),
        cdi_spec_dirs: Some(vec![]),
        containerd: None,
    }
}

fn runtimes(c: &DaemonConfig) -> HashMap<String, Runtime> {
    let mut out = HashMap::new();
    out.insert(
        BUILTIN_RUNTIME.to_string(),
        Runtime {
            path: Some("berthd (built-in libcontainer)".into()),
            ..Default::default()
        },
    );
    for (name, rt) in &c.runtimes {
        out.insert(
            name.clone(),
            Runtime {
                path: Some(rt.path.clone()),
                runtime_args: (!rt.runtime_args.is_empty()).then(|| rt.runtime_args.clone()),
                ..Default::default()
            },
        );
    }
    out
}

/// Mirrors as dockerd shows them (with a trailing slash), the loopback range
/// always insecure, and one index entry per insecure host.
fn registry_config(c: &DaemonConfig) -> RegistryServiceConfig {
    let mirrors: Vec<String> = c
        .registry_mirrors
        .iter()
        .map(|m| {
            if m.ends_with('/') {
                m.clone()
            } else {
                format!("{m}/")
            }
        })
        .collect();
    let mut cidrs = vec!["::1/128".to_string(), "127.0.0.0/8".to_string()];
    let mut index = HashMap::new();
    index.insert(
        "docker.io".to_string(),
        IndexInfo {
            name: Some("docker.io".into()),
            mirrors: Some(mirrors.clone()),
            secure: Some(true),
            official: Some(true),
        },
    );
    for r in &c.insecure_registries {
        if r.contains('/') {
            if !cidrs.contains(r) {
                cidrs.push(r.clone());
            }
        } else {
            index.insert(
                r.clone(),
                IndexInfo {
                    name: Some(r.clone()),
                    mirrors: Some(vec![]),
                    secure: Some(false),
                    official: Some(false),
                },
            );
        }
    }
    RegistryServiceConfig {
        insecure_registry_cidrs: Some(cidrs),
        index_configs: Some(index),
        mirrors: Some(mirrors),
    }
}

fn security_options(f: &HostFacts, c: &DaemonConfig) -> Vec<String> {
    let profile = match c.seccomp_profile.as_deref() {
        None | Some("") | Some("builtin") => "builtin",
        Some("unconfined") => "unconfined",
        Some(_) => "default",
    };
    let mut out = vec![format!("name=seccomp,profile={profile}")];
    if f.cgroup_version == CgroupVersion::V2 {
        out.push("name=cgroupns".into());
    }
    if c.no_new_privileges {
        out.push("name=no-new-privileges".into());
    }
    if f.rootless {
        out.push("name=rootless".into());
    }
    out
}

/// dockerd's warnings for limits the kernel cannot enforce.
fn warnings(f: &HostFacts) -> Vec<String> {
    let caps = &f.cgroup_caps;
    let mut w = Vec::new();
    let mut warn = |ok: bool, what: &str| {
        if !ok {
            w.push(format!("WARNING: No {what} support"));
        }
    };
    warn(caps.memory, "memory limit");
    warn(caps.swap, "swap limit");
    warn(caps.cpu_cfs_quota, "cpu cfs quota");
    warn(caps.cpu_cfs_period, "cpu cfs period");
    warn(caps.cpu_shares, "cpu shares");
    warn(caps.cpuset, "cpuset");
    if !f.supports_d_type {
        w.push("WARNING: the data root's filesystem does not support d_type; overlay2 cannot work on it".into());
    }
    w
}

/// Proxy settings the daemon uses, with credentials masked as dockerd does.
fn proxy_env(names: &[&str]) -> String {
    let value = names
        .iter()
        .find_map(|n| std::env::var(n).ok())
        .unwrap_or_default();
    mask_credentials(&value)
}

pub fn mask_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((_, host)) => format!("{scheme}://xxxxx:xxxxx@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::host::CgroupCaps;

    fn facts() -> HostFacts {
        HostFacts {
            kernel_version: "6.1.0-test".into(),
            operating_system: "Debian GNU/Linux 12 (bookworm)".into(),
            os_version: "12".into(),
            architecture: "x86_64".into(),
            ncpu: 2,
            mem_total: 24 << 30,
            hostname: "testhost".into(),
            cgroup_version: CgroupVersion::V1,
            cgroup_caps: CgroupCaps {
                memory: true,
                swap: false,
                cpu_cfs_period: true,
                cpu_cfs_quota: true,
                cpu_shares: true,
                cpuset: true,
                pids: true,
                oom_kill_disable: true,
            },
            backing_fs: "extfs".into(),
            supports_d_type: true,
            open_fds: 9,
            threads: 4,
            rootless: false,
            ipv4_forwarding: true,
        }
    }

    fn build(config: &DaemonConfig, counts: Counts) -> SystemInfo {
        info(InfoInputs {
            facts: &facts(),
            config,
            counts,
            engine_id: "0f1e2d3c-aaaa-bbbb-cccc-000000000000",
            events_listeners: 0,
            system_time: "2026-11-23T12:00:00Z".into(),
        })
    }

    #[test]
    fn info_reports_facts_config_and_counts() {
        let c = DaemonConfig {
            debug: true,
            live_restore: true,
            labels: vec!["tier=dev".into()],
            ..Default::default()
        };
        let i = build(
            &c,
            Counts {
                containers_running: 2,
                containers_paused: 1,
                containers_stopped: 3,
                images: 7,
            },
        );
        assert_eq!(i.containers, Some(6));
        assert_eq!(i.images, Some(7));
        assert_eq!(i.kernel_version.as_deref(), Some("6.1.0-test"));
        assert_eq!(i.ncpu, Some(2));
        assert_eq!(i.cgroup_version, Some(SystemInfoCgroupVersionEnum::_1));
        assert_eq!(i.debug, Some(true));
        assert_eq!(i.live_restore_enabled, Some(true));
        assert_eq!(i.labels, Some(vec!["tier=dev".to_string()]));
        assert_eq!(i.docker_root_dir.as_deref(), Some("/var/lib/berth"));
        assert_eq!(
            i.warnings,
            Some(vec!["WARNING: No swap limit support".to_string()])
        );
        assert_eq!(i.default_runtime.as_deref(), Some(BUILTIN_RUNTIME));
    }

    #[test]
    fn registry_config_normalises_mirrors_and_insecure_hosts() {
        let c = DaemonConfig {
            registry_mirrors: vec!["http://127.0.0.1:5000".into()],
            insecure_registries: vec!["10.0.0.0/8".into(), "myreg:5000".into()],
            ..Default::default()
        };
        let r = registry_config(&c);
        assert_eq!(r.mirrors, Some(vec!["http://127.0.0.1:5000/".to_string()]));
        let cidrs = r.insecure_registry_cidrs.unwrap();
        assert!(
            cidrs.contains(&"10.0.0.0/8".to_string()) && cidrs.contains(&"127.0.0.0/8".to_string())
        );
        let idx = r.index_configs.unwrap();
        assert_eq!(idx["myreg:5000"].secure, Some(false));
        assert_eq!(idx["docker.io"].official, Some(true));
    }

    #[test]
    fn version_names_berth_and_the_api_range() {
        let kernel = Kernel {
            release: "6.1.0-test".into(),
            machine: "x86_64".into(),
        };
        let v = version(&kernel, &DaemonConfig::default());
        assert_eq!(v.kernel_version.as_deref(), Some("6.1.0-test"));
        assert_eq!(v.api_version.as_deref(), Some(version::MAX));
        assert_eq!(v.min_api_version.as_deref(), Some(version::MIN));
        assert_eq!(v.arch.as_deref(), Some("amd64"));
        assert!(v.platform.unwrap().name.starts_with("Berth Engine"));
    }

    #[test]
    fn proxy_credentials_are_masked() {
        assert_eq!(
            mask_credentials("http://u:p@proxy:3128"),
            "http://xxxxx:xxxxx@proxy:3128"
        );
        assert_eq!(mask_credentials("http://proxy:3128"), "http://proxy:3128");
    }
}
