//! `vsock://` listener, used only inside Berth's VM: the host reaches berthd
//! through it. Never bound on a host machine.
//!
//! Each vsock connection is one API connection, its bytes in
//! [`berth_common::framed`] frames: the VM's vsock transport loses a
//! half-close (`shutdown(SHUT_WR)`), which `docker attach`/`exec` rely on,
//! and an end frame carries it. This is the host's direct path to the API;
//! the guest agent's relay to the Unix socket is the fallback. It saves the
//! guest a relay of every byte (a write and a read through a Unix socket),
//! and, against a multiplexed session, a copy of every byte and a zeroed
//! buffer per frame: much of a `docker cp`'s cost under emulation.

use anyhow::Context;
use tokio_vsock::{VsockAddr, VsockListener, VMADDR_CID_ANY};

pub fn bind(cid: Option<u32>, port: u32) -> anyhow::Result<VsockListener> {
    VsockListener::bind(VsockAddr::new(cid.unwrap_or(VMADDR_CID_ANY), port))
        .with_context(|| format!("cannot listen on vsock port {port}"))
}

#[cfg(test)]
mod tests {
    use super::super::conn;
    use axum::Router;
    use berth_common::framed::Framed;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::sync::CancellationToken;

    /// An API connection in frames, as the host sends it; berthd's side ends
    /// with an end frame after the answer.
    #[tokio::test]
    async fn a_framed_connection_is_an_api_connection() {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let router = Router::new().route("/_ping", axum::routing::get(|| async { "OK" }));
        let server = tokio::spawn(conn::serve(
            Framed::new(server_io),
            router,
            CancellationToken::new(),
        ));
        let mut client = Framed::new(client_io);
        client
            .write_all(b"GET /_ping HTTP/1.1\r\nHost: berthd\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
            .await
            .expect("the answer ends")
            .unwrap();
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nOK"), "{answer}");
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the connection ends")
            .unwrap();
    }
}
