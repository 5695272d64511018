//! Answers from the network's own names, and the replies the server builds
//! itself (errors, SERVFAIL).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Edns, Message, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::Names;

/// TTL of local answers; dockerd's value. Containers come and go faster than
/// that, but clients mostly re-resolve on connection errors anyway.
pub(super) const TTL: u32 = 600;

/// UDP payload size advertised in our EDNS answers (the DNS flag day 2020
/// value, which avoids fragmentation on common links).
const EDNS_PAYLOAD: u16 = 1232;

/// Smallest encoded A record with a compressed owner name: used to cut a
/// huge answer down before the exact fitting loop in [`encode`].
const MIN_RECORD_LEN: usize = 16;

pub(super) enum Outcome {
    Reply(Message),
    Forward,
}

/// Decides what to do with a parsed query: answer it here, or forward it.
pub(super) fn resolve(query: &Message, names: &dyn Names, rotation: &AtomicUsize) -> Outcome {
    if query.op_code != OpCode::Query {
        // NOTIFY, UPDATE...: nothing on a container network serves them.
        return Outcome::Reply(error(query, ResponseCode::NotImp));
    }
    let [question] = query.queries.as_slice() else {
        // No resolver sends several questions (RFC 9619); none is malformed.
        return Outcome::Reply(error(query, ResponseCode::FormErr));
    };
    if question.query_class() != DNSClass::IN {
        return Outcome::Forward;
    }
    let owner = question.name();
    if question.query_type() == RecordType::PTR {
        return match reverse(owner, names) {
            Some(target) => {
                let mut reply = reply_to(query);
                reply.add_answer(Record::from_rdata(
                    owner.clone(),
                    TTL,
                    RData::PTR(PTR(target)),
                ));
                Outcome::Reply(reply)
            }
            None => Outcome::Forward,
        };
    }
    let addrs = names.lookup(&lookup_key(owner));
    if addrs.is_empty() {
        return Outcome::Forward;
    }
    let mut reply = reply_to(query);
    let want_v4 = match question.query_type() {
        RecordType::A => true,
        RecordType::AAAA => false,
        // Known name, other type (MX, TXT, HTTPS...): NODATA.
        _ => return Outcome::Reply(reply),
    };
    let mut addrs: Vec<IpAddr> = addrs
        .into_iter()
        .filter(|ip| ip.is_ipv4() == want_v4)
        .collect();
    if addrs.len() > 1 {
        // One counter for the whole server: successive queries for a name
        // start at successive addresses, which is all round robin needs.
        let turn = rotation.fetch_add(1, Ordering::Relaxed) % addrs.len();
        addrs.rotate_left(turn);
    }
    for ip in addrs {
        let rdata = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        // The owner is the question's name as sent: resolvers that randomise
        // its case (0x20) check the answer echoes it.
        reply.add_answer(Record::from_rdata(owner.clone(), TTL, rdata));
    }
    Outcome::Reply(reply)
}

/// The key given to [`Names::lookup`]: lower case, without the trailing dot
/// every name on the wire has.
fn lookup_key(name: &Name) -> String {
    let mut key = name.to_ascii();
    if key.ends_with('.') {
        key.pop();
    }
    key.make_ascii_lowercase();
    key
}

/// The PTR target for an `in-addr.arpa`/`ip6.arpa` name of one full address.
fn reverse(owner: &Name, names: &dyn Names) -> Option<Name> {
    let net = owner.parse_arpa_name().ok()?;
    // Shorter names (`2.1.in-addr.arpa`) are zones, not container addresses.
    if net.prefix_len() != net.max_prefix_len() {
        return None;
    }
    let host = names.reverse(net.addr())?;
    let mut target = Name::from_ascii(host.trim_end_matches('.')).ok()?;
    target.set_fqdn(true);
    Some(target)
}

/// An empty answer to `query`: same ID, question and RD/CD bits, with
/// "recursion available" set as dockerd does (we do recurse, by forwarding).
pub(super) fn reply_to(query: &Message) -> Message {
    let mut reply = Message::response(query.id, query.op_code);
    reply.metadata = Metadata::response_from_request(&query.metadata);
    reply.metadata.recursion_available = true;
    reply.queries = query.queries.clone();
    if query.edns.is_some() {
        // RFC 6891: a query with OPT gets an answer with OPT.
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        reply.edns = Some(edns);
    }
    reply
}

pub(super) fn error(query: &Message, code: ResponseCode) -> Message {
    let mut reply = reply_to(query);
    reply.metadata.response_code = code;
    reply
}

/// Largest answer a UDP client takes: its EDNS size, never under 512.
pub(super) fn udp_limit(query: &Message) -> usize {
    usize::from(query.max_payload()).max(512)
}

/// Encodes a reply for a client that takes at most `limit` bytes, dropping
/// answers from the end (and setting TC, so the client retries over TCP)
/// until it fits, as dockerd does for large alias sets.
pub(super) fn encode(mut reply: Message, limit: usize) -> Option<Vec<u8>> {
    let most = limit / MIN_RECORD_LEN;
    if reply.answers.len() > most {
        reply.answers.truncate(most);
        reply.metadata.truncation = true;
    }
    loop {
        let bytes = reply.to_vec().ok()?;
        if bytes.len() <= limit || reply.answers.is_empty() {
            return Some(bytes);
        }
        reply.answers.pop();
        reply.metadata.truncation = true;
    }
}
