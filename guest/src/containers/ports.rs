//! Published ports (`-p`, `-P`): a host port for each, served by the
//! userland proxy towards the container's address on its first network.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{json, Value};

use super::service::Containers;
use crate::errdefs::Result;
use crate::networks::ports::{self, publish, requests};

impl Containers {
    /// Publishes what the container asks for (`bindings`: `PortBindings`
    /// shape; at daemon start, the ports it had) and records them.
    pub(super) async fn publish_ports(self: &Arc<Self>, id: &str, restoring: bool) -> Result<()> {
        let c = self.store.get(id)?;
        let Some(ep) = c.networks.values().next() else {
            return Ok(()); // host, none and container: networks publish nothing
        };
        let ip: IpAddr = match ep.ip.parse() {
            Ok(ip) => ip,
            Err(_) => return Ok(()),
        };
        let reqs = if restoring {
            requests(&c.ports, false, &Value::Null)?
        } else {
            requests(
                &c.host_config["PortBindings"],
                c.host_config["PublishAllPorts"].as_bool().unwrap_or(false),
                &c.config["ExposedPorts"],
            )?
        };
        let name = c.name.trim_start_matches('/').to_string();
        let bridge = self.networks.get(&ep.network_id)?.bridge;
        let mut done = Vec::new();
        for r in &reqs {
            // The proxy always serves: without it nothing forwards to the
            // container from the host's own addresses (the DNAT rule serves
            // traffic from other hosts, keeping its source address).
            let mut p =
                publish(&self.networks.ports, r, ip, true, (&name, &ep.endpoint_id)).await?;
            let (fw, binding, br) = (self.networks.firewall.clone(), p.binding, bridge.clone());
            let endpoint = format!("{name} ({})", ep.endpoint_id);
            let rule = crate::task::blocking(move || {
                fw.publish(&binding, ip, &br).map_err(|e| {
                    crate::errdefs::Error::system(format!(
                        "driver failed programming external connectivity on endpoint {endpoint}: {e}"
                    ))
                })
            })
            .await?;
            if let Some(rule) = rule {
                p.hold(rule);
            }
            done.push(p);
        }
        let bindings: Vec<ports::PortBinding> = done.iter().map(|p| p.binding).collect();
        let mut c = self.store.get(id)?;
        c.ports = ports::ports_json(&c.config["ExposedPorts"], &bindings);
        self.store.save(&c)?;
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), done);
        Ok(())
    }

    /// Closes the container's published ports and frees their host ports.
    pub(super) fn unpublish_ports(&self, id: &str) {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// The `Ports` column of `docker ps`.
pub fn ps_ports(ports: &Value) -> Value {
    let mut out = Vec::new();
    for (key, binds) in ports.as_object().into_iter().flatten() {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let private: u16 = port.parse().unwrap_or(0);
        match binds.as_array() {
            Some(list) => {
                for b in list {
                    out.push(json!({
                        "IP": b["HostIp"], "PrivatePort": private,
                        "PublicPort": b["HostPort"].as_str().and_then(|p| p.parse::<u16>().ok()),
                        "Type": proto,
                    }));
                }
            }
            None => out.push(json!({"PrivatePort": private, "Type": proto})),
        }
    }
    Value::Array(out)
}
