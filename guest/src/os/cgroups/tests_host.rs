//! One real cgroup on this machine: a child process moved in, then read,
//! frozen, thawed and limited. Skips (with a message) unless root on a host
//! with cgroupfs; everything it creates is removed even if it fails.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::*;

/// v1 hierarchies the test joins (cpuset needs cpus/mems copied in before a
/// task may join, and adds nothing here).
const V1_JOIN: &[&str] = &["memory", "pids", "freezer", "cpu", "cpuacct", "blkio"];

struct Cleanup {
    child: Option<Child>,
    dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // A frozen task cannot die, so thaw before killing.
        for d in &self.dirs {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
            let _ = fs::write(d.join("cgroup.freeze"), "0");
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in self.dirs.iter().rev() {
            // The exited task leaves the cgroup asynchronously: rmdir can
            // be EBUSY for a moment.
            for _ in 0..100 {
                if fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                sleep(Duration::from_millis(20));
            }
            if d.exists() {
                eprintln!("could not remove test cgroup {}", d.display());
            }
        }
    }
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let uid = s.lines().find(|l| l.starts_with("Uid:"))?;
            Some(uid.split_whitespace().nth(2)? == "0")
        })
        .unwrap_or(false)
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn real_cgroup_round_trip() {
    if !is_root() {
        eprintln!("skipping real cgroup test: not root");
        return;
    }
    let layout = match Layout::detect() {
        Ok(l) => l,
        Err(e) => return eprintln!("skipping real cgroup test: {e}"),
    };
    round_trip(&layout);
    // A hybrid host's controller-less cgroup2 tree still has a real
    // cgroup.procs and cgroup.freeze: exercise the v2 paths there too.
    let unified = PathBuf::from("/sys/fs/cgroup/unified");
    if !layout.is_v2() && unified.join("cgroup.procs").exists() {
        round_trip(&Layout::V2 { root: unified });
    }
}

fn round_trip(layout: &Layout) {
    eprintln!("real cgroup test on {layout:?}");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("berth-cgtest-{}-{nanos}", std::process::id());
    let mut dirs: Vec<PathBuf> = match layout {
        Layout::V1 { mounts } => {
            let need = ["memory", "pids", "freezer"];
            if let Some(missing) = need.iter().find(|c| !mounts.contains_key(**c)) {
                return eprintln!("skipping real cgroup test: no v1 {missing} hierarchy");
            }
            V1_JOIN
                .iter()
                .filter_map(|c| mounts.get(*c))
                .map(|m| m.join(&name))
                .collect()
        }
        Layout::V2 { root } => vec![root.join(&name)],
    };
    dirs.dedup();
    if !dirs.iter().all(|d| d.parent().is_some_and(|p| p.is_dir())) {
        return eprintln!("skipping real cgroup test: cgroupfs is not mounted");
    }
    let mut guard = Cleanup {
        child: None,
        dirs: Vec::new(),
    };
    for d in &dirs {
        fs::create_dir(d).unwrap();
        guard.dirs.push(d.clone());
    }

    // The shell waits to be moved in before it execs sleep, so the new
    // image's pages are charged to the test cgroup.
    let mut child = Command::new("sh")
        .args(["-c", "read _; exec sleep 30"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut stdin = child.stdin.take().unwrap();
    guard.child = Some(child);
    for d in &dirs {
        fs::write(d.join("cgroup.procs"), pid.to_string()).unwrap();
    }
    stdin.write_all(b"go\n").unwrap();

    let cg = Cgroup::new(layout, &format!("/{name}"));
    assert!(cg.exists());
    assert_eq!(cg.pids().unwrap(), [pid]);
    wait_for("sleep to exec", || {
        fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    let memory_enabled = cg.dir("memory").is_some_and(|d| {
        d.join("memory.usage_in_bytes").exists() || d.join("memory.current").exists()
    });
    if memory_enabled {
        wait_for("memory to be charged", || {
            cg.stats().is_ok_and(|s| s.memory_usage > 0)
        });
    }
    let s = cg.stats().unwrap();
    eprintln!("real cgroup stats: {s:?}");
    assert!(s.memory_limit > 0);
    if cg
        .dir("pids")
        .is_some_and(|d| d.join("pids.current").exists())
    {
        assert_eq!(s.pids_current, 1);
    }

    cg.freeze().unwrap();
    assert!(cg.is_frozen());
    if let Some(d) = cg.dir("freezer").filter(|_| !cg.is_v2()) {
        assert_eq!(
            fs::read_to_string(d.join("freezer.state")).unwrap().trim(),
            "FROZEN"
        );
    }
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    eprintln!(
        "frozen task: {}",
        status
            .lines()
            .find(|l| l.starts_with("State:"))
            .unwrap_or("")
    );
    cg.thaw().unwrap();
    assert!(!cg.is_frozen());

    if memory_enabled {
        check_memory_updates(&cg);
    }
    if cg.dir("pids").is_some_and(|d| d.join("pids.max").exists()) {
        cg.update(&Resources {
            pids_limit: Some(10),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(read(&cg, "pids", "pids.max"), "10");
    }
    drop(stdin);
}

fn read(cg: &Cgroup, ctrl: &str, file: &str) -> String {
    fs::read_to_string(cg.dir(ctrl).unwrap().join(file))
        .unwrap()
        .trim()
        .to_string()
}

/// Raising memory above the old memory+swap limit, and lowering both, need
/// opposite write orders on v1.
fn check_memory_updates(cg: &Cgroup) {
    let mib = |n: i64| n << 20;
    let (limit_file, swap_file) = if cg.is_v2() {
        ("memory.max", "memory.swap.max")
    } else {
        ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
    };
    let has_swap = cg.dir("memory").unwrap().join(swap_file).exists();
    for (mem, swap) in [(64, 128), (256, 512), (32, 48)] {
        let r = Resources {
            memory: Some(mib(mem)),
            memory_swap: Some(mib(swap)),
            ..Default::default()
        };
        cg.update(&r)
            .unwrap_or_else(|e| panic!("memory {mem}M swap {swap}M: {e}"));
        assert_eq!(read(cg, "memory", limit_file), mib(mem).to_string());
        if has_swap {
            let want = if cg.is_v2() {
                mib(swap - mem)
            } else {
                mib(swap)
            };
            assert_eq!(read(cg, "memory", swap_file), want.to_string());
        }
    }
    let s = cg.stats().unwrap();
    assert_eq!(s.memory_limit, mib(32) as u64);
}
