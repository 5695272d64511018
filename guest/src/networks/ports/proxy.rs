//! The userland proxy: what dockerd's `docker-proxy` does for one published
//! port, as tasks of berthd. It serves host-originated traffic (127.0.0.1,
//! the host's own addresses from OUTPUT) that DNAT alone does not catch, and
//! is the whole data path when there are no firewall rules.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::udp::{self, Flows};
use super::{PortBinding, Proto};

/// docker-proxy's UDP conntrack timeout: a client address silent this long
/// loses its flow (and the proxy's socket towards the container).
pub const UDP_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Relay buffer: larger than tokio's default copy buffer so bulk transfers
/// make fewer syscalls.
/// Large enough that a bulk transfer moves in few system calls (measured
/// in bench/network.py: 64 KiB made the relay ~7% slower than docker-proxy,
/// 1 MiB faster than it); allocated per direction of a live connection.
const BUF: usize = 1024 * 1024;

/// One running proxy. Dropping or [`Proxy::stop`]ping it closes the listener
/// and every relayed connection.
#[derive(Debug)]
pub struct Proxy {
    local: SocketAddr,
    task: Option<JoinHandle<()>>,
    flows: Option<Flows>,
}

/// Go's wording for a failed listen ("listen tcp4 0.0.0.0:80: bind: address
/// already in use"), which dockerd users and scripts match on. The kind is
/// kept so callers can tell EADDRINUSE apart.
fn listen_error(proto: Proto, addr: SocketAddr, op: &str, e: io::Error) -> io::Error {
    let family = if addr.is_ipv4() { "4" } else { "6" };
    let mut what = match e.raw_os_error() {
        // strerror with Go's lowercase start, without Rust's "(os error N)".
        Some(n) => io::Error::from_raw_os_error(n)
            .to_string()
            .split(" (os error")
            .next()
            .unwrap_or_default()
            .to_string(),
        None => e.to_string(),
    };
    if let Some(first) = what.get(..1) {
        what = first.to_lowercase() + &what[1..];
    }
    io::Error::new(
        e.kind(),
        format!("listen {proto}{family} {addr}: {op}: {what}"),
    )
}

/// A bound, non-blocking, close-on-exec socket (berthd forks runtimes; the
/// listener must not leak into them). IPv6 sockets are v6-only so that
/// `[::]:80` and `0.0.0.0:80` are separate bindings, as in Go.
fn bind(proto: Proto, addr: SocketAddr) -> io::Result<Socket> {
    let ty = match proto {
        Proto::Tcp => Type::STREAM,
        Proto::Udp => Type::DGRAM,
        Proto::Sctp => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "sctp is not supported by berthd's userland proxy",
            ))
        }
    };
    let err = |op, e| listen_error(proto, addr, op, e);
    let s = Socket::new(Domain::for_address(addr), ty, None).map_err(|e| err("socket", e))?;
    if addr.is_ipv6() {
        s.set_only_v6(true).map_err(|e| err("setsockopt", e))?;
    }
    if proto == Proto::Tcp {
        // Restarted containers rebind while old connections sit in TIME_WAIT.
        s.set_reuse_address(true)
            .map_err(|e| err("setsockopt", e))?;
    }
    s.set_nonblocking(true).map_err(|e| err("setsockopt", e))?;
    s.bind(&addr.into()).map_err(|e| err("bind", e))?;
    if proto == Proto::Tcp {
        s.listen(1024).map_err(|e| err("listen", e))?;
    }
    Ok(s)
}

impl Proxy {
    /// Listens on the binding's host address and relays to `container`.
    /// A host port of 0 takes a kernel-chosen port (see [`Proxy::local_addr`]).
    pub async fn start(binding: &PortBinding, container: SocketAddr) -> io::Result<Proxy> {
        Self::start_with(binding, container, UDP_IDLE_TIMEOUT).await
    }

    pub(crate) async fn start_with(
        binding: &PortBinding,
        container: SocketAddr,
        udp_idle: Duration,
    ) -> io::Result<Proxy> {
        let sock = bind(binding.proto, binding.host_addr())?;
        let local = sock
            .local_addr()?
            .as_socket()
            .unwrap_or(binding.host_addr());
        let (task, flows) = match binding.proto {
            Proto::Udp => {
                let sock = tokio::net::UdpSocket::from_std(sock.into())?;
                let flows = Flows::default();
                let serve = udp::serve(Arc::new(sock), container, flows.clone(), udp_idle);
                (tokio::spawn(serve), Some(flows))
            }
            _ => {
                let listener = TcpListener::from_std(sock.into())?;
                (tokio::spawn(serve_tcp(listener, container)), None)
            }
        };
        Ok(Proxy {
            local,
            task: Some(task),
            flows,
        })
    }

    /// The address actually listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Closes the listener and every connection. Returns at once: the
    /// sockets close as soon as the runtime gets to the aborted tasks. Use
    /// [`Proxy::stop_wait`] to be sure the port is free when it returns.
    pub fn stop(self) {}

    /// [`Proxy::stop`], returning once the listener is closed.
    pub async fn stop_wait(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Live UDP flows (client addresses with a socket to the container).
    pub fn udp_flows(&self) -> usize {
        self.flows.as_ref().map_or(0, Flows::len)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts until aborted. Connections live in a JoinSet owned by this task,
/// so aborting it drops them all.
async fn serve_tcp(listener: TcpListener, backend: SocketAddr) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    conns.spawn(relay_tcp(client, backend));
                }
                // Out of descriptors or a connection reset before accept:
                // pause rather than spin, and keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// One client connection: relays both ways and forwards each end-of-stream
/// as a half-close, so request/response protocols that shut down their
/// write side (HTTP/1.0 clients, `nc -N`) still get their answer.
async fn relay_tcp(client: TcpStream, backend: SocketAddr) {
    // Like docker-proxy: when the container doesn't answer, the client's
    // connection is simply closed.
    let Ok(server) = TcpStream::connect(backend).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pipe(cr, sw);
    let down = pipe(sr, cw);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        // A failed direction (reset, broken pipe) ends the whole relay:
        // returning drops both sockets, so a peer that went away doesn't
        // leave the other side waiting forever.
        tokio::select! {
            r = &mut up, if !up_done => if r.is_err() { return } else { up_done = true },
            r = &mut down, if !down_done => if r.is_err() { return } else { down_done = true },
        }
    }
}

/// Copies to end of stream, then half-closes the destination.
async fn pipe(from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin) -> io::Result<()> {
    let mut from = BufReader::with_capacity(BUF, from);
    tokio::io::copy_buf(&mut from, &mut to).await?;
    to.shutdown().await
}
