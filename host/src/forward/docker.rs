//! The Docker socket on the host. Each connection becomes a vsock connection of its own to
//! berthd's port, its bytes in [`framed`] frames (the direct path: nothing in the guest relays
//! them), or, when that port cannot be reached, a `{"open":"docker"}` stream to the agent,
//! which relays it to berthd's Unix socket in the guest.

use super::{relay, Direct, MuxWatch};
use berth_common::vmlink::Header;
use std::sync::Arc;
use tokio::net::UnixListener;

/// Serves `listener` until the task is dropped. `direct`: the way to berthd's port, if the
/// VM backend has one.
pub async fn serve(listener: UnixListener, watch: MuxWatch, direct: Option<Direct>) {
    let direct = direct.map(Arc::new);
    loop {
        let conn = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                tracing::warn!("docker socket: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (watch, direct) = (watch.clone(), direct.clone());
        tokio::spawn(async move {
            if let Err(e) = relay::relay(conn, &watch, direct.as_deref(), &Header::Docker).await {
                tracing::debug!("docker connection ended: {e}");
            }
        });
    }
}
