//! The transport probe ([`vmlink::PROBE_VSOCK_PORT`]): what the raw vsock transport carries
//! with nothing on top, the yardstick for the Docker socket's throughput. The count comes
//! first because a half-close would not survive the transport.

use berth_common::vmlink;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The reader's buffer: as big as the agent's own relay reads.
const BUF: usize = 256 * 1024;

pub async fn serve_vsock() {
    let addr = tokio_vsock::VsockAddr::new(tokio_vsock::VMADDR_CID_ANY, vmlink::PROBE_VSOCK_PORT);
    let listener = match tokio_vsock::VsockListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("probe: vsock port {}: {e}", vmlink::PROBE_VSOCK_PORT);
            return;
        }
    };
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                tokio::spawn(async move {
                    if let Err(e) = answer(s).await {
                        tracing::debug!("probe: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("probe: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads the count, then the bytes, and answers how many arrived.
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> std::io::Result<u64> {
    let mut left = s.read_u64_le().await?;
    let mut buf = vec![0u8; BUF];
    let mut got = 0u64;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(BUF).min(BUF);
        match s.read(&mut buf[..want]).await? {
            0 => break,
            n => {
                got += n as u64;
                left -= n as u64;
            }
        }
    }
    s.write_u64_le(got).await?;
    s.flush().await?;
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_the_count_it_read() {
        let (mut host, guest) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(answer(guest));
        host.write_u64_le(300_000).await.unwrap();
        host.write_all(&vec![7u8; 300_000]).await.unwrap();
        assert_eq!(host.read_u64_le().await.unwrap(), 300_000);
        assert_eq!(server.await.unwrap().unwrap(), 300_000);

        // A sender that goes away early does not leave the probe waiting.
        let (mut host, guest) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(answer(guest));
        host.write_u64_le(10).await.unwrap();
        host.write_all(b"abc").await.unwrap();
        drop(host);
        let ended = tokio::time::timeout(Duration::from_secs(10), server).await;
        assert!(ended.expect("the probe ended").unwrap().is_err());
    }
}
