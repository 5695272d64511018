//! `docker update` against temp directories laid out like cgroupfs.

use std::fs;
use std::io;

use super::tests_fake::{Tree, CG};
use super::*;

#[test]
fn update_v1_writes_docker_values() {
    let t = Tree::new();
    for f in [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.soft_limit_in_bytes",
    ] {
        t.put(&format!("memory/berth/abc/{f}"), "0");
    }
    for f in ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"] {
        t.put(&format!("cpu,cpuacct/berth/abc/{f}"), "0");
    }
    t.put("pids/berth/abc/pids.max", "0");
    t.put("blkio/berth/abc/blkio.bfq.weight", "100");
    let cg = Cgroup::new(&t.v1(), CG);
    cg.update(&Resources {
        memory: Some(64 << 20),
        memory_swap: Some(128 << 20),
        memory_reservation: Some(32 << 20),
        cpu_shares: Some(512),
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        pids_limit: Some(-1),
        blkio_weight: Some(300),
        ..Default::default()
    })
    .unwrap();
    let m = |f: &str| t.get(&format!("memory/berth/abc/memory.{f}"));
    assert_eq!(m("limit_in_bytes"), "67108864");
    assert_eq!(m("memsw.limit_in_bytes"), "134217728");
    assert_eq!(m("soft_limit_in_bytes"), "33554432");
    let c = |f: &str| t.get(&format!("cpu,cpuacct/berth/abc/cpu.{f}"));
    assert_eq!(
        (c("shares"), c("cfs_quota_us"), c("cfs_period_us")),
        ("512".into(), "50000".into(), "100000".into())
    );
    assert_eq!(t.get("pids/berth/abc/pids.max"), "max");
    assert_eq!(t.get("blkio/berth/abc/blkio.bfq.weight"), "300");

    // -1 memory lifts swap too; zero values leave things alone.
    cg.update(&Resources {
        memory: Some(-1),
        cpu_quota: Some(0),
        pids_limit: Some(50),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        (m("limit_in_bytes"), m("memsw.limit_in_bytes")),
        ("-1".into(), "-1".into())
    );
    assert_eq!(c("cfs_quota_us"), "50000");
    assert_eq!(t.get("pids/berth/abc/pids.max"), "50");

    // Without swap accounting the swap value is ignored.
    fs::remove_file(t.0.join("memory/berth/abc/memory.memsw.limit_in_bytes")).unwrap();
    cg.update(&Resources {
        memory: Some(1 << 30),
        memory_swap: Some(2 << 30),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(m("limit_in_bytes"), "1073741824");
    // A controller that is not there is an error, not a silent no-op.
    let err = cg.update(&Resources {
        cpuset_cpus: Some("0".into()),
        ..Default::default()
    });
    assert_eq!(err.unwrap_err().kind(), io::ErrorKind::NotFound);
}

#[test]
fn update_v2_translates_docker_values() {
    let t = Tree::new();
    let d = "berth/abc";
    for f in [
        "memory.max",
        "memory.swap.max",
        "memory.low",
        "cpu.weight",
        "pids.max",
        "io.weight",
        "cpuset.cpus",
        "cpuset.mems",
    ] {
        t.put(&format!("{d}/{f}"), "max");
    }
    t.put(&format!("{d}/cpu.max"), "max 100000");
    let cg = Cgroup::new(&t.v2(), CG);
    cg.update(&Resources {
        memory: Some(64 << 20),
        memory_swap: Some(96 << 20),
        memory_reservation: Some(-1),
        cpu_shares: Some(1024),
        cpu_quota: Some(25_000),
        cpuset_cpus: Some("0-1".into()),
        cpuset_mems: Some("0".into()),
        pids_limit: Some(0),
        blkio_weight: Some(500),
        ..Default::default()
    })
    .unwrap();
    let g = |f: &str| t.get(&format!("{d}/{f}"));
    assert_eq!(g("memory.max"), "67108864");
    assert_eq!(g("memory.swap.max"), (32u64 << 20).to_string());
    assert_eq!(g("memory.low"), "max");
    assert_eq!(g("cpu.weight"), "39");
    assert_eq!(g("cpu.max"), "25000 100000");
    assert_eq!(
        (g("cpuset.cpus"), g("cpuset.mems")),
        ("0-1".into(), "0".into())
    );
    assert_eq!(g("pids.max"), "max");
    assert_eq!(g("io.weight"), "4950");

    // Period alone keeps the quota in force; swap alone uses memory.max.
    cg.update(&Resources {
        cpu_period: Some(50_000),
        memory_swap: Some(128 << 20),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(g("cpu.max"), "25000 50000");
    assert_eq!(g("memory.swap.max"), (64u64 << 20).to_string());
    cg.update(&Resources {
        cpu_quota: Some(-1),
        memory: Some(-1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        (g("cpu.max"), g("memory.max"), g("memory.swap.max")),
        ("max 50000".into(), "max".into(), "max".into())
    );
    let err = cg.update(&Resources {
        memory: Some(64 << 20),
        memory_swap: Some(32 << 20),
        ..Default::default()
    });
    assert_eq!(err.unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn conversions_match_runc() {
    use super::update::{blkio_to_io_weight, shares_to_weight, swap_v2};
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(shares_to_weight(1), 1);
    assert_eq!(blkio_to_io_weight(10), 1);
    assert_eq!(blkio_to_io_weight(1000), 10_000);
    assert_eq!(swap_v2(0, -1).unwrap(), Some(-1));
    assert_eq!(swap_v2(0, 100).unwrap(), None);
    assert_eq!(swap_v2(-1, 100).unwrap(), Some(-1));
    assert_eq!(swap_v2(300, 100).unwrap(), Some(200));
    assert_eq!(swap_v2(100, 100).unwrap(), Some(0));
    assert!(swap_v2(300, -1).is_err());
    assert!(swap_v2(50, 100).is_err());
}
