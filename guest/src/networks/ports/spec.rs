//! `HostConfig.PortBindings` + `PublishAllPorts` + `Config.ExposedPorts`
//! into port requests, with dockerd's validation and messages, and the
//! reverse: `NetworkSettings.Ports` from what was published.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Map, Value};

use super::{PortBinding, PortRequest, Proto};
use crate::errdefs::{Error, Result};

/// A container-side port key ("80/tcp", "53/udp", "80" = tcp), as dockerd
/// validates it: one port, no range, not 0.
fn parse_key(key: &str) -> Result<(u16, Proto)> {
    let bad = || Error::invalid(format!("invalid port specification: {key:?}"));
    let (port, proto) = match key.split_once('/') {
        Some((p, proto)) => (p, Proto::parse(proto).ok_or_else(bad)?),
        None => (key, Proto::Tcp),
    };
    match port.parse::<u16>() {
        Ok(n) if n > 0 => Ok((n, proto)),
        _ => Err(bad()),
    }
}

/// `HostPort`: "" (any), "8080", or "8080-8090" (any free one of those).
/// A "/proto" suffix is tolerated and ignored, as dockerd does.
fn parse_host_ports(raw: &str) -> Result<(u16, u16)> {
    let bad = || Error::invalid(format!("invalid port specification: {raw:?}"));
    let ports = raw.split('/').next().unwrap_or("");
    if ports.is_empty() {
        return Ok((0, 0));
    }
    let num = |s: &str| s.parse::<u16>().map_err(|_| bad());
    match ports.split_once('-') {
        None => {
            let p = num(ports)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            // dockerd reports a reversed range like any other bad value.
            if b < a {
                return Err(bad());
            }
            Ok((a, b))
        }
    }
}

/// `HostIp`: "" is every IPv4 address (0.0.0.0); brackets around IPv6 are
/// accepted since some clients keep them from `-p [::1]:80:80`.
fn parse_host_ip(raw: &str) -> Result<IpAddr> {
    if raw.is_empty() {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    let trimmed = raw.trim_start_matches('[').trim_end_matches(']');
    trimmed
        .parse()
        .map_err(|_| Error::invalid(format!("invalid host IP address: {raw:?}")))
}

fn keys(v: &Value) -> impl Iterator<Item = &String> {
    v.as_object().into_iter().flat_map(|m| m.keys())
}

/// The requests for a container, ordered by container port then protocol
/// (so published ports and errors come out the same way each start).
/// `port_bindings` is `HostConfig.PortBindings`, `exposed` the merged
/// `Config.ExposedPorts`; either may be null.
pub fn requests(
    port_bindings: &Value,
    publish_all: bool,
    exposed: &Value,
) -> Result<Vec<PortRequest>> {
    // Every key gets validated even if it ends up publishing nothing.
    let mut by_port: BTreeMap<(u16, Proto), Vec<&Value>> = BTreeMap::new();
    for key in keys(exposed) {
        by_port.entry(parse_key(key)?).or_default();
    }
    if let Some(m) = port_bindings.as_object() {
        for (key, list) in m {
            let entry = by_port.entry(parse_key(key)?).or_default();
            if let Some(list) = list.as_array() {
                entry.extend(list.iter());
            }
        }
    }
    let mut out = Vec::new();
    for ((container_port, proto), list) in by_port {
        for b in &list {
            let field = |name: &str| b.get(name).and_then(Value::as_str).unwrap_or("");
            let (host_port, host_port_end) = parse_host_ports(field("HostPort"))?;
            out.push(PortRequest {
                proto,
                host_ip: parse_host_ip(field("HostIp"))?,
                host_port,
                host_port_end,
                container_port,
            });
        }
        // -P publishes exposed ports that have no explicit binding, each on
        // a random port of every IPv4 address.
        if publish_all && list.is_empty() {
            out.push(PortRequest {
                proto,
                host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                host_port: 0,
                host_port_end: 0,
                container_port,
            });
        }
    }
    Ok(out)
}

/// `NetworkSettings.Ports`: every exposed port, null when not published,
/// else its host addresses.
pub fn ports_json(exposed: &Value, published: &[PortBinding]) -> Value {
    let mut map: BTreeMap<(u16, Proto), Value> = BTreeMap::new();
    for key in keys(exposed) {
        if let Ok(k) = parse_key(key) {
            map.insert(k, Value::Null);
        }
    }
    for b in published {
        let entry = map
            .entry((b.container_port, b.proto))
            .or_insert(Value::Null);
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            list.push(
                json!({"HostIp": b.host_ip.to_string(), "HostPort": b.host_port.to_string()}),
            );
        }
    }
    let obj: Map<String, Value> = map
        .into_iter()
        .map(|((port, proto), v)| (format!("{port}/{proto}"), v))
        .collect();
    Value::Object(obj)
}
