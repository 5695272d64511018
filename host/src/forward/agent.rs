//! The supervisor's stream socket (`<home>/vm/agent.sock`, mode 0600): a local client writes a
//! vmlink header line and the connection becomes a stream with that header, the agent's reply
//! line included. `berth shell` and the benchmark use it; only one process may hold the vsock
//! session, so they go through the supervisor.

use super::{relay, MuxWatch};
use berth_common::vmlink::{self, Header, Reply};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};

pub async fn serve(listener: UnixListener, watch: MuxWatch) {
    while let Ok((conn, _)) = listener.accept().await {
        let watch = watch.clone();
        tokio::spawn(async move {
            if let Err(e) = one(conn, &watch).await {
                tracing::debug!("agent socket connection ended: {e}");
            }
        });
    }
}

async fn one(mut conn: UnixStream, watch: &MuxWatch) -> std::io::Result<()> {
    let header: Header = match vmlink::read_json_line(&mut conn).await {
        Ok(h) => h,
        Err(e) => {
            vmlink::write_json_line(&mut conn, &Reply::error(e.to_string())).await?;
            return Ok(());
        }
    };
    if header == Header::Control {
        // The supervisor owns the one control stream.
        let reply = Reply::error("the control stream is the supervisor's");
        return vmlink::write_json_line(&mut conn, &reply).await;
    }
    let mux = match relay::session(watch).await {
        Ok(m) => m,
        Err(e) => return vmlink::write_json_line(&mut conn, &Reply::error(e.to_string())).await,
    };
    let mut stream = mux.open_raw().await?;
    vmlink::write_json_line(&mut stream, &header).await?;
    relay::splice(&mut conn, &mut stream).await?;
    conn.shutdown().await.ok();
    Ok(())
}
