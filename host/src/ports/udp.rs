//! UDP published ports: one host socket on 127.0.0.1:P; each client address gets its own
//! `{"open":"udp","port":P}` stream carrying length-framed datagrams both ways, dropped after a
//! while without traffic (UDP has no end).

use crate::forward::{relay, MuxWatch};
use berth_common::vmlink::{self, Header};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::WriteHalf;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// A client's mapping goes after this long without a datagram either way.
const IDLE: Duration = Duration::from_secs(120);

type Clients = Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>;

pub async fn serve(socket: UdpSocket, port: u16, watch: MuxWatch) {
    let socket = Arc::new(socket);
    let clients: Clients = Arc::default();
    // Owned by this task: when the port closes, its clients' streams and sockets go too.
    let mut tasks = tokio::task::JoinSet::<()>::new();
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("udp port {port}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let datagram = buf[..n].to_vec();
        let existing = clients.lock().unwrap().get(&from).cloned();
        let tx = match existing {
            Some(tx) if !tx.is_closed() => tx,
            _ => {
                let (tx, rx) = mpsc::channel(256);
                clients.lock().unwrap().insert(from, tx.clone());
                while tasks.try_join_next().is_some() {}
                tasks.spawn(client(
                    socket.clone(),
                    from,
                    port,
                    watch.clone(),
                    rx,
                    clients.clone(),
                ));
                tx
            }
        };
        // A full queue drops the datagram, as a congested network would.
        let _ = tx.try_send(datagram);
    }
}

async fn client(
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    port: u16,
    watch: MuxWatch,
    mut rx: mpsc::Receiver<Vec<u8>>,
    clients: Clients,
) {
    let result = async {
        let mux = relay::session(&watch).await?;
        let stream = mux.open(&Header::Udp { port }).await?;
        let (mut r, mut w): (_, WriteHalf<_>) = tokio::io::split(stream);
        loop {
            tokio::select! {
                d = rx.recv() => match d {
                    Some(d) => vmlink::write_datagram(&mut w, &d).await?,
                    None => break,
                },
                d = vmlink::read_datagram(&mut r) => match d? {
                    Some(d) => { socket.send_to(&d, peer).await?; }
                    None => break,
                },
                _ = tokio::time::sleep(IDLE) => break,
            }
        }
        std::io::Result::Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::debug!("udp port {port} client {peer}: {e}");
    }
    clients.lock().unwrap().remove(&peer);
}
