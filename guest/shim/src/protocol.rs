//! What berthd and a shim say to each other over the shim's Unix socket.
//!
//! Every connection opens with one JSON request line and one JSON response
//! line. `attach` and `exec` connections then carry streams: from the shim,
//! frames in Docker's multiplexed format (a 1-byte stream tag, 3 zero bytes,
//! a 4-byte big-endian length, the payload), ending with an [`EXIT`] frame
//! whose payload is the exit code; towards the shim, raw stdin bytes, and a
//! write shutdown closes the process's stdin.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// The process ended; the payload is its exit code (4 bytes, big-endian, as
/// docker reports it: 128 + signal for a killed process).
pub const EXIT: u8 = 0xff;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Create and start the container; answered with its pid.
    Start,
    /// Stream the container process's output (and take its stdin).
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Signal the container's init process.
    Kill { signal: i32 },
    /// Set the terminal size of the init process (`exec: None`) or of an exec.
    Resize {
        exec: Option<String>,
        height: u16,
        width: u16,
    },
    /// Run another process in the container; answered with its pid, then
    /// streams like `attach` (the exit frame carries the exec's code).
    Exec(Box<ExecRequest>),
    /// Answered when the container's process has ended (at once if it has).
    Wait,
    /// The pid and, once it ended, the exit of the container's process.
    State,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExecRequest {
    pub id: String,
    /// The OCI `process` object to run.
    pub process: serde_json::Value,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Whether stdin closes when the client's input ends.
    pub detached: bool,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Response {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
}

impl Response {
    pub fn ok() -> Response {
        Response::default()
    }
    pub fn error(msg: impl Into<String>) -> Response {
        Response {
            error: Some(msg.into()),
            ..Default::default()
        }
    }
}

/// How the container's process ended: kept in `exit.json` in the bundle so
/// berthd learns it even if it was not running at that moment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitInfo {
    pub code: i32,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
    #[serde(default)]
    pub oom_killed: bool,
}

/// Writes a value as one JSON line.
pub async fn send<W: AsyncWrite + Unpin, T: Serialize>(w: &mut W, v: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await
}

/// Reads one JSON line. Reads byte by byte so that nothing after the line
/// (stream data) is consumed into a buffer the caller does not see.
pub async fn recv<R: AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    r: &mut R,
) -> std::io::Result<T> {
    let mut line = Vec::new();
    let mut reader = BufReader::with_capacity(1, r);
    let n = reader.read_until(b'\n', &mut line).await?;
    if n == 0 || !line.ends_with(b"\n") {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    serde_json::from_slice(&line)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Docker's 8-byte frame header.
pub fn header(stream: u8, len: usize) -> [u8; 8] {
    let n = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, n[0], n[1], n[2], n[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_line_is_read_without_consuming_what_follows() {
        let (mut a, mut b) = tokio::io::duplex(64);
        send(&mut a, &Request::Kill { signal: 15 }).await.unwrap();
        a.write_all(b"stream bytes").await.unwrap();
        drop(a);
        let req: Request = recv(&mut b).await.unwrap();
        assert!(matches!(req, Request::Kill { signal: 15 }));
        let mut rest = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut b, &mut rest)
            .await
            .unwrap();
        assert_eq!(rest, b"stream bytes");
    }

    #[tokio::test]
    async fn a_truncated_line_is_an_error() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(b"{\"op\":\"st").await.unwrap();
        drop(a);
        assert!(recv::<_, Request>(&mut b).await.is_err());
    }

    #[test]
    fn frame_header_is_dockers() {
        assert_eq!(header(STDERR, 258), [2, 0, 0, 0, 0, 0, 1, 2]);
    }
}
