//! Cgroup reads and writes against temp directories laid out like cgroupfs.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

pub(super) struct Tree(pub(super) PathBuf);

impl Tree {
    pub(super) fn new() -> Tree {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("berth-cgfake-{}-{n}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Tree(dir)
    }

    pub(super) fn put(&self, rel: &str, content: &str) {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    pub(super) fn get(&self, rel: &str) -> String {
        fs::read_to_string(self.0.join(rel))
            .unwrap()
            .trim()
            .to_string()
    }

    /// A v1 host with cpu and cpuacct co-mounted, as many distros do.
    pub(super) fn v1(&self) -> Layout {
        let mut mounts = BTreeMap::new();
        for c in ["memory", "pids", "freezer", "blkio", "cpuset", "devices"] {
            mounts.insert(c.to_string(), self.0.join(c));
        }
        mounts.insert("cpu".into(), self.0.join("cpu,cpuacct"));
        mounts.insert("cpuacct".into(), self.0.join("cpu,cpuacct"));
        Layout::V1 { mounts }
    }

    pub(super) fn v2(&self) -> Layout {
        Layout::V2 {
            root: self.0.clone(),
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(super) const CG: &str = "/berth/abc";

#[test]
fn paths_follow_the_cgroups_path_in_each_hierarchy() {
    let t = Tree::new();
    let cg = Cgroup::new(&t.v1(), CG);
    assert_eq!(
        cg.dir("cpuacct"),
        Some(t.0.join("cpu,cpuacct/berth/abc").as_path())
    );
    assert_eq!(
        cg.dir("memory"),
        Some(t.0.join("memory/berth/abc").as_path())
    );
    assert!(!cg.exists());
    t.put("memory/berth/abc/memory.stat", "");
    assert!(cg.exists());
    let cg2 = Cgroup::new(&t.v2(), CG);
    assert!(cg2.is_v2() && !cg.is_v2());
    assert_eq!(cg2.dir("memory"), Some(t.0.join("berth/abc").as_path()));
}

#[test]
fn pids_walk_sub_cgroups() {
    let t = Tree::new();
    let cg = Cgroup::new(&t.v1(), CG);
    assert_eq!(cg.pids().unwrap_err().kind(), io::ErrorKind::NotFound);
    // Without a pids hierarchy dir, memory holds the processes.
    t.put("memory/berth/abc/cgroup.procs", "7\n");
    assert_eq!(cg.pids().unwrap(), [7]);
    t.put("pids/berth/abc/cgroup.procs", "10\n11\n");
    t.put("pids/berth/abc/exec/cgroup.procs", "12\n11\n");
    t.put("pids/berth/abc/exec/deeper/cgroup.procs", "13\n");
    let mut pids = cg.pids().unwrap();
    pids.sort();
    assert_eq!(pids, [10, 11, 12, 13]);

    t.put("berth/abc/cgroup.procs", "1\n2\n");
    t.put("berth/abc/init/cgroup.procs", "3\n");
    let mut pids = Cgroup::new(&t.v2(), CG).pids().unwrap();
    pids.sort();
    assert_eq!(pids, [1, 2, 3]);
}

fn fill_v1(t: &Tree) {
    let c = "cpu,cpuacct/berth/abc";
    t.put(&format!("{c}/cpuacct.usage"), "5000000000\n");
    t.put(
        &format!("{c}/cpuacct.usage_percpu"),
        "3000000000 2000000000 \n",
    );
    t.put(&format!("{c}/cpuacct.stat"), "user 300\nsystem 150\n");
    t.put(
        &format!("{c}/cpu.stat"),
        "nr_periods 10\nnr_throttled 2\nthrottled_time 777\n",
    );
    let m = "memory/berth/abc";
    t.put(&format!("{m}/memory.usage_in_bytes"), "10485760\n");
    t.put(&format!("{m}/memory.max_usage_in_bytes"), "20971520\n");
    t.put(
        &format!("{m}/memory.limit_in_bytes"),
        "9223372036854771712\n",
    );
    t.put(&format!("{m}/memory.failcnt"), "3\n");
    t.put(
        &format!("{m}/memory.stat"),
        "cache 4096\nrss 8192\ntotal_inactive_file 1048576\ntotal_rss 8192\n",
    );
    t.put("pids/berth/abc/pids.current", "4\n");
    t.put("pids/berth/abc/pids.max", "max\n");
    t.put(
        "blkio/berth/abc/blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n",
    );
    t.put(
        "blkio/berth/abc/blkio.throttle.io_serviced_recursive",
        "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
    );
    // CFQ files exist but are empty under other schedulers.
    t.put(
        "blkio/berth/abc/blkio.io_service_bytes_recursive",
        "Total 0\n",
    );
}

#[test]
fn v1_stats() {
    let t = Tree::new();
    fill_v1(&t);
    let s = Cgroup::new(&t.v1(), CG).stats().unwrap();
    assert_eq!(s.cpu_total_ns, 5_000_000_000);
    assert_eq!(s.cpu_percpu_ns, [3_000_000_000, 2_000_000_000]);
    assert_eq!(s.cpu_user_ns, 3_000_000_000);
    assert_eq!(s.cpu_system_ns, 1_500_000_000);
    assert_eq!(
        (s.throttle_periods, s.throttled_periods, s.throttled_time_ns),
        (10, 2, 777)
    );
    assert_eq!(s.memory_usage, 10_485_760);
    assert_eq!(s.memory_max_usage, 20_971_520);
    // Unlimited reads as the host's RAM.
    assert_eq!(s.memory_limit, fsio::host_memory().unwrap());
    assert_eq!(s.memory_failcnt, 3);
    assert_eq!(s.memory_stat["total_inactive_file"], 1_048_576);
    assert_eq!((s.pids_current, s.pids_limit), (4, 0));
    assert_eq!(s.blkio_service_bytes.len(), 5);
    let e = &s.blkio_service_bytes[1];
    assert_eq!(
        (e.major, e.minor, e.op.as_str(), e.value),
        (8, 0, "Write", 8192)
    );
    assert_eq!(s.blkio_serviced.len(), 2);
}

#[test]
fn v2_stats() {
    let t = Tree::new();
    let d = "berth/abc";
    t.put(
        &format!("{d}/cpu.stat"),
        "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 9\n",
    );
    t.put(&format!("{d}/memory.current"), "4194304\n");
    t.put(&format!("{d}/memory.max"), "67108864\n");
    t.put(
        &format!("{d}/memory.stat"),
        "anon 1000\nfile 2000\ninactive_file 500\n",
    );
    t.put(
        &format!("{d}/memory.events"),
        "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\n",
    );
    t.put(&format!("{d}/pids.current"), "3\n");
    t.put(&format!("{d}/pids.max"), "100\n");
    t.put(
        &format!("{d}/io.stat"),
        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
    );
    let s = Cgroup::new(&t.v2(), CG).stats().unwrap();
    assert_eq!(
        (s.cpu_total_ns, s.cpu_user_ns, s.cpu_system_ns),
        (2_500_000, 2_000_000, 500_000)
    );
    assert!(s.cpu_percpu_ns.is_empty());
    assert_eq!(
        (s.throttle_periods, s.throttled_periods, s.throttled_time_ns),
        (4, 1, 9000)
    );
    assert_eq!(
        (s.memory_usage, s.memory_limit, s.memory_failcnt),
        (4_194_304, 67_108_864, 2)
    );
    assert_eq!(s.memory_stat["inactive_file"], 500);
    assert_eq!((s.pids_current, s.pids_limit), (3, 100));
    let ops: Vec<(&str, u64)> = s
        .blkio_service_bytes
        .iter()
        .map(|e| (e.op.as_str(), e.value))
        .collect();
    assert_eq!(ops, [("Read", 4096), ("Write", 8192)]);
    let ops: Vec<(&str, u64)> = s
        .blkio_serviced
        .iter()
        .map(|e| (e.op.as_str(), e.value))
        .collect();
    assert_eq!(ops, [("Read", 1), ("Write", 2)]);

    // A cgroup with no controllers enabled still answers, with zeros and
    // the host's RAM as the limit.
    t.put("berth/bare/cgroup.procs", "");
    let s = Cgroup::new(&t.v2(), "/berth/bare").stats().unwrap();
    assert_eq!(s.memory_limit, fsio::host_memory().unwrap());
    assert_eq!(s.cpu_total_ns, 0);
    let missing = Cgroup::new(&t.v2(), "/berth/gone").stats().unwrap_err();
    assert_eq!(missing.kind(), io::ErrorKind::NotFound);
}

#[test]
fn freezer_v1_and_v2() {
    let t = Tree::new();
    t.put("freezer/berth/abc/freezer.state", "THAWED\n");
    let cg = Cgroup::new(&t.v1(), CG);
    assert!(!cg.is_frozen());
    cg.freeze().unwrap();
    assert_eq!(t.get("freezer/berth/abc/freezer.state"), "FROZEN");
    assert!(cg.is_frozen());
    cg.thaw().unwrap();
    assert!(!cg.is_frozen());

    t.put("berth/abc/cgroup.freeze", "0\n");
    t.put("berth/abc/cgroup.events", "populated 1\nfrozen 1\n");
    let cg = Cgroup::new(&t.v2(), CG);
    cg.freeze().unwrap();
    assert_eq!(t.get("berth/abc/cgroup.freeze"), "1");
    assert!(cg.is_frozen());
    t.put("berth/abc/cgroup.events", "populated 1\nfrozen 0\n");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen());
}
