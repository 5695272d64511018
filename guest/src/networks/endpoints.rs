//! Containers on networks: addresses, veth pairs into their namespaces,
//! the bridge behind them, and the network's DNS server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Weak};

use super::dns::{DnsServer, Names};
use super::ipam::{self, Subnet};
use super::model::{Endpoint, Network};
use super::service::Networks;
use crate::errdefs::{Error, Result};
use crate::os::net;

pub struct Attach<'a> {
    pub netns: &'a Path,
    pub ifname: &'a str,
    pub requested_ip: Option<Ipv4Addr>,
    pub aliases: Vec<String>,
    pub default_route: bool,
}

impl Networks {
    /// Gives the container an address on `n` and its interface in `netns`.
    pub fn attach(self: &Arc<Self>, n: &Network, a: Attach) -> Result<Endpoint> {
        let (subnet, gateway) = subnet_of(n)?;
        let range = n.ip_range.as_deref().map(Subnet::parse).transpose()?;
        let ip = {
            let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            let used = used.entry(n.id.clone()).or_default();
            let ip = match a.requested_ip {
                Some(ip) if !subnet.contains(ip) => {
                    return Err(Error::invalid(format!(
                        "no configured subnet contains IP address {ip}"
                    )))
                }
                Some(ip) if used.contains(&ip) || ip == gateway => {
                    return Err(Error::invalid("Address already in use"))
                }
                Some(ip) => ip,
                None => {
                    ipam::next_address(&subnet, range.as_ref(), gateway, used).ok_or_else(|| {
                        Error::system(format!(
                            "no available IPv4 addresses on this network's address pools: {} ({})",
                            n.name, n.id
                        ))
                    })?
                }
            };
            used.insert(ip);
            ip
        };
        let endpoint_id = super::service::new_id();
        let ep = Endpoint {
            network_id: n.id.clone(),
            endpoint_id: endpoint_id.clone(),
            ip: ip.to_string(),
            prefix: subnet.prefix,
            gateway: gateway.to_string(),
            mac: net::mac_string(&net::mac_for(ip)),
            aliases: a.aliases,
            host_if: format!("veth{}", &endpoint_id[..7]),
        };
        let plumbed = self
            .ops
            .ensure_bridge(&n.bridge, gateway, subnet.prefix, self.mtu_of(n))
            .and_then(|()| {
                self.ops.connect(&net::Endpoint {
                    netns: a.netns.to_path_buf(),
                    bridge: n.bridge.clone(),
                    host_if: ep.host_if.clone(),
                    ifname: a.ifname.to_string(),
                    addr: ip,
                    prefix: subnet.prefix,
                    gateway: a.default_route.then_some(gateway),
                    mac: net::mac_for(ip),
                    mtu: self.mtu_of(n),
                })
            });
        if let Err(e) = plumbed {
            self.release(&ep);
            return Err(Error::system(format!(
                "failed to set up the container's network on {}: {e}",
                n.name
            )));
        }
        if !n.builtin {
            self.ensure_dns(n, gateway);
        }
        Ok(ep)
    }

    /// Frees the endpoint's address and host interface (gone already when
    /// its namespace went away).
    pub fn release(&self, ep: &Endpoint) {
        if let Ok(ip) = ep.ip.parse::<Ipv4Addr>() {
            if let Some(set) = self
                .used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&ep.network_id)
            {
                set.remove(&ip);
            }
        }
        if self.ops.link_exists(&ep.host_if) {
            let _ = self.ops.delete_link(&ep.host_if);
        }
    }

    /// Marks an address in use (a running container found at daemon start).
    pub fn reserve(self: &Arc<Self>, ep: &Endpoint) {
        if let Ok(ip) = ep.ip.parse::<Ipv4Addr>() {
            self.used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(ep.network_id.clone())
                .or_default()
                .insert(ip);
        }
        if let Ok(n) = self.store.get(&ep.network_id) {
            if !n.builtin {
                if let Ok(gw) = ep.gateway.parse() {
                    self.ensure_dns(&n, gw);
                }
            }
        }
    }

    /// User-defined networks answer container names on their gateway
    /// address, port 53.
    fn ensure_dns(self: &Arc<Self>, n: &Network, gateway: Ipv4Addr) {
        let mut servers = self.dns.lock().unwrap_or_else(|p| p.into_inner());
        if servers.contains_key(&n.id) {
            return;
        }
        let names: Arc<dyn Names> = Arc::new(NetworkNames {
            networks: Arc::downgrade(self),
            network_id: n.id.clone(),
        });
        let upstreams = super::dns::upstreams_from_resolv_conf(
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        );
        let addr = SocketAddr::from((gateway, 53));
        let started =
            tokio::runtime::Handle::current().block_on(DnsServer::start(addr, names, upstreams));
        match started {
            Ok(s) => {
                servers.insert(n.id.clone(), s);
            }
            Err(e) => {
                tracing::warn!(network = %n.name, %addr, "cannot start the network's DNS server: {e}")
            }
        }
    }

    pub(super) fn stop_dns(&self, id: &str) {
        self.dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// The address containers on `n` use as their nameserver.
    pub fn dns_address(&self, n: &Network) -> Option<String> {
        (!n.builtin && n.driver == "bridge")
            .then(|| n.gateway.clone())
            .flatten()
    }
}

fn subnet_of(n: &Network) -> Result<(Subnet, Ipv4Addr)> {
    let subnet = Subnet::parse(n.subnet.as_deref().unwrap_or(""))
        .map_err(|_| Error::invalid(format!("network {} has no subnet", n.name)))?;
    let gateway = n
        .gateway
        .as_deref()
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| subnet.gateway());
    Ok((subnet, gateway))
}

/// Container names, aliases and short IDs on one network, for its DNS.
struct NetworkNames {
    networks: Weak<Networks>,
    network_id: String,
}

impl Names for NetworkNames {
    fn lookup(&self, name: &str) -> Vec<std::net::IpAddr> {
        let Some(nets) = self.networks.upgrade() else {
            return Vec::new();
        };
        let want = name.trim_end_matches('.').to_ascii_lowercase();
        nets.endpoints(&self.network_id)
            .into_iter()
            .filter(|(id, cname, ep)| {
                cname.eq_ignore_ascii_case(&want)
                    || id.get(..12).is_some_and(|s| s == want)
                    || ep.aliases.iter().any(|a| a.eq_ignore_ascii_case(&want))
            })
            .filter_map(|(_, _, ep)| ep.ip.parse().ok())
            .collect()
    }

    fn reverse(&self, ip: std::net::IpAddr) -> Option<String> {
        let nets = self.networks.upgrade()?;
        let net_name = nets.store.get(&self.network_id).ok()?.name;
        nets.endpoints(&self.network_id)
            .into_iter()
            .find(|(_, _, ep)| ep.ip == ip.to_string())
            .map(|(_, name, _)| format!("{name}.{net_name}"))
    }
}

impl Networks {
    pub(super) fn endpoints(&self, id: &str) -> Vec<(String, String, Endpoint)> {
        self.usage
            .get()
            .and_then(Weak::upgrade)
            .map(|u| u.endpoints_on(id))
            .unwrap_or_default()
    }
}

impl Networks {
    pub fn create_netns(&self, path: &Path) -> Result<()> {
        self.ops.create_netns(path).map_err(|e| {
            Error::system(format!(
                "cannot create the container's network namespace: {e}"
            ))
        })
    }

    pub fn ops_delete_netns(&self, path: &Path) -> std::io::Result<()> {
        self.ops.delete_netns(path)
    }
}
