//! The control stream: the agent's events (ready, published ports) and the host's requests
//! (shutdown, clock, daemon.json), matched to their answers by id.

use super::{Mux, MuxStream};
use berth_common::vmlink::{self, AgentMessage, Answer, ControlRequest, Event, Header, Request};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>>;

/// The host's end of the control stream.
pub struct Control {
    writer: tokio::sync::Mutex<WriteHalf<MuxStream>>,
    pending: Pending,
    next_id: AtomicU64,
}

impl Control {
    /// Opens the control stream; the agent's events go to `events` until the stream ends.
    pub async fn open(
        mux: &Mux,
        events: mpsc::UnboundedSender<Event>,
    ) -> std::io::Result<Arc<Control>> {
        let stream = mux.open(&Header::Control).await?;
        let (reader, writer) = tokio::io::split(stream);
        let pending: Pending = Arc::default();
        tokio::spawn(read_messages(reader, pending.clone(), events));
        Ok(Arc::new(Control {
            writer: tokio::sync::Mutex::new(writer),
            pending,
            next_id: AtomicU64::new(1),
        }))
    }

    /// Sends `request` and waits up to `timeout` for the agent's answer.
    pub async fn request(&self, request: Request, timeout: Duration) -> anyhow::Result<()> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let line = ControlRequest { id, request };
        let sent = vmlink::write_json_line(&mut *self.writer.lock().await, &line).await;
        if let Err(e) = sent {
            self.pending.lock().unwrap().remove(&id);
            anyhow::bail!("cannot reach the guest agent: {e}");
        }
        let answer = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(a)) => a,
            Ok(Err(_)) => anyhow::bail!("the guest agent went away before answering"),
            Err(_) => {
                self.pending.lock().unwrap().remove(&id);
                anyhow::bail!("the guest agent did not answer within {timeout:?}")
            }
        };
        if answer.ok {
            Ok(())
        } else {
            anyhow::bail!("the guest refused: {}", answer.message.unwrap_or_default())
        }
    }

    /// Sets the guest clock to the host's.
    pub async fn sync_time(&self) -> anyhow::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.request(
            Request::Time {
                unix_nanos: now.as_nanos() as i64,
            },
            Duration::from_secs(10),
        )
        .await
    }
}

async fn read_messages(
    mut reader: ReadHalf<MuxStream>,
    pending: Pending,
    events: mpsc::UnboundedSender<Event>,
) {
    loop {
        match vmlink::read_json_line::<AgentMessage, _>(&mut reader).await {
            Ok(AgentMessage::Event(e)) => {
                tracing::debug!("guest event: {e:?}");
                let _ = events.send(e);
            }
            Ok(AgentMessage::Answer(a)) => {
                if let Some(tx) = pending.lock().unwrap().remove(&a.id) {
                    let _ = tx.send(a);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                // A newer agent may send messages this host does not know: skip them.
                tracing::warn!("control stream: {e}");
            }
            Err(e) => {
                tracing::info!("control stream ended: {e}");
                break;
            }
        }
    }
    // Dropping the senders fails every request still waiting.
    pending.lock().unwrap().clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio_util::compat::{FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

    /// A stand-in agent with a control stream only: sends ready and ports, answers requests
    /// (refusing daemon-json content that is not JSON).
    fn control_agent(io: tokio::io::DuplexStream) {
        tokio::spawn(async move {
            let mut conn =
                yamux::Connection::new(io.compat(), yamux::Config::default(), yamux::Mode::Server);
            let (tx, mut rx) = mpsc::unbounded_channel::<yamux::Stream>();
            tokio::spawn(async move {
                while let Some(s) = rx.recv().await {
                    tokio::spawn(async move {
                        let mut s = s.compat();
                        let h: Header = vmlink::read_json_line(&mut s).await.unwrap();
                        assert_eq!(h, Header::Control);
                        vmlink::write_json_line(&mut s, &vmlink::Reply::ok())
                            .await
                            .unwrap();
                        vmlink::write_json_line(&mut s, &Event::Ready)
                            .await
                            .unwrap();
                        let ports = Event::Ports {
                            tcp: vec![8080],
                            udp: vec![],
                        };
                        vmlink::write_json_line(&mut s, &ports).await.unwrap();
                        while let Ok(r) = vmlink::read_json_line::<ControlRequest, _>(&mut s).await
                        {
                            let a = match r.request {
                                Request::DaemonJson { content }
                                    if serde_json::from_str::<serde_json::Value>(&content)
                                        .is_err() =>
                                {
                                    Answer::error(r.id, "daemon.json is not JSON")
                                }
                                _ => Answer::ok(r.id),
                            };
                            vmlink::write_json_line(&mut s, &a).await.unwrap();
                        }
                    });
                }
            });
            while let Some(Ok(s)) = poll_fn(|cx| conn.poll_next_inbound(cx)).await {
                let _ = tx.send(s);
            }
        });
    }

    #[tokio::test]
    async fn events_arrive_and_requests_get_their_answers() {
        let (a, b) = tokio::io::duplex(1 << 20);
        control_agent(b);
        let (mux, _t) = Mux::start(a);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let control = Control::open(&mux, tx).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), Event::Ready);
        assert_eq!(
            rx.recv().await.unwrap(),
            Event::Ports {
                tcp: vec![8080],
                udp: vec![]
            }
        );
        control.sync_time().await.unwrap();
        let bad = Request::DaemonJson {
            content: "{".into(),
        };
        let e = control
            .request(bad, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
    }
}
