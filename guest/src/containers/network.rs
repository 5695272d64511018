//! A container's network: its namespace, its endpoints on bridge networks,
//! `/etc/hosts` and `/etc/resolv.conf` to match, and `network connect`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::record::Container;
use super::service::Containers;
use crate::api::networks::ConnectRequest;
use crate::errdefs::{Error, Result};
use crate::networks::endpoints::Attach;
use crate::networks::model::Endpoint;
use crate::networks::service::NetworkUsage;

/// How the container's network namespace comes about.
pub enum NetMode {
    Host,
    /// A new namespace with loopback only, made by the runtime.
    None,
    /// Another container's namespace.
    Join(PathBuf),
    /// A namespace berthd makes and connects to these networks.
    Bridge(Vec<String>),
}

impl Containers {
    pub(super) fn netns_path(&self, id: &str) -> PathBuf {
        self.exec_root.join("netns").join(id)
    }

    pub(super) fn net_mode(&self, c: &Container) -> Result<NetMode> {
        let mode = c.host_config["NetworkMode"].as_str().unwrap_or("bridge");
        Ok(match mode {
            "host" => NetMode::Host,
            "none" => NetMode::None,
            m if m.starts_with("container:") => {
                let other = self.store.get(&m["container:".len()..])?;
                if !other.state.running {
                    return Err(Error::conflict(format!(
                        "cannot join network namespace of a non running container: container {} is exited",
                        other.id
                    )));
                }
                NetMode::Join(self.netns_path(&other.id))
            }
            _ => NetMode::Bridge(configured_networks(c)),
        })
    }

    /// Makes the namespace and endpoints for a bridge-mode container and
    /// records them; returns the namespace for the spec.
    pub(super) fn setup_network(self: &Arc<Self>, id: &str) -> Result<Option<PathBuf>> {
        let c = self.store.get(id)?;
        let nets = match self.net_mode(&c)? {
            NetMode::Host | NetMode::None => return Ok(None),
            NetMode::Join(p) => return Ok(Some(p)),
            NetMode::Bridge(n) => n,
        };
        let ns = self.netns_path(id);
        let _ = self.networks.ops_delete_netns(&ns);
        self.networks.create_netns(&ns)?;
        let mut eps = std::collections::BTreeMap::new();
        for (i, name) in nets.iter().enumerate() {
            match self.attach_one(&c, name, &ns, i) {
                Ok(ep) => {
                    eps.insert(self.networks.get(name)?.name, ep);
                }
                Err(e) => {
                    for ep in eps.values() {
                        self.networks.release(ep);
                    }
                    let _ = self.networks.ops_delete_netns(&ns);
                    return Err(e);
                }
            }
        }
        let mut c = self.store.get(id)?;
        c.networks = eps;
        self.store.save(&c)?;
        Ok(Some(ns))
    }

    fn attach_one(
        self: &Arc<Self>,
        c: &Container,
        name: &str,
        ns: &std::path::Path,
        index: usize,
    ) -> Result<Endpoint> {
        let n = self.networks.get(name)?;
        if n.driver != "bridge" {
            return Err(Error::invalid(format!(
                "container cannot be connected to network {}: only bridge networks can be combined",
                n.name
            )));
        }
        let cfg = &c.endpoints_config[name];
        let requested = cfg["IPAMConfig"]["IPv4Address"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<Ipv4Addr>()
                    .map_err(|_| Error::invalid(format!("invalid IPv4 address: {s}")))
            })
            .transpose()?;
        let mut aliases: Vec<String> = cfg["Aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        if !n.builtin {
            aliases.push(c.id[..12].to_string());
            if let Some(h) = c.config["Hostname"].as_str() {
                aliases.push(h.to_string());
            }
        }
        self.networks.attach(
            &n,
            Attach {
                netns: ns,
                ifname: &format!("eth{index}"),
                requested_ip: requested,
                aliases,
                // dockerd gives no way out of an --internal network, not even a route.
                default_route: index == 0 && !n.internal,
            },
        )
    }

    /// After the container stopped: addresses back, namespace gone.
    pub(super) fn teardown_network(&self, id: &str) {
        self.unpublish_ports(id);
        if let Ok(mut c) = self.store.get(id) {
            c.ports = serde_json::Value::Null;
            for ep in c.networks.values() {
                self.networks.release(ep);
            }
            c.networks.clear();
            let _ = self.store.save(&c);
        }
        let _ = self.networks.ops_delete_netns(&self.netns_path(id));
    }

    /// The nameservers the container's resolv.conf names.
    pub(super) fn container_dns(&self, c: &Container) -> Option<String> {
        let first = c.networks.values().next()?;
        let n = self.networks.get(&first.network_id).ok()?;
        self.networks.dns_address(&n)
    }

    pub async fn connect_network(
        self: &Arc<Self>,
        network: &str,
        req: ConnectRequest,
    ) -> Result<()> {
        let c = self.store.get(&req.container)?;
        let n = self.networks.get(network)?;
        let live = self.live(&c.id);
        let _op = live.op.lock().await;
        let mut c = self.store.get(&c.id)?;
        if c.networks.contains_key(&n.name)
            || c.endpoints_config.get(&n.name).is_some() && !c.state.running
        {
            return Err(Error::new(
                crate::errdefs::Kind::Forbidden,
                format!(
                    "endpoint with name {} already exists in network {}",
                    c.name.trim_start_matches('/'),
                    n.name
                ),
            ));
        }
        if !c.endpoints_config.is_object() {
            c.endpoints_config = serde_json::json!({});
        }
        c.endpoints_config[&n.name] = req.endpoint_config.clone().unwrap_or(Value::Null);
        self.store.save(&c)?;
        if c.state.running {
            let me = self.clone();
            let id = c.id.clone();
            let name = n.name.clone();
            crate::task::blocking(move || {
                let c = me.store.get(&id)?;
                let ns = me.netns_path(&id);
                let ep = me.attach_one(&c, &name, &ns, c.networks.len())?;
                let mut c = me.store.get(&id)?;
                c.networks.insert(name, ep);
                me.store.save(&c)
            })
            .await?;
        }
        let attrs = std::collections::BTreeMap::from([
            ("container".to_string(), c.id.clone()),
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), n.driver.clone()),
        ]);
        self.events.publish("network", "connect", &n.id, attrs);
        Ok(())
    }

    pub async fn disconnect_network(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        _force: bool,
    ) -> Result<()> {
        let c = self.store.get(container)?;
        let n = self.networks.get(network)?;
        let live = self.live(&c.id);
        let _op = live.op.lock().await;
        let mut c = self.store.get(&c.id)?;
        let was_configured = c
            .endpoints_config
            .as_object_mut()
            .and_then(|o| o.remove(&n.name))
            .is_some();
        let ep = c.networks.remove(&n.name);
        let primary = c.host_config["NetworkMode"].as_str() == Some(n.name.as_str())
            || (n.name == "bridge" && c.host_config["NetworkMode"].as_str() == Some("default"));
        if ep.is_none() && !was_configured && !primary {
            return Err(Error::new(
                crate::errdefs::Kind::Forbidden,
                format!("container {} is not connected to network {}", c.id, n.name),
            ));
        }
        if primary && c.state.running {
            c.host_config["NetworkMode"] = Value::from("none");
        }
        self.store.save(&c)?;
        if let Some(ep) = ep {
            self.networks.release(&ep);
        }
        let attrs = std::collections::BTreeMap::from([
            ("container".to_string(), c.id.clone()),
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), n.driver.clone()),
        ]);
        self.events.publish("network", "disconnect", &n.id, attrs);
        Ok(())
    }
}

/// Lets the networks subsystem see who is on a network (inspect, DNS,
/// refusing to remove a network in use).
impl NetworkUsage for Containers {
    fn endpoints_on(&self, network_id: &str) -> Vec<(String, String, Endpoint)> {
        self.store
            .all()
            .into_iter()
            .filter(|c| c.state.running)
            .flat_map(|c| {
                let name = c.name.trim_start_matches('/').to_string();
                let id = c.id.clone();
                c.networks
                    .values()
                    .filter(|ep| ep.network_id == network_id)
                    .map(|ep| (id.clone(), name.clone(), ep.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// The networks a container is set up for (its mode's network and those it
/// was connected to), by name, whether it runs or not.
pub fn configured_networks(c: &Container) -> Vec<String> {
    let mode = c.host_config["NetworkMode"].as_str().unwrap_or("bridge");
    let mut out = Vec::new();
    if mode != "none" && !mode.starts_with("container:") {
        out.push(if mode == "default" { "bridge" } else { mode }.to_string());
    }
    for k in c
        .endpoints_config
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
    {
        // "default" names the bridge network, already first.
        if !out.contains(k) && k != mode {
            out.push(k.clone());
        }
    }
    out
}
