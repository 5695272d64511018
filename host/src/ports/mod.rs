//! Published ports: the agent reports the host ports containers publish; each gets a listener on
//! the host's 127.0.0.1 whose connections are relayed as `{"open":"tcp","port":P}` streams.
//! A port that goes away closes its listener. UDP ports work the same way ([`udp`]).

mod udp;

use crate::forward::{relay, Direct, MuxWatch};
use berth_common::vmlink::Header;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The host listeners of the currently published ports.
pub struct Ports {
    watch: MuxWatch,
    /// The agent's stream port, when the VM backend reaches guest ports (TCP connections go
    /// there, each on a vsock connection of its own).
    direct: Option<Arc<Direct>>,
    tcp: BTreeMap<u16, JoinHandle<()>>,
    udp: BTreeMap<u16, JoinHandle<()>>,
}

impl Ports {
    pub fn new(watch: MuxWatch, direct: Option<Arc<Direct>>) -> Ports {
        Ports {
            watch,
            direct,
            tcp: BTreeMap::new(),
            udp: BTreeMap::new(),
        }
    }

    /// Makes the host UDP sockets match `udp`, the full set the guest publishes now.
    pub async fn apply_udp(&mut self, udp: &[u16]) {
        let gone: Vec<u16> = self
            .udp
            .keys()
            .filter(|p| !udp.contains(p))
            .copied()
            .collect();
        for port in gone {
            if let Some(task) = self.udp.remove(&port) {
                task.abort();
                let _ = task.await;
                tracing::info!("udp port {port}: closed on the host");
            }
        }
        for &port in udp {
            if self.udp.contains_key(&port) {
                continue;
            }
            match tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).await {
                Ok(socket) => {
                    tracing::info!("udp port {port}: forwarded from 127.0.0.1:{port}");
                    let task = tokio::spawn(udp::serve(socket, port, self.watch.clone()));
                    self.udp.insert(port, task);
                }
                Err(e) => {
                    tracing::warn!("udp port {port}: cannot bind the host's 127.0.0.1:{port} ({e})")
                }
            }
        }
    }

    /// Makes the host listeners match `tcp`, the full set the guest publishes now.
    pub async fn apply(&mut self, tcp: &[u16]) {
        let gone: Vec<u16> = self
            .tcp
            .keys()
            .filter(|p| !tcp.contains(p))
            .copied()
            .collect();
        for port in gone {
            if let Some(task) = self.tcp.remove(&port) {
                // Aborting drops the listener: the host port is free again.
                task.abort();
                let _ = task.await;
                tracing::info!("port {port}: closed on the host");
            }
        }
        for &port in tcp {
            if self.tcp.contains_key(&port) {
                continue;
            }
            match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
                Ok(listener) => {
                    tracing::info!("port {port}: forwarded from 127.0.0.1:{port}");
                    let task = serve(listener, port, self.watch.clone(), self.direct.clone());
                    self.tcp.insert(port, tokio::spawn(task));
                }
                Err(e) => tracing::warn!(
                    "port {port}: cannot listen on the host's 127.0.0.1:{port} ({e}); the container's port is reachable only inside the VM"
                ),
            }
        }
    }

    /// The ports forwarded now.
    pub fn forwarded(&self) -> Vec<u16> {
        self.tcp.keys().copied().collect()
    }
}

impl Drop for Ports {
    fn drop(&mut self) {
        for task in self.tcp.values().chain(self.udp.values()) {
            task.abort();
        }
    }
}

async fn serve(listener: TcpListener, port: u16, watch: MuxWatch, direct: Option<Arc<Direct>>) {
    loop {
        let conn = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                tracing::warn!("port {port}: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = conn.set_nodelay(true);
        let (watch, direct) = (watch.clone(), direct.clone());
        tokio::spawn(async move {
            let header = Header::Tcp { port };
            if let Err(e) = relay::relay(conn, &watch, direct.as_deref(), &header).await {
                tracing::debug!("port {port}: connection ended: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::Mux;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Forwards a port nobody on this machine uses (the OS picks it, then it is freed), sends
    /// "ping" through it and half-closes: the port and what came back.
    async fn forward_and_ping(ports: &mut Ports) -> (u16, Vec<u8>) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        ports.apply(&[port]).await;
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        c.write_all(b"ping").await.unwrap();
        c.shutdown().await.unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        (port, got)
    }

    #[tokio::test]
    async fn ports_open_relay_and_close() {
        let (a, b) = tokio::io::duplex(1 << 20);
        crate::forward::mux::tests::echo_agent(b);
        let (mux, _t) = Mux::start(a);
        let (_tx, watch) = tokio::sync::watch::channel(Some(mux));
        let mut ports = Ports::new(watch, None);
        let (port, got) = forward_and_ping(&mut ports).await;
        assert_eq!(ports.forwarded(), vec![port]);
        assert_eq!(got, b"ping");

        ports.apply(&[]).await;
        assert!(ports.forwarded().is_empty());
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn tcp_connections_take_the_agents_stream_port_in_frames() {
        use berth_common::framed::Framed;
        use berth_common::vmlink::{self, Reply};
        // A stand-in for vhost-device-vsock's hybrid socket and the agent's stream port: it
        // takes `CONNECT 1026`, reads the stream's header in frames and echoes the bytes
        // upper-cased once the client's half-close arrives.
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("vsock.sock");
        let device = tokio::net::UnixListener::bind(&sock).unwrap();
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (mut s, _) = device.accept().await.unwrap();
            let line = vmlink::read_line_bounded(&mut s, 64).await.unwrap();
            s.write_all(b"OK 1\n").await.unwrap();
            let mut s = Framed::new(s);
            let header: Header = vmlink::read_json_line(&mut s).await.unwrap();
            seen_tx.send((line, header)).unwrap();
            vmlink::write_json_line(&mut s, &Reply::ok()).await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            s.write_all(&got.to_ascii_uppercase()).await.unwrap();
            s.shutdown().await.unwrap();
        });
        // The session exists (the guest is up) but carries nothing here.
        let (a, _b) = tokio::io::duplex(1 << 20);
        let (mux, _t) = Mux::start(a);
        let (_tx, watch) = tokio::sync::watch::channel(Some(mux));
        let (_, ready) = tokio::sync::watch::channel(true);
        let direct = Arc::new(Direct::new(sock, crate::forward::GuestPort::Streams, ready));
        let mut ports = Ports::new(watch, Some(direct));
        let (port, got) = forward_and_ping(&mut ports).await;
        assert_eq!(got, b"PING");
        let (line, header) = seen.recv().await.unwrap();
        assert_eq!(line, b"CONNECT 1026");
        assert_eq!(header, Header::Tcp { port });
    }

    #[tokio::test]
    async fn udp_datagrams_cross_both_ways() {
        let (a, b) = tokio::io::duplex(1 << 20);
        // The stand-in agent echoes a stream's bytes: framed datagrams come back as they went.
        crate::forward::mux::tests::echo_agent(b);
        let (mux, _t) = Mux::start(a);
        let (_tx, watch) = tokio::sync::watch::channel(Some(mux));
        let mut ports = Ports::new(watch, None);
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        ports.apply_udp(&[port]).await;
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(("127.0.0.1", port)).await.unwrap();
        for msg in [&b"one"[..], b"two"] {
            client.send(msg).await.unwrap();
            let mut buf = [0u8; 64];
            let n = client.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], msg);
        }
        ports.apply_udp(&[]).await;
        // The port is free again: binding it succeeds.
        std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    }
}
