//! berthd's side of a shim: spawning it and talking to its socket.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{self, ExecRequest, ExitInfo, Request, Response};

/// How long a new shim has to come up.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub struct ShimClient {
    socket: PathBuf,
}

impl ShimClient {
    pub fn new(socket: PathBuf) -> ShimClient {
        ShimClient { socket }
    }

    async fn open(&self, req: &Request) -> io::Result<(UnixStream, Response)> {
        let mut conn = UnixStream::connect(&self.socket).await?;
        protocol::send(&mut conn, req).await?;
        let resp: Response = protocol::recv(&mut conn).await?;
        if let Some(e) = &resp.error {
            return Err(io::Error::other(e.clone()));
        }
        Ok((conn, resp))
    }

    pub async fn request(&self, req: &Request) -> io::Result<Response> {
        self.open(req).await.map(|(_, r)| r)
    }

    pub async fn start(&self) -> io::Result<i32> {
        let resp = self.request(&Request::Start).await?;
        resp.pid
            .ok_or_else(|| io::Error::other("the shim reported no pid"))
    }

    pub async fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> io::Result<UnixStream> {
        let req = Request::Attach {
            stdin,
            stdout,
            stderr,
        };
        self.open(&req).await.map(|(c, _)| c)
    }

    pub async fn exec(&self, req: ExecRequest) -> io::Result<(i32, UnixStream)> {
        let (conn, resp) = self.open(&Request::Exec(Box::new(req))).await?;
        Ok((resp.pid.unwrap_or(0), conn))
    }

    pub async fn kill(&self, signal: i32) -> io::Result<()> {
        self.request(&Request::Kill { signal }).await.map(drop)
    }

    pub async fn resize(&self, exec: Option<String>, height: u16, width: u16) -> io::Result<()> {
        self.request(&Request::Resize {
            exec,
            height,
            width,
        })
        .await
        .map(drop)
    }

    /// Returns when the container's process has ended.
    pub async fn wait(&self) -> io::Result<ExitInfo> {
        self.request(&Request::Wait)
            .await?
            .exit
            .ok_or_else(|| io::Error::other("the shim reported no exit"))
    }

    pub async fn state(&self) -> io::Result<Response> {
        self.request(&Request::State).await
    }
}

/// Starts `berth-shim <bundle>` in its own session (so a signal to
/// berthd's process group never reaches it) and waits until it listens.
/// Its stderr goes to `log`.
pub async fn spawn(bundle: &Path, log_path: &Path) -> io::Result<()> {
    let exe = super::shim_binary()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(log_path)?;
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.arg(bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .env_remove("RUST_LOG");
    // SAFETY: setsid is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()?;
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no pipe to the shim"))?;
    let mut line = String::new();
    let ready =
        tokio::time::timeout(READY_TIMEOUT, BufReader::new(stdout).read_line(&mut line)).await;
    // berthd is the shim's parent until it exits: reap it whenever it ends.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    match ready {
        Ok(Ok(_)) if line == "ready\n" => Ok(()),
        Ok(Ok(_)) => {
            let why = std::fs::read_to_string(log_path).unwrap_or_default();
            Err(io::Error::other(format!(
                "the shim exited before it was ready: {}",
                why.trim()
            )))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::other("the shim did not come up in time")),
    }
}

/// Reads an attach or exec stream to its exit frame: the exit code and up
/// to `keep` bytes of the output (both streams). `None` if the stream ended
/// without one.
pub async fn read_to_exit(mut conn: UnixStream, keep: usize) -> Option<(i32, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut header = [0u8; 8];
    let mut buf = Vec::new();
    loop {
        conn.read_exact(&mut header).await.ok()?;
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        buf.resize(len, 0);
        conn.read_exact(&mut buf).await.ok()?;
        if header[0] == protocol::EXIT {
            let code = i32::from_be_bytes(<[u8; 4]>::try_from(&buf[..]).ok()?);
            out.truncate(keep);
            return Some((code, out));
        }
        if out.len() < keep {
            out.extend_from_slice(&buf);
        }
    }
}
