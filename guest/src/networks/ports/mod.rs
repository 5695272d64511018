//! Published ports: `HostConfig.PortBindings` (and `PublishAllPorts`) turned
//! into concrete host bindings, host ports handed out by an allocator, and
//! dockerd's userland proxy (`userland-proxy: true`, its default) relaying
//! each host port to the container, inside berthd instead of one
//! `docker-proxy` process per port.
//!
//! Flow on container start: [`requests`] → for each request [`publish`]
//! (allocate, start the proxy; the caller adds the firewall's DNAT rule) →
//! keep the [`Published`] values; dropping them on stop frees the ports.

mod allocator;
mod proxy;
mod spec;
mod udp;

#[cfg(test)]
mod tests_alloc;
#[cfg(test)]
mod tests_proxy;
#[cfg(test)]
mod tests_spec;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::errdefs::{Error, Result};

pub use allocator::PortAllocator;
pub use proxy::{Proxy, UDP_IDLE_TIMEOUT};
pub use spec::{ports_json, requests};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    pub fn parse(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the client asked for: a host port range (`host_port..=host_port_end`,
/// both 0 for "any ephemeral port", equal for one fixed port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRequest {
    pub proto: Proto,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub host_port_end: u16,
    pub container_port: u16,
}

impl PortRequest {
    /// A range or a random port: another port may be tried when one is busy.
    pub fn is_flexible(&self) -> bool {
        self.host_port != self.host_port_end || self.host_port == 0
    }
}

/// One concrete published port, as shown in `NetworkSettings.Ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortBinding {
    pub proto: Proto,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
}

impl PortBinding {
    pub fn host_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host_ip, self.host_port)
    }
}

/// A port held for a container: the allocation and (with the userland proxy)
/// the listener. Dropping it stops the proxy and gives the port back.
#[derive(Debug)]
pub struct Published {
    pub binding: PortBinding,
    proxy: Option<Proxy>,
    alloc: PortAllocator,
    /// The firewall's DNAT for the port, when iptables is on.
    rule: Option<super::firewall::PortRule>,
}

impl Published {
    /// Container stop: closes the proxy, waiting until its listener is gone,
    /// then gives the port back, so that a restart on the same fixed port
    /// can't race the old listener. (Dropping does the same without the
    /// wait.)
    pub async fn unpublish(mut self) {
        if let Some(p) = self.proxy.take() {
            p.stop_wait().await;
        }
    }

    /// Keeps the port's firewall rules as long as the port is published.
    pub fn hold(&mut self, rule: super::firewall::PortRule) {
        self.rule = Some(rule);
    }

    /// The proxy's listening address, when there is a proxy.
    pub fn proxy_addr(&self) -> Option<SocketAddr> {
        self.proxy.as_ref().map(Proxy::local_addr)
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        if let Some(p) = self.proxy.take() {
            p.stop();
        }
        self.alloc.release(&self.binding);
    }
}

/// dockerd tries a few ports of a range or of the ephemeral range when the
/// proxy finds the allocated one taken by another process.
const MAX_ATTEMPTS: usize = 10;

/// Allocates a host port for `req` and, with `userland_proxy`, starts the
/// proxy to `container_ip:container_port`. Errors carry dockerd's text,
/// prefixed with "driver failed programming external connectivity on
/// endpoint NAME (ID)" (`endpoint`).
pub async fn publish(
    alloc: &PortAllocator,
    req: &PortRequest,
    container_ip: IpAddr,
    userland_proxy: bool,
    endpoint: (&str, &str),
) -> Result<Published> {
    let driver_err = |msg: &dyn fmt::Display| {
        Error::system(format!(
            "driver failed programming external connectivity on endpoint {} ({}): {msg}",
            endpoint.0, endpoint.1
        ))
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let binding = alloc.allocate(req).map_err(|e| driver_err(&e))?;
        let mut published = Published {
            binding,
            proxy: None,
            alloc: alloc.clone(),
            rule: None,
        };
        if !userland_proxy {
            return Ok(published);
        }
        let backend = SocketAddr::new(container_ip, req.container_port);
        match Proxy::start(&binding, backend).await {
            Ok(p) => {
                published.proxy = Some(p);
                return Ok(published);
            }
            // `published` drops here: the busy port goes back to the pool
            // and the allocator's cursor moves on to the next one.
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse
                    && req.is_flexible()
                    && attempts < MAX_ATTEMPTS => {}
            Err(e) => {
                return Err(driver_err(&format_args!(
                    "Error starting userland proxy: {e}"
                )))
            }
        }
    }
}
