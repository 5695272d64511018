//! `{"open":"udp","port":P}`: datagrams to and from `127.0.0.1:P`, each framed
//! on the stream as a big-endian u16 length and the payload.

use berth_common::vmlink::{self, Reply};
use std::io;
use tokio::io::{AsyncRead, AsyncWrite};

pub async fn serve<S>(stream: S, port: u16) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let socket = match bind_connected(port).await {
        Ok(s) => s,
        Err(e) => {
            return super::refuse(stream, format!("udp port {port} in the VM: {e}")).await;
        }
    };
    let mut stream = stream;
    vmlink::write_json_line(&mut stream, &Reply::ok()).await?;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            frame = vmlink::read_datagram(&mut rd) => match frame? {
                Some(payload) => { socket.send(&payload).await?; }
                None => return Ok(()),
            },
            n = socket.recv(&mut buf) => {
                match n {
                    Ok(n) => vmlink::write_datagram(&mut wr, &buf[..n]).await?,
                    // ICMP port unreachable from an earlier send: the
                    // container is not listening (yet); keep the flow.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

async fn bind_connected(port: u16) -> io::Result<tokio::net::UdpSocket> {
    let socket = tokio::net::UdpSocket::bind(("127.0.0.1", 0)).await?;
    socket.connect(("127.0.0.1", port)).await?;
    Ok(socket)
}
