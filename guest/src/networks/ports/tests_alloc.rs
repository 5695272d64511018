//! Host port allocation: conflicts, the ephemeral cursor, ranges, release.

use std::net::IpAddr;

use super::allocator::read_range;
use super::*;

fn req(ip: &str, hp: u16, hp_end: u16) -> PortRequest {
    PortRequest {
        proto: Proto::Tcp,
        host_ip: ip.parse().unwrap(),
        host_port: hp,
        host_port_end: hp_end,
        container_port: 80,
    }
}

#[test]
fn fixed_port_conflicts_with_dockerd_message() {
    let a = PortAllocator::with_range(40000, 40010);
    let b = a.allocate(&req("0.0.0.0", 8080, 8080)).unwrap();
    assert_eq!(b.host_port, 8080);
    let e = a.allocate(&req("0.0.0.0", 8080, 8080)).unwrap_err();
    assert_eq!(
        e.message,
        "Bind for 0.0.0.0:8080 failed: port is already allocated"
    );
    // A specific address overlaps the wildcard of its family...
    let e = a.allocate(&req("127.0.0.1", 8080, 8080)).unwrap_err();
    assert_eq!(
        e.message,
        "Bind for 127.0.0.1:8080 failed: port is already allocated"
    );
    // ...but not the other family, nor the other protocol.
    a.allocate(&req("::", 8080, 8080)).unwrap();
    let udp = PortRequest {
        proto: Proto::Udp,
        ..req("0.0.0.0", 8080, 8080)
    };
    a.allocate(&udp).unwrap();
    let e = a.allocate(&req("::1", 8080, 8080)).unwrap_err();
    assert_eq!(
        e.message,
        "Bind for ::1:8080 failed: port is already allocated"
    );
    // Released on stop: the port can be had again.
    a.release(&b);
    assert!(!a.is_allocated(Proto::Tcp, "0.0.0.0".parse().unwrap(), 8080));
    a.allocate(&req("127.0.0.1", 8080, 8080)).unwrap();
}

#[test]
fn random_ports_go_in_turn_and_wrap() {
    let a = PortAllocator::with_range(40000, 40002);
    let ports: Vec<u16> = (0..3)
        .map(|_| a.allocate(&req("0.0.0.0", 0, 0)).unwrap().host_port)
        .collect();
    assert_eq!(ports, [40000, 40001, 40002]);
    assert_eq!(
        a.allocate(&req("0.0.0.0", 0, 0)).unwrap_err().message,
        "all ports are allocated"
    );
    let ip: IpAddr = "0.0.0.0".parse().unwrap();
    a.release(&PortBinding {
        proto: Proto::Tcp,
        host_ip: ip,
        host_port: 40001,
        container_port: 80,
    });
    assert_eq!(a.allocate(&req("0.0.0.0", 0, 0)).unwrap().host_port, 40001);
    // A fixed port inside the range is skipped by later random picks.
    let b = PortAllocator::with_range(40000, 40002);
    b.allocate(&req("0.0.0.0", 40000, 40000)).unwrap();
    assert_eq!(b.allocate(&req("0.0.0.0", 0, 0)).unwrap().host_port, 40001);
}

#[test]
fn host_port_range_requests() {
    let a = PortAllocator::with_range(40000, 40010);
    assert_eq!(
        a.allocate(&req("0.0.0.0", 9000, 9001)).unwrap().host_port,
        9000
    );
    assert_eq!(
        a.allocate(&req("0.0.0.0", 9000, 9001)).unwrap().host_port,
        9001
    );
    assert!(a.allocate(&req("0.0.0.0", 9000, 9001)).is_err());
    assert!(a.allocate(&req("0.0.0.0", 9001, 9000)).is_err());
}

#[test]
fn ephemeral_range_from_proc_format() {
    let file = std::env::temp_dir().join(format!("berth-portrange-{}", std::process::id()));
    std::fs::write(&file, "32768\t60999\n").unwrap();
    assert_eq!(read_range(&file), Some((32768, 60999)));
    std::fs::write(&file, "garbage").unwrap();
    assert_eq!(read_range(&file), None);
    std::fs::remove_file(&file).unwrap();
    // This host's own range is what new() uses.
    let own = read_range(std::path::Path::new(
        "/proc/sys/net/ipv4/ip_local_port_range",
    ));
    if let Some(r) = own {
        assert_eq!(PortAllocator::new().range(), r);
    }
}
