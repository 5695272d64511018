//! Copying a host connection and a guest stream into each other until both directions end.
//! The end of one direction becomes a shutdown of the other side's write half (not a close), so
//! half-close crosses the relay: `echo hi | docker run -i busybox cat` needs it.

use super::{Direct, Mux, MuxWatch};
use berth_common::vmlink::Header;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::either::Either;

/// How long a host connection waits for a session with the guest (the guest is booting or
/// rebooting) before it is refused.
const SESSION_WAIT: Duration = Duration::from_secs(120);

/// Relays `a` and `b` until both directions have ended, each on its own (the relay shared
/// with the guest's agent).
pub async fn splice<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    berth_common::vmlink::relay(a, b).await
}

/// The current session, waiting for one while the guest comes up.
pub async fn session(watch: &MuxWatch) -> io::Result<Mux> {
    let mut watch = watch.clone();
    let wait = async {
        watch
            .wait_for(|m| m.as_ref().is_some_and(|m| !m.is_closed()))
            .await
            .map(|m| m.clone())
    };
    match tokio::time::timeout(SESSION_WAIT, wait).await {
        Ok(Ok(Some(m))) => Ok(m),
        Ok(Ok(None)) | Ok(Err(_)) => Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "berth is shutting down",
        )),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the guest has not answered in time (see `berth logs`)",
        )),
    }
}

/// Relays one host connection as a stream opened with `header`: on a vsock connection of its
/// own when `direct` reaches its guest port, on the session otherwise.
pub async fn relay<C>(
    mut conn: C,
    watch: &MuxWatch,
    direct: Option<&Direct>,
    header: &Header,
) -> io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    // The session stands for "the guest is up": every connection waits for it.
    let mux = session(watch).await?;
    let vsock = match direct {
        Some(d) => d.open(header).await?,
        None => None,
    };
    let (mut stream, via) = match vsock {
        Some(framed) => (Either::Left(framed), "direct"),
        None => (Either::Right(mux.open(header).await?), "through the agent"),
    };
    let (up, down) = splice(&mut conn, &mut stream).await?;
    tracing::debug!("{header:?} connection done ({via}): {up} bytes to the guest, {down} from it");
    Ok(())
}
