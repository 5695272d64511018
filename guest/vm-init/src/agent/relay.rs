//! Byte relays that carry half-close: when one side ends its writes (EOF),
//! the other side's write half is shut down (`shutdown(SHUT_WR)` on a socket,
//! a FIN on a yamux stream), and the relay goes on in the other direction.

use berth_common::vmlink::{self, Reply};
use std::io;
use tokio::io::{AsyncRead, AsyncWrite};

/// Answers the header with `{"ok":true}` and relays the stream to `target`.
pub async fn accept_and_relay<S, T>(mut stream: S, target: T) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    vmlink::write_json_line(&mut stream, &Reply::ok()).await?;
    relay(stream, target).await.map(|_| ())
}

pub use vmlink::{copy_then_close, relay};

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
