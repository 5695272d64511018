//! `vsock://` listener, used only inside Berth's VM: the host reaches berthd
//! through it. Never bound on a host machine.
//!
//! Each vsock connection carries a yamux session, and each stream of the
//! session is one API connection: the VM's vsock transport loses a
//! half-close (`shutdown(SHUT_WR)`), which `docker attach`/`exec` rely on,
//! and a yamux FIN carries it. This is the host's direct path to the API;
//! the guest agent's relay to the Unix socket is the fallback. It saves the
//! guest a relay of every byte (a write and a read through a Unix socket),
//! which is much of a `docker cp`'s cost under emulation.

use anyhow::Context;
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::FuturesAsyncReadCompatExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_vsock::{VsockAddr, VsockListener, VMADDR_CID_ANY};

pub fn bind(cid: Option<u32>, port: u32) -> anyhow::Result<VsockListener> {
    VsockListener::bind(VsockAddr::new(cid.unwrap_or(VMADDR_CID_ANY), port))
        .with_context(|| format!("cannot listen on vsock port {port}"))
}

/// Serves one connection's yamux session until it ends, or until `stop`
/// and the end of the API connections open then.
pub async fn serve_session<S>(io: S, router: Router, stop: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut session = berth_common::guest_session::serve(io);
    let streams = TaskTracker::new();
    loop {
        // Polling for inbound streams is also what moves every open stream's
        // bytes: it goes on while any API connection is open.
        let next = futures_util::future::poll_fn(|cx| session.poll_next_inbound(cx));
        tokio::select! {
            next = next => match next {
                Some(Ok(stream)) if !streams.is_closed() => {
                    let api = super::conn::serve(stream.compat(), router.clone(), stop.clone());
                    streams.spawn(api);
                }
                Some(Ok(_)) => {} // shutting down: the new stream is reset
                Some(Err(e)) => {
                    tracing::info!("vsock session failed: {e}");
                    break;
                }
                None => break,
            },
            _ = stop.cancelled(), if !streams.is_closed() => {
                streams.close();
            }
            _ = streams.wait(), if streams.is_closed() => break,
        }
    }
    tracing::debug!("vsock session ended");
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    use std::time::Duration;
    use tokio_util::compat::TokioAsyncReadCompatExt;

    /// Two API connections as streams of one session, answered each on its
    /// own; the session ends once stopped and its connections are done.
    #[tokio::test]
    async fn each_stream_is_an_api_connection() {
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let router = Router::new().route("/_ping", axum::routing::get(|| async { "OK" }));
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve_session(server_io, router, stop.clone()));

        let mut client = yamux::Connection::new(
            client_io.compat(),
            yamux::Config::default(),
            yamux::Mode::Client,
        );
        let mut streams = Vec::new();
        for _ in 0..2 {
            let s = futures_util::future::poll_fn(|cx| client.poll_new_outbound(cx));
            streams.push(s.await.unwrap());
        }
        // The client's connection moves the streams' bytes while it is polled.
        let driver = tokio::spawn(async move {
            while let Some(Ok(_)) =
                futures_util::future::poll_fn(|cx| client.poll_next_inbound(cx)).await
            {}
        });
        let asks = streams.into_iter().map(|mut s| async move {
            s.write_all(b"GET /_ping HTTP/1.1\r\nHost: berthd\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            s.read_to_end(&mut answer).await.unwrap();
            String::from_utf8(answer).unwrap()
        });
        let answers = tokio::time::timeout(
            Duration::from_secs(10),
            futures_util::future::join_all(asks),
        )
        .await
        .unwrap();
        for a in answers {
            assert!(a.starts_with("HTTP/1.1 200 OK"), "{a}");
            assert!(a.ends_with("\r\n\r\nOK"), "{a}");
        }
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the session ends after stop")
            .unwrap();
        driver.abort();
    }
}
