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
    let body = crate::engine::response_body(&raw).map_err(fail)?;
    serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))
}
