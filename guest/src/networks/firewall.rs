//! The bridge networks' firewall kept in step with the networks and the
//! published ports: dockerd's NAT (MASQUERADE out, DNAT in), forwarding and
//! isolation rules, written by `os::firewall`. Off with `"iptables": false`,
//! or when the machine has no iptables (then only the userland proxy serves
//! published ports and containers have no outbound NAT: said once, loudly).

use std::net::IpAddr;
use std::sync::Arc;

use berth_common::daemon_config::DaemonConfig;

use super::model::Network;
use super::ports::PortBinding;
use crate::os::firewall::{self, Bridge, Firewall, Iptables, Port};

#[derive(Clone, Default)]
pub struct NetFirewall {
    fw: Option<Arc<dyn Firewall>>,
    /// daemon.json `ip-forward`: turn on the machine's IPv4 forwarding.
    ip_forward: bool,
    /// This run turned forwarding on (and the FORWARD policy to DROP): a
    /// clean stop gives the machine back as it was, unlike dockerd.
    turned_on: Arc<std::sync::atomic::AtomicBool>,
}

impl NetFirewall {
    /// Touches nothing of the machine: no rules, no forwarding (unit tests).
    pub fn disabled() -> NetFirewall {
        NetFirewall::default()
    }

    /// Rules through `fw` (the real iptables, or a recorder in tests).
    pub fn with(fw: Arc<dyn Firewall>) -> NetFirewall {
        NetFirewall {
            fw: Some(fw),
            ..Default::default()
        }
    }

    /// The machine's iptables when daemon.json's `iptables` asks for it,
    /// and its forwarding when `ip-forward` does.
    pub fn from_config(cfg: &DaemonConfig) -> NetFirewall {
        let mut me = NetFirewall::with_iptables(cfg);
        me.ip_forward = cfg.ip_forward;
        me
    }

    fn with_iptables(cfg: &DaemonConfig) -> NetFirewall {
        if !cfg.iptables {
            return NetFirewall::disabled();
        }
        let ipt = Iptables::new();
        match ipt.version() {
            Ok(v) if v.starts_with("iptables") => {
                tracing::debug!(version = %v, "firewall: using iptables");
                NetFirewall::with(Arc::new(ipt))
            }
            _ => {
                tracing::warn!(
                    "iptables is not installed: containers get no outbound NAT and published \
                     ports are served by the userland proxy only; install iptables, or set \
                     \"iptables\": false in daemon.json to silence this"
                );
                NetFirewall::disabled()
            }
        }
    }

    /// Daemon start: whatever an earlier run left (a crash, a kill -9, a
    /// live-restore stop) is taken out, then the chains and every bridge
    /// network's rules are put back from the records, so the tables always
    /// match the store. Published ports come back as their containers are
    /// restored.
    pub fn start(&self, cfg: &DaemonConfig, networks: &[Network]) {
        if self.ip_forward {
            match firewall::enable_ip_forward() {
                // dockerd's rule: a host that did not route before must not
                // start routing for anyone but the containers.
                Ok(true) => {
                    self.turned_on
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    if let Some(fw) = &self.fw {
                        if let Err(e) = fw.forward_policy("DROP") {
                            tracing::warn!("firewall: setting the FORWARD policy to DROP: {e}");
                        }
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    "cannot enable IP forwarding (containers cannot reach other hosts): {e}"
                ),
            }
        }
        let Some(fw) = &self.fw else { return };
        let bridges: Vec<Bridge> = networks.iter().filter_map(|n| bridge_of(cfg, n)).collect();
        match fw.rebuild(&bridges) {
            Ok(0) => {}
            Ok(left) => tracing::info!(
                rules = left,
                "firewall: replaced the rules a previous run left"
            ),
            Err(e) => tracing::error!("firewall: cannot set up Berth's chains and rules: {e}"),
        }
    }

    pub fn network_added(&self, cfg: &DaemonConfig, n: &Network) {
        if let (Some(fw), Some(b)) = (&self.fw, bridge_of(cfg, n)) {
            if let Err(e) = fw.add_network(&b) {
                tracing::error!(network = %n.name, "firewall: adding the network's rules: {e}");
            }
        }
    }

    pub fn network_removed(&self, cfg: &DaemonConfig, n: &Network) {
        if let (Some(fw), Some(b)) = (&self.fw, bridge_of(cfg, n)) {
            if let Err(e) = fw.remove_network(&b) {
                tracing::warn!(network = %n.name, "firewall: removing the network's rules: {e}");
            }
        }
    }

    /// The DNAT and ACCEPT of one published port; they go when the
    /// returned value is dropped.
    pub fn publish(
        &self,
        binding: &PortBinding,
        container_ip: IpAddr,
        bridge: &str,
    ) -> std::io::Result<Option<PortRule>> {
        let Some(fw) = &self.fw else { return Ok(None) };
        let rules = PortRules {
            fw: fw.clone(),
            port: Port {
                proto: binding.proto.as_str().into(),
                host_ip: binding.host_ip,
                host_port: binding.host_port,
                container_ip,
                container_port: binding.container_port,
                bridge: bridge.to_string(),
            },
        };
        fw.add_port(&rules.port)?;
        Ok(Some(PortRule(Some(rules))))
    }

    /// Daemon stop with no container left running: every Berth rule goes,
    /// and forwarding is as this run found it.
    pub fn stop(&self) {
        if let Some(fw) = &self.fw {
            if let Err(e) = fw.teardown() {
                tracing::warn!("firewall: removing Berth's rules: {e}");
            }
        }
        if self
            .turned_on
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            if let Some(fw) = &self.fw {
                if let Err(e) = fw.forward_policy("ACCEPT") {
                    tracing::warn!("firewall: restoring the FORWARD policy: {e}");
                }
            }
            if let Err(e) = firewall::disable_ip_forward() {
                tracing::warn!("turning IP forwarding off again: {e}");
            }
        }
    }
}

/// The firewall's view of a bridge network; None for host/none and for a
/// network without an IPv4 subnet.
pub fn bridge_of(cfg: &DaemonConfig, n: &Network) -> Option<Bridge> {
    if n.driver != "bridge" || n.bridge.is_empty() {
        return None;
    }
    let subnet = n.subnet.clone()?;
    let opt = |key: &str, default: bool| {
        n.options
            .get(key)
            .map(|v| v.parse::<bool>().unwrap_or(default))
            .unwrap_or(default)
    };
    // The default bridge follows daemon.json; user networks their options.
    let (icc, masquerade) = match n.builtin {
        true => (cfg.icc, cfg.ip_masq),
        false => (
            opt("com.docker.network.bridge.enable_icc", true),
            opt("com.docker.network.bridge.enable_ip_masquerade", true),
        ),
    };
    Some(Bridge {
        name: n.bridge.clone(),
        subnet,
        internal: n.internal,
        icc,
        masquerade,
    })
}

/// One published port's rules, held as long as the port is published.
#[derive(Debug)]
pub struct PortRule(Option<PortRules>);

/// The port's rules and the firewall that holds them.
struct PortRules {
    fw: Arc<dyn Firewall>,
    port: Port,
}

impl std::fmt::Debug for PortRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.port.fmt(f)
    }
}

impl PortRules {
    fn remove(&self) {
        if let Err(e) = self.fw.remove_port(&self.port) {
            tracing::warn!(rule = ?self, "firewall: removing a published port's rules: {e}");
        }
    }
}

impl Drop for PortRule {
    /// On a blocking thread when there is a runtime: a container's exit is
    /// reported without waiting for iptables. Order does not matter: each
    /// copy of a port's rules is removed once, whenever.
    fn drop(&mut self) {
        let Some(rules) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || rules.remove())),
            Err(_) => rules.remove(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::networks::ports::Proto;
    use crate::os::firewall::Recorder;

    fn network(name: &str, builtin: bool, options: &[(&str, &str)]) -> Network {
        Network {
            id: format!("{name}-id"),
            name: name.into(),
            driver: "bridge".into(),
            created: String::new(),
            subnet: Some("10.1.2.0/24".into()),
            gateway: Some("10.1.2.1".into()),
            ip_range: None,
            internal: false,
            attachable: false,
            labels: BTreeMap::new(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            bridge: format!("br-{name}"),
            builtin,
        }
    }

    #[test]
    fn default_bridge_follows_daemon_json_and_user_networks_their_options() {
        let cfg = DaemonConfig {
            icc: false,
            ip_masq: false,
            ..Default::default()
        };
        let b = bridge_of(&cfg, &network("bridge", true, &[])).unwrap();
        assert!(!b.icc && !b.masquerade);
        let u = bridge_of(&cfg, &network("app", false, &[])).unwrap();
        assert!(u.icc && u.masquerade, "user networks default to on");
        let off = network(
            "quiet",
            false,
            &[
                ("com.docker.network.bridge.enable_icc", "false"),
                ("com.docker.network.bridge.enable_ip_masquerade", "false"),
            ],
        );
        let o = bridge_of(&cfg, &off).unwrap();
        assert!(!o.icc && !o.masquerade);
        let mut host = network("host", true, &[]);
        host.driver = "host".into();
        assert_eq!(bridge_of(&cfg, &host), None);
    }

    #[test]
    fn start_replaces_leftovers_and_ports_go_with_their_holder() {
        let rec = Arc::new(Recorder::new());
        // `with` never touches this machine's forwarding setting.
        let fw = NetFirewall::with(rec.clone());
        let cfg = DaemonConfig::default();
        let n = network("app", false, &[]);
        fw.start(&cfg, std::slice::from_ref(&n));
        let first = rec.dump("nat");
        // A second start (after a crash) ends with the same tables, not twice the rules.
        fw.start(&cfg, std::slice::from_ref(&n));
        assert_eq!(rec.dump("nat"), first);
        assert!(first.iter().any(|l| l.contains("MASQUERADE")), "{first:?}");

        let binding = PortBinding {
            proto: Proto::Tcp,
            host_ip: "0.0.0.0".parse().unwrap(),
            host_port: 8080,
            container_port: 80,
        };
        let held = fw
            .publish(&binding, "10.1.2.5".parse().unwrap(), "br-app")
            .unwrap()
            .expect("a rule when enabled");
        let dnat = |rec: &Recorder| {
            rec.dump("nat")
                .iter()
                .filter(|l| l.contains("--to-destination 10.1.2.5:80"))
                .count()
        };
        assert_eq!(dnat(&rec), 1);
        drop(held);
        assert_eq!(dnat(&rec), 0);

        fw.network_removed(&cfg, &n);
        assert!(!rec.dump("nat").iter().any(|l| l.contains("MASQUERADE")));
        fw.stop();
        assert!(rec.dump("nat").is_empty() && rec.dump("filter").is_empty());
    }

    #[test]
    fn disabled_publishes_nothing() {
        let fw = NetFirewall::disabled();
        let binding = PortBinding {
            proto: Proto::Udp,
            host_ip: "127.0.0.1".parse().unwrap(),
            host_port: 53,
            container_port: 53,
        };
        assert!(fw
            .publish(&binding, "10.0.0.2".parse().unwrap(), "br")
            .unwrap()
            .is_none());
    }
}
