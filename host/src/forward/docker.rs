//! The Docker socket on the host: each connection becomes a `{"open":"docker"}` stream to
//! berthd's socket in the guest.

use super::{relay, MuxWatch};
use berth_common::vmlink::Header;
use tokio::net::UnixListener;

/// Serves `listener` until the task is dropped.
pub async fn serve(listener: UnixListener, watch: MuxWatch) {
    loop {
        let conn = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                tracing::warn!("docker socket: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let watch = watch.clone();
        tokio::spawn(async move {
            if let Err(e) = relay::relay(conn, &watch, &Header::Docker).await {
                tracing::debug!("docker connection ended: {e}");
            }
        });
    }
}
