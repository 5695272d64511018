//! Host ports handed out by berthd, like libnetwork's portallocator: fixed
//! ports are refused when Berth already holds them, "any" ports come from
//! the kernel's ephemeral range in turn (dockerd gives 32768, 32769, … to
//! successive containers, and scripts have come to expect it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{PortBinding, PortRequest, Proto};
use crate::errdefs::{Error, Result};

/// dockerd's fallback when ip_local_port_range can't be read.
const DEFAULT_RANGE: (u16, u16) = (49153, 65535);

/// Shared by every container: clones are handles on the same pool.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    begin: u16,
    end: u16,
    /// Host addresses holding each (protocol, port).
    used: HashMap<(Proto, u16), Vec<IpAddr>>,
    /// Last port given out per (protocol, address, range): the search for
    /// the next one starts after it.
    last: HashMap<(Proto, IpAddr, u16, u16), u16>,
}

/// Two addresses compete for a port when they are the same, or one of them
/// is the wildcard of the same family: the kernel refuses 127.0.0.1:80 while
/// 0.0.0.0:80 is bound, so saying so here gives the clearer message.
fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}

/// `/proc/sys/net/ipv4/ip_local_port_range`: "32768\t60999".
pub(super) fn read_range(path: &Path) -> Option<(u16, u16)> {
    let s = std::fs::read_to_string(path).ok()?;
    let mut it = s.split_whitespace().map(|n| n.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b))) if a > 0 && a <= b => Some((a, b)),
        _ => None,
    }
}

impl Default for PortAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl PortAllocator {
    /// The ephemeral range of this host, as dockerd reads it at start.
    pub fn new() -> PortAllocator {
        let (begin, end) = read_range(Path::new("/proc/sys/net/ipv4/ip_local_port_range"))
            .unwrap_or(DEFAULT_RANGE);
        Self::with_range(begin, end)
    }

    pub fn with_range(begin: u16, end: u16) -> PortAllocator {
        PortAllocator {
            inner: Arc::new(Mutex::new(State {
                begin,
                end,
                used: HashMap::new(),
                last: HashMap::new(),
            })),
        }
    }

    /// The range "any port" requests draw from.
    pub fn range(&self) -> (u16, u16) {
        let st = self.lock();
        (st.begin, st.end)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A concrete port for `req`: the fixed one if free, else the next free
    /// one of its range (or of the ephemeral range), after the last given.
    pub fn allocate(&self, req: &PortRequest) -> Result<PortBinding> {
        let mut st = self.lock();
        let ip = req.host_ip;
        let binding = |host_port| PortBinding {
            proto: req.proto,
            host_ip: ip,
            host_port,
            container_port: req.container_port,
        };
        if req.host_port != 0 && req.host_port == req.host_port_end {
            st.take(req.proto, ip, req.host_port)?;
            return Ok(binding(req.host_port));
        }
        let (begin, end) = if req.host_port == 0 && req.host_port_end == 0 {
            (st.begin, st.end)
        } else if req.host_port == 0 || req.host_port_end < req.host_port {
            return Err(Error::invalid(format!(
                "invalid port range: {}-{}",
                req.host_port, req.host_port_end
            )));
        } else {
            (req.host_port, req.host_port_end)
        };
        let key = (req.proto, ip, begin, end);
        let mut port = st.last.get(&key).copied().unwrap_or(end);
        for _ in begin..=end {
            port = if port >= end { begin } else { port + 1 };
            if st.take(req.proto, ip, port).is_ok() {
                st.last.insert(key, port);
                return Ok(binding(port));
            }
        }
        Err(Error::system("all ports are allocated"))
    }

    /// Marks a known binding as held (restoring running containers).
    pub fn reserve(&self, b: &PortBinding) -> Result<()> {
        self.lock().take(b.proto, b.host_ip, b.host_port)
    }

    pub fn release(&self, b: &PortBinding) {
        let mut st = self.lock();
        let key = (b.proto, b.host_port);
        if let Some(ips) = st.used.get_mut(&key) {
            if let Some(i) = ips.iter().position(|ip| *ip == b.host_ip) {
                ips.swap_remove(i);
            }
            if ips.is_empty() {
                st.used.remove(&key);
            }
        }
    }

    pub fn is_allocated(&self, proto: Proto, ip: IpAddr, port: u16) -> bool {
        let st = self.lock();
        st.used
            .get(&(proto, port))
            .is_some_and(|ips| ips.iter().any(|u| overlaps(*u, ip)))
    }
}

impl State {
    fn take(&mut self, proto: Proto, ip: IpAddr, port: u16) -> Result<()> {
        let ips = self.used.entry((proto, port)).or_default();
        if ips.iter().any(|u| overlaps(*u, ip)) {
            // dockerd's text, with Go's unbracketed IPv6 ("Bind for :::80").
            return Err(Error::system(format!(
                "Bind for {ip}:{port} failed: port is already allocated"
            )));
        }
        ips.push(ip);
        Ok(())
    }
}
