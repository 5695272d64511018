//! The userland proxy against echo servers on loopback (no other traffic).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;

use super::*;

const MIB: usize = 1 << 20;
const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn binding(proto: Proto, ip: IpAddr, port: u16) -> PortBinding {
    PortBinding {
        proto,
        host_ip: ip,
        host_port: port,
        container_port: 0,
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// Echoes each connection, then half-closes after the client's EOF.
async fn tcp_echo() -> SocketAddr {
    let l = TcpListener::bind((LO, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                tokio::io::copy(&mut r, &mut w).await.unwrap();
                w.shutdown().await.unwrap();
            });
        }
    });
    addr
}

async fn with_timeout<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_mib_each_way_client_half_closes_first() {
    let proxy = Proxy::start(&binding(Proto::Tcp, LO, 0), tcp_echo().await)
        .await
        .unwrap();
    let c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut r, mut w) = c.into_split();
    let data = pattern(MIB, 7);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        // The echo server only finishes once this EOF crosses the proxy.
        w.shutdown().await.unwrap();
        w
    });
    let mut back = Vec::new();
    with_timeout(r.read_to_end(&mut back)).await.unwrap();
    let _w = writer.await.unwrap();
    assert_eq!(back.len(), MIB);
    assert!(back == data);
    proxy.stop_wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_server_half_closes_first_and_still_reads() {
    let l = TcpListener::bind((LO, 0)).await.unwrap();
    let backend = l.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (mut r, mut w) = s.into_split();
        w.write_all(&pattern(MIB, 1)).await.unwrap();
        w.shutdown().await.unwrap();
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        tx.send(got).unwrap();
    });
    let proxy = Proxy::start(&binding(Proto::Tcp, LO, 0), backend)
        .await
        .unwrap();
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let mut first = Vec::new();
    with_timeout(c.read_to_end(&mut first)).await.unwrap();
    assert!(first == pattern(MIB, 1));
    // Our read side is at EOF; the write side must still reach the server.
    c.write_all(&pattern(MIB, 2)).await.unwrap();
    c.shutdown().await.unwrap();
    let got = with_timeout(rx).await.unwrap();
    assert!(got == pattern(MIB, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_many_clients_at_once() {
    let proxy = Proxy::start(&binding(Proto::Tcp, LO, 0), tcp_echo().await)
        .await
        .unwrap();
    let addr = proxy.local_addr();
    let clients = (0..32u8).map(|i| {
        tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(&pattern(4096, i)).await.unwrap();
            c.shutdown().await.unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).await.unwrap();
            assert!(back == pattern(4096, i));
        })
    });
    for c in clients.collect::<Vec<_>>() {
        with_timeout(c).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_listener_relays_to_ipv4_container() {
    let b = binding(Proto::Tcp, "::1".parse().unwrap(), 0);
    let proxy = match Proxy::start(&b, tcp_echo().await).await {
        Ok(p) => p,
        Err(e) => return eprintln!("skipped: no IPv6 loopback: {e}"),
    };
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    c.write_all(b"hello").await.unwrap();
    c.shutdown().await.unwrap();
    let mut back = String::new();
    with_timeout(c.read_to_string(&mut back)).await.unwrap();
    assert_eq!(back, "hello");
}

#[tokio::test]
async fn udp_echo_per_client_flows_and_idle_timeout() {
    let server = UdpSocket::bind((LO, 0)).await.unwrap();
    let backend = server.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0; 65536];
        while let Ok((n, from)) = server.recv_from(&mut buf).await {
            server.send_to(&buf[..n], from).await.unwrap();
        }
    });
    let b = binding(Proto::Udp, LO, 0);
    let idle = Duration::from_millis(300);
    let proxy = Proxy::start_with(&b, backend, idle).await.unwrap();
    let mut clients = Vec::new();
    for i in 0..3u8 {
        let c = UdpSocket::bind((LO, 0)).await.unwrap();
        c.connect(proxy.local_addr()).await.unwrap();
        clients.push((i, c));
    }
    for round in 0..2u8 {
        for (i, c) in &clients {
            let msg = pattern(1000 + *i as usize, round);
            c.send(&msg).await.unwrap();
            let mut buf = vec![0; 65536];
            let n = with_timeout(c.recv(&mut buf)).await.unwrap();
            assert!(buf[..n] == msg[..], "client {i} got another's reply");
        }
    }
    assert_eq!(proxy.udp_flows(), 3);
    tokio::time::sleep(idle * 3).await;
    assert_eq!(proxy.udp_flows(), 0);
    // A client coming back after its flow expired gets a new one.
    clients[0].1.send(b"again").await.unwrap();
    let mut buf = [0; 16];
    let n = with_timeout(clients[0].1.recv(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"again");
    assert_eq!(proxy.udp_flows(), 1);
}

#[tokio::test]
async fn stop_frees_the_port_and_closes_connections() {
    let proxy = Proxy::start(&binding(Proto::Tcp, LO, 0), tcp_echo().await)
        .await
        .unwrap();
    let addr = proxy.local_addr();
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"x").await.unwrap();
    let mut one = [0; 1];
    with_timeout(c.read_exact(&mut one)).await.unwrap();
    proxy.stop();
    // The aborted tasks are dropped before this task runs again.
    tokio::task::yield_now().await;
    let mut rest = Vec::new();
    let n = with_timeout(c.read_to_end(&mut rest)).await.unwrap_or(0);
    assert_eq!(n, 0, "connection still relayed after stop");
    std::net::TcpListener::bind(addr).expect("port still held after stop");

    let u = Proxy::start(&binding(Proto::Udp, LO, 0), addr)
        .await
        .unwrap();
    let uaddr = u.local_addr();
    u.stop_wait().await;
    std::net::UdpSocket::bind(uaddr).expect("udp port still held after stop");
}

#[tokio::test]
async fn busy_port_gives_dockerds_errors() {
    let taken = std::net::TcpListener::bind((LO, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = Proxy::start(&binding(Proto::Tcp, LO, port), tcp_echo().await)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    assert_eq!(
        e.to_string(),
        format!("listen tcp4 127.0.0.1:{port}: bind: address already in use")
    );

    let alloc = PortAllocator::with_range(40000, 40010);
    let fixed = PortRequest {
        proto: Proto::Tcp,
        host_ip: LO,
        host_port: port,
        host_port_end: port,
        container_port: 80,
    };
    let e = publish(&alloc, &fixed, LO, true, ("web", "abc123"))
        .await
        .unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "driver failed programming external connectivity on endpoint web (abc123): \
             Error starting userland proxy: listen tcp4 127.0.0.1:{port}: bind: address already in use"
        )
    );
    // The failed attempt didn't keep the port.
    assert!(!alloc.is_allocated(Proto::Tcp, LO, port));

    // Held by Berth itself: the allocator answers before any bind.
    drop(taken);
    let held = publish(&alloc, &fixed, LO, true, ("web", "abc123"))
        .await
        .unwrap();
    let e = publish(&alloc, &fixed, LO, true, ("db", "def456"))
        .await
        .unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "driver failed programming external connectivity on endpoint db (def456): \
             Bind for 127.0.0.1:{port} failed: port is already allocated"
        )
    );
    assert_eq!(held.proxy_addr(), Some(SocketAddr::new(LO, port)));
    held.unpublish().await;
    assert!(!alloc.is_allocated(Proto::Tcp, LO, port));
    // Given back and really closed: the same fixed port publishes again.
    let again = publish(&alloc, &fixed, LO, true, ("web", "abc123"))
        .await
        .unwrap();
    drop(again);
    assert!(!alloc.is_allocated(Proto::Tcp, LO, port));
}

#[tokio::test]
async fn range_request_skips_a_port_busy_elsewhere() {
    // Two neighbouring free ports; the first then taken by "another process".
    let (taken, port) = loop {
        let l = std::net::TcpListener::bind((LO, 0)).unwrap();
        let p = l.local_addr().unwrap().port();
        if p < u16::MAX && std::net::TcpListener::bind((LO, p + 1)).is_ok() {
            break (l, p);
        }
    };
    let alloc = PortAllocator::with_range(40000, 40010);
    let req = PortRequest {
        proto: Proto::Tcp,
        host_ip: LO,
        host_port: port,
        host_port_end: port + 1,
        container_port: 80,
    };
    let p = publish(&alloc, &req, LO, true, ("web", "id"))
        .await
        .unwrap();
    assert_eq!(p.binding.host_port, port + 1);
    assert!(!alloc.is_allocated(Proto::Tcp, LO, port));
    drop(taken);
}

#[tokio::test]
async fn without_userland_proxy_only_the_port_is_held() {
    let taken = std::net::TcpListener::bind((LO, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let alloc = PortAllocator::with_range(40000, 40010);
    let fixed = PortRequest {
        proto: Proto::Udp,
        host_ip: LO,
        host_port: port,
        host_port_end: port,
        container_port: 53,
    };
    // No listener is opened, so another process's socket doesn't matter.
    let p = publish(&alloc, &fixed, LO, false, ("dns", "id"))
        .await
        .unwrap();
    assert_eq!(p.proxy_addr(), None);
    assert!(alloc.is_allocated(Proto::Udp, LO, port));
    drop(p);
    assert!(!alloc.is_allocated(Proto::Udp, LO, port));
}
