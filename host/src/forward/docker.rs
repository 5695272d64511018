//! The Docker socket on the host. Each connection becomes a vsock connection of its own to
//! berthd's port, its bytes in [`framed`] frames (the direct path: nothing in the guest relays
//! them), or, when that port cannot be reached, a `{"open":"docker"}` stream to the agent,
//! which relays it to berthd's Unix socket in the guest.

use super::{hvsock, relay, MuxWatch};
use berth_common::framed::Framed;
use berth_common::vmlink::{Header, ENGINE_VSOCK_PORT};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio_util::either::Either;

/// After a failed connection to berthd's vsock port (a guest image without it, berthd
/// restarting), connections go through the agent for this long before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Serves `listener` until the task is dropped. `direct`: the way to berthd's port, if the
/// VM backend has one.
pub async fn serve(listener: UnixListener, watch: MuxWatch, direct: Option<Direct>) {
    let direct = direct.map(Arc::new);
    loop {
        let conn = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                tracing::warn!("docker socket: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (watch, direct) = (watch.clone(), direct.clone());
        tokio::spawn(async move {
            if let Err(e) = forward(conn, &watch, direct.as_deref()).await {
                tracing::debug!("docker connection ended: {e}");
            }
        });
    }
}

async fn forward(
    mut conn: UnixStream,
    watch: &MuxWatch,
    direct: Option<&Direct>,
) -> std::io::Result<()> {
    // The agent's session stands for "the guest is up": wait for it as every stream does.
    let agent = relay::session(watch).await?;
    let direct = match direct {
        Some(d) => d.connect().await,
        None => None,
    };
    let (mut stream, via) = match direct {
        Some(vsock) => (Either::Left(Framed::new(vsock)), "direct"),
        None => (
            Either::Right(agent.open(&Header::Docker).await?),
            "through the agent",
        ),
    };
    let (up, down) = relay::splice(&mut conn, &mut stream).await?;
    tracing::debug!("docker connection done ({via}): {up} bytes in, {down} out");
    Ok(())
}

/// The way to berthd's vsock port, and whether it has been working.
pub struct Direct {
    vsock: PathBuf,
    /// Whether the agent reported berthd ready (its port is bound by then).
    ready: watch::Receiver<bool>,
    failed_at: Mutex<Option<Instant>>,
    /// Whether a connection has reached berthd's port since the last failure (logged once).
    reached: AtomicBool,
}

impl Direct {
    /// `vsock`: the hybrid vsock socket through which berthd's port is reached.
    pub fn new(vsock: PathBuf, ready: watch::Receiver<bool>) -> Direct {
        Direct {
            vsock,
            ready,
            failed_at: Mutex::new(None),
            reached: AtomicBool::new(false),
        }
    }

    /// A new connection to berthd's port, or `None` (then the agent relays).
    async fn connect(&self) -> Option<UnixStream> {
        // While berthd starts, its port may not be bound yet: each connection tries, and a
        // refusal is expected. Once it is ready, a refusal means no direct path for a while.
        let ready = *self.ready.borrow();
        let failed_at = *self.failed_at.lock().unwrap();
        if ready && failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return None;
        }
        match hvsock::connect(&self.vsock, ENGINE_VSOCK_PORT).await {
            Ok(conn) => {
                if !self.reached.swap(true, Ordering::Relaxed) {
                    tracing::info!("docker connections go to berthd's vsock port");
                }
                *self.failed_at.lock().unwrap() = None;
                Some(conn)
            }
            Err(e) if ready => {
                tracing::info!("berthd's vsock port: {e}; relaying through the agent");
                self.reached.store(false, Ordering::Relaxed);
                *self.failed_at.lock().unwrap() = Some(Instant::now());
                None
            }
            Err(e) => {
                tracing::debug!("berthd's vsock port, before berthd is ready: {e}");
                None
            }
        }
    }
}
