//! Drives one accepted connection through hyper, whatever the transport.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A client has this long to send request headers: slow or silent clients
/// must not pin connections forever. Hijacked streams are not affected.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What an accepted stream carries.
#[derive(Clone)]
pub enum Carries {
    /// One HTTP connection.
    Http,
    /// One HTTP connection inside TLS.
    Tls(TlsAcceptor),
    /// One HTTP connection in frames (see `vsock`).
    Framed,
}

pub async fn accept_loop<S, F, Fut>(
    mut accept: F,
    carries: Carries,
    router: Router,
    stop: CancellationToken,
    conns: TaskTracker,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<S>>,
{
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            r = accept() => r,
        };
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (router, stop, carries) = (router.clone(), stop.clone(), carries.clone());
        conns.spawn(async move {
            match carries {
                Carries::Http => serve(stream, router, stop).await,
                Carries::Framed => {
                    serve(berth_common::framed::Framed::new(stream), router, stop).await
                }
                Carries::Tls(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(s)) => serve(s, router, stop).await,
                        Ok(Err(e)) => tracing::info!("TLS handshake refused: {e}"),
                        Err(_) => tracing::info!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

pub async fn serve<S>(stream: S, router: Router, stop: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        crate::api::handle(router.clone(), req.map(Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended: {e}");
    }
}
