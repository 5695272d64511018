//! Embedded DNS server for user-defined networks (dockerd's 127.0.0.11).
//!
//! berthd starts one [`DnsServer`] per user-defined network, on UDP and TCP
//! port 53 of an address it picks (the bridge's gateway IP). Containers on the
//! network find each other by name through it:
//!
//! - A/AAAA for names the network knows ([`Names::lookup`]): container names,
//!   aliases, short IDs. Matching ignores case and a trailing dot. Several
//!   addresses for one name come back in an order rotated on every query, so
//!   clients that take the first address spread their load, the way dockerd
//!   shuffles a shared alias's addresses. A known name with no address of
//!   the asked family, or asked for another type, gets an empty NOERROR
//!   answer: the name exists, and asking upstream would only leak it.
//! - PTR for the network's container IPs ([`Names::reverse`]).
//! - Everything else goes to the upstream resolvers (see [`forward`]), and
//!   SERVFAIL comes back when none of them answers.
//!
//! Local answers have a TTL of 600 s, as in dockerd. The server never answers
//! REFUSED itself: a container has no other resolver to try.

mod answer;
mod forward;
mod serve;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The daemon's name table for one network. The server calls it on its
/// receive path for every query, so it must be cheap and never block for
/// long (an in-memory map behind a read lock is the intended shape).
pub trait Names: Send + Sync + 'static {
    /// IPv4 (and v6) addresses for a name on this network, empty when unknown.
    /// `name` is ASCII-lowercased and has no trailing dot, so the table
    /// should key its entries in lower case.
    fn lookup(&self, name: &str) -> Vec<IpAddr>;
    /// The name to answer a PTR query for `ip` with, `None` when the address
    /// is not one of this network's containers (the query is then forwarded).
    fn reverse(&self, ip: IpAddr) -> Option<String>;
}

/// Limits of one server; [`Config::default`] holds dockerd's values.
#[derive(Clone, Debug)]
pub struct Config {
    /// How long one upstream gets to answer one query before the next one is
    /// tried (dockerd: 4 s).
    pub upstream_timeout: Duration,
    /// Queries being forwarded at once; past it a query is answered SERVFAIL
    /// at once instead of queueing, so a flood can't grow tasks or memory
    /// (dockerd: 1024).
    pub max_forwards: usize,
    /// Open TCP client connections; past it new ones are closed on accept.
    pub max_tcp_connections: usize,
    /// A TCP client connection idle for this long is closed.
    pub tcp_idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            upstream_timeout: Duration::from_secs(4),
            max_forwards: 1024,
            max_tcp_connections: 128,
            tcp_idle_timeout: Duration::from_secs(10),
        }
    }
}

/// A running server. Dropping it stops it too, but without waiting: use
/// [`DnsServer::stop`] to know the sockets are closed (e.g. before binding
/// the same address again).
pub struct DnsServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl DnsServer {
    /// Binds UDP and TCP on `addr` and serves until dropped/stopped.
    pub async fn start(
        addr: SocketAddr,
        names: Arc<dyn Names>,
        upstreams: Vec<SocketAddr>,
    ) -> std::io::Result<DnsServer> {
        Self::start_with(addr, names, upstreams, Config::default()).await
    }

    /// [`DnsServer::start`] with explicit limits.
    pub async fn start_with(
        addr: SocketAddr,
        names: Arc<dyn Names>,
        upstreams: Vec<SocketAddr>,
        config: Config,
    ) -> std::io::Result<DnsServer> {
        let (udp, tcp) = bind(addr).await?;
        let addr = udp.local_addr()?;
        // Forwarding to ourselves would bounce each unknown name until every
        // forwarding slot is taken.
        let upstreams = upstreams.into_iter().filter(|u| *u != addr).collect();
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let forwarder = forward::Forwarder::new(upstreams, config.upstream_timeout);
        let shared = serve::Shared::new(names, forwarder, &config, cancel.clone(), tracker.clone());
        serve::spawn(shared, udp, tcp);
        tracing::debug!(%addr, "embedded DNS server started");
        Ok(DnsServer {
            addr,
            cancel,
            tracker,
        })
    }

    /// The address served, with the port picked when `start` was given port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits until every task, and so every socket, is gone.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        tracing::debug!(addr = %self.addr, "embedded DNS server stopped");
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Binds UDP first, then TCP on the same port. With port 0 the kernel picks
/// the UDP port, which may be taken for TCP: then another one is tried.
async fn bind(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let attempts = if addr.port() == 0 { 16 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(addr).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port for DNS")))
}

/// Upstream resolvers from a resolv.conf text: every `nameserver` line, on
/// port 53, in file order (only the first three are used per query, as libc
/// does).
///
/// Loopback nameservers (127.0.0.53 of systemd-resolved, a local dnsmasq)
/// are KEPT: they would be unreachable from a container's namespace, but it
/// is berthd that forwards, from the host namespace, where they answer
/// (dockerd does the same for its internal resolver). IPv6 link-local
/// servers with a named zone (`fe80::1%eth0`) are skipped: the zone needs an
/// interface index; a numeric zone is used as the scope id. An empty result
/// means non-local names get SERVFAIL; picking fallback servers is the
/// caller's choice.
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(value) = words.next() else { continue };
        // Comments may follow the address on the same line.
        let value = value.split(['#', ';']).next().unwrap_or_default();
        let (ip, zone) = match value.split_once('%') {
            Some((ip, zone)) => (ip, Some(zone)),
            None => (value, None),
        };
        let Ok(ip) = ip.parse::<IpAddr>() else {
            continue;
        };
        let addr = match (ip, zone) {
            (ip, None) => SocketAddr::new(ip, 53),
            (IpAddr::V6(v6), Some(zone)) => match zone.parse::<u32>() {
                Ok(scope) => SocketAddr::V6(std::net::SocketAddrV6::new(v6, 53, 0, scope)),
                Err(_) => continue,
            },
            (IpAddr::V4(_), Some(_)) => continue,
        };
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}
