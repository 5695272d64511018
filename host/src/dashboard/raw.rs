//! One raw GET to the engine, for answers whose shape bollard's models (a newer
//! API than berthd's) no longer describe, such as `/system/df`'s `Volumes` list.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::error::CommandError;

pub(crate) async fn get_json(socket: &Path, path: &str) -> Result<serde_json::Value, CommandError> {
    let fail = |what: String| CommandError::internal(format!("GET {path} from the engine: {what}"));
    let mut s = UnixStream::connect(socket)
        .await
        .map_err(|e| fail(e.to_string()))?;
    // HTTP/1.0: the engine answers without chunking and closes the connection.
    let req = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| fail("no HTTP header in the answer".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status_line = head.lines().next().unwrap_or_default().to_string();
    if !status_line.contains(" 200") {
        return Err(fail(status_line));
    }
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let Ok(size) = usize::from_str_radix(String::from_utf8_lossy(&data[..pos]).trim(), 16)
        else {
            break;
        };
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
    #[test]
    fn dechunks() {
        assert_eq!(super::dechunk(b"2\r\n{}\r\n0\r\n\r\n"), b"{}");
    }
}
