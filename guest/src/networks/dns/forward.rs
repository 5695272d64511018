//! Forwarding to the upstream resolvers.
//!
//! The client's query goes out as it came (EDNS options and all), only under
//! a fresh random ID on a fresh socket, so a reply can't be matched to the
//! wrong client and off-path spoofing has to guess both port and ID. The
//! reply goes back as it came, with the client's ID put back.
//!
//! As in dockerd: at most three upstreams are tried, in order; the next one
//! is tried on a timeout, a network error, SERVFAIL, REFUSED or a
//! non-authoritative NXDOMAIN (another upstream may know a split-horizon
//! name, RFC 8020); a UDP query stays UDP and a TCP one stays TCP. Unlike
//! dockerd, a truncated UDP reply is first retried over TCP with the same
//! upstream, and that full reply relayed when it fits the client's UDP size
//! (upstreams often cap UDP below what the client offers); otherwise the
//! truncated one is relayed and the client comes back over TCP.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Header, Message, MessageType, Query, ResponseCode};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// libc reads at most three nameservers from resolv.conf; dockerd tries three.
const MAX_UPSTREAMS: usize = 3;

pub(super) struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
}

/// What the client asked, for matching and relaying the reply.
pub(super) struct Request<'a> {
    pub bytes: &'a [u8],
    pub id: u16,
    pub question: &'a Query,
    pub tcp: bool,
    /// Largest reply a UDP client takes.
    pub udp_limit: usize,
}

impl Forwarder {
    pub(super) fn new(upstreams: Vec<SocketAddr>, timeout: Duration) -> Self {
        Forwarder { upstreams, timeout }
    }

    /// The reply to relay, already carrying the client's ID; `None` when no
    /// upstream gave one worth relaying (the caller answers SERVFAIL).
    pub(super) async fn forward(&self, req: &Request<'_>) -> Option<Vec<u8>> {
        // A negative answer nobody contradicted is still an answer.
        let mut fallback = None;
        for &upstream in self.upstreams.iter().take(MAX_UPSTREAMS) {
            let reply = match self.ask(upstream, req).await {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::debug!(%upstream, error = %e, "DNS upstream failed");
                    continue;
                }
            };
            let Some(header) = header_of(&reply) else {
                continue;
            };
            match header.response_code {
                ResponseCode::NoError => return with_id(&reply, req.id),
                ResponseCode::NXDomain if header.authoritative => return with_id(&reply, req.id),
                ResponseCode::ServFail | ResponseCode::Refused => {}
                code => {
                    tracing::debug!(%upstream, %code, "DNS upstream said no; trying the next");
                    fallback = Some(reply);
                }
            }
        }
        with_id(&fallback?, req.id)
    }

    /// One exchange with one upstream, each leg within the timeout.
    async fn ask(&self, upstream: SocketAddr, req: &Request<'_>) -> io::Result<Vec<u8>> {
        if req.tcp {
            return self.ask_tcp(upstream, req).await;
        }
        let reply = self.within(udp_exchange(upstream, req)).await?;
        if !header_of(&reply).is_some_and(|h| h.truncation) {
            return Ok(reply);
        }
        match self.ask_tcp(upstream, req).await {
            Ok(full) if full.len() <= req.udp_limit => Ok(full),
            _ => Ok(reply),
        }
    }

    async fn ask_tcp(&self, upstream: SocketAddr, req: &Request<'_>) -> io::Result<Vec<u8>> {
        self.within(tcp_exchange(upstream, req)).await
    }

    async fn within<T>(
        &self,
        f: impl std::future::Future<Output = io::Result<T>>,
    ) -> io::Result<T> {
        timeout(self.timeout, f)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "DNS upstream timed out"))?
    }
}

async fn udp_exchange(upstream: SocketAddr, req: &Request<'_>) -> io::Result<Vec<u8>> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    // Connected: the kernel drops datagrams from anyone else, and a closed
    // upstream port fails fast (ICMP) instead of waiting for the timeout.
    socket.connect(upstream).await?;
    let id = random_id();
    socket.send(&query_with_id(req, id)?).await?;
    // The upstream honours the client's EDNS size, which bounds the reply;
    // a datagram filling the whole buffer was cut and is of no use.
    let mut buf = vec![0u8; req.udp_limit.max(4096) + 1];
    loop {
        let n = socket.recv(&mut buf).await?;
        if n == buf.len() {
            return Err(invalid("oversized reply"));
        }
        // A stray or late datagram is no reason to give up on this upstream.
        if matches_request(&buf[..n], id, req.question) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_exchange(upstream: SocketAddr, req: &Request<'_>) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    let id = random_id();
    let query = query_with_id(req, id)?;
    // RFC 1035 4.2.2: a two-byte length before each message.
    let len = u16::try_from(query.len()).map_err(|_| invalid("query too long"))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(&query);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut reply = vec![0u8; usize::from(len)];
    stream.read_exact(&mut reply).await?;
    if matches_request(&reply, id, req.question) {
        Ok(reply)
    } else {
        Err(invalid("reply does not match the query"))
    }
}

fn query_with_id(req: &Request<'_>, id: u16) -> io::Result<Vec<u8>> {
    with_id(req.bytes, id).ok_or_else(|| invalid("unencodable query"))
}

/// A reply to our query: a response with our ID, echoing our question (or
/// no question at all, as some servers do with errors).
fn matches_request(bytes: &[u8], id: u16, question: &Query) -> bool {
    let mut decoder = BinDecoder::new(bytes);
    let Ok(header) = Header::read(&mut decoder) else {
        return false;
    };
    if header.message_type != MessageType::Response || header.id != id {
        return false;
    }
    match header.counts.queries {
        0 => true,
        1 => Message::read_queries(&mut decoder, 1).is_ok_and(|q| q[0] == *question),
        _ => false,
    }
}

fn header_of(bytes: &[u8]) -> Option<Header> {
    Header::read(&mut BinDecoder::new(bytes)).ok()
}

/// `bytes` with its header's ID replaced, the rest untouched: re-encoding
/// the whole message could alter records the codec doesn't fully know.
fn with_id(bytes: &[u8], id: u16) -> Option<Vec<u8>> {
    let mut decoder = BinDecoder::new(bytes);
    let mut header = Header::read(&mut decoder).ok()?;
    let rest = &bytes[decoder.index()..];
    header.metadata.id = id;
    let mut out = Vec::with_capacity(bytes.len());
    header.emit(&mut BinEncoder::new(&mut out)).ok()?;
    out.extend_from_slice(rest);
    Some(out)
}

/// hickory-proto keeps its RNG private; a new query message draws a random
/// ID from it (thread-local, seeded from the OS), which is all we need.
fn random_id() -> u16 {
    Message::query().id
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
