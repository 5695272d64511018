//! Published ports: the agent reports the host ports containers publish; each gets a listener on
//! the host's 127.0.0.1 whose connections are relayed as `{"open":"tcp","port":P}` streams.
//! A port that goes away closes its listener. UDP ports work the same way ([`udp`]).

mod udp;

use crate::forward::{relay, MuxWatch};
use berth_common::vmlink::Header;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The host listeners of the currently published ports.
pub struct Ports {
    watch: MuxWatch,
    tcp: BTreeMap<u16, JoinHandle<()>>,
    udp: BTreeMap<u16, JoinHandle<()>>,
}

impl Ports {
    pub fn new(watch: MuxWatch) -> Ports {
        Ports {
            watch,
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
                    self.tcp.insert(port, tokio::spawn(serve(listener, port, self.watch.clone())));
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

async fn serve(listener: TcpListener, port: u16, watch: MuxWatch) {
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
        let watch = watch.clone();
        tokio::spawn(async move {
            if let Err(e) = relay::relay(conn, &watch, &Header::Tcp { port }).await {
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

    #[tokio::test]
    async fn ports_open_relay_and_close() {
        let (a, b) = tokio::io::duplex(1 << 20);
        crate::forward::mux::tests::echo_agent(b);
        let (mux, _t) = Mux::start(a);
        let (_tx, watch) = tokio::sync::watch::channel(Some(mux));
        let mut ports = Ports::new(watch);
        // A port nobody on this machine uses: ask the OS for one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        ports.apply(&[port]).await;
        assert_eq!(ports.forwarded(), vec![port]);

        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        c.write_all(b"ping").await.unwrap();
        c.shutdown().await.unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping");

        ports.apply(&[]).await;
        assert!(ports.forwarded().is_empty());
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn udp_datagrams_cross_both_ways() {
        let (a, b) = tokio::io::duplex(1 << 20);
        // The stand-in agent echoes a stream's bytes: framed datagrams come back as they went.
        crate::forward::mux::tests::echo_agent(b);
        let (mux, _t) = Mux::start(a);
        let (_tx, watch) = tokio::sync::watch::channel(Some(mux));
        let mut ports = Ports::new(watch);
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
