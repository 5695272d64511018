//! The typed daemon.json model, with dockerd's defaults and Berth's paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::listen::ListenAddr;
use super::size::parse_ram_size;

/// Where berthd reads its configuration unless `--config-file` says otherwise.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";
/// The runtime linked into berthd (youki's libcontainer).
pub const BUILTIN_RUNTIME: &str = "berth";
/// Names `runtimes` may not define: Berth's built-in runtime, and "runc",
/// which dockerd reserves and which Berth treats as another name for its
/// built-in runc-compatible runtime so that `--runtime=runc` keeps working.
pub const RESERVED_RUNTIME_NAMES: &[&str] = &[BUILTIN_RUNTIME, "runc"];
/// dockerd's default `/dev/shm` size (64 MiB) when `default-shm-size` is unset.
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

/// berthd's configuration: daemon.json keys and flags merged.
///
/// Build it with [`super::load`], which checks what serde alone cannot
/// (unknown keys, flag conflicts, semantics); `Deserialize` is derived for
/// round trips of already valid values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct DaemonConfig {
    pub hosts: Vec<String>,
    pub debug: bool,
    pub log_level: String,
    #[serde(serialize_with = "path_lossy")]
    pub data_root: PathBuf,
    #[serde(serialize_with = "path_lossy")]
    pub exec_root: PathBuf,
    #[serde(serialize_with = "path_lossy")]
    pub pidfile: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlsverify: Option<bool>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_path_lossy"
    )]
    pub tlscacert: Option<PathBuf>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_path_lossy"
    )]
    pub tlscert: Option<PathBuf>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_path_lossy"
    )]
    pub tlskey: Option<PathBuf>,
    pub labels: Vec<String>,
    pub live_restore: bool,
    pub max_concurrent_downloads: i64,
    pub max_concurrent_uploads: i64,
    pub max_download_attempts: i64,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_driver: Option<String>,
    /// `None` means Berth's built-in runtime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_runtime: Option<String>,
    pub runtimes: BTreeMap<String, Runtime>,
    pub log_driver: String,
    pub log_opts: BTreeMap<String, String>,
    pub dns: Vec<String>,
    pub dns_opts: Vec<String>,
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bip: Option<String>,
    /// The default bridge's device (`berth0` when unset); made if missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_cidr: Option<String>,
    pub mtu: i64,
    pub default_address_pools: Vec<AddressPool>,
    pub icc: bool,
    pub ip_forward: bool,
    pub ip_masq: bool,
    pub iptables: bool,
    pub userland_proxy: bool,
    pub features: BTreeMap<String, bool>,
    pub experimental: bool,
    pub shutdown_timeout: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<String>,
    pub no_new_privileges: bool,
    pub default_ulimits: BTreeMap<String, Ulimit>,
    /// As written ("64M", "1g", ...); see [`DaemonConfig::default_shm_size_bytes`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_shm_size: Option<String>,
    pub init: bool,
    /// The init binary `init` and `--init` run; None = Berth's own, found
    /// next to berthd.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_path_lossy"
    )]
    pub init_path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    pub exec_opts: Vec<String>,
    /// Keys Berth recognises but does not implement yet, type-checked, by name.
    #[serde(skip)]
    pub unsupported: BTreeMap<String, Value>,
}

/// An extra runc-compatible runtime (`runtimes` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    #[serde(default)]
    pub path: String,
    #[serde(rename = "runtimeArgs", default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_args: Vec<String>,
}

/// A `default-ulimits` entry; the JSON names are capitalised as in dockerd.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ulimit {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Hard")]
    pub hard: i64,
    #[serde(rename = "Soft")]
    pub soft: i64,
}

/// A `default-address-pools` entry: networks of prefix length `size` are
/// carved out of `base`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressPool {
    pub base: String,
    pub size: u8,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            hosts: Vec::new(),
            debug: false,
            log_level: "info".into(),
            data_root: "/var/lib/berth".into(),
            exec_root: "/var/run/berth".into(),
            pidfile: "/var/run/berthd.pid".into(),
            group: None,
            tls: None,
            tlsverify: None,
            tlscacert: None,
            tlscert: None,
            tlskey: None,
            labels: Vec::new(),
            live_restore: false,
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 5,
            max_download_attempts: 5,
            registry_mirrors: Vec::new(),
            insecure_registries: Vec::new(),
            storage_driver: None,
            default_runtime: None,
            runtimes: BTreeMap::new(),
            log_driver: "json-file".into(),
            log_opts: BTreeMap::new(),
            dns: Vec::new(),
            dns_opts: Vec::new(),
            dns_search: Vec::new(),
            bip: None,
            bridge: None,
            fixed_cidr: None,
            mtu: 1500,
            default_address_pools: Vec::new(),
            icc: true,
            ip_forward: true,
            ip_masq: true,
            iptables: true,
            userland_proxy: true,
            features: BTreeMap::new(),
            experimental: false,
            shutdown_timeout: 15,
            seccomp_profile: None,
            no_new_privileges: false,
            default_ulimits: BTreeMap::new(),
            default_shm_size: None,
            init: false,
            init_path: None,
            cgroup_parent: None,
            exec_opts: Vec::new(),
            unsupported: BTreeMap::new(),
        }
    }
}

impl DaemonConfig {
    /// The configuration as a daemon.json object (kebab-case keys), including
    /// the recognised-but-unsupported keys, so that it loads back unchanged.
    pub fn to_json(&self) -> Value {
        let mut value =
            serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Default::default()));
        if let Value::Object(map) = &mut value {
            for (k, v) in &self.unsupported {
                map.insert(k.clone(), v.clone());
            }
        }
        value
    }

    /// TLS is on when asked for, and whenever `tlsverify` is given at all
    /// (dockerd: "if they specify --tlsverify at all then we need to turn on TLS").
    pub fn tls_enabled(&self) -> bool {
        self.tls == Some(true) || self.tlsverify.is_some()
    }

    /// Client certificates are required when `tlsverify` says so, or, when it
    /// is unset, whenever TLS is on (dockerd's behaviour).
    pub fn tls_verify(&self) -> bool {
        self.tlsverify.unwrap_or_else(|| self.tls_enabled())
    }

    /// `default-shm-size` in bytes (64 MiB when unset).
    pub fn default_shm_size_bytes(&self) -> i64 {
        self.default_shm_size
            .as_deref()
            .and_then(|s| parse_ram_size(s).ok())
            .unwrap_or(DEFAULT_SHM_SIZE)
    }

    /// The runtime containers get when they do not name one.
    pub fn effective_default_runtime(&self) -> &str {
        self.default_runtime.as_deref().unwrap_or(BUILTIN_RUNTIME)
    }

    /// The addresses to listen on; the default Unix socket when `hosts` is empty.
    pub fn listen_addrs(&self) -> Result<Vec<ListenAddr>, String> {
        if self.hosts.is_empty() {
            return Ok(vec![ListenAddr::Unix(
                super::listen::DEFAULT_UNIX_SOCKET.into(),
            )]);
        }
        let tls = self.tls_enabled();
        self.hosts
            .iter()
            .map(|h| ListenAddr::parse(h, tls))
            .collect()
    }
}

fn path_lossy<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

fn opt_path_lossy<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => path_lossy(p, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_dockerds_with_berth_paths() {
        let c = DaemonConfig::default();
        assert_eq!(c.log_level, "info");
        assert_eq!(c.data_root, Path::new("/var/lib/berth"));
        assert_eq!(c.exec_root, Path::new("/var/run/berth"));
        assert_eq!(c.pidfile, Path::new("/var/run/berthd.pid"));
        assert_eq!(
            (
                c.max_concurrent_downloads,
                c.max_concurrent_uploads,
                c.max_download_attempts
            ),
            (3, 5, 5)
        );
        assert_eq!(c.log_driver, "json-file");
        assert_eq!(c.mtu, 1500);
        assert_eq!(c.shutdown_timeout, 15);
        assert!(c.icc && c.ip_forward && c.ip_masq && c.iptables && c.userland_proxy);
        assert!(!c.debug && !c.live_restore && !c.experimental && !c.init && !c.no_new_privileges);
        assert_eq!(c.default_shm_size_bytes(), 64 << 20);
        assert_eq!(c.effective_default_runtime(), "berth");
    }

    #[test]
    fn to_json_uses_daemon_json_names() {
        let mut c = DaemonConfig::default();
        c.runtimes.insert(
            "crun".into(),
            Runtime {
                path: "/usr/bin/crun".into(),
                runtime_args: vec!["--debug".into()],
            },
        );
        c.default_ulimits.insert(
            "nofile".into(),
            Ulimit {
                name: "nofile".into(),
                hard: 2,
                soft: 1,
            },
        );
        c.unsupported.insert("ipv6".into(), json!(true));
        let j = c.to_json();
        assert_eq!(j["data-root"], "/var/lib/berth");
        assert_eq!(j["max-concurrent-downloads"], 3);
        assert_eq!(j["no-new-privileges"], false);
        assert_eq!(
            j["runtimes"]["crun"],
            json!({"path": "/usr/bin/crun", "runtimeArgs": ["--debug"]})
        );
        assert_eq!(
            j["default-ulimits"]["nofile"],
            json!({"Name": "nofile", "Hard": 2, "Soft": 1})
        );
        assert_eq!(j["ipv6"], true);
        assert!(j.get("tls").is_none(), "unset options are left out");
        assert!(j.get("unsupported").is_none());
    }

    #[test]
    fn tls_follows_dockerd() {
        let mut c = DaemonConfig::default();
        assert!(!c.tls_enabled() && !c.tls_verify());
        c.tls = Some(true);
        assert!(c.tls_enabled() && c.tls_verify());
        c.tlsverify = Some(false);
        assert!(c.tls_enabled() && !c.tls_verify());
        c.tls = None;
        c.tlsverify = Some(true);
        assert!(c.tls_enabled() && c.tls_verify());
    }

    #[test]
    fn listen_addrs_default_to_the_unix_socket() {
        let mut c = DaemonConfig::default();
        assert_eq!(
            c.listen_addrs().unwrap(),
            vec![ListenAddr::Unix("/var/run/berth/docker.sock".into())]
        );
        c.hosts = vec!["tcp://0.0.0.0".into()];
        c.tlsverify = Some(true);
        assert_eq!(
            c.listen_addrs().unwrap(),
            vec![ListenAddr::Tcp {
                host: "0.0.0.0".into(),
                port: 2376
            }]
        );
    }
}
