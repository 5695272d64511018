//! A vsock connection of its own for each host connection, straight to a guest port (berthd's
//! engine port, the agent's stream port), with the way back to the agent's session when that
//! port cannot be reached.

use super::hvsock;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::UnixStream;
use tokio::sync::watch;

/// After a failed connection to the port (a guest image without it, berthd restarting),
/// connections take the session for this long before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The way to one guest port, and whether it has been working.
pub struct Direct {
    vsock: PathBuf,
    port: u32,
    /// Logged when the first connection gets through (after a failure, again).
    what: &'static str,
    /// Whether the port is bound by now (berthd reported ready; the agent's session is up).
    ready: watch::Receiver<bool>,
    failed_at: Mutex<Option<Instant>>,
    /// Whether a connection has reached the port since the last failure.
    reached: AtomicBool,
}

impl Direct {
    /// `vsock`: the hybrid vsock socket through which guest `port` is reached.
    pub fn new(
        vsock: PathBuf,
        port: u32,
        what: &'static str,
        ready: watch::Receiver<bool>,
    ) -> Direct {
        Direct {
            vsock,
            port,
            what,
            ready,
            failed_at: Mutex::new(None),
            reached: AtomicBool::new(false),
        }
    }

    /// A new connection to the port, or `None` (then the session carries it).
    pub async fn connect(&self) -> Option<UnixStream> {
        // While berthd starts, its port may not be bound yet: each connection tries, and a
        // refusal is expected. Once it is ready, a refusal means no direct path for a while.
        let ready = *self.ready.borrow();
        let failed_at = *self.failed_at.lock().unwrap();
        if ready && failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return None;
        }
        match hvsock::connect(&self.vsock, self.port).await {
            Ok(conn) => {
                if !self.reached.swap(true, Ordering::Relaxed) {
                    tracing::info!("{}", self.what);
                }
                *self.failed_at.lock().unwrap() = None;
                Some(conn)
            }
            Err(e) if ready => {
                // Said once per failure spell: with an older guest image every retry fails.
                if self.reached.swap(false, Ordering::Relaxed) || failed_at.is_none() {
                    let port = self.port;
                    tracing::info!("guest vsock port {port}: {e}; relaying through the agent");
                } else {
                    tracing::debug!("guest vsock port {}: still {e}", self.port);
                }
                *self.failed_at.lock().unwrap() = Some(Instant::now());
                None
            }
            Err(e) => {
                tracing::debug!("guest vsock port {}, before it is ready: {e}", self.port);
                None
            }
        }
    }
}
