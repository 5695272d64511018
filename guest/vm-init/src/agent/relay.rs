//! Byte relays that carry half-close: when one side ends its writes (EOF),
//! the other side's write half is shut down (`shutdown(SHUT_WR)` on a socket,
//! a FIN on a yamux stream), and the relay goes on in the other direction.

use berth_common::vmlink::{self, Reply};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Large enough that a docker cp of big files moves in few syscalls.
const BUF: usize = 256 * 1024;

/// Answers the header with `{"ok":true}` and relays the stream to `target`.
pub async fn accept_and_relay<S, T>(mut stream: S, target: T) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    vmlink::write_json_line(&mut stream, &Reply::ok()).await?;
    relay(stream, target).await.map(|_| ())
}

/// Copies both ways until both directions have ended; returns the bytes
/// moved (a→b, b→a). Each direction runs to its own end: an error in one
/// (a peer that went away while still being written to) must not drop what
/// the other still carries, such as a container's last output.
pub async fn relay<A, B>(a: A, b: B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let (ab, ba) = tokio::join!(
        copy_then_close(&mut ar, &mut bw),
        copy_then_close(&mut br, &mut aw)
    );
    Ok((ab?, ba?))
}

/// Copies until EOF, then shuts the writer down: the half-close. A reset
/// after the data (a Unix socket whose peer closed with input unread) ends
/// the stream like an EOF; any other read error still closes the writer,
/// so the far side is never left waiting.
pub async fn copy_then_close<R, W>(r: &mut R, w: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
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
        // Interactive traffic (attach, exec) must not sit in a buffer.
        w.flush().await?;
        total += n as u64;
    };
    let closed = match w.shutdown().await {
        // The peer already went away entirely: nothing left to tell it.
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    };
    ended.and(closed).map(|()| total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn half_close_passes_through_and_the_answer_comes_back() {
        // a <-> (relay) <-> b, where b echoes upper-cased until EOF.
        let (a_outer, a_inner) = tokio::io::duplex(64);
        let (b_inner, mut b_outer) = tokio::io::duplex(64);
        let relay = tokio::spawn(relay(a_inner, b_inner));
        let server = tokio::spawn(async move {
            let mut got = Vec::new();
            b_outer.read_to_end(&mut got).await.unwrap();
            b_outer.write_all(&got.to_ascii_uppercase()).await.unwrap();
            b_outer.shutdown().await.unwrap();
        });
        let (mut ar, mut aw) = tokio::io::split(a_outer);
        aw.write_all(b"hello").await.unwrap();
        aw.shutdown().await.unwrap();
        let mut answer = Vec::new();
        ar.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"HELLO");
        server.await.unwrap();
        assert_eq!(relay.await.unwrap().unwrap(), (5, 5));
    }
}
