//! The host side of a hybrid vsock (Firecracker-style, as vhost-device-vsock serves it): a
//! Unix socket where `CONNECT <port>\n` is answered by `OK <host port>\n`, after which the
//! connection carries the guest port's bytes.

use std::io;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

/// How long the handshake may take: a guest that is not listening yet answers quickly with a
/// closed connection, but a device that is not up yet may answer never.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects to guest `port` through the hybrid vsock socket at `path`.
///
/// The reply line is read one byte at a time, so bytes the guest sends right after it (they
/// may arrive in the same read) stay in the socket for the caller.
pub async fn connect(path: &Path, port: u32) -> io::Result<UnixStream> {
    let mut s = UnixStream::connect(path).await?;
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut s, port))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer to CONNECT {port} on {}", path.display()),
            )
        })??;
    Ok(s)
}

async fn handshake(s: &mut UnixStream, port: u32) -> io::Result<()> {
    s.write_all(format!("CONNECT {port}\n").as_bytes()).await?;
    let line = berth_common::vmlink::read_line_bounded(s, 64).await?;
    if line.starts_with(b"OK ") {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "vsock port {port} refused: {}",
                String::from_utf8_lossy(&line)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixListener;

    #[tokio::test]
    async fn bytes_after_the_ok_line_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 13];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"CONNECT 1024\n");
            // The OK line and the first payload in one write, as the device may send them.
            s.write_all(b"OK 1073741824\nhello").await.unwrap();
        });
        let mut s = connect(&path, 1024).await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_refusal_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            drop(s); // nobody listens on that port in the guest
        });
        assert!(connect(&path, 1024).await.is_err());
    }
}
