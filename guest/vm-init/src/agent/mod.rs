//! The agent: a yamux server on the host's connection (vsock in the VM, a
//! Unix socket in test mode). Every stream starts with a JSON header line
//! (`berth_common::vmlink::Header`) that picks what it relays to.

mod control;
mod engine;
mod exec;
pub mod probe;
mod relay;
mod session;
mod udp;

pub use control::{check_daemon_json, GuestOps};
pub use engine::EngineState;

use anyhow::Context as _;
use berth_common::vmlink::{self, Header, Reply};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_util::compat::FuturesAsyncReadCompatExt;
use tokio_util::sync::CancellationToken;

/// What every stream handler needs.
pub struct Agent {
    pub docker_socket: PathBuf,
    pub engine: watch::Receiver<EngineState>,
    pub ops: Arc<dyn GuestOps>,
}

impl Agent {
    /// An agent for berthd at `docker_socket`, with a task that follows its
    /// readiness and published ports.
    /// Cancelling `stop_watching` closes the agent's own connections to
    /// berthd (its events stream), which berthd would otherwise wait for
    /// when it shuts down.
    pub fn start(
        docker_socket: PathBuf,
        ops: Arc<dyn GuestOps>,
        stop_watching: CancellationToken,
    ) -> Arc<Agent> {
        let (tx, rx) = watch::channel(EngineState::default());
        let watcher = engine::watch_engine(docker_socket.clone(), tx);
        tokio::spawn(async move {
            tokio::select! {
                _ = watcher => {}
                _ = stop_watching.cancelled() => tracing::debug!("stopped following berthd"),
            }
        });
        Arc::new(Agent {
            docker_socket,
            engine: rx,
            ops,
        })
    }
}

/// Serves one host connection until it ends. The host opens every stream.
pub async fn serve_connection<S>(socket: S, agent: Arc<Agent>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = session::serve(socket);
    loop {
        // Polling the connection is also what moves the bytes of every open
        // stream: this loop must keep running while streams are served.
        match futures::future::poll_fn(|cx| conn.poll_next_inbound(cx)).await {
            Some(Ok(stream)) => {
                tokio::spawn(handle_stream(stream, agent.clone()));
            }
            Some(Err(e)) => {
                tracing::warn!("host connection failed: {e}");
                break;
            }
            None => break,
        }
    }
    tracing::info!("host connection closed");
}

/// Accepts host connections one at a time: a new connection means the host
/// restarted, so it replaces the old one (whose streams then fail).
pub async fn serve<L, S, F>(mut accept: L, agent: Arc<Agent>)
where
    L: FnMut() -> F,
    F: std::future::Future<Output = std::io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut current: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        match accept().await {
            Ok(socket) => {
                if let Some(old) = current.take() {
                    if !old.is_finished() {
                        tracing::info!("a new host connection replaces the previous one");
                    }
                    old.abort();
                }
                tracing::info!("host connected");
                current = Some(tokio::spawn(serve_connection(socket, agent.clone())));
            }
            Err(e) => {
                tracing::warn!("accepting a host connection failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

/// Serves the stream port ([`vmlink::STREAM_VSOCK_PORT`]): each connection
/// is one stream in frames.
pub async fn serve_streams<L, S, F>(mut accept: L, agent: Arc<Agent>)
where
    L: FnMut() -> F,
    F: std::future::Future<Output = std::io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut n = 0u64;
    loop {
        match accept().await {
            Ok(conn) => {
                n += 1;
                let stream = berth_common::framed::Framed::new(conn);
                tokio::spawn(handle(stream, format!("vsock-{n}"), agent.clone()));
            }
            Err(e) => {
                tracing::warn!("accepting a stream connection failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

async fn handle_stream(stream: yamux::Stream, agent: Arc<Agent>) {
    let id = stream.id().to_string();
    handle(stream.compat(), id, agent).await
}

/// One stream, however it came: a header line picks what it relays to.
async fn handle<S>(mut stream: S, id: String, agent: Arc<Agent>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header: Header = match vmlink::read_json_line(&mut stream).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(%id, "bad stream header: {e}");
            let _ = vmlink::write_json_line(
                &mut stream,
                &Reply::error(format!("bad stream header: {e}")),
            )
            .await;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            return;
        }
    };
    tracing::debug!(%id, ?header, "stream opened");
    let result = match header {
        Header::Docker => match tokio::net::UnixStream::connect(&agent.docker_socket).await {
            Ok(target) => relay::accept_and_relay(stream, target).await,
            Err(e) => {
                refuse(
                    stream,
                    format!(
                        "cannot reach berthd at {}: {e}; it may still be starting \
                             or have failed (see `berth logs`)",
                        agent.docker_socket.display()
                    ),
                )
                .await
            }
        },
        Header::Tcp { port } => match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(target) => {
                let _ = target.set_nodelay(true);
                relay::accept_and_relay(stream, target).await
            }
            Err(e) => {
                refuse(
                    stream,
                    format!("nothing answers on port {port} in the VM: {e}"),
                )
                .await
            }
        },
        Header::Udp { port } => udp::serve(stream, port).await,
        Header::Exec {
            argv,
            tty,
            rows,
            cols,
            framed,
        } => exec::serve(stream, argv, tty, rows, cols, framed).await,
        Header::Control => control::serve(stream, agent).await,
        Header::Discard => discard(stream).await,
    };
    if let Err(e) = result {
        tracing::debug!(%id, "stream ended with an error: {e}");
    }
}

/// Reads the stream to its end and answers with the byte count.
async fn discard<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    vmlink::write_json_line(&mut stream, &Reply::ok()).await?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        match stream.read(&mut buf).await? {
            0 => break,
            n => bytes += n as u64,
        }
    }
    vmlink::write_json_line(&mut stream, &serde_json::json!({ "bytes": bytes })).await?;
    tokio::io::AsyncWriteExt::shutdown(&mut stream).await
}

/// Answers a header with an error and closes the stream.
async fn refuse<S: AsyncWrite + Unpin>(mut stream: S, message: String) -> std::io::Result<()> {
    tracing::info!("refused a stream: {message}");
    vmlink::write_json_line(&mut stream, &Reply::error(message)).await?;
    tokio::io::AsyncWriteExt::shutdown(&mut stream).await
}

/// Test mode: the agent on a Unix socket, with local stand-ins for the
/// guest operations.
pub fn run_local(
    listen: PathBuf,
    docker_socket: PathBuf,
    daemon_json: Option<PathBuf>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let _ = std::fs::remove_file(&listen);
        let listener = tokio::net::UnixListener::bind(&listen)
            .with_context(|| format!("listening on {}", listen.display()))?;
        tracing::info!("agent listening on {}", listen.display());
        let ops = Arc::new(control::LocalOps { daemon_json });
        let agent = Agent::start(docker_socket, ops, CancellationToken::new());
        serve(|| async { listener.accept().await.map(|(s, _)| s) }, agent).await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_common::framed::Framed;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_framed_connection_is_a_stream_with_its_half_close() {
        // A TCP service in the "guest" that answers what it read, upper-cased, after its EOF.
        let service = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = service.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = service.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            s.write_all(&got.to_ascii_uppercase()).await.unwrap();
        });
        let ops = Arc::new(control::LocalOps { daemon_json: None });
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::start(dir.path().join("none.sock"), ops, CancellationToken::new());

        let (host, guest) = tokio::io::duplex(1 << 16);
        let mut accepted = Some(guest);
        tokio::spawn(serve_streams(
            move || {
                let next = accepted.take();
                async move {
                    match next {
                        Some(s) => Ok(s),
                        None => std::future::pending().await,
                    }
                }
            },
            agent.clone(),
        ));
        let mut host = Framed::new(host);
        vmlink::write_json_line(&mut host, &Header::Tcp { port })
            .await
            .unwrap();
        let reply: Reply = vmlink::read_json_line(&mut host).await.unwrap();
        assert!(reply.ok, "{reply:?}");
        host.write_all(b"through the port").await.unwrap();
        host.shutdown().await.unwrap();
        let mut answer = Vec::new();
        host.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"THROUGH THE PORT");

        // A port nobody listens on is refused with a reason.
        let (host, guest) = tokio::io::duplex(1 << 16);
        tokio::spawn(handle(Framed::new(guest), "t".into(), agent));
        let mut host = Framed::new(host);
        vmlink::write_json_line(&mut host, &Header::Tcp { port: 1 })
            .await
            .unwrap();
        let reply: Reply = vmlink::read_json_line(&mut host).await.unwrap();
        assert!(!reply.ok && reply.message.unwrap().contains("port 1"));
    }
}
