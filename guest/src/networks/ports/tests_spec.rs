//! PortBindings/ExposedPorts parsing against dockerd's behaviour.

use std::net::IpAddr;

use serde_json::{json, Value};

use super::*;
use crate::errdefs::Kind;

fn req(proto: Proto, ip: &str, hp: u16, hp_end: u16, cp: u16) -> PortRequest {
    PortRequest {
        proto,
        host_ip: ip.parse().unwrap(),
        host_port: hp,
        host_port_end: hp_end,
        container_port: cp,
    }
}

#[test]
fn fixed_random_and_range_bindings() {
    let pb = json!({
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": ""}],
        "53/udp": [{"HostIp": "::1", "HostPort": "5353"}],
        "443": [{"HostPort": "9000-9010"}],
        "22/tcp": null,
    });
    let got = requests(&pb, false, &Value::Null).unwrap();
    // Ordered by container port; a null list publishes nothing.
    assert_eq!(
        got,
        vec![
            req(Proto::Udp, "::1", 5353, 5353, 53),
            req(Proto::Tcp, "0.0.0.0", 8080, 8080, 80),
            req(Proto::Tcp, "127.0.0.1", 0, 0, 80),
            req(Proto::Tcp, "0.0.0.0", 9000, 9010, 443),
        ]
    );
    assert!(got[2].is_flexible() && got[3].is_flexible() && !got[1].is_flexible());
}

#[test]
fn publish_all_adds_unbound_exposed_ports() {
    let exposed = json!({"80/tcp": {}, "53/udp": {}, "8443/tcp": {}});
    let pb = json!({"8443/tcp": [{"HostIp": "", "HostPort": "443"}]});
    let got = requests(&pb, true, &exposed).unwrap();
    assert_eq!(
        got,
        vec![
            req(Proto::Udp, "0.0.0.0", 0, 0, 53),
            req(Proto::Tcp, "0.0.0.0", 0, 0, 80),
            req(Proto::Tcp, "0.0.0.0", 443, 443, 8443),
        ]
    );
    // Without -P, exposed ports publish nothing.
    assert_eq!(requests(&Value::Null, false, &exposed).unwrap(), vec![]);
}

#[test]
fn invalid_specs_are_refused_like_dockerd() {
    let cases = [
        (
            json!({"80-81/tcp": []}),
            "invalid port specification: \"80-81/tcp\"",
        ),
        (
            json!({"0/tcp": []}),
            "invalid port specification: \"0/tcp\"",
        ),
        (
            json!({"80/icmp": []}),
            "invalid port specification: \"80/icmp\"",
        ),
        (
            json!({"80/tcp": [{"HostPort": "abc"}]}),
            "invalid port specification: \"abc\"",
        ),
        (
            json!({"80/tcp": [{"HostPort": "9-8"}]}),
            "invalid port specification: \"9-8\"",
        ),
        (
            json!({"80/tcp": [{"HostPort": "70000"}]}),
            "invalid port specification: \"70000\"",
        ),
        (
            json!({"80/tcp": [{"HostIp": "localhost"}]}),
            "invalid host IP address: \"localhost\"",
        ),
    ];
    for (pb, msg) in cases {
        let e = requests(&pb, false, &Value::Null).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (Kind::InvalidParameter, msg));
    }
}

#[test]
fn bracketed_ipv6_and_proto_suffix_on_host_port() {
    let pb = json!({"80/tcp": [{"HostIp": "[::]", "HostPort": "8080/tcp"}]});
    let got = requests(&pb, false, &Value::Null).unwrap();
    assert_eq!(got, vec![req(Proto::Tcp, "::", 8080, 8080, 80)]);
}

#[test]
fn network_settings_ports() {
    let exposed = json!({"80/tcp": {}, "53/udp": {}});
    let ip: IpAddr = "0.0.0.0".parse().unwrap();
    let published = [
        PortBinding {
            proto: Proto::Tcp,
            host_ip: ip,
            host_port: 8080,
            container_port: 80,
        },
        PortBinding {
            proto: Proto::Tcp,
            host_ip: "::".parse().unwrap(),
            host_port: 8080,
            container_port: 80,
        },
    ];
    assert_eq!(
        ports_json(&exposed, &published),
        json!({
            "53/udp": null,
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
        })
    );
}
