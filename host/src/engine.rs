//! Reaching the engine's Docker socket from the host.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a natively running berthd serves by default.
pub const NATIVE_SOCKET: &str = "/var/run/berth/docker.sock";

/// The engine's answer to `/_ping` and `/version`.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineStatus {
    pub api_version: String,
    pub version: String,
}

/// The socket to use: `DOCKER_HOST` when it is a unix:// URL, else Berth's own.
pub fn default_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(NATIVE_SOCKET))
}

/// Asks the engine for its version over its Unix socket.
pub fn status(socket: &Path) -> std::io::Result<EngineStatus> {
    let body = get(socket, "/version")?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    Ok(EngineStatus {
        api_version: field("ApiVersion"),
        version: field("Version"),
    })
}

fn get(socket: &Path, path: &str) -> std::io::Result<Vec<u8>> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    response_body(&raw).map_err(|e| std::io::Error::other(format!("engine answered: {e}")))
}

/// The body of a raw HTTP answer, de-chunked, or the reason it is not one:
/// the status line when it is not a 200. For the few calls made without an
/// HTTP client (the CLI's status, the dashboard's raw GET).
pub(crate) fn response_body(raw: &[u8]) -> Result<Vec<u8>, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header in the answer")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(status.to_string());
    }
    let body = &raw[split + 4..];
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(body));
    }
    Ok(body.to_vec())
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 || data.len() < pos + 2 + size {
            break;
        }
        out.extend_from_slice(&data[pos + 2..pos + 2 + size]);
        data = &data[(pos + 4 + size).min(data.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks_bodies() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
    }

    #[test]
    fn a_chunked_200_gives_its_body() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert_eq!(response_body(raw).unwrap(), b"{}");
    }
}
