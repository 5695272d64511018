//! The networks subsystem: records, the built-in networks, bridges.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde_json::{json, Value};

use super::ipam::{self, Subnet};
use super::model::Network;
use super::store::NetworkStore;
use crate::errdefs::{Error, Kind, Result};
use crate::os::net::NetOps;

/// Who uses which network, from the containers subsystem.
pub trait NetworkUsage: Send + Sync {
    /// (container id, name, endpoint) of each running container on `network_id`.
    fn endpoints_on(&self, network_id: &str) -> Vec<(String, String, super::model::Endpoint)>;
}

pub struct Networks {
    pub(super) store: NetworkStore,
    pub(super) ops: Arc<dyn NetOps>,
    pub(super) config: Arc<crate::config::Shared>,
    pub(super) events: Arc<crate::events::Events>,
    pub(super) usage: OnceLock<Weak<dyn NetworkUsage>>,
    /// Addresses in use, per network ID.
    pub(super) used: Mutex<HashMap<String, BTreeSet<Ipv4Addr>>>,
    pub(super) dns: Mutex<HashMap<String, super::dns::DnsServer>>,
    /// Host ports handed out to published container ports.
    pub ports: super::ports::PortAllocator,
    pub firewall: super::firewall::NetFirewall,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Option<Value>,
    pub options: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub check_duplicate: Option<bool>,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: Option<bool>,
}

pub const DEFAULT_BRIDGE: &str = "berth0";
const MTU_OPTION: &str = "com.docker.network.driver.mtu";

impl Networks {
    pub fn open(
        data_root: &Path,
        config: Arc<crate::config::Shared>,
        events: Arc<crate::events::Events>,
        ops: Arc<dyn NetOps>,
        firewall: super::firewall::NetFirewall,
    ) -> std::io::Result<Arc<Networks>> {
        let me = Arc::new(Networks {
            store: NetworkStore::open(data_root)?,
            ops,
            config,
            events,
            usage: OnceLock::new(),
            used: Mutex::default(),
            dns: Mutex::default(),
            ports: super::ports::PortAllocator::new(),
            firewall,
        });
        me.builtins()
            .map_err(|e| std::io::Error::other(e.message))?;
        me.firewall.start(&me.config.get(), &me.store.all());
        Ok(me)
    }

    pub fn set_usage(&self, usage: Weak<dyn NetworkUsage>) {
        let _ = self.usage.set(usage);
    }

    /// `bridge`, `host` and `none`, as dockerd has them; the default
    /// bridge follows `bip`/`fixed-cidr`/`mtu` (and `bridge` names its device).
    fn builtins(&self) -> Result<()> {
        let cfg = self.config.get();
        let (subnet, gateway) = match &cfg.bip {
            Some(bip) => {
                let s = Subnet::parse(bip)
                    .map_err(|_| Error::invalid(format!("invalid bip: {bip}")))?;
                let gw: Ipv4Addr = bip
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .parse()
                    .map_err(|_| Error::invalid(format!("invalid bip: {bip}")))?;
                (s, gw)
            }
            None => {
                let s = Subnet::parse("172.17.0.0/16")?;
                (s, s.gateway())
            }
        };
        let device = cfg
            .bridge
            .clone()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| DEFAULT_BRIDGE.into());
        // dockerd refuses to start rather than give two networks one subnet.
        if let Some(other) = self.store.all().into_iter().find(|n| {
            !n.builtin
                && n.subnet
                    .as_deref()
                    .and_then(|x| Subnet::parse(x).ok())
                    .is_some_and(|x| x.overlaps(&subnet))
        }) {
            return Err(Error::invalid(format!(
                "Error creating default \"bridge\" network: cannot create network ({device}): \
                 conflicts with network {} ({}): networks have overlapping IPv4 \
                 ({subnet} and {} of network {}); choose another bip in daemon.json or remove network {}",
                other.id,
                other.bridge,
                other.subnet.clone().unwrap_or_default(),
                other.name,
                other.name
            )));
        }
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            let existing = self
                .store
                .all()
                .into_iter()
                .find(|n| n.name == name && n.builtin);
            let mut n = existing.unwrap_or_else(|| Network {
                id: new_id(),
                name: name.into(),
                driver: driver.into(),
                created: crate::timefmt::now_rfc3339(),
                subnet: None,
                gateway: None,
                ip_range: None,
                internal: false,
                attachable: false,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                bridge: String::new(),
                builtin: true,
            });
            if name == "bridge" {
                n.subnet = Some(subnet.to_string());
                n.gateway = Some(gateway.to_string());
                n.ip_range = cfg.fixed_cidr.clone();
                n.bridge = device.clone();
                n.options = BTreeMap::from([
                    (
                        "com.docker.network.bridge.default_bridge".into(),
                        "true".into(),
                    ),
                    ("com.docker.network.bridge.name".into(), device.clone()),
                    (
                        "com.docker.network.driver.mtu".into(),
                        self.mtu().to_string(),
                    ),
                ]);
            }
            self.store.save(&n)?;
        }
        Ok(())
    }

    pub(super) fn mtu(&self) -> u32 {
        let m = self.config.get().mtu;
        if m > 0 {
            m as u32
        } else {
            1500
        }
    }

    /// A user network's own `com.docker.network.driver.mtu`, else the daemon's.
    pub(super) fn mtu_of(&self, n: &Network) -> u32 {
        n.options
            .get(MTU_OPTION)
            .and_then(|m| m.parse().ok())
            .filter(|m| *m > 0)
            .unwrap_or_else(|| self.mtu())
    }

    pub fn get(&self, what: &str) -> Result<Network> {
        self.store.get(what)
    }

    pub fn create(&self, req: CreateRequest) -> Result<(String, String)> {
        if req.name.is_empty() {
            return Err(Error::invalid("network name cannot be empty"));
        }
        if self.store.all().iter().any(|n| n.name == req.name) {
            return Err(Error::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let driver = req
            .driver
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "bridge".into());
        if driver != "bridge" {
            return Err(Error::not_found(format!(
                "could not find plugin {driver} in v1 plugin registry: plugin not found"
            )));
        }
        let cfg0 = req
            .ipam
            .as_ref()
            .and_then(|i| i["Config"].as_array().and_then(|a| a.first().cloned()));
        let taken: Vec<Subnet> = self
            .store
            .all()
            .iter()
            .filter_map(|n| n.subnet.as_deref().and_then(|s| Subnet::parse(s).ok()))
            .collect();
        let subnet = match cfg0
            .as_ref()
            .and_then(|c| c["Subnet"].as_str())
            .filter(|s| !s.is_empty())
        {
            Some(s) => {
                let s = Subnet::parse(s)?;
                if let Some(other) = self.store.all().iter().find(|n| {
                    n.subnet
                        .as_deref()
                        .and_then(|x| Subnet::parse(x).ok())
                        .is_some_and(|x| x.overlaps(&s))
                }) {
                    return Err(Error::new(
                        Kind::Forbidden,
                        format!("invalid pool request: Pool overlaps with other one on this address space ({s} overlaps {} of network {})", other.subnet.clone().unwrap_or_default(), other.name),
                    ));
                }
                s
            }
            None => {
                let mut avoid = taken.clone();
                avoid.extend(ipam::host_routes());
                ipam::next_subnet(&self.pools(), &avoid).ok_or_else(|| {
                    Error::new(
                        Kind::Forbidden,
                        "all predefined address pools have been fully subnetted",
                    )
                })?
            }
        };
        let gateway = match cfg0
            .as_ref()
            .and_then(|c| c["Gateway"].as_str())
            .filter(|s| !s.is_empty())
        {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| Error::invalid(format!("invalid gateway address {g}")))?;
                if !subnet.contains(ip) {
                    return Err(Error::new(
                        Kind::Forbidden,
                        format!("no matching subnet for gateway {g}"),
                    ));
                }
                ip
            }
            None => subnet.gateway(),
        };
        let ip_range = match cfg0
            .as_ref()
            .and_then(|c| c["IPRange"].as_str())
            .filter(|s| !s.is_empty())
        {
            Some(r) => {
                let r2 = Subnet::parse(r)?;
                if !(subnet.contains(r2.addr) && subnet.contains(Ipv4Addr::from(r2.last()))) {
                    return Err(Error::invalid(format!(
                        "ip-range {r} is not within subnet {subnet}"
                    )));
                }
                Some(r2.to_string())
            }
            None => None,
        };
        let id = new_id();
        let options = req.options.clone().unwrap_or_default();
        if let Some(m) = options.get(MTU_OPTION) {
            if !m.parse::<u32>().is_ok_and(|m| (68..=65535).contains(&m)) {
                return Err(Error::invalid(format!(
                    "invalid MTU {m}: it must be a number from 68 to 65535"
                )));
            }
        }
        let bridge = options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        let n = Network {
            id: id.clone(),
            name: req.name.clone(),
            driver,
            created: crate::timefmt::now_rfc3339(),
            subnet: Some(subnet.to_string()),
            gateway: Some(gateway.to_string()),
            ip_range,
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone().unwrap_or_default(),
            options,
            bridge,
            builtin: false,
        };
        self.ops
            .ensure_bridge(&n.bridge, gateway, subnet.prefix, self.mtu_of(&n))
            .map_err(|e| Error::system(format!("cannot create the bridge {}: {e}", n.bridge)))?;
        if let Err(e) = self.store.save(&n) {
            let _ = self.ops.delete_link(&n.bridge);
            return Err(e);
        }
        self.firewall.network_added(&self.config.get(), &n);
        self.event("create", &n);
        Ok((id, String::new()))
    }

    fn pools(&self) -> Vec<(Subnet, u8)> {
        let cfg = self.config.get();
        if cfg.default_address_pools.is_empty() {
            return ipam::default_pools();
        }
        cfg.default_address_pools
            .iter()
            .filter_map(|p| Some((Subnet::parse(&p.base).ok()?, p.size)))
            .collect()
    }

    pub fn remove(&self, what: &str) -> Result<()> {
        let n = self.store.get(what)?;
        if n.builtin {
            return Err(Error::new(
                Kind::Forbidden,
                format!("{} is a pre-defined network and cannot be removed", n.name),
            ));
        }
        if !self.endpoints(&n.id).is_empty() {
            return Err(Error::new(
                Kind::Forbidden,
                format!(
                    "error while removing network: network {} id {} has active endpoints",
                    n.name, n.id
                ),
            ));
        }
        self.teardown(&n);
        self.store.remove(&n.id)?;
        self.event("destroy", &n);
        Ok(())
    }

    /// Removes what the network made on the host: its DNS server, its bridge.
    pub(super) fn teardown(&self, n: &Network) {
        self.stop_dns(&n.id);
        self.firewall.network_removed(&self.config.get(), n);
        if n.driver == "bridge" && !n.bridge.is_empty() {
            if let Err(e) = self.ops.delete_link(&n.bridge) {
                tracing::warn!(bridge = %n.bridge, "removing the bridge: {e}");
            }
        }
    }

    /// Removes the user networks no running container is on, selected by
    /// dockerd's prune filters: `until`, `label` (every one given) and
    /// `label!` (spares a network with every one given).
    pub fn prune(&self, filters: &crate::filters::Filters) -> Result<Vec<String>> {
        crate::filters::check_keys(filters, &["until", "label", "label!"])?;
        let until = match filters.get("until").and_then(|v| v.first()) {
            Some(v) => Some(crate::timefmt::until_cutoff(v, crate::timefmt::now_unix())?),
            None => None,
        };
        let has_all = |n: &Network, key: &str| {
            filters.get(key).is_some_and(|want| {
                want.iter().all(|w| {
                    crate::filters::label_matches(|k| n.labels.get(k).map(String::as_str), w)
                })
            })
        };
        let mut gone = Vec::new();
        for n in self.store.all() {
            if until.is_some_and(|u| crate::timefmt::rfc3339_to_unix(&n.created) >= u)
                || (filters.contains_key("label") && !has_all(&n, "label"))
                || has_all(&n, "label!")
            {
                continue;
            }
            if !n.builtin && self.endpoints(&n.id).is_empty() && self.remove(&n.id).is_ok() {
                gone.push(n.name);
            }
        }
        Ok(gone)
    }

    pub fn list(&self, filters: &crate::filters::Filters) -> Result<Vec<Value>> {
        crate::filters::check_keys(
            filters,
            &["driver", "id", "label", "name", "scope", "type", "dangling"],
        )?;
        let any = |k: &str, f: &dyn Fn(&str) -> bool| {
            filters.get(k).is_none_or(|v| v.iter().any(|x| f(x)))
        };
        Ok(self
            .store
            .all()
            .into_iter()
            .filter(|n| {
                any("driver", &|x| n.driver == x)
                    && any("id", &|x| n.id.starts_with(x))
                    && any("name", &|x| n.name.contains(x))
                    && any("scope", &|x| x == "local")
                    && any("type", &|x| {
                        (x == "builtin") == n.builtin && (x == "custom" || x == "builtin")
                    })
                    && filters.get("label").is_none_or(|want| {
                        want.iter().all(|x| {
                            crate::filters::label_matches(
                                |k| n.labels.get(k).map(String::as_str),
                                x,
                            )
                        })
                    })
            })
            .map(|n| self.json(&n, false))
            .collect())
    }

    pub fn inspect(&self, what: &str) -> Result<Value> {
        let n = self.store.get(what)?;
        Ok(self.json(&n, true))
    }

    fn json(&self, n: &Network, containers: bool) -> Value {
        let config = match (&n.subnet, &n.gateway) {
            (Some(s), Some(g)) => {
                let mut c = json!({"Subnet": s, "Gateway": g});
                if let Some(r) = &n.ip_range {
                    c["IPRange"] = json!(r);
                }
                json!([c])
            }
            _ => json!([]),
        };
        let mut v = json!({
            "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": n.driver,
            "EnableIPv4": true, "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": config},
            "Internal": n.internal, "Attachable": n.attachable, "Ingress": false,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
            "Options": n.options, "Labels": n.labels, "Containers": {},
        });
        if containers {
            let mut map = serde_json::Map::new();
            for (id, name, ep) in self.endpoints(&n.id) {
                map.insert(
                    id,
                    json!({
                        "Name": name, "EndpointID": ep.endpoint_id, "MacAddress": ep.mac,
                        "IPv4Address": format!("{}/{}", ep.ip, ep.prefix), "IPv6Address": "",
                    }),
                );
            }
            v["Containers"] = Value::Object(map);
        }
        v
    }

    pub(super) fn event(&self, action: &str, n: &Network) {
        let attrs = BTreeMap::from([
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), n.driver.clone()),
        ]);
        self.events.publish("network", action, &n.id, attrs);
    }
}

pub fn new_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
