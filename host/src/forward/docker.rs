//! The Docker socket on the host. Each connection becomes a stream of berthd's own yamux
//! session over vsock (the direct path: nothing in the guest relays the bytes), or, when that
//! session cannot be had, a `{"open":"docker"}` stream to the agent, which relays it to
//! berthd's Unix socket in the guest.

use super::{hvsock, relay, Mux, MuxStream, MuxWatch};
use berth_common::vmlink::{Header, ENGINE_VSOCK_PORT};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UnixListener;
use tokio::sync::watch;

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
    mut conn: tokio::net::UnixStream,
    watch: &MuxWatch,
    direct: Option<&Direct>,
) -> std::io::Result<()> {
    // The agent's session stands for "the guest is up": wait for it as every stream does.
    let agent = relay::session(watch).await?;
    let direct = match direct {
        Some(d) => d.open().await,
        None => None,
    };
    let (mut stream, via) = match direct {
        Some(s) => (s, "direct"),
        None => (agent.open(&Header::Docker).await?, "through the agent"),
    };
    let (up, down) = relay::splice(&mut conn, &mut stream).await?;
    tracing::debug!("docker connection done ({via}): {up} bytes in, {down} out");
    Ok(())
}

/// berthd's session, connected on first use and again after it ends.
pub struct Direct {
    vsock: PathBuf,
    /// Whether the agent reported berthd ready (its port is bound by then).
    ready: watch::Receiver<bool>,
    state: tokio::sync::Mutex<DirectState>,
}

#[derive(Default)]
struct DirectState {
    session: Option<Mux>,
    failed_at: Option<Instant>,
}

impl Direct {
    /// `vsock`: the hybrid vsock socket through which berthd's port is reached.
    pub fn new(vsock: PathBuf, ready: watch::Receiver<bool>) -> Direct {
        Direct {
            vsock,
            ready,
            state: Default::default(),
        }
    }

    /// A new stream to berthd, or `None` (then the agent relays).
    async fn open(&self) -> Option<MuxStream> {
        // While berthd starts, its port may not be bound yet: each connection tries, and a
        // refusal is expected. Once it is ready, a refusal means no direct path for a while.
        let ready = *self.ready.borrow();
        let session = {
            let mut state = self.state.lock().await;
            match state.session.as_ref().filter(|m| !m.is_closed()) {
                Some(m) => m.clone(),
                None => {
                    if ready && state.failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
                        return None;
                    }
                    match hvsock::connect(&self.vsock, ENGINE_VSOCK_PORT).await {
                        Ok(conn) => {
                            tracing::info!("connected to berthd's vsock port");
                            let (mux, _driver) = Mux::start(conn);
                            state.session = Some(mux.clone());
                            state.failed_at = None;
                            mux
                        }
                        Err(e) if ready => {
                            tracing::info!("berthd's vsock port: {e}; relaying through the agent");
                            state.session = None;
                            state.failed_at = Some(Instant::now());
                            return None;
                        }
                        Err(e) => {
                            tracing::debug!("berthd's vsock port, before berthd is ready: {e}");
                            return None;
                        }
                    }
                }
            }
        };
        match session.open_raw().await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!("berthd's session: {e}");
                None
            }
        }
    }
}
