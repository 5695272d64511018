//! The yamux client session over the vsock connection. One task drives the connection; handles
//! ask it for new streams through a channel (yamux's connection is not shareable itself).

use berth_common::vmlink::{self, Header, Reply};
use std::future::poll_fn;
use std::io;
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

/// A stream of the session, with tokio's I/O traits. Shutting down its write half sends a
/// yamux FIN: the agent turns it into `shutdown(SHUT_WR)` on the target socket.
pub type MuxStream = Compat<yamux::Stream>;

type OpenReply = oneshot::Sender<io::Result<yamux::Stream>>;

/// A handle on the session; cheap to clone.
#[derive(Clone, Debug)]
pub struct Mux {
    open_tx: mpsc::Sender<OpenReply>,
}

impl Mux {
    /// Starts a client session on `io`. The returned task ends when the connection does.
    pub fn start<T>(io: T) -> (Mux, tokio::task::JoinHandle<()>)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut cfg = yamux::Config::default();
        // Bulk copies (docker cp, image loads) cross in big frames: fewer wakeups per byte.
        cfg.set_split_send_size(256 * 1024);
        let conn = yamux::Connection::new(io.compat(), cfg, yamux::Mode::Client);
        let (open_tx, open_rx) = mpsc::channel(64);
        let task = tokio::spawn(drive(conn, open_rx));
        (Mux { open_tx }, task)
    }

    /// Opens a bare stream (no header sent yet).
    pub async fn open_raw(&self) -> io::Result<MuxStream> {
        let (tx, rx) = oneshot::channel();
        self.open_tx.send(tx).await.map_err(|_| lost())?;
        Ok(rx.await.map_err(|_| lost())??.compat())
    }

    /// Opens a stream, sends `header` and waits for the agent's reply; an `ok:false` reply is
    /// an error carrying the agent's message.
    pub async fn open(&self, header: &Header) -> io::Result<MuxStream> {
        let mut s = self.open_raw().await?;
        request(&mut s, header).await?;
        Ok(s)
    }

    /// Whether the session is still up.
    pub fn is_closed(&self) -> bool {
        self.open_tx.is_closed()
    }
}

/// Sends a stream's `header` and waits for the agent's reply; an `ok:false` reply is an error
/// carrying the agent's message.
pub async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    header: &Header,
) -> io::Result<()> {
    vmlink::write_json_line(s, header).await?;
    let reply: Reply = vmlink::read_json_line(s).await?;
    if reply.ok {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the guest refused the stream: {}",
            reply.message.unwrap_or_default()
        )))
    }
}

fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the connection to the guest was lost",
    )
}

async fn drive<T>(mut conn: yamux::Connection<T>, mut open_rx: mpsc::Receiver<OpenReply>)
where
    T: futures::AsyncRead + futures::AsyncWrite + Unpin,
{
    let mut waiting: Option<OpenReply> = None;
    let result = poll_fn(|cx| loop {
        if waiting.is_none() {
            if let Poll::Ready(Some(tx)) = open_rx.poll_recv(cx) {
                waiting = Some(tx);
            }
        }
        if let Some(tx) = waiting.take() {
            match conn.poll_new_outbound(cx) {
                Poll::Ready(Ok(s)) => {
                    let _ = tx.send(Ok(s));
                    continue;
                }
                Poll::Ready(Err(e)) => {
                    let _ = tx.send(Err(io::Error::other(e.to_string())));
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => waiting = Some(tx),
            }
        }
        // Driving inbound is what moves every stream's bytes; the agent never opens streams.
        match conn.poll_next_inbound(cx) {
            Poll::Ready(Some(Ok(stream))) => drop(stream),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
            Poll::Ready(None) => return Poll::Ready(Ok(())),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await;
    match result {
        Ok(()) => tracing::info!("the guest closed the session"),
        Err(e) => tracing::warn!("session with the guest ended: {e}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A stand-in agent: a yamux server that answers every header with ok and echoes the
    /// stream's bytes back, closing its side when the host closes its own (half-close).
    pub(crate) fn echo_agent<T>(io: T) -> tokio::task::JoinHandle<()>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        tokio::spawn(async move {
            let mut conn =
                yamux::Connection::new(io.compat(), yamux::Config::default(), yamux::Mode::Server);
            let (tx, mut rx) = mpsc::unbounded_channel();
            tokio::spawn(async move {
                while let Some(s) = rx.recv().await {
                    tokio::spawn(echo(s));
                }
            });
            while let Some(Ok(s)) = poll_fn(|cx| conn.poll_next_inbound(cx)).await {
                let _ = tx.send(s);
            }
        })
    }

    async fn echo(s: yamux::Stream) {
        let mut s = s.compat();
        let header = vmlink::read_line(&mut s).await.unwrap();
        let h: Header = serde_json::from_slice(&header).unwrap();
        if matches!(h, Header::Tcp { port: 1 }) {
            vmlink::write_json_line(&mut s, &Reply::error("nothing listens on port 1"))
                .await
                .unwrap();
            return;
        }
        vmlink::write_json_line(&mut s, &Reply::ok()).await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).await.unwrap();
        }
        s.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn streams_echo_and_half_close_both_ways() {
        let (a, b) = tokio::io::duplex(1 << 20);
        echo_agent(b);
        let (mux, _task) = Mux::start(a);
        let mut s = mux.open(&Header::Docker).await.unwrap();
        s.write_all(b"hi\n").await.unwrap();
        // Only our write half closes: the echo still comes back, then the agent's EOF.
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hi\n");
    }

    #[tokio::test]
    async fn a_refused_header_is_an_error_with_the_agents_message() {
        let (a, b) = tokio::io::duplex(1 << 20);
        echo_agent(b);
        let (mux, _task) = Mux::start(a);
        let e = mux.open(&Header::Tcp { port: 1 }).await.unwrap_err();
        assert!(e.to_string().contains("port 1"), "{e}");
    }

    #[tokio::test]
    async fn a_lost_connection_fails_new_streams() {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (mux, task) = Mux::start(a);
        drop(b);
        task.await.unwrap();
        assert!(mux.is_closed());
        assert!(mux.open(&Header::Docker).await.is_err());
    }
}
