//! The control stream: events to the host (ready, published ports) and the
//! host's requests (shutdown, clock, daemon.json), as JSON lines.

use super::{Agent, EngineState};
use berth_common::vmlink::{self, AgentMessage, Answer, ControlRequest, Event, Reply};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

/// The guest operations the host can ask for. The VM's init implements them
/// for real; test mode has local stand-ins. Blocking calls: they are run on
/// the blocking pool.
pub trait GuestOps: Send + Sync + 'static {
    /// Stops berthd, syncs and unmounts; the power-off follows separately so
    /// that the answer reaches the host first.
    fn shutdown(&self) -> Result<(), String>;
    fn power_off(&self);
    fn set_time(&self, unix_nanos: i64) -> Result<(), String>;
    fn daemon_json(&self, content: &str) -> Result<(), String>;
}

/// Test mode: no VM to stop, no clock to set; daemon.json goes to a file.
pub struct LocalOps {
    pub daemon_json: Option<PathBuf>,
}

impl GuestOps for LocalOps {
    fn shutdown(&self) -> Result<(), String> {
        Ok(())
    }

    fn power_off(&self) {
        tracing::info!("shutdown requested: the test-mode agent exits");
        std::process::exit(0);
    }

    fn set_time(&self, _unix_nanos: i64) -> Result<(), String> {
        Err("setting the clock needs the VM (this agent runs in test mode)".into())
    }

    fn daemon_json(&self, content: &str) -> Result<(), String> {
        let path = self
            .daemon_json
            .as_ref()
            .ok_or("this test-mode agent was started without --daemon-json")?;
        check_daemon_json(content)?;
        crate::fsutil::write_atomic(path, content.as_bytes())
            .map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

/// Refuses a daemon.json berthd would refuse, so the host hears why now
/// rather than finding a reload error in the guest's log.
pub fn check_daemon_json(content: &str) -> Result<(), String> {
    berth_common::daemon_config::validate_text(content)
        .map(|_| ())
        .map_err(|e| format!("daemon.json is not valid: {e}"))
}

type Outgoing = (AgentMessage, Option<oneshot::Sender<()>>);

pub async fn serve<S>(mut stream: S, agent: Arc<Agent>) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    vmlink::write_json_line(&mut stream, &Reply::ok()).await?;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Outgoing>(64);

    // One writer, so lines from events and answers never interleave.
    let writer = tokio::spawn(async move {
        while let Some((msg, written)) = rx.recv().await {
            if vmlink::write_json_line(&mut wr, &msg).await.is_err() {
                break;
            }
            if let Some(w) = written {
                let _ = w.send(());
            }
        }
    });

    let events = tokio::spawn(forward_events(agent.engine.clone(), tx.clone()));

    let result = loop {
        let req: ControlRequest = match vmlink::read_json_line(&mut rd).await {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                // A request we cannot read has no id to answer: log it and
                // go on, the host times the request out.
                tracing::warn!("bad control request: {e}");
                continue;
            }
            Err(e) => break Err(e),
        };
        tokio::spawn(handle_request(req, agent.ops.clone(), tx.clone()));
    };
    events.abort();
    drop(tx);
    let _ = writer.await;
    result
}

async fn forward_events(
    mut engine: tokio::sync::watch::Receiver<EngineState>,
    tx: mpsc::Sender<Outgoing>,
) {
    let mut sent_ready = false;
    let mut sent_ports: Option<(Vec<u16>, Vec<u16>)> = None;
    loop {
        let state = engine.borrow_and_update().clone();
        if state.ready && !sent_ready {
            sent_ready = true;
            if tx
                .send((AgentMessage::Event(Event::Ready), None))
                .await
                .is_err()
            {
                return;
            }
        }
        // berthd restarting is not news for the host: it hears of it only
        // through the ports going away, so ready is reported once per stream.
        let ports = (state.tcp.clone(), state.udp.clone());
        if sent_ports.as_ref() != Some(&ports) {
            let event = Event::Ports {
                tcp: ports.0.clone(),
                udp: ports.1.clone(),
            };
            sent_ports = Some(ports);
            if tx.send((AgentMessage::Event(event), None)).await.is_err() {
                return;
            }
        }
        if engine.changed().await.is_err() {
            return;
        }
    }
}

async fn handle_request(req: ControlRequest, ops: Arc<dyn GuestOps>, tx: mpsc::Sender<Outgoing>) {
    use vmlink::Request;
    let id = req.id;
    tracing::info!(id, request = ?short(&req.request), "control request");
    let shutdown = matches!(req.request, Request::Shutdown);
    let ops2 = ops.clone();
    let outcome = tokio::task::spawn_blocking(move || match req.request {
        Request::Shutdown => ops2.shutdown(),
        Request::Time { unix_nanos } => ops2.set_time(unix_nanos),
        Request::DaemonJson { content } => ops2.daemon_json(&content),
    })
    .await
    .unwrap_or_else(|e| Err(format!("the request failed: {e}")));
    let answer = match outcome {
        Ok(()) => Answer::ok(id),
        Err(m) => {
            tracing::warn!(id, "control request failed: {m}");
            Answer::error(id, m)
        }
    };
    let ok = answer.ok;
    let (written_tx, written_rx) = oneshot::channel();
    if tx
        .send((AgentMessage::Answer(answer), Some(written_tx)))
        .await
        .is_ok()
    {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), written_rx).await;
    }
    if shutdown && ok {
        // Give yamux a moment to put the answer on the wire.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        tokio::task::spawn_blocking(move || ops.power_off());
    }
}

fn short(r: &vmlink::Request) -> &'static str {
    match r {
        vmlink::Request::Shutdown => "shutdown",
        vmlink::Request::Time { .. } => "time",
        vmlink::Request::DaemonJson { .. } => "daemon-json",
    }
}
