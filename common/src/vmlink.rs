//! The protocol between berth-host and the agent in the VM guest (berth-vm-init).
//!
//! One vsock connection carries a yamux session; the host is the yamux client
//! and opens every stream. Each stream starts with one JSON line from the host
//! (a [`Header`]), the agent answers one JSON line (a [`Reply`]), then the
//! stream carries raw bytes both ways, except the control stream, which
//! carries JSON lines: [`Event`]s and [`Answer`]s from the agent,
//! [`ControlRequest`]s from the host.
//!
//! These types are the single definition both sides use: change them here and
//! both sides follow.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The vsock port the agent listens on inside the guest.
pub const AGENT_VSOCK_PORT: u32 = 1024;
/// The guest's transport probe: it reads a little-endian u64 count, then that
/// many bytes, and answers with the count it read (a u64 too). Nothing sits
/// between the vsock connection and the reader: `bench/vm.py` measures the
/// raw transport with it.
pub const PROBE_VSOCK_PORT: u32 = 1025;
/// The agent's stream port: each connection is one stream, exactly as on the
/// session (a header line, the agent's reply, then the bytes), in
/// [`crate::framed`] frames. Published ports take it: bulk bytes then cross
/// no multiplexer; the session's streams are the fallback.
pub const STREAM_VSOCK_PORT: u32 = 1026;
/// berthd's own vsock port inside the guest: each connection is one Engine
/// API connection in [`crate::framed`] frames (no header). The host's direct
/// path to the API; the agent's `{"open":"docker"}` relay is the fallback.
pub const ENGINE_VSOCK_PORT: u32 = 2375;
/// The guest's vsock context id.
pub const GUEST_CID: u32 = 3;
/// berthd's socket inside the guest; `{"open":"docker"}` connects here.
pub const GUEST_DOCKER_SOCKET: &str = "/var/run/berth/docker.sock";
/// The longest line [`read_line`] accepts. A daemon.json sent over the control
/// stream is the largest line we expect; a megabyte leaves ample room while
/// still bounding what a confused peer can make us buffer.
pub const MAX_LINE: usize = 1 << 20;

/// The first line of every stream, sent by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "open", rename_all = "lowercase")]
pub enum Header {
    /// Relay to berthd's Unix socket in the guest.
    Docker,
    /// Relay to `127.0.0.1:port` in the guest.
    Tcp { port: u16 },
    /// Relay datagrams to `127.0.0.1:port` in the guest, each framed as a
    /// big-endian u16 length followed by the payload (see [`write_datagram`]).
    Udp { port: u16 },
    /// Run a debug process in the guest (for `berth shell`). The stream
    /// carries the raw bytes both ways, or, when `framed`, [`ExecFrame`]s:
    /// input, terminal resizes and the end of input towards the guest;
    /// output and the exit code back.
    Exec {
        argv: Vec<String>,
        #[serde(default)]
        tty: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rows: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cols: Option<u16>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        framed: bool,
    },
    /// The control channel: events from the agent, requests from the host.
    Control,
    /// Read the stream to its end, then answer with how many bytes came, as
    /// a JSON line `{"bytes":N}`: the bare transport, which `bench/vm.py`
    /// sets the Docker socket's throughput against.
    Discard,
}

/// The agent's answer to a [`Header`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Reply {
    pub fn ok() -> Self {
        Reply {
            ok: true,
            message: None,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Reply {
            ok: false,
            message: Some(message.into()),
        }
    }
}

/// Something the agent tells the host on the control stream, unasked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// berthd answers `/_ping`. Sent once it does, and again at the start of
    /// every new control stream while it still does.
    Ready,
    /// The full set of host ports containers publish, sorted, no duplicates.
    /// Sent when the control stream opens and whenever the set changes.
    Ports { tcp: Vec<u16>, udp: Vec<u16> },
}

/// A request from the host on the control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlRequest {
    pub id: u64,
    #[serde(flatten)]
    pub request: Request,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// Stop berthd, sync, unmount and power the guest off.
    Shutdown,
    /// Set the guest clock (after the host slept, for instance).
    Time { unix_nanos: i64 },
    /// Replace the guest's daemon.json and make berthd reload it.
    DaemonJson { content: String },
}

/// The agent's answer to a [`ControlRequest`] with the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub id: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Answer {
    pub fn ok(id: u64) -> Self {
        Answer {
            id,
            ok: true,
            message: None,
        }
    }

    pub fn error(id: u64, message: impl Into<String>) -> Self {
        Answer {
            id,
            ok: false,
            message: Some(message.into()),
        }
    }
}

/// Any line the agent sends on the control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AgentMessage {
    Event(Event),
    Answer(Answer),
}

/// Reads one line (without its `\n`), one byte at a time so that no byte after
/// the newline is consumed: the caller goes on to relay the rest raw.
///
/// An end of stream before the newline is `UnexpectedEof` (also when nothing
/// was read: the peer closed between lines); a line longer than [`MAX_LINE`]
/// is `InvalidData`.
pub async fn read_line<R: AsyncRead + Unpin + ?Sized>(r: &mut R) -> io::Result<Vec<u8>> {
    read_line_bounded(r, MAX_LINE).await
}

/// [`read_line`] with an explicit bound.
pub async fn read_line_bounded<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    max: usize,
) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if r.read(&mut byte).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                if line.is_empty() {
                    "the peer closed the stream".to_string()
                } else {
                    format!(
                        "the peer closed the stream in the middle of a line ({} bytes without a newline)",
                        line.len()
                    )
                },
            ));
        }
        if byte[0] == b'\n' {
            return Ok(line);
        }
        if line.len() >= max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line longer than {max} bytes"),
            ));
        }
        line.push(byte[0]);
    }
}

/// Reads one line and parses it as JSON; bad JSON is `InvalidData` with
/// serde's explanation.
pub async fn read_json_line<T: DeserializeOwned, R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
) -> io::Result<T> {
    let line = read_line(r).await?;
    serde_json::from_slice(&line).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not a valid message ({e}): {}",
                String::from_utf8_lossy(&line[..line.len().min(200)])
            ),
        )
    })
}

/// Writes `value` as one JSON line and flushes it.
pub async fn write_json_line<T: Serialize + ?Sized, W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    value: &T,
) -> io::Result<()> {
    let mut buf = serde_json::to_vec(value).map_err(io::Error::other)?;
    buf.push(b'\n');
    w.write_all(&buf).await?;
    w.flush().await
}

/// One frame of a framed exec stream: a kind byte, a big-endian u32 length,
/// the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecFrame {
    /// Towards the guest: the process's input. Back: its output.
    Data(Vec<u8>),
    /// Towards the guest: the terminal's new size.
    Resize { rows: u16, cols: u16 },
    /// Towards the guest: the input ended.
    Eof,
    /// Back: the process ended with this code (128 + the signal if killed).
    Exit(i32),
}

/// The largest frame read: bigger ones are a confused peer.
const MAX_EXEC_FRAME: usize = 1 << 20;

impl ExecFrame {
    pub async fn write<W: AsyncWrite + Unpin + ?Sized>(&self, w: &mut W) -> io::Result<()> {
        let small: [u8; 4];
        let (kind, payload): (u8, &[u8]) = match self {
            ExecFrame::Data(d) => (0, d),
            ExecFrame::Resize { rows, cols } => {
                let [r0, r1] = rows.to_be_bytes();
                let [c0, c1] = cols.to_be_bytes();
                small = [r0, r1, c0, c1];
                (1, &small)
            }
            ExecFrame::Eof => (2, &[]),
            ExecFrame::Exit(code) => {
                small = code.to_be_bytes();
                (3, &small)
            }
        };
        let mut buf = Vec::with_capacity(5 + payload.len());
        buf.push(kind);
        buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        buf.extend_from_slice(payload);
        w.write_all(&buf).await?;
        w.flush().await
    }

    /// The next frame; `Ok(None)` on a clean end of stream between frames.
    pub async fn read<R: AsyncRead + Unpin + ?Sized>(r: &mut R) -> io::Result<Option<ExecFrame>> {
        let mut head = [0u8; 5];
        if !read_head(r, &mut head).await? {
            return Ok(None);
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_EXEC_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("exec frame of {len} bytes exceeds {MAX_EXEC_FRAME}"),
            ));
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload).await?;
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed exec frame");
        Ok(Some(match head[0] {
            0 => ExecFrame::Data(payload),
            1 if len == 4 => ExecFrame::Resize {
                rows: u16::from_be_bytes([payload[0], payload[1]]),
                cols: u16::from_be_bytes([payload[2], payload[3]]),
            },
            2 => ExecFrame::Eof,
            3 if len == 4 => ExecFrame::Exit(i32::from_be_bytes([
                payload[0], payload[1], payload[2], payload[3],
            ])),
            _ => return Err(bad()),
        }))
    }
}

/// Writes one UDP datagram frame: big-endian u16 length, then the payload.
pub async fn write_datagram<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    payload: &[u8],
) -> io::Result<()> {
    let len = u16::try_from(payload.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("datagram of {} bytes exceeds 65535", payload.len()),
        )
    })?;
    let mut buf = Vec::with_capacity(2 + payload.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Reads one UDP datagram frame; `Ok(None)` on a clean end of stream between
/// frames.
pub async fn read_datagram<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    if !read_head(r, &mut len).await? {
        return Ok(None);
    }
    let mut payload = vec![0u8; u16::from_be_bytes(len) as usize];
    r.read_exact(&mut payload).await?;
    Ok(Some(payload))
}

/// Fills a frame's `head`: `Ok(false)` when the stream ended cleanly before
/// it (between frames); an end inside it is an error.
async fn read_head<R: AsyncRead + Unpin + ?Sized>(r: &mut R, head: &mut [u8]) -> io::Result<bool> {
    match r.read_exact(&mut head[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    r.read_exact(&mut head[1..]).await?;
    Ok(true)
}

/// Relay buffer: big enough that bulk transfers (docker cp, image loads)
/// cross in few system calls.
const RELAY_BUF: usize = 256 * 1024;

/// Copies `a` and `b` into each other until both directions have ended;
/// returns the bytes moved (a→b, b→a). Each direction runs to its own end:
/// an error in one (a peer that went away while still being written to)
/// must not drop what the other still carries, such as a container's last
/// output. Used on both sides of the VM link (the host's relays and the
/// guest agent's).
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
/// the stream like an EOF; any other read error still closes the writer, so
/// the far side is never left waiting.
pub async fn copy_then_close<R, W>(r: &mut R, w: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = vec![0u8; RELAY_BUF];
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
    use serde_json::json;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn headers_match_the_wire_format() {
        let cases = [
            (json!({"open":"docker"}), Header::Docker),
            (
                json!({"open":"tcp","port":8080}),
                Header::Tcp { port: 8080 },
            ),
            (json!({"open":"udp","port":53}), Header::Udp { port: 53 }),
            (json!({"open":"control"}), Header::Control),
            (
                json!({"open":"exec","argv":["/bin/sh"],"tty":true,"rows":24,"cols":80}),
                Header::Exec {
                    argv: vec!["/bin/sh".into()],
                    tty: true,
                    rows: Some(24),
                    cols: Some(80),
                    framed: false,
                },
            ),
            (
                json!({"open":"exec","argv":["false"],"tty":false,"framed":true}),
                Header::Exec {
                    argv: vec!["false".into()],
                    tty: false,
                    rows: None,
                    cols: None,
                    framed: true,
                },
            ),
        ];
        for (wire, header) in cases {
            assert_eq!(
                serde_json::from_value::<Header>(wire.clone()).unwrap(),
                header
            );
            assert_eq!(serde_json::to_value(&header).unwrap(), wire);
        }
        let minimal: Header = serde_json::from_str(r#"{"open":"exec","argv":["ls"]}"#).unwrap();
        assert_eq!(
            minimal,
            Header::Exec {
                argv: vec!["ls".into()],
                tty: false,
                rows: None,
                cols: None,
                framed: false,
            }
        );
    }

    #[test]
    fn exec_frames_round_trip_and_bad_ones_are_refused() {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let frames = [
                    ExecFrame::Data(b"hello".to_vec()),
                    ExecFrame::Resize {
                        rows: 50,
                        cols: 132,
                    },
                    ExecFrame::Eof,
                    ExecFrame::Exit(-3),
                    ExecFrame::Data(Vec::new()),
                ];
                let mut wire = Vec::new();
                for f in &frames {
                    f.write(&mut wire).await.unwrap();
                }
                let mut r: &[u8] = &wire;
                for f in &frames {
                    assert_eq!(ExecFrame::read(&mut r).await.unwrap().as_ref(), Some(f));
                }
                assert_eq!(ExecFrame::read(&mut r).await.unwrap(), None);
                for bad in [
                    &[9u8, 0, 0, 0, 0][..],
                    &[1, 0, 0, 0, 1, 7],
                    &[0, 255, 255, 255, 255],
                ] {
                    let mut r: &[u8] = bad;
                    assert!(ExecFrame::read(&mut r).await.is_err(), "{bad:?}");
                }
                // Cut inside a frame: an error, not a clean end.
                let mut r: &[u8] = &wire[..3];
                assert!(ExecFrame::read(&mut r).await.is_err());
            });
    }

    #[test]
    fn bad_headers_are_refused() {
        for bad in [
            r#"{"open":"ftp"}"#,
            r#"{"open":"tcp"}"#,
            r#"{"open":"tcp","port":70000}"#,
            r#"{"port":1}"#,
            "not json",
        ] {
            assert!(serde_json::from_str::<Header>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replies_and_answers_match_the_wire_format() {
        assert_eq!(
            serde_json::to_value(Reply::ok()).unwrap(),
            json!({"ok":true})
        );
        assert_eq!(
            serde_json::to_value(Reply::error("no such port")).unwrap(),
            json!({"ok":false,"message":"no such port"})
        );
        assert_eq!(
            serde_json::to_value(Answer::ok(7)).unwrap(),
            json!({"id":7,"ok":true})
        );
        assert_eq!(
            serde_json::to_value(Answer::error(8, "boom")).unwrap(),
            json!({"id":8,"ok":false,"message":"boom"})
        );
    }

    #[test]
    fn control_requests_match_the_wire_format() {
        let cases = [
            (
                json!({"id":1,"request":"shutdown"}),
                ControlRequest {
                    id: 1,
                    request: Request::Shutdown,
                },
            ),
            (
                json!({"id":2,"request":"time","unix_nanos":1_700_000_000_123_456_789_i64}),
                ControlRequest {
                    id: 2,
                    request: Request::Time {
                        unix_nanos: 1_700_000_000_123_456_789,
                    },
                },
            ),
            (
                json!({"id":3,"request":"daemon-json","content":"{}"}),
                ControlRequest {
                    id: 3,
                    request: Request::DaemonJson {
                        content: "{}".into(),
                    },
                },
            ),
        ];
        for (wire, req) in cases {
            assert_eq!(
                serde_json::from_value::<ControlRequest>(wire.clone()).unwrap(),
                req
            );
            assert_eq!(serde_json::to_value(&req).unwrap(), wire);
        }
        assert!(serde_json::from_str::<ControlRequest>(r#"{"id":1,"request":"dance"}"#).is_err());
    }

    #[test]
    fn agent_messages_tell_events_from_answers() {
        let ready: AgentMessage = serde_json::from_str(r#"{"event":"ready"}"#).unwrap();
        assert_eq!(ready, AgentMessage::Event(Event::Ready));
        let ports: AgentMessage =
            serde_json::from_str(r#"{"event":"ports","tcp":[80,8080],"udp":[53]}"#).unwrap();
        assert_eq!(
            ports,
            AgentMessage::Event(Event::Ports {
                tcp: vec![80, 8080],
                udp: vec![53]
            })
        );
        let answer: AgentMessage = serde_json::from_str(r#"{"id":4,"ok":true}"#).unwrap();
        assert_eq!(answer, AgentMessage::Answer(Answer::ok(4)));
        assert_eq!(
            serde_json::to_value(AgentMessage::Event(Event::Ready)).unwrap(),
            json!({"event":"ready"})
        );
    }

    #[test]
    fn read_line_leaves_the_payload_unread() {
        block_on(async {
            let mut input: &[u8] = b"{\"open\":\"docker\"}\nGET /_ping HTTP/1.1\r\n";
            let header: Header = read_json_line(&mut input).await.unwrap();
            assert_eq!(header, Header::Docker);
            assert_eq!(input, b"GET /_ping HTTP/1.1\r\n");
        });
    }

    #[test]
    fn read_line_reports_eof_and_overlong_lines() {
        block_on(async {
            let mut empty: &[u8] = b"";
            let e = read_line(&mut empty).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);

            let mut partial: &[u8] = b"{\"open\"";
            let e = read_line(&mut partial).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            assert!(e.to_string().contains("middle of a line"), "{e}");

            let mut long: &[u8] = b"0123456789\n";
            let e = read_line_bounded(&mut long, 4).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);

            let mut exact: &[u8] = b"0123\n";
            assert_eq!(read_line_bounded(&mut exact, 4).await.unwrap(), b"0123");

            let mut garbage: &[u8] = b"hello\n";
            let e = read_json_line::<Header, _>(&mut garbage).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            assert!(e.to_string().contains("hello"), "{e}");
        });
    }

    #[test]
    fn json_lines_round_trip() {
        block_on(async {
            let mut buf = Vec::new();
            write_json_line(&mut buf, &Header::Tcp { port: 80 })
                .await
                .unwrap();
            write_json_line(&mut buf, &Reply::ok()).await.unwrap();
            assert_eq!(buf, b"{\"open\":\"tcp\",\"port\":80}\n{\"ok\":true}\n");
            let mut r: &[u8] = &buf;
            assert_eq!(
                read_json_line::<Header, _>(&mut r).await.unwrap(),
                Header::Tcp { port: 80 }
            );
            assert_eq!(
                read_json_line::<Reply, _>(&mut r).await.unwrap(),
                Reply::ok()
            );
        });
    }

    #[test]
    fn datagrams_are_length_framed() {
        block_on(async {
            let mut buf = Vec::new();
            write_datagram(&mut buf, b"abc").await.unwrap();
            write_datagram(&mut buf, b"").await.unwrap();
            assert_eq!(buf, b"\x00\x03abc\x00\x00");
            let mut r: &[u8] = &buf;
            assert_eq!(read_datagram(&mut r).await.unwrap().unwrap(), b"abc");
            assert_eq!(read_datagram(&mut r).await.unwrap().unwrap(), b"");
            assert_eq!(read_datagram(&mut r).await.unwrap(), None);
            let mut truncated: &[u8] = b"\x00\x05ab";
            assert!(read_datagram(&mut truncated).await.is_err());
            let too_big = vec![0u8; 70_000];
            assert!(write_datagram(&mut Vec::new(), &too_big).await.is_err());
        });
    }
}
