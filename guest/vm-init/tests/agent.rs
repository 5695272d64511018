//! The agent as the host sees it: `berth-vm-init agent --listen-unix` (the
//! same code as on vsock in the VM) driven through a yamux client, with a fake
//! berthd on a Unix socket and real loopback listeners.

use berth_common::vmlink::{self, AgentMessage, Event, Reply};
use futures::future::poll_fn;
use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::compat::{FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

/// Every wait in these tests is bounded: a hang is a failure, not a stall.
const LIMIT: Duration = Duration::from_secs(20);

async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

// ---------------------------------------------------------------- the agent

struct AgentProc {
    child: Child,
    dir: tempfile::TempDir,
    engine: FakeEngine,
}

impl AgentProc {
    async fn start() -> AgentProc {
        let dir = tempfile::tempdir().unwrap();
        let engine = FakeEngine::start(&dir.path().join("docker.sock"));
        let child = Command::new(env!("CARGO_BIN_EXE_berth-vm-init"))
            .arg("agent")
            .arg("--listen-unix")
            .arg(dir.path().join("agent.sock"))
            .arg("--docker-socket")
            .arg(dir.path().join("docker.sock"))
            .arg("--daemon-json")
            .arg(dir.path().join("daemon.json"))
            .env("BERTH_LOG", "warn")
            .spawn()
            .unwrap();
        let sock = dir.path().join("agent.sock");
        bounded("the agent's socket", async {
            while !sock.exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        AgentProc { child, dir, engine }
    }

    async fn connect(&self) -> Client {
        Client::new(
            UnixStream::connect(self.dir.path().join("agent.sock"))
                .await
                .unwrap(),
        )
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------ a yamux client (host)

type Opener = oneshot::Sender<yamux::Result<yamux::Stream>>;

struct Client {
    open: mpsc::UnboundedSender<Opener>,
}

impl Client {
    fn new(socket: UnixStream) -> Client {
        let (tx, mut rx) = mpsc::unbounded_channel::<Opener>();
        let mut conn = yamux::Connection::new(
            socket.compat(),
            yamux::Config::default(),
            yamux::Mode::Client,
        );
        tokio::spawn(async move {
            let mut pending: Option<Opener> = None;
            poll_fn(|cx| loop {
                if pending.is_none() {
                    match rx.poll_recv(cx) {
                        Poll::Ready(Some(o)) => pending = Some(o),
                        Poll::Ready(None) => return Poll::Ready(()),
                        Poll::Pending => {}
                    }
                }
                if let Some(o) = pending.take() {
                    match conn.poll_new_outbound(cx) {
                        Poll::Ready(r) => {
                            let _ = o.send(r);
                            continue;
                        }
                        Poll::Pending => pending = Some(o),
                    }
                }
                // Driving the connection moves every stream's bytes.
                match conn.poll_next_inbound(cx) {
                    Poll::Ready(Some(_)) => continue,
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            })
            .await
        });
        Client { open: tx }
    }

    /// Opens a stream, sends `header`, returns the reply and the stream.
    async fn open(&self, header: &str) -> (Reply, yamux::Stream) {
        let (tx, rx) = oneshot::channel();
        self.open.send(tx).unwrap();
        let mut stream = bounded("opening a stream", rx).await.unwrap().unwrap();
        stream.write_all(header.as_bytes()).await.unwrap();
        stream.write_all(b"\n").await.unwrap();
        stream.flush().await.unwrap();
        let mut compat = stream.compat();
        let reply: Reply = bounded("the header's reply", vmlink::read_json_line(&mut compat))
            .await
            .unwrap();
        (reply, compat.into_inner())
    }
}

/// Writes `data`, half-closes, reads everything back.
async fn exchange(mut stream: yamux::Stream, data: &[u8]) -> Vec<u8> {
    stream.write_all(data).await.unwrap();
    stream.close().await.unwrap(); // FIN: our write half only
    let mut back = Vec::new();
    bounded("the answer after half-close", stream.read_to_end(&mut back))
        .await
        .unwrap();
    back
}

// ----------------------------------------------------------- fake berthd

/// Answers just what the agent asks berthd (/_ping, /containers/json and a
/// held-open /events), over keep-alive HTTP/1.1. A connection that starts
/// with "ECHO" instead reads until EOF and answers the bytes upper-cased:
/// the relay test's target.
#[derive(Clone)]
struct FakeEngine {
    ports: Arc<Mutex<Vec<(u16, &'static str)>>>,
    events: broadcast::Sender<()>,
}

impl FakeEngine {
    fn start(path: &Path) -> FakeEngine {
        let engine = FakeEngine {
            ports: Arc::new(Mutex::new(Vec::new())),
            events: broadcast::channel(16).0,
        };
        let listener = UnixListener::bind(path).unwrap();
        let e = engine.clone();
        tokio::spawn(async move {
            loop {
                let (conn, _) = listener.accept().await.unwrap();
                tokio::spawn(e.clone().serve(conn));
            }
        });
        engine
    }

    /// Changes what /containers/json lists and announces it on /events.
    fn publish(&self, ports: Vec<(u16, &'static str)>) {
        *self.ports.lock().unwrap() = ports;
        let _ = self.events.send(());
    }

    async fn serve(self, conn: UnixStream) {
        let (rd, mut wr) = conn.into_split();
        let mut rd = BufReader::new(rd);
        let mut head = String::new();
        loop {
            head.clear();
            if rd.read_line(&mut head).await.unwrap_or(0) == 0 {
                return;
            }
            if head.starts_with("ECHO") {
                let mut rest = Vec::new();
                rd.read_to_end(&mut rest).await.unwrap();
                let mut all = head.clone().into_bytes();
                all.extend(rest);
                wr.write_all(&all.to_ascii_uppercase()).await.unwrap();
                wr.shutdown().await.unwrap();
                return;
            }
            // Skip the headers (the agent's requests have no body).
            loop {
                let mut line = String::new();
                if rd.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            if path.contains("/events") {
                let mut rx = self.events.subscribe();
                let _ = wr
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                          Transfer-Encoding: chunked\r\n\r\n",
                    )
                    .await;
                while rx.recv().await.is_ok() {
                    let ev = "{\"Type\":\"container\",\"Action\":\"start\",\"id\":\"c1\"}\n";
                    let chunk = format!("{:x}\r\n{ev}\r\n", ev.len());
                    if wr.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
                return;
            }
            let body = if path.ends_with("/_ping") {
                "OK".to_string()
            } else if path.contains("/containers/json") {
                let ports: Vec<_> = self
                    .ports
                    .lock()
                    .unwrap()
                    .iter()
                    .flat_map(|(p, t)| {
                        // Published on 0.0.0.0 and ::, as the API lists them.
                        ["0.0.0.0", "::"].map(|ip| {
                            serde_json::json!({"IP": ip, "PrivatePort": 80, "PublicPort": p, "Type": t})
                        })
                    })
                    .collect();
                serde_json::json!([{"Id": "c1", "Names": ["/web"], "Ports": ports}]).to_string()
            } else {
                "{\"message\":\"not in the fake\"}".to_string()
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if wr.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn docker_stream_carries_half_close_both_ways() {
    let agent = AgentProc::start().await;
    let client = agent.connect().await;
    let (reply, stream) = client.open(r#"{"open":"docker"}"#).await;
    assert_eq!(reply, Reply::ok());
    // The fake answers only once it saw EOF (our FIN became SHUT_WR on its
    // socket), and its EOF ends our read (its SHUT_WR became a FIN).
    let back = exchange(stream, b"ECHO hello berthd").await;
    assert_eq!(back, b"ECHO HELLO BERTHD");
}

#[tokio::test]
async fn a_discard_stream_counts_what_it_swallowed() {
    let agent = AgentProc::start().await;
    let client = agent.connect().await;
    let (reply, stream) = client.open(r#"{"open":"discard"}"#).await;
    assert_eq!(reply, Reply::ok());
    let data = vec![7u8; 3 * 1024 * 1024 + 5];
    let back = exchange(stream, &data).await;
    let count: serde_json::Value = serde_json::from_slice(&back).unwrap();
    assert_eq!(count, serde_json::json!({ "bytes": data.len() }));
}

#[tokio::test]
async fn tcp_stream_reaches_a_loopback_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.unwrap();
        conn.write_all(&got.to_ascii_uppercase()).await.unwrap();
        conn.shutdown().await.unwrap();
    });
    let agent = AgentProc::start().await;
    let client = agent.connect().await;
    let (reply, stream) = client
        .open(&format!(r#"{{"open":"tcp","port":{port}}}"#))
        .await;
    assert_eq!(reply, Reply::ok());
    assert_eq!(exchange(stream, b"ping").await, b"PING");
}

#[tokio::test]
async fn refusals_explain_themselves() {
    // A port nobody listens on: bind one, learn its number, close it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let agent = AgentProc::start().await;
    let client = agent.connect().await;

    let (reply, _) = client
        .open(&format!(r#"{{"open":"tcp","port":{port}}}"#))
        .await;
    assert!(!reply.ok);
    assert!(
        reply
            .message
            .as_deref()
            .unwrap()
            .contains(&port.to_string()),
        "{reply:?}"
    );

    let (reply, _) = client.open(r#"{"open":"teleport"}"#).await;
    assert!(!reply.ok);
    assert!(
        reply
            .message
            .as_deref()
            .unwrap()
            .contains("bad stream header"),
        "{reply:?}"
    );

    let (reply, _) = client.open("not json at all").await;
    assert!(!reply.ok, "{reply:?}");

    let (reply, _) = client.open(r#"{"open":"exec","argv":[]}"#).await;
    assert!(!reply.ok, "{reply:?}");

    // The session survives refusals: a good stream still works.
    let (reply, stream) = client.open(r#"{"open":"docker"}"#).await;
    assert!(reply.ok);
    assert_eq!(exchange(stream, b"ECHO x").await, b"ECHO X");
}

#[tokio::test]
async fn exec_runs_a_process_with_stdin_eof() {
    let agent = AgentProc::start().await;
    let client = agent.connect().await;
    let (reply, stream) = client
        .open(r#"{"open":"exec","argv":["/bin/sh","-c","tr a-z A-Z; echo done >&2"]}"#)
        .await;
    assert_eq!(reply, Reply::ok());
    assert_eq!(exchange(stream, b"shell\n").await, b"SHELL\ndone\n");
}

#[tokio::test]
async fn exec_with_a_terminal() {
    let agent = AgentProc::start().await;
    let client = agent.connect().await;
    let (reply, mut stream) = client
        .open(r#"{"open":"exec","argv":["/bin/sh","-c","stty size; tty"],"tty":true,"rows":33,"cols":101}"#)
        .await;
    assert_eq!(reply, Reply::ok());
    let mut out = Vec::new();
    bounded("the terminal's output", stream.read_to_end(&mut out))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("33 101"), "{out:?}");
    assert!(out.contains("/dev/pts/"), "{out:?}");
}

struct Control {
    lines: futures::io::Lines<futures::io::BufReader<futures::io::ReadHalf<yamux::Stream>>>,
    w: futures::io::WriteHalf<yamux::Stream>,
}

impl Control {
    async fn open(client: &Client) -> Control {
        use futures::AsyncBufReadExt as _;
        let (reply, stream) = client.open(r#"{"open":"control"}"#).await;
        assert_eq!(reply, Reply::ok());
        let (r, w) = stream.split();
        Control {
            lines: futures::io::BufReader::new(r).lines(),
            w,
        }
    }

    async fn next(&mut self) -> AgentMessage {
        use futures::StreamExt as _;
        let line = bounded("a control message", self.lines.next())
            .await
            .expect("control stream ended")
            .unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// The next message that is not an event.
    async fn answer(&mut self) -> vmlink::Answer {
        loop {
            if let AgentMessage::Answer(a) = self.next().await {
                return a;
            }
        }
    }

    async fn send(&mut self, line: &str) {
        self.w.write_all(line.as_bytes()).await.unwrap();
        self.w.write_all(b"\n").await.unwrap();
        self.w.flush().await.unwrap();
    }
}

#[tokio::test]
async fn control_stream_reports_ready_and_ports() {
    let agent = AgentProc::start().await;
    let client = agent.connect().await;
    let mut control = Control::open(&client).await;

    // Ready and the (empty) port set, in whatever order they come.
    let (mut ready, mut ports) = (false, None);
    while !(ready && ports.is_some()) {
        match control.next().await {
            AgentMessage::Event(Event::Ready) => ready = true,
            AgentMessage::Event(Event::Ports { tcp, udp }) => ports = Some((tcp, udp)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ports, Some((vec![], vec![])));

    agent
        .engine
        .publish(vec![(8080, "tcp"), (53, "udp"), (80, "tcp")]);
    assert_eq!(
        control.next().await,
        AgentMessage::Event(Event::Ports {
            tcp: vec![80, 8080],
            udp: vec![53]
        })
    );

    // A second control stream hears the current state at once.
    let mut second = Control::open(&client).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(second.next().await);
    }
    assert!(
        seen.contains(&AgentMessage::Event(Event::Ready)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&AgentMessage::Event(Event::Ports {
            tcp: vec![80, 8080],
            udp: vec![53]
        })),
        "{seen:?}"
    );

    agent.engine.publish(vec![]);
    assert_eq!(
        control.next().await,
        AgentMessage::Event(Event::Ports {
            tcp: vec![],
            udp: vec![]
        })
    );
}

#[tokio::test]
async fn control_requests_are_answered_by_id() {
    let agent = AgentProc::start().await;
    let client = agent.connect().await;
    let mut control = Control::open(&client).await;
    let daemon_json: PathBuf = agent.dir.path().join("daemon.json");

    control
        .send(r#"{"id":7,"request":"daemon-json","content":"{\"debug\": true}"}"#)
        .await;
    let a = control.answer().await;
    assert_eq!((a.id, a.ok), (7, true), "{a:?}");
    assert_eq!(
        std::fs::read_to_string(&daemon_json).unwrap(),
        "{\"debug\": true}"
    );

    // berthd would refuse this file: the agent says why and keeps the old one.
    control
        .send(r#"{"id":8,"request":"daemon-json","content":"{\"no-such-key\": 1}"}"#)
        .await;
    let a = control.answer().await;
    assert_eq!((a.id, a.ok), (8, false), "{a:?}");
    assert!(a.message.unwrap().contains("no-such-key"));
    assert_eq!(
        std::fs::read_to_string(&daemon_json).unwrap(),
        "{\"debug\": true}"
    );

    // Outside the VM the clock is not ours to set.
    control
        .send(r#"{"id":9,"request":"time","unix_nanos":1700000000000000000}"#)
        .await;
    let a = control.answer().await;
    assert_eq!((a.id, a.ok), (9, false), "{a:?}");
}

#[tokio::test]
async fn a_new_connection_replaces_the_old_one() {
    let agent = AgentProc::start().await;
    let first = agent.connect().await;
    let (reply, mut old) = first.open(r#"{"open":"docker"}"#).await;
    assert!(reply.ok);

    let second = agent.connect().await;
    let (reply, stream) = second.open(r#"{"open":"docker"}"#).await;
    assert!(reply.ok);
    assert_eq!(exchange(stream, b"ECHO new").await, b"ECHO NEW");

    // The old session is gone: its stream ends (or fails) instead of hanging.
    let mut buf = Vec::new();
    let r = bounded("the old stream's end", old.read_to_end(&mut buf)).await;
    assert!(r.is_err() || buf.is_empty(), "{r:?} {buf:?}");
}

#[tokio::test]
async fn udp_stream_carries_framed_datagrams() {
    let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = server.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        loop {
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            let answer = buf[..n].to_ascii_uppercase();
            server.send_to(&answer, from).await.unwrap();
        }
    });
    let agent = AgentProc::start().await;
    let client = agent.connect().await;
    let (reply, stream) = client
        .open(&format!(r#"{{"open":"udp","port":{port}}}"#))
        .await;
    assert_eq!(reply, Reply::ok());
    let mut stream = stream.compat();
    for msg in [&b"dns query"[..], b"", b"second"] {
        vmlink::write_datagram(&mut stream, msg).await.unwrap();
        let back = bounded("a datagram back", vmlink::read_datagram(&mut stream))
            .await
            .unwrap()
            .expect("stream ended");
        assert_eq!(back, msg.to_ascii_uppercase());
    }
}
