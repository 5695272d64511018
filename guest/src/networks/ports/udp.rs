//! UDP relaying: each client address gets its own socket towards the
//! container, so replies can be told apart and sent back to the right
//! client; flows silent for the idle timeout are dropped (docker-proxy's
//! conntrack table, without which every client ever seen would keep a
//! socket open).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::task::JoinSet;

/// Largest UDP payload over IPv4: nothing bigger can arrive.
const MAX_DATAGRAM: usize = 65507;

#[derive(Debug)]
struct Flow {
    sock: Arc<UdpSocket>,
    last: Instant,
}

/// Client address → flow. Activity is stamped under the lock, so a flow is
/// never reaped between a lookup and the datagram it forwards.
#[derive(Debug, Clone, Default)]
pub(super) struct Flows(Arc<Mutex<HashMap<SocketAddr, Flow>>>);

impl Flows {
    fn lock(&self) -> MutexGuard<'_, HashMap<SocketAddr, Flow>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Removes `client`'s flow if it is still `sock`'s and idle for at
    /// least `idle`. False: the flow is live, keep serving it.
    fn reap(&self, client: SocketAddr, sock: &Arc<UdpSocket>, idle: Duration) -> bool {
        let mut map = self.lock();
        match map.get(&client) {
            Some(f) if Arc::ptr_eq(&f.sock, sock) => {
                if f.last.elapsed() < idle {
                    return false;
                }
                map.remove(&client);
            }
            // Already replaced by a newer flow: not ours to remove.
            _ => {}
        }
        true
    }

    fn remaining(&self, client: SocketAddr, idle: Duration) -> Duration {
        let since = self.lock().get(&client).map_or(idle, |f| f.last.elapsed());
        idle.saturating_sub(since).max(Duration::from_millis(1))
    }

    fn touch(&self, client: SocketAddr) {
        if let Some(f) = self.lock().get_mut(&client) {
            f.last = Instant::now();
        }
    }
}

/// A fresh socket connected to the container, so the kernel filters out
/// anything not coming from it.
async fn connect(backend: SocketAddr) -> io::Result<UdpSocket> {
    let any = match backend.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let sock = UdpSocket::bind(SocketAddr::new(any, 0)).await?;
    sock.connect(backend).await?;
    Ok(sock)
}

/// Reads client datagrams until aborted; reply loops are children in a
/// JoinSet, aborted with it.
pub(super) async fn serve(
    listener: Arc<UdpSocket>,
    backend: SocketAddr,
    flows: Flows,
    idle: Duration,
) {
    let mut replies = JoinSet::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, client) = tokio::select! {
            r = listener.recv_from(&mut buf) => match r {
                Ok(v) => v,
                // ICMP errors surface here on some kernels; never fatal.
                Err(_) => continue,
            },
            Some(_) = replies.join_next(), if !replies.is_empty() => continue,
        };
        let existing = {
            let mut map = flows.lock();
            map.get_mut(&client).map(|f| {
                f.last = Instant::now();
                f.sock.clone()
            })
        };
        let sock = match existing {
            Some(s) => s,
            None => {
                let Ok(s) = connect(backend).await else {
                    continue;
                };
                let s = Arc::new(s);
                let flow = Flow {
                    sock: s.clone(),
                    last: Instant::now(),
                };
                flows.lock().insert(client, flow);
                let reply = reply_loop(s.clone(), listener.clone(), client, flows.clone(), idle);
                replies.spawn(reply);
                s
            }
        };
        // A full socket buffer or a refused port loses this datagram, as it
        // would on the wire.
        let _ = sock.send(&buf[..n]).await;
    }
}

/// Container → client for one flow, until the flow has been idle `idle`
/// in both directions.
async fn reply_loop(
    sock: Arc<UdpSocket>,
    listener: Arc<UdpSocket>,
    client: SocketAddr,
    flows: Flows,
    idle: Duration,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut wait = idle;
    loop {
        match tokio::time::timeout(wait, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                flows.touch(client);
                let _ = listener.send_to(&buf[..n], client).await;
                wait = idle;
            }
            // The container had nothing listening when we last sent; it may
            // later, so keep the flow until it idles out, like docker-proxy.
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Ok(Err(_)) => {
                flows.reap(client, &sock, Duration::ZERO);
                return;
            }
            Err(_) if flows.reap(client, &sock, idle) => return,
            // The client spoke since: wait out the rest of its idle time.
            Err(_) => wait = flows.remaining(client, idle),
        }
    }
}
