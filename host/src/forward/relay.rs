//! Copying a host connection and a guest stream into each other until both directions end.
//! The end of one direction becomes a shutdown of the other side's write half (not a close), so
//! half-close crosses the relay: `echo hi | docker run -i busybox cat` needs it.

use super::{Mux, MuxWatch};
use berth_common::vmlink::Header;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Big buffers: bulk transfers (docker cp, image loads) cross with fewer wakeups.
const BUF: usize = 256 * 1024;

/// How long a host connection waits for a session with the guest (the guest is booting or
/// rebooting) before it is refused.
const SESSION_WAIT: Duration = Duration::from_secs(120);

/// Relays `a` and `b` until both directions have ended. Each direction runs to its own end
/// (tokio's copy_bidirectional stops both at the first error, which can drop the last bytes
/// still on their way the other way, such as a container's final output).
pub async fn splice<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let (ab, ba) = tokio::join!(one_way(&mut ar, &mut bw), one_way(&mut br, &mut aw));
    Ok((ab?, ba?))
}

/// Copies until EOF (or a reset after the data), then shuts the writer down: the half-close.
/// The writer is shut down after a read error too, so the far side is never left waiting.
async fn one_way<R, W>(r: &mut R, w: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    let ended = loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break Ok(()),
            Err(e) => break Err(e),
        };
        w.write_all(&buf[..n]).await?;
        w.flush().await?;
        total += n as u64;
    };
    let closed = match w.shutdown().await {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    };
    ended.and(closed).map(|()| total)
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

/// Relays one host connection as a stream opened with `header`.
pub async fn relay<C>(mut conn: C, watch: &MuxWatch, header: &Header) -> io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mux = session(watch).await?;
    let mut stream = mux.open(header).await?;
    let (up, down) = splice(&mut conn, &mut stream).await?;
    tracing::debug!("{header:?} connection done: {up} bytes to the guest, {down} from it");
    Ok(())
}
