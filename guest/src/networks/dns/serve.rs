//! The UDP and TCP front ends: reading queries, and bounding the work they
//! can cause.
//!
//! Local answers are computed inline on the receive path (a map lookup), so
//! a flood of them costs no tasks. Only forwarded queries get a task each,
//! under a semaphore that is never waited on: when it is exhausted the query
//! is answered SERVFAIL on the spot, so the receive loop never blocks on a
//! slow upstream and the task count stays bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::answer::{self, Outcome};
use super::forward::{Forwarder, Request};
use super::{Config, Names};

/// Largest query taken, over either transport. Real queries are a few
/// hundred bytes; anything near the 64 KiB a TCP length allows is abuse.
const MAX_QUERY_LEN: usize = 4096;
/// A DNS header; nothing shorter can be a query.
const HEADER_LEN: usize = 12;
/// Over TCP a reply may use the whole 16-bit length.
const TCP_LIMIT: usize = u16::MAX as usize;

pub(super) struct Shared {
    names: Arc<dyn Names>,
    forwarder: Forwarder,
    rotation: AtomicUsize,
    forwards: Arc<Semaphore>,
    tcp_connections: Arc<Semaphore>,
    tcp_idle: Duration,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Shared {
    pub(super) fn new(
        names: Arc<dyn Names>,
        forwarder: Forwarder,
        config: &Config,
        cancel: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        Shared {
            names,
            forwarder,
            rotation: AtomicUsize::new(0),
            forwards: Arc::new(Semaphore::new(config.max_forwards)),
            tcp_connections: Arc::new(Semaphore::new(config.max_tcp_connections)),
            tcp_idle: config.tcp_idle_timeout,
            cancel,
            tracker,
        }
    }

    /// Every task is tracked and ends on cancellation, so `stop` can wait
    /// for all sockets to be closed.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Forwards `query` (whose wire form is `bytes`) and returns the reply
    /// to send, SERVFAIL when no upstream answered.
    async fn forward(&self, bytes: &[u8], query: &Message, tcp: bool) -> Option<Vec<u8>> {
        let Some(question) = query.queries.first() else {
            return servfail(query, tcp);
        };
        let req = Request {
            bytes,
            id: query.id,
            question,
            tcp,
            udp_limit: answer::udp_limit(query),
        };
        match self.forwarder.forward(&req).await {
            Some(reply) => Some(reply),
            None => servfail(query, tcp),
        }
    }
}

pub(super) fn spawn(shared: Shared, udp: UdpSocket, tcp: TcpListener) {
    let shared = Arc::new(shared);
    shared.spawn(serve_udp(shared.clone(), Arc::new(udp)));
    shared.spawn(serve_tcp(shared.clone(), tcp));
}

/// A query worth handling: it parses, and it is a query (answering
/// responses could make two servers bounce messages forever).
fn parse(packet: &[u8]) -> Option<Message> {
    let message = Message::from_vec(packet).ok()?;
    (message.message_type == MessageType::Query).then_some(message)
}

fn servfail(query: &Message, tcp: bool) -> Option<Vec<u8>> {
    let limit = if tcp {
        TCP_LIMIT
    } else {
        answer::udp_limit(query)
    };
    answer::encode(answer::error(query, ResponseCode::ServFail), limit)
}

async fn serve_udp(shared: Arc<Shared>, socket: Arc<UdpSocket>) {
    // One over the limit, so an oversized datagram shows as filling it.
    let mut buf = vec![0u8; MAX_QUERY_LEN + 1];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // Transient (ENOMEM, ICMP errors); don't spin on it.
                tracing::debug!(error = %e, "DNS UDP receive failed");
                sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if n > MAX_QUERY_LEN {
            continue;
        }
        let packet = &buf[..n];
        let Some(query) = parse(packet) else {
            tracing::trace!(%peer, "dropping malformed DNS packet");
            continue;
        };
        let reply = match answer::resolve(&query, &*shared.names, &shared.rotation) {
            Outcome::Reply(reply) => answer::encode(reply, answer::udp_limit(&query)),
            Outcome::Forward => match shared.forwards.clone().try_acquire_owned() {
                Ok(permit) => {
                    let (task_shared, socket) = (shared.clone(), socket.clone());
                    let packet = packet.to_vec();
                    shared.spawn(async move {
                        let _permit = permit;
                        let reply = task_shared.forward(&packet, &query, false).await;
                        send_udp(&socket, reply, peer).await;
                    });
                    continue;
                }
                Err(_) => {
                    tracing::debug!("too many DNS queries being forwarded; answering SERVFAIL");
                    servfail(&query, false)
                }
            },
        };
        send_udp(&socket, reply, peer).await;
    }
}

async fn send_udp(socket: &UdpSocket, reply: Option<Vec<u8>>, peer: SocketAddr) {
    if let Some(reply) = reply {
        if let Err(e) = socket.send_to(&reply, peer).await {
            tracing::debug!(%peer, error = %e, "DNS UDP send failed");
        }
    }
}

async fn serve_tcp(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // EMFILE and the like: back off instead of spinning.
                tracing::debug!(error = %e, "DNS TCP accept failed");
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = shared.tcp_connections.clone().try_acquire_owned() else {
            // Closing at once tells the client to go elsewhere or retry.
            continue;
        };
        let conn_shared = shared.clone();
        shared.spawn(async move {
            let _permit = permit;
            serve_connection(&conn_shared, stream).await;
        });
    }
}

/// Queries on one connection are answered in order (RFC 7766 allows that);
/// the connection closes when idle, on a bad length, or on any I/O error.
async fn serve_connection(shared: &Shared, mut stream: TcpStream) {
    let idle = shared.tcp_idle;
    loop {
        let len = match timeout(idle, stream.read_u16()).await {
            Ok(Ok(len)) => usize::from(len),
            _ => return,
        };
        if !(HEADER_LEN..=MAX_QUERY_LEN).contains(&len) {
            tracing::debug!(len, "refusing DNS TCP message length");
            return;
        }
        let mut packet = vec![0u8; len];
        // The whole message within the idle time: no slow-drip clients.
        if !matches!(
            timeout(idle, stream.read_exact(&mut packet)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        // The framing survives a malformed message: skip just that one.
        let Some(query) = parse(&packet) else {
            continue;
        };
        let reply = match answer::resolve(&query, &*shared.names, &shared.rotation) {
            Outcome::Reply(reply) => answer::encode(reply, TCP_LIMIT),
            Outcome::Forward => match shared.forwards.clone().try_acquire_owned() {
                Ok(_permit) => shared.forward(&packet, &query, true).await,
                Err(_) => servfail(&query, true),
            },
        };
        let Some(reply) = reply else { continue };
        let Ok(len) = u16::try_from(reply.len()) else {
            continue;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if !matches!(timeout(idle, stream.write_all(&framed)).await, Ok(Ok(()))) {
            return;
        }
    }
}
