//! The Docker socket on the host. Each connection becomes a vsock connection of its own to
//! berthd's port, its bytes in [`framed`] frames (the direct path: nothing in the guest relays
//! them), or, when that port cannot be reached, a `{"open":"docker"}` stream to the agent,
//! which relays it to berthd's Unix socket in the guest.

use super::{relay, Direct, MuxWatch};
use berth_common::framed::Framed;
use berth_common::vmlink::Header;
use std::sync::Arc;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::either::Either;

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
            if let Err(e) = forward(conn, &watch, direct.as_deref()).await {
                tracing::debug!("docker connection ended: {e}");
            }
        });
    }
}

async fn forward(
    mut conn: UnixStream,
    watch: &MuxWatch,
    direct: Option<&Direct>,
) -> std::io::Result<()> {
    // The agent's session stands for "the guest is up": wait for it as every stream does.
    let agent = relay::session(watch).await?;
    let direct = match direct {
        Some(d) => d.connect().await,
        None => None,
    };
    let (mut stream, via) = match direct {
        Some(vsock) => (Either::Left(Framed::new(vsock)), "direct"),
        None => (
            Either::Right(agent.open(&Header::Docker).await?),
            "through the agent",
        ),
    };
    let (up, down) = relay::splice(&mut conn, &mut stream).await?;
    tracing::debug!("docker connection done ({via}): {up} bytes in, {down} out");
    Ok(())
}
