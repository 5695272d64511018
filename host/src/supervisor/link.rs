//! Keeping the session with the guest's agent: connect (retrying while the guest boots), open
//! the control stream, follow its events, and start over when the guest restarts.

use crate::forward::{control::Control, hvsock, Direct, Mux};
use crate::ports::Ports;
use berth_common::vmlink::{Event, AGENT_VSOCK_PORT};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often the guest clock is set from the host's.
const CLOCK_SYNC: Duration = Duration::from_secs(60);
/// How long the agent has to answer on a new session's control stream. A connection made
/// while the guest's listener comes up can be accepted by the vsock device yet never reach
/// the agent; without a bound the supervisor would wait on it forever (seen: a boot whose
/// berthd was up while the host waited until its start timeout).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(15);

pub async fn keep(
    vsock: PathBuf,
    handshake: bool,
    mux_tx: watch::Sender<Option<Mux>>,
    control_tx: watch::Sender<Option<Arc<Control>>>,
    ready_file: PathBuf,
    engine_ready: watch::Sender<bool>,
    ports_direct: Option<Arc<Direct>>,
) {
    let mut ports = Ports::new(mux_tx.subscribe(), ports_direct);
    let mut logged = false;
    loop {
        let conn = if handshake {
            hvsock::connect(&vsock, AGENT_VSOCK_PORT).await
        } else {
            tokio::net::UnixStream::connect(&vsock).await
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                if !logged {
                    tracing::info!("waiting for the guest agent ({e})");
                    logged = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (mux, driver) = Mux::start(conn);
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let control = match tokio::time::timeout(CONTROL_TIMEOUT, Control::open(&mux, events_tx))
            .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::warn!("the guest agent refused the control stream: {e}");
                driver.abort();
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(_) => {
                tracing::warn!(
                    "the guest agent did not answer on the control stream within {CONTROL_TIMEOUT:?}; reconnecting"
                );
                driver.abort();
                continue;
            }
        };
        tracing::info!("connected to the guest agent");
        logged = false;
        if let Err(e) = control.sync_time().await {
            tracing::warn!("cannot set the guest clock: {e}");
        }
        mux_tx.send_replace(Some(mux));
        control_tx.send_replace(Some(control));
        // The host may sleep (a laptop lid): the guest clock then lags until it is set again.
        let mut clock = tokio::time::interval(CLOCK_SYNC);
        clock.tick().await;
        loop {
            let event = tokio::select! {
                e = events.recv() => match e { Some(e) => e, None => break },
                _ = clock.tick() => {
                    let c = control_tx.borrow().clone();
                    if let Some(c) = c {
                        if let Err(e) = c.sync_time().await {
                            tracing::debug!("clock sync: {e}");
                        }
                    }
                    continue;
                }
            };
            match event {
                Event::Ready => {
                    tracing::info!("the engine in the guest is ready");
                    let _ = std::fs::write(&ready_file, b"ready\n");
                    engine_ready.send_replace(true);
                }
                Event::Ports { tcp, udp } => {
                    ports.apply(&tcp).await;
                    ports.apply_udp(&udp).await;
                }
            }
        }
        // The control stream ended: the guest restarted or is going down.
        tracing::warn!("lost the session with the guest agent; reconnecting");
        driver.abort();
        mux_tx.send_replace(None);
        control_tx.send_replace(None);
        engine_ready.send_replace(false);
        let _ = std::fs::remove_file(&ready_file);
        ports.apply(&[]).await;
        ports.apply_udp(&[]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection the agent never answers on (accepted, then silent) is given up after
    /// CONTROL_TIMEOUT and the link connects again, instead of waiting forever.
    #[tokio::test(start_paused = true)]
    async fn a_silent_control_stream_is_given_up_and_the_link_reconnects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let (mux_tx, _mux_rx) = watch::channel(None);
        let (control_tx, _control_rx) = watch::channel(None);
        let (ready_tx, _ready_rx) = watch::channel(false);
        let link = tokio::spawn(keep(
            path,
            false,
            mux_tx,
            control_tx,
            dir.path().join("ready"),
            ready_tx,
            None,
        ));
        let (_silent, _) = listener.accept().await.unwrap();
        let again = tokio::time::timeout(CONTROL_TIMEOUT * 2, listener.accept()).await;
        assert!(again.is_ok(), "the link did not connect again");
        link.abort();
    }
}
