//! Servers on 127.0.0.1:0 with a fake name table and fake upstreams.

mod local;
mod upstream;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;

struct FakeNames(HashMap<String, Vec<IpAddr>>);

impl Names for FakeNames {
    fn lookup(&self, name: &str) -> Vec<IpAddr> {
        self.0.get(name).cloned().unwrap_or_default()
    }
    fn reverse(&self, ip: IpAddr) -> Option<String> {
        let mut names: Vec<_> = self.0.iter().filter(|(_, ips)| ips.contains(&ip)).collect();
        names.sort();
        names.first().map(|(name, _)| format!("{name}.mynet"))
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn names() -> Arc<dyn Names> {
    let many = (1..=100).map(|i| ip(&format!("10.0.1.{i}"))).collect();
    Arc::new(FakeNames(HashMap::from([
        ("web".to_string(), vec![ip("172.18.0.2")]),
        (
            "db".to_string(),
            vec![ip("172.18.0.3"), ip("172.18.0.4"), ip("172.18.0.5")],
        ),
        ("v6only".to_string(), vec![ip("fd00::7")]),
        ("many".to_string(), many),
    ])))
}

const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);

fn query(name: &str, rtype: RecordType) -> Message {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    msg
}

fn config() -> Config {
    Config {
        upstream_timeout: Duration::from_millis(300),
        ..Config::default()
    }
}

async fn server(upstreams: Vec<SocketAddr>) -> DnsServer {
    let addr = "127.0.0.1:0".parse().unwrap();
    DnsServer::start_with(addr, names(), upstreams, config())
        .await
        .unwrap()
}

async fn udp_raw(server: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let n = timeout(wait, socket.recv(&mut buf)).await.ok()?.unwrap();
    Some(Message::from_vec(&buf[..n]).unwrap())
}

async fn udp_ask(server: SocketAddr, msg: &Message) -> Message {
    let bytes = msg.to_vec().unwrap();
    let reply = udp_raw(server, &bytes, Duration::from_secs(3))
        .await
        .expect("no UDP reply");
    assert_eq!(reply.id, msg.id);
    assert_eq!(reply.message_type, MessageType::Response);
    reply
}

async fn tcp_ask(server: SocketAddr, msg: &Message) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let bytes = msg.to_vec().unwrap();
    stream.write_u16(bytes.len() as u16).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let len = timeout(Duration::from_secs(3), stream.read_u16())
        .await
        .unwrap()
        .unwrap();
    let mut buf = vec![0u8; len as usize];
    stream.read_exact(&mut buf).await.unwrap();
    let reply = Message::from_vec(&buf).unwrap();
    assert_eq!(reply.id, msg.id);
    reply
}

fn addrs(reply: &Message) -> Vec<IpAddr> {
    reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}
