//! `docker attach` (and the attach inside `docker run`), and the stream
//! plumbing that `docker exec` shares: between a client's hijacked
//! connection and a shim's stream.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use super::live::PendingAttach;
use super::service::Containers;
use super::shim::protocol::EXIT;
use crate::errdefs::{Error, Result};

pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}
pub type BoxIo = Box<dyn Io>;

#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub detach_keys: Option<String>,
}

enum Source {
    Ready(UnixStream),
    Pending(oneshot::Receiver<UnixStream>),
    /// Started once the client's connection is taken over, as dockerd does
    /// for exec: output must not reach the client before the 101 response,
    /// or a client that reads the response through a buffer loses it.
    Deferred(futures_util::future::BoxFuture<'static, std::result::Result<UnixStream, String>>),
}

/// An accepted attach or exec: ready to run once the client's connection
/// is taken over.
pub struct Session {
    pub tty: bool,
    stdin: bool,
    detach: Vec<u8>,
    source: Source,
    /// Called with the exit code from the shim's exit frame (exec records it).
    on_exit: Option<Box<dyn FnOnce(i32) + Send>>,
}

impl Containers {
    pub async fn attach(self: &Arc<Self>, what: &str, opts: AttachOptions) -> Result<Session> {
        let c = self.store.get(what)?;
        if c.state.paused {
            return Err(Error::conflict(
                "You cannot attach to a paused container, unpause it first",
            ));
        }
        let detach = parse_detach_keys(opts.detach_keys.as_deref().unwrap_or(""))?;
        let stdin = opts.stdin && c.config["OpenStdin"].as_bool().unwrap_or(false);
        let tty = c.config["Tty"].as_bool().unwrap_or(false);
        let live = self.live(&c.id);
        // Under the lifecycle lock: a start in progress either sees this
        // attacher as pending or has finished and the shim takes it.
        let _op = live.op.lock().await;
        let running = self.store.get(&c.id)?.state.running;
        let source = if running {
            let conn = self
                .shim(&c.id)
                .attach(stdin, opts.stdout, opts.stderr)
                .await
                .map_err(|e| Error::system(format!("cannot attach to the container: {e}")))?;
            Source::Ready(conn)
        } else {
            let (tx, rx) = oneshot::channel();
            live.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(PendingAttach {
                    stdin,
                    stdout: opts.stdout,
                    stderr: opts.stderr,
                    tx,
                });
            Source::Pending(rx)
        };
        self.event("attach", &c, &[]);
        Ok(Session {
            tty,
            stdin,
            detach,
            source,
            on_exit: None,
        })
    }
}

impl Containers {
    /// The terminal size of the container's process (`-t`).
    pub async fn resize(&self, what: &str, height: u16, width: u16) -> Result<()> {
        let c = self.store.get(what)?;
        if !c.state.running {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        self.shim(&c.id)
            .resize(None, height, width)
            .await
            .map_err(|e| Error::system(format!("cannot resize the container's terminal: {e}")))
    }
}

impl Session {
    /// A session whose stream comes from `start`, run after the takeover.
    pub fn deferred(
        tty: bool,
        stdin: bool,
        detach: Vec<u8>,
        start: futures_util::future::BoxFuture<'static, std::result::Result<UnixStream, String>>,
    ) -> Session {
        Session {
            tty,
            stdin,
            detach,
            source: Source::Deferred(start),
            on_exit: None,
        }
    }

    pub fn on_exit(mut self, f: impl FnOnce(i32) + Send + 'static) -> Session {
        self.on_exit = Some(Box::new(f));
        self
    }

    /// Copies until the process ends, the client detaches or goes away.
    pub async fn run(self, mut client: BoxIo) {
        let conn = match self.source {
            Source::Ready(c) => c,
            Source::Pending(rx) => match rx.await {
                Ok(c) => c,
                Err(_) => return,
            },
            Source::Deferred(start) => match start.await {
                Ok(c) => c,
                Err(msg) => {
                    // dockerd's way: the error on the stream, as stdout.
                    let text = format!("{msg}\r\n");
                    if !self.tty {
                        let _ = client
                            .write_all(&super::shim::protocol::header(1, text.len()))
                            .await;
                    }
                    let _ = client.write_all(text.as_bytes()).await;
                    let _ = client.shutdown().await;
                    return;
                }
            },
        };
        let (mut shim_rd, mut shim_wr) = conn.into_split();
        let (mut cl_rd, mut cl_wr) = tokio::io::split(client);
        let tty = self.tty;
        let on_exit = self.on_exit;
        let output = async move {
            let mut header = [0u8; 8];
            let mut buf = Vec::new();
            loop {
                if shim_rd.read_exact(&mut header).await.is_err() {
                    break;
                }
                let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
                buf.resize(len, 0);
                if shim_rd.read_exact(&mut buf).await.is_err() {
                    break;
                }
                if header[0] == EXIT {
                    if let (Some(f), Ok(b)) = (on_exit, <[u8; 4]>::try_from(&buf[..])) {
                        f(i32::from_be_bytes(b));
                    }
                    break;
                }
                let ok = if tty {
                    cl_wr.write_all(&buf).await
                } else {
                    match cl_wr.write_all(&header).await {
                        Ok(()) => cl_wr.write_all(&buf).await,
                        Err(e) => Err(e),
                    }
                };
                if ok.is_err() || cl_wr.flush().await.is_err() {
                    break;
                }
            }
            let _ = cl_wr.shutdown().await;
        };
        let detach = self.detach;
        let input = async move {
            if !self.stdin {
                return InputEnd::Closed;
            }
            let mut keys = DetachMatcher::new(detach);
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match cl_rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let (pass, detached) = keys.feed(&buf[..n]);
                if !pass.is_empty() && shim_wr.write_all(&pass).await.is_err() {
                    break;
                }
                if detached {
                    return InputEnd::Detached;
                }
            }
            // The client's input ended: tell the shim (stdin closes if the
            // container asked for that); the output keeps flowing.
            let _ = shim_wr.shutdown().await;
            InputEnd::Closed
        };
        tokio::pin!(output, input);
        let mut input_open = true;
        loop {
            tokio::select! {
                _ = &mut output => {
                    // The client has the last output and EOF. Keep taking
                    // what it still sends (a terminal's last keystrokes)
                    // until it closes: a socket closed with unread input
                    // resets the connection, and the client would report
                    // that instead of the exit code.
                    if input_open {
                        let _ = tokio::time::timeout(CLOSE_GRACE, &mut input).await;
                    }
                    return;
                }
                end = &mut input, if input_open => match end {
                    InputEnd::Detached => return,
                    InputEnd::Closed => input_open = false,
                },
            }
        }
    }
}

/// How a session's input side ended.
enum InputEnd {
    /// EOF, an error, or no input asked for.
    Closed,
    /// The client typed the detach keys.
    Detached,
}

/// After the output ended, how long the input is drained waiting for the
/// client to close.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// docker's `--detach-keys` format: comma-separated keys, each a single
/// character or `ctrl-<value>`; empty means the default `ctrl-p,ctrl-q`.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    let spec = if spec.is_empty() {
        "ctrl-p,ctrl-q"
    } else {
        spec
    };
    let mut out = Vec::new();
    for key in spec.split(',') {
        let bad = || Error::invalid(format!("Invalid detach keys ({key}) provided"));
        if let Some(v) = key.strip_prefix("ctrl-") {
            let b = match v.as_bytes() {
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [b'@'] => 0,
                [c @ (b'[' | b'\\' | b']' | b'^' | b'_')] => c - b'[' + 27,
                _ => return Err(bad()),
            };
            out.push(b);
        } else if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

/// Watches stdin for the detach sequence, holding back a partial match.
struct DetachMatcher {
    keys: Vec<u8>,
    held: usize,
}

impl DetachMatcher {
    fn new(keys: Vec<u8>) -> Self {
        DetachMatcher { keys, held: 0 }
    }

    /// Returns the bytes to pass on and whether the sequence completed.
    fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.held]);
                self.held = 0;
                if b == self.keys[0] {
                    self.held = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_detach_keys("").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn the_sequence_detaches_and_partial_matches_pass_through() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(m.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(m.feed(b"\x10"), (vec![], false));
        assert_eq!(m.feed(b"\x11rest"), (vec![], true));
    }
}
