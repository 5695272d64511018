//! A vsock connection of its own for each host connection, straight to a guest port (berthd's
//! engine port, the agent's stream port), with the way back to the agent's session when that
//! port cannot be reached.

use super::hvsock;
use berth_common::framed::Framed;
use berth_common::vmlink::{Header, ENGINE_VSOCK_PORT, STREAM_VSOCK_PORT};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::UnixStream;
use tokio::sync::watch;

/// After a failed connection to the port (a guest image without it, berthd restarting),
/// connections take the session for this long before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// A guest port that takes one host connection per vsock connection, in frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestPort {
    /// berthd's engine port: Docker API connections, no stream header.
    Engine,
    /// The agent's stream port: a stream header and the agent's reply come first.
    Streams,
}

impl GuestPort {
    fn number(self) -> u32 {
        match self {
            GuestPort::Engine => ENGINE_VSOCK_PORT,
            GuestPort::Streams => STREAM_VSOCK_PORT,
        }
    }

    /// Logged when the first connection gets through (after a failure, again).
    fn reached(self) -> &'static str {
        match self {
            GuestPort::Engine => "docker connections go to berthd's vsock port",
            GuestPort::Streams => "published ports go to the agent's stream port",
        }
    }
}

/// The way to one guest port, and whether it has been working.
pub struct Direct {
    vsock: PathBuf,
    port: GuestPort,
    /// Whether the port is bound by now (berthd reported ready; the agent's session is up).
    ready: watch::Receiver<bool>,
    failed_at: Mutex<Option<Instant>>,
    /// Whether a connection has reached the port since the last failure.
    reached: AtomicBool,
}

impl Direct {
    /// `vsock`: the hybrid vsock socket through which guest `port` is reached.
    pub fn new(vsock: PathBuf, port: GuestPort, ready: watch::Receiver<bool>) -> Direct {
        Direct {
            vsock,
            port,
            ready,
            failed_at: Mutex::new(None),
            reached: AtomicBool::new(false),
        }
    }

    /// A new connection to the port for a stream with `header`, ready for its bytes (the
    /// agent's stream port has answered the header), or `None` when the port cannot be
    /// reached (then the session carries it). An error: the agent refused the stream.
    pub async fn open(&self, header: &Header) -> io::Result<Option<Framed<UnixStream>>> {
        let Some(conn) = self.connect().await else {
            return Ok(None);
        };
        let mut framed = Framed::new(conn);
        if self.port == GuestPort::Streams {
            super::mux::request(&mut framed, header).await?;
        }
        Ok(Some(framed))
    }

    async fn connect(&self) -> Option<UnixStream> {
        // While berthd starts, its port may not be bound yet: each connection tries, and a
        // refusal is expected. Once it is ready, a refusal means no direct path for a while.
        let ready = *self.ready.borrow();
        let failed_at = *self.failed_at.lock().unwrap();
        if ready && failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return None;
        }
        let port = self.port.number();
        match hvsock::connect(&self.vsock, port).await {
            Ok(conn) => {
                if !self.reached.swap(true, Ordering::Relaxed) {
                    tracing::info!("{}", self.port.reached());
                }
                *self.failed_at.lock().unwrap() = None;
                Some(conn)
            }
            Err(e) if ready => {
                // Said once per failure spell: with an older guest image every retry fails.
                if self.reached.swap(false, Ordering::Relaxed) || failed_at.is_none() {
                    tracing::info!("guest vsock port {port}: {e}; relaying through the agent");
                } else {
                    tracing::debug!("guest vsock port {port}: still {e}");
                }
                *self.failed_at.lock().unwrap() = Some(Instant::now());
                None
            }
            Err(e) => {
                tracing::debug!("guest vsock port {port}, before it is ready: {e}");
                None
            }
        }
    }
}
