//! Forwarding to fake upstreams.

use super::*;

/// How a fake upstream treats a query.
#[derive(Clone, Copy)]
enum Upstream {
    /// Answers A `UPSTREAM_IP`; names starting with "big" get 60 addresses,
    /// over UDP only a truncated empty reply.
    Answer,
    ServFail,
}

/// A fake upstream on UDP and TCP of one port; counts the UDP queries.
async fn upstream(kind: Upstream) -> (SocketAddr, Arc<AtomicUsize>, JoinHandle<()>) {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            tokio::select! {
                Ok((n, peer)) = udp.recv_from(&mut buf) => {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let reply = upstream_reply(&buf[..n], kind, false);
                    udp.send_to(&reply, peer).await.unwrap();
                }
                Ok((mut stream, _)) = tcp.accept() => {
                    let len = stream.read_u16().await.unwrap();
                    let mut q = vec![0u8; len as usize];
                    stream.read_exact(&mut q).await.unwrap();
                    let reply = upstream_reply(&q, kind, true);
                    stream.write_u16(reply.len() as u16).await.unwrap();
                    stream.write_all(&reply).await.unwrap();
                }
            }
        }
    });
    (addr, count, task)
}

fn upstream_reply(bytes: &[u8], kind: Upstream, tcp: bool) -> Vec<u8> {
    let q = Message::from_vec(bytes).unwrap();
    let mut reply = Message::response(q.id, OpCode::Query);
    reply.add_queries(q.queries.clone());
    let name = q.queries[0].name().clone();
    match kind {
        Upstream::ServFail => reply.metadata.response_code = ResponseCode::ServFail,
        Upstream::Answer if name.to_ascii().starts_with("big") => {
            if tcp {
                for i in 0..60u8 {
                    let rdata = RData::A(A(Ipv4Addr::new(10, 9, 0, i)));
                    reply.add_answer(Record::from_rdata(name.clone(), 30, rdata));
                }
            } else {
                reply.metadata.truncation = true;
            }
        }
        Upstream::Answer => {
            reply.add_answer(Record::from_rdata(name, 30, RData::A(A(UPSTREAM_IP))));
        }
    }
    reply.to_vec().unwrap()
}

#[tokio::test]
async fn unknown_names_are_forwarded_with_the_client_id() {
    let (up, count, _task) = upstream(Upstream::Answer).await;
    let server = server(vec![up]).await;
    let q = query("example.com.", RecordType::A);
    let reply = udp_ask(server.local_addr(), &q).await;
    assert_eq!(reply.response_code, ResponseCode::NoError);
    assert_eq!(addrs(&reply), vec![IpAddr::V4(UPSTREAM_IP)]);
    assert_eq!(reply.answers[0].ttl, 30, "relayed as the upstream sent it");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // TCP queries go upstream over TCP (the fake counts UDP only).
    let reply = tcp_ask(server.local_addr(), &query("example.org.", RecordType::A)).await;
    assert_eq!(addrs(&reply), vec![IpAddr::V4(UPSTREAM_IP)]);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // A container IP with no name, or another network's, goes upstream too.
    let reply = udp_ask(
        server.local_addr(),
        &query("9.9.18.172.in-addr.arpa.", RecordType::PTR),
    )
    .await;
    assert_eq!(reply.response_code, ResponseCode::NoError);
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn truncated_upstream_reply_is_retried_over_tcp() {
    let (up, _, _task) = upstream(Upstream::Answer).await;
    let server = server(vec![up]).await;
    let mut q = query("big.example.", RecordType::A);
    // A client offering 4096 bytes gets the full TCP answer over UDP...
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.edns = Some(edns);
    let reply = udp_ask(server.local_addr(), &q).await;
    assert!(!reply.truncation);
    assert_eq!(reply.answers.len(), 60);
    // ...one without EDNS (512 bytes) the truncated reply, to retry on TCP.
    let reply = udp_ask(server.local_addr(), &query("big.example.", RecordType::A)).await;
    assert!(reply.truncation);
    let reply = tcp_ask(server.local_addr(), &query("big.example.", RecordType::A)).await;
    assert_eq!(reply.answers.len(), 60);
}

#[tokio::test]
async fn servfail_upstream_is_skipped_for_the_next() {
    let (bad, bad_count, _t1) = upstream(Upstream::ServFail).await;
    let (good, _, _t2) = upstream(Upstream::Answer).await;
    let server = server(vec![bad, good]).await;
    let reply = udp_ask(server.local_addr(), &query("example.com.", RecordType::A)).await;
    assert_eq!(addrs(&reply), vec![IpAddr::V4(UPSTREAM_IP)]);
    assert_eq!(bad_count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn upstream_down_gives_servfail_within_the_timeout() {
    // One that never answers, one whose port is closed.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let closed = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let server = server(vec![silent.local_addr().unwrap(), closed]).await;
    let started = Instant::now();
    let reply = udp_ask(server.local_addr(), &query("example.com.", RecordType::A)).await;
    assert_eq!(reply.response_code, ResponseCode::ServFail);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let reply = tcp_ask(server.local_addr(), &query("example.com.", RecordType::A)).await;
    assert_eq!(reply.response_code, ResponseCode::ServFail);
    // No upstream at all: SERVFAIL, never REFUSED.
    let lonely = self::server(vec![]).await;
    let reply = udp_ask(lonely.local_addr(), &query("example.com.", RecordType::MX)).await;
    assert_eq!(reply.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn forwarding_is_bounded() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        upstream_timeout: Duration::from_secs(2),
        max_forwards: 2,
        ..Config::default()
    };
    let addr = "127.0.0.1:0".parse().unwrap();
    let server = DnsServer::start_with(addr, names(), vec![silent.local_addr().unwrap()], config)
        .await
        .unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..10 {
        let q = query(&format!("n{i}.example."), RecordType::A);
        client
            .send_to(&q.to_vec().unwrap(), server.local_addr())
            .await
            .unwrap();
    }
    // Eight are refused a forwarding slot and get SERVFAIL at once; local
    // names still answer while the two slots hang on the silent upstream.
    let mut buf = vec![0u8; 4096];
    for _ in 0..8 {
        let n = timeout(Duration::from_millis(500), client.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let reply = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(reply.response_code, ResponseCode::ServFail);
    }
    let reply = udp_ask(server.local_addr(), &query("web", RecordType::A)).await;
    assert_eq!(addrs(&reply), vec![ip("172.18.0.2")]);
    server.stop().await;
}
