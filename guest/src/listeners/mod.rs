//! The daemon's listening sockets: `unix://`, `tcp://` (TLS unless explicitly
//! made insecure) and `vsock://` (inside Berth's VM), all serving the same API.

mod conn;
mod tcp;
mod tls;
mod unix;
mod vsock;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::Router;
use berth_common::daemon_config::{DaemonConfig, ListenAddr};
use conn::Carries;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Every bound listener, plus what must be cleaned up when they close.
pub struct Listeners {
    bound: Vec<Bound>,
    socket_files: Vec<PathBuf>,
}

enum Bound {
    Unix(tokio::net::UnixListener, String),
    Tcp(
        tokio::net::TcpListener,
        Option<tokio_rustls::TlsAcceptor>,
        String,
    ),
    Vsock(tokio_vsock::VsockListener, String),
}

/// Default socket when neither `-H` nor `hosts` names one.
pub const DEFAULT_SOCKET: &str = "/var/run/berth/docker.sock";

/// Binds every configured address before anything is served, so that a bad
/// address stops start-up with a clear error instead of a half-up daemon.
pub fn bind_all(config: &DaemonConfig) -> anyhow::Result<Listeners> {
    let hosts = if config.hosts.is_empty() {
        vec![format!("unix://{DEFAULT_SOCKET}")]
    } else {
        config.hosts.clone()
    };
    let tls_mode = tls::Mode::from_config(config);
    let mut out = Listeners {
        bound: Vec::new(),
        socket_files: Vec::new(),
    };
    for host in &hosts {
        let addr =
            ListenAddr::parse(host, tls_mode.is_tls()).map_err(|e| anyhow::anyhow!("{e}"))?;
        match addr {
            ListenAddr::Unix(path) => {
                let l = unix::bind(&path, config.group.as_deref())?;
                out.socket_files.push(path.clone());
                out.bound
                    .push(Bound::Unix(l, format!("unix://{}", path.display())));
            }
            ListenAddr::Tcp { host: h, port } => {
                let acceptor = match &tls_mode {
                    tls::Mode::Off { explicit: false } => bail!(
                        "refusing to listen on {host} without TLS: anyone who can reach that port gets root on this machine. \
                         Pass --tlsverify with --tlscacert, --tlscert and --tlskey (recommended), \
                         or --tls=false to accept the risk explicitly"
                    ),
                    tls::Mode::Off { explicit: true } => {
                        tracing::warn!(
                            "[SECURITY] API listens on {host} WITHOUT TLS: anyone who can reach it can run \
                             privileged containers, i.e. has root on this machine. Use --tlsverify instead."
                        );
                        None
                    }
                    mode => Some(tls::acceptor(mode)?),
                };
                let l = tcp::bind(&h, port)?;
                let shown = format!(
                    "{}{}",
                    if acceptor.is_some() {
                        "tcp+tls://"
                    } else {
                        "tcp://"
                    },
                    l.local_addr()?
                );
                out.bound.push(Bound::Tcp(l, acceptor, shown));
            }
            ListenAddr::Vsock { cid, port } => {
                let l = vsock::bind(cid, port)?;
                out.bound.push(Bound::Vsock(l, format!("vsock://:{port}")));
            }
        }
    }
    Ok(out)
}

impl Listeners {
    /// Serves until `stop` is cancelled, then lets open requests finish for up
    /// to `grace` and removes the socket files.
    pub async fn serve(self, router: Router, stop: CancellationToken, grace: Duration) {
        let tracker = TaskTracker::new();
        for bound in self.bound {
            let (router, stop, conns) = (router.clone(), stop.clone(), tracker.clone());
            tracker.spawn(async move {
                match bound {
                    Bound::Unix(l, shown) => {
                        tracing::info!("API listen on {shown}");
                        conn::accept_loop(
                            || async { l.accept().await.map(|(s, _)| s) },
                            Carries::Http,
                            router,
                            stop,
                            conns,
                        )
                        .await
                    }
                    Bound::Tcp(l, acceptor, shown) => {
                        tracing::info!("API listen on {shown}");
                        conn::accept_loop(
                            || async {
                                let (s, _) = l.accept().await?;
                                let _ = s.set_nodelay(true);
                                Ok(s)
                            },
                            match acceptor {
                                Some(a) => Carries::Tls(a),
                                None => Carries::Http,
                            },
                            router,
                            stop,
                            conns,
                        )
                        .await
                    }
                    Bound::Vsock(l, shown) => {
                        tracing::info!("API listen on {shown}");
                        conn::accept_loop(
                            || async { l.accept().await.map(|(s, _)| s) },
                            Carries::Framed,
                            router,
                            stop,
                            conns,
                        )
                        .await
                    }
                }
            });
        }
        tracker.close();
        stop.cancelled().await;
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("connections still open after {grace:?}; closing them");
        }
        for path in &self.socket_files {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Makes sure a path's parent exists so a socket can be bound in it.
fn ensure_parent(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            crate::fsutil::ensure_dir(dir, 0o755)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    Ok(())
}
