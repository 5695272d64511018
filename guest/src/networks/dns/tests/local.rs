//! Answers from the network's own names, and robustness of the front ends.

use super::*;

#[tokio::test]
async fn known_names_over_udp_and_tcp() {
    let server = server(vec![]).await;
    let addr = server.local_addr();
    for name in ["web", "web.", "WeB", "WEB."] {
        let reply = udp_ask(addr, &query(name, RecordType::A)).await;
        assert_eq!(reply.response_code, ResponseCode::NoError);
        assert!(reply.recursion_available);
        assert_eq!(addrs(&reply), vec![ip("172.18.0.2")], "{name}");
        assert_eq!(reply.answers[0].ttl, 600);
        // The owner name echoes the question's case.
        assert_eq!(
            reply.answers[0].name.to_ascii().trim_end_matches('.'),
            name.trim_end_matches('.')
        );
        let reply = tcp_ask(addr, &query(name, RecordType::A)).await;
        assert_eq!(addrs(&reply), vec![ip("172.18.0.2")], "{name} over TCP");
    }
    server.stop().await;
}

#[tokio::test]
async fn several_addresses_rotate() {
    let server = server(vec![]).await;
    let mut firsts = Vec::new();
    for _ in 0..3 {
        let reply = udp_ask(server.local_addr(), &query("db", RecordType::A)).await;
        let mut got = addrs(&reply);
        firsts.push(got[0]);
        got.sort();
        assert_eq!(
            got,
            vec![ip("172.18.0.3"), ip("172.18.0.4"), ip("172.18.0.5")]
        );
    }
    firsts.sort();
    firsts.dedup();
    assert_eq!(firsts.len(), 3, "each query starts at another address");
}

#[tokio::test]
async fn aaaa_of_v4_name_is_empty_noerror_and_v6_answers() {
    let server = server(vec![]).await;
    let reply = udp_ask(server.local_addr(), &query("web", RecordType::AAAA)).await;
    assert_eq!(reply.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
    let reply = udp_ask(server.local_addr(), &query("v6only", RecordType::AAAA)).await;
    assert_eq!(addrs(&reply), vec![ip("fd00::7")]);
    let reply = udp_ask(server.local_addr(), &query("v6only", RecordType::A)).await;
    assert_eq!(
        (reply.response_code, reply.answers.len()),
        (ResponseCode::NoError, 0)
    );
}

#[tokio::test]
async fn ptr_for_container_ips() {
    let server = server(vec![]).await;
    let reply = udp_ask(
        server.local_addr(),
        &query("2.0.18.172.in-addr.arpa.", RecordType::PTR),
    )
    .await;
    assert_eq!(reply.response_code, ResponseCode::NoError);
    match &reply.answers[..] {
        [record] => match &record.data {
            RData::PTR(target) => assert_eq!(target.0.to_ascii(), "web.mynet."),
            other => panic!("not a PTR: {other:?}"),
        },
        other => panic!("want one answer: {other:?}"),
    }
    let v6 = "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
    let reply = tcp_ask(server.local_addr(), &query(v6, RecordType::PTR)).await;
    assert_eq!(reply.answers.len(), 1);
}

#[tokio::test]
async fn large_local_answer_truncates_over_udp_only() {
    let server = server(vec![]).await;
    let reply = udp_ask(server.local_addr(), &query("many", RecordType::A)).await;
    assert!(reply.truncation);
    assert!(!reply.answers.is_empty() && reply.answers.len() < 100);
    let reply = tcp_ask(server.local_addr(), &query("many", RecordType::A)).await;
    assert!(!reply.truncation);
    assert_eq!(reply.answers.len(), 100);
}

#[tokio::test]
async fn malformed_packets_are_ignored() {
    let server = server(vec![]).await;
    let addr = server.local_addr();
    let good = query("web", RecordType::A).to_vec().unwrap();
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![1, 2, 3],
        vec![0xff; 600],
        good[..good.len() - 3].to_vec(),
    ];
    // Every single-byte corruption of a valid query: none may kill the server.
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0xa5;
        junk.push(bad);
    }
    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for packet in &junk {
        sender.send_to(packet, addr).await.unwrap();
    }
    // A response sent to the server is not answered.
    let mut response = query("web", RecordType::A);
    response.metadata.message_type = MessageType::Response;
    let wait = Duration::from_millis(300);
    assert!(udp_raw(addr, &response.to_vec().unwrap(), wait)
        .await
        .is_none());
    let reply = udp_ask(addr, &query("web", RecordType::A)).await;
    assert_eq!(addrs(&reply), vec![ip("172.18.0.2")]);
}

#[tokio::test]
async fn oversized_tcp_length_closes_the_connection() {
    let server = server(vec![]).await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream.write_u16(60000).await.unwrap();
    let mut buf = [0u8; 16];
    let n = timeout(Duration::from_secs(3), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "connection closed");
    // A malformed message of a sane length is skipped; the next is answered.
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream.write_all(&[0, 12]).await.unwrap();
    stream.write_all(&[0xff; 12]).await.unwrap();
    let good = query("web", RecordType::A).to_vec().unwrap();
    stream.write_u16(good.len() as u16).await.unwrap();
    stream.write_all(&good).await.unwrap();
    let len = timeout(Duration::from_secs(3), stream.read_u16())
        .await
        .unwrap()
        .unwrap();
    let mut reply = vec![0u8; len as usize];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(
        addrs(&Message::from_vec(&reply).unwrap()),
        vec![ip("172.18.0.2")]
    );
}

#[tokio::test]
async fn stop_frees_the_address() {
    let server = server(vec![]).await;
    let addr = server.local_addr();
    server.stop().await;
    let again = DnsServer::start(addr, names(), vec![]).await.unwrap();
    assert_eq!(again.local_addr(), addr);
    let reply = udp_ask(addr, &query("web", RecordType::A)).await;
    assert_eq!(addrs(&reply), vec![ip("172.18.0.2")]);
}

#[test]
fn resolv_conf_nameservers() {
    let text = "# generated\nsearch example.com\nnameserver 127.0.0.53\n\
                nameserver 10.0.0.2 # office\n  nameserver\t2001:db8::1\nnameserver fe80::1%eth0\n\
                nameserver fe80::2%3\nnameserver bogus\nnameserver 10.0.0.2\noptions ndots:2\n";
    let got = upstreams_from_resolv_conf(text);
    let want: Vec<SocketAddr> = [
        "127.0.0.53:53",
        "10.0.0.2:53",
        "[2001:db8::1]:53",
        "[fe80::2%3]:53",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    assert_eq!(got, want);
}
