//! Semantic checks of a merged configuration.
//!
//! Messages are dockerd's (daemon/config Validate, the registry and opts
//! validators, and the checks dockerd only makes while starting, which Berth
//! makes up front so that `--validate` and the settings panel see them too).
//! Where Berth refuses something dockerd accepts, the message says so.

mod logging;
mod network;
mod runtime;
mod unsupported;

use std::collections::BTreeMap;

use super::listen::ListenAddr;
use super::model::DaemonConfig;
use super::netaddr;
use super::size::parse_ram_size;

/// A refused value and the key it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub message: String,
}

pub(super) type Check = Result<(), Invalid>;

pub(super) fn bad(key: &'static str, message: impl Into<String>) -> Check {
    Err(Invalid {
        key,
        message: message.into(),
    })
}

pub(super) fn invalid(key: &'static str) -> impl Fn(String) -> Invalid {
    move |message| Invalid { key, message }
}

/// Runs every check, in dockerd's order where it has one.
pub fn check(c: &DaemonConfig) -> Check {
    check_log_level(c)?;
    unsupported::check(c)?;
    for d in &c.dns_search {
        netaddr::validate_dns_search(d).map_err(invalid("dns-search"))?;
    }
    for label in &c.labels {
        check_label(label).map_err(invalid("labels"))?;
    }
    check_limits(c)?;
    for h in &c.hosts {
        ListenAddr::parse(h, c.tls_enabled()).map_err(invalid("hosts"))?;
    }
    for m in &c.registry_mirrors {
        netaddr::validate_mirror(m).map_err(invalid("registry-mirrors"))?;
    }
    check_exec_opts(c)?;
    conflict_free_labels(&c.labels).map_err(invalid("labels"))?;
    for ip in &c.dns {
        if ip.trim().parse::<std::net::IpAddr>().is_err() {
            return bad("dns", format!("invalid IP address: {ip}"));
        }
    }
    for r in &c.insecure_registries {
        netaddr::validate_insecure_registry(r).map_err(invalid("insecure-registries"))?;
    }
    runtime::check_storage_driver(c)?;
    logging::check(c)?;
    runtime::check_runtimes(c)?;
    network::check_bridge(c)?;
    network::check_address_pools(c)?;
    runtime::check_ulimits(c)?;
    if let Some(size) = &c.default_shm_size {
        parse_ram_size(size).map_err(invalid("default-shm-size"))?;
    }
    Ok(())
}

/// Labels with the same key must agree; duplicates are dropped, keeping the
/// first position (dockerd's GetConflictFreeLabels, minus its random order).
pub fn conflict_free_labels(labels: &[String]) -> Result<Vec<String>, String> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut out = Vec::new();
    for label in labels {
        let Some((key, value)) = label.split_once('=') else {
            continue;
        };
        match seen.get(key) {
            Some(&earlier) if earlier != value => {
                return Err(format!(
                    "conflict labels for {key}={value} and {key}={earlier}"
                ));
            }
            Some(_) => {}
            None => {
                seen.insert(key, value);
                out.push(label.clone());
            }
        }
    }
    Ok(out)
}

fn check_log_level(c: &DaemonConfig) -> Check {
    match c.log_level.to_ascii_lowercase().as_str() {
        "" | "panic" | "fatal" | "error" | "warn" | "info" | "debug" | "trace" => Ok(()),
        _ => bad(
            "log-level",
            format!("invalid logging level: {}", c.log_level),
        ),
    }
}

fn check_label(label: &str) -> Result<(), String> {
    if !label.contains('=') {
        return Err(format!("bad attribute format: {label}"));
    }
    let lower = label.to_ascii_lowercase();
    if ["com.docker.", "io.docker.", "org.dockerproject."]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return Err(format!(
            "label {label} is not allowed: the namespaces com.docker.*, io.docker.*, and org.dockerproject.* are reserved for internal use"
        ));
    }
    Ok(())
}

fn check_limits(c: &DaemonConfig) -> Check {
    // dockerd only refuses negative MTUs; below IPv4's minimum or above the
    // largest Linux MTU the bridge would fail later, so say so now.
    if c.mtu < 0 {
        return bad("mtu", format!("invalid default MTU: {}", c.mtu));
    }
    if c.mtu != 0 && !(68..=65535).contains(&c.mtu) {
        return bad(
            "mtu",
            format!(
                "invalid default MTU: {}: must be between 68 and 65535",
                c.mtu
            ),
        );
    }
    if c.max_concurrent_downloads < 0 {
        return bad(
            "max-concurrent-downloads",
            format!(
                "invalid max concurrent downloads: {}",
                c.max_concurrent_downloads
            ),
        );
    }
    if c.max_concurrent_uploads < 0 {
        return bad(
            "max-concurrent-uploads",
            format!(
                "invalid max concurrent uploads: {}",
                c.max_concurrent_uploads
            ),
        );
    }
    if c.max_download_attempts <= 0 {
        return bad(
            "max-download-attempts",
            format!("invalid max download attempts: {}", c.max_download_attempts),
        );
    }
    Ok(())
}

fn exec_opts(c: &DaemonConfig) -> Result<BTreeMap<String, String>, Invalid> {
    let mut opts = BTreeMap::new();
    for kv in &c.exec_opts {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if !kv.contains('=') || k.is_empty() || v.is_empty() {
            return Err(Invalid {
                key: "exec-opts",
                message: format!("invalid exec-opt ({kv}): must be formatted 'opt=value'"),
            });
        }
        let why = match k.as_str() {
            "native.cgroupdriver" => match v {
                "cgroupfs" | "systemd" => None,
                "none" => Some(format!(
                    "native.cgroupdriver option {v} is internally used and cannot be specified manually"
                )),
                _ => Some(format!("native.cgroupdriver option {v} not supported")),
            },
            "isolation" => Some(format!("option '{k}' is only supported on windows")),
            _ => Some(format!("unknown option: '{k}'")),
        };
        if let Some(why) = why {
            return Err(Invalid {
                key: "exec-opts",
                message: format!("invalid exec-opt ({kv}): {why}"),
            });
        }
        opts.insert(k, v.to_string());
    }
    Ok(opts)
}

fn check_exec_opts(c: &DaemonConfig) -> Check {
    let opts = exec_opts(c)?;
    let systemd = opts
        .get("native.cgroupdriver")
        .is_some_and(|d| d == "systemd");
    if let (true, Some(parent)) = (systemd, &c.cgroup_parent) {
        if parent.len() <= 6 || !parent.ends_with(".slice") {
            return bad(
                "cgroup-parent",
                "cgroup-parent for systemd cgroup should be a valid slice named as \"xxx.slice\"",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod test_support {
    use super::check;
    use crate::daemon_config::model::DaemonConfig;

    pub fn refuse(c: &DaemonConfig) -> (String, String) {
        let e = check(c).expect_err("should be refused");
        (e.key.to_string(), e.message)
    }

    pub fn with(f: impl FnOnce(&mut DaemonConfig)) -> DaemonConfig {
        let mut c = DaemonConfig::default();
        f(&mut c);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{refuse, with};
    use super::*;

    #[test]
    fn defaults_pass() {
        assert_eq!(check(&DaemonConfig::default()), Ok(()));
    }

    #[test]
    fn log_level() {
        assert!(check(&with(|c| c.log_level = "WARN".into())).is_ok());
        assert!(check(&with(|c| c.log_level = "trace".into())).is_ok());
        assert_eq!(
            refuse(&with(|c| c.log_level = "loud".into())),
            ("log-level".into(), "invalid logging level: loud".into())
        );
    }

    #[test]
    fn labels() {
        assert_eq!(
            refuse(&with(|c| c.labels = vec!["x".into()])).1,
            "bad attribute format: x"
        );
        assert!(refuse(&with(|c| c.labels = vec!["com.docker.x=1".into()]))
            .1
            .starts_with("label com.docker.x=1 is not allowed: the namespaces"));
        assert_eq!(
            refuse(&with(|c| c.labels = vec!["a=1".into(), "a=2".into()])).1,
            "conflict labels for a=2 and a=1"
        );
        assert_eq!(
            conflict_free_labels(&["a=1".into(), "b=2".into(), "a=1".into()]),
            Ok(vec!["a=1".to_string(), "b=2".to_string()])
        );
    }

    #[test]
    fn counts_and_sizes() {
        assert_eq!(refuse(&with(|c| c.mtu = -1)).1, "invalid default MTU: -1");
        assert_eq!(
            refuse(&with(|c| c.mtu = 10)).1,
            "invalid default MTU: 10: must be between 68 and 65535"
        );
        assert!(check(&with(|c| c.mtu = 9000)).is_ok());
        assert_eq!(
            refuse(&with(|c| c.max_concurrent_downloads = -2)),
            (
                "max-concurrent-downloads".into(),
                "invalid max concurrent downloads: -2".into()
            )
        );
        assert!(check(&with(|c| c.max_concurrent_uploads = 0)).is_ok());
        assert_eq!(
            refuse(&with(|c| c.max_concurrent_uploads = -1)).1,
            "invalid max concurrent uploads: -1"
        );
        assert_eq!(
            refuse(&with(|c| c.max_download_attempts = 0)).1,
            "invalid max download attempts: 0"
        );
        assert_eq!(
            refuse(&with(|c| c.default_shm_size = Some("big".into()))).1,
            "invalid size: 'big'"
        );
    }

    #[test]
    fn registries() {
        assert!(
            refuse(&with(|c| c.registry_mirrors = vec!["m.local".into()]))
                .1
                .starts_with("invalid mirror: no scheme specified")
        );
        assert_eq!(
            refuse(&with(|c| c.insecure_registries = vec!["a_b".into()])).0,
            "insecure-registries"
        );
    }

    #[test]
    fn exec_opts_and_cgroups() {
        assert!(check(&with(
            |c| c.exec_opts = vec!["native.cgroupdriver=systemd".into()]
        ))
        .is_ok());
        assert_eq!(
            refuse(&with(|c| c.exec_opts = vec!["nope".into()])).1,
            "invalid exec-opt (nope): must be formatted 'opt=value'"
        );
        assert_eq!(
            refuse(&with(|c| c.exec_opts = vec!["foo=bar".into()])).1,
            "invalid exec-opt (foo=bar): unknown option: 'foo'"
        );
        assert_eq!(
            refuse(&with(|c| c.exec_opts = vec!["isolation=hyperv".into()])).1,
            "invalid exec-opt (isolation=hyperv): option 'isolation' is only supported on windows"
        );
        assert_eq!(
            refuse(&with(|c| c.exec_opts = vec!["native.cgroupdriver=x".into()])).1,
            "invalid exec-opt (native.cgroupdriver=x): native.cgroupdriver option x not supported"
        );
        let slice = |parent: &str| {
            with(|c| {
                c.exec_opts = vec!["native.cgroupdriver=systemd".into()];
                c.cgroup_parent = Some(parent.into());
            })
        };
        assert!(check(&slice("berth.slice")).is_ok());
        assert_eq!(refuse(&slice("/berth")).0, "cgroup-parent");
    }
}
