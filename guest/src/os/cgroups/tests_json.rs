//! The stats JSON, checked the way the docker CLI reads it.

use serde_json::{json, Value};

use super::docker::parse_proc_stat;
use super::fsio::parse_meminfo_total;
use super::stats::{parse_blkio_v1, parse_io_stat};
use super::*;

/// The CLI's CPU %: container delta over system delta, times CPUs.
fn cli_cpu_percent(v: &Value) -> f64 {
    let cpu = |k: &str, f: &str| v[k][f].as_u64().unwrap_or(0) as f64;
    let d_cpu = v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() as f64
        - v["precpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap() as f64;
    let d_sys = cpu("cpu_stats", "system_cpu_usage") - cpu("precpu_stats", "system_cpu_usage");
    let n = cpu("cpu_stats", "online_cpus");
    if d_cpu > 0.0 && d_sys > 0.0 {
        d_cpu / d_sys * n * 100.0
    } else {
        0.0
    }
}

/// The CLI's MEM USAGE: usage less inactive file pages (v1 key first).
fn cli_mem_usage(v: &Value) -> u64 {
    let m = &v["memory_stats"];
    let usage = m["usage"].as_u64().unwrap_or(0);
    let stats = &m["stats"];
    if let Some(x) = stats["total_inactive_file"].as_u64().filter(|x| *x < usage) {
        return usage - x;
    }
    match stats["inactive_file"].as_u64() {
        Some(x) if x < usage => usage - x,
        _ => usage,
    }
}

fn v1_raw() -> RawStats {
    RawStats {
        cpu_total_ns: 4_000_000_000,
        cpu_percpu_ns: vec![1_000_000_000, 3_000_000_000],
        cpu_user_ns: 3_000_000_000,
        cpu_system_ns: 1_000_000_000,
        memory_usage: 100 << 20,
        memory_max_usage: 120 << 20,
        memory_limit: 512 << 20,
        memory_stat: [
            ("total_inactive_file".to_string(), 30 << 20),
            ("cache".into(), 40 << 20),
        ]
        .into_iter()
        .collect(),
        pids_current: 3,
        blkio_service_bytes: parse_blkio_v1("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n"),
        ..Default::default()
    }
}

#[test]
fn v1_first_sample_has_zero_precpu_and_v1_keys() {
    let cur = Sample {
        raw: v1_raw(),
        system_ns: 90_000_000_000,
        read: "2025-01-16T13:55:22.165243637Z".into(),
    };
    let v = stats_json("abc", "/web", &cur, None, 2, false);
    assert_eq!(v["id"], "abc");
    assert_eq!(v["name"], "/web");
    assert_eq!(v["read"], "2025-01-16T13:55:22.165243637Z");
    assert_eq!(v["preread"], "0001-01-01T00:00:00Z");
    assert_eq!(
        v["precpu_stats"],
        json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
        })
    );
    let cpu = &v["cpu_stats"];
    assert_eq!(
        cpu["cpu_usage"]["percpu_usage"],
        json!([1_000_000_000u64, 3_000_000_000u64])
    );
    assert_eq!(cpu["cpu_usage"]["usage_in_usermode"], 3_000_000_000u64);
    assert_eq!(cpu["system_cpu_usage"], 90_000_000_000u64);
    assert_eq!(cpu["online_cpus"], 2);
    let mem = &v["memory_stats"];
    assert_eq!(mem["max_usage"], 120u64 << 20);
    assert_eq!(mem["limit"], 512u64 << 20);
    assert!(
        mem.get("failcnt").is_none(),
        "zero failcnt is omitted like Go's omitempty"
    );
    assert_eq!(mem["stats"].as_object().unwrap().len(), 32);
    assert_eq!(mem["stats"]["rss"], 0);
    assert_eq!(cli_mem_usage(&v), 70 << 20);
    assert_eq!(v["pids_stats"], json!({"current": 3}));
    let blkio = &v["blkio_stats"];
    assert_eq!(blkio.as_object().unwrap().len(), 8);
    assert_eq!(
        blkio["io_service_bytes_recursive"][0],
        json!({"major": 8, "minor": 0, "op": "Read", "value": 4096})
    );
    assert_eq!(blkio["io_serviced_recursive"], json!([]));
    assert_eq!(blkio["sectors_recursive"], json!([]));
    assert!(v.get("networks").is_none());
    assert_eq!(v["num_procs"], 0);
    assert_eq!(v["storage_stats"], json!({}));
    assert_eq!(v["os_type"], "linux");
}

#[test]
fn v2_second_sample_gives_cpu_percent() {
    let (bytes, ios) = parse_io_stat("259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
    let raw = |cpu: u64| RawStats {
        cpu_total_ns: cpu,
        memory_usage: 50 << 20,
        memory_limit: 1 << 30,
        memory_failcnt: 1,
        memory_stat: [
            ("inactive_file".to_string(), 10 << 20),
            ("anon".into(), 40 << 20),
        ]
        .into_iter()
        .collect(),
        pids_current: 2,
        pids_limit: 100,
        blkio_service_bytes: bytes.clone(),
        blkio_serviced: ios.clone(),
        ..Default::default()
    };
    let prev = Sample {
        raw: raw(1_000_000_000),
        system_ns: 100_000_000_000,
        read: "2025-01-16T13:55:21.1Z".into(),
    };
    // 0.5 s of container CPU over 2 s of host CPU (1 s wall on 2 CPUs): 50%.
    let cur = Sample {
        raw: raw(1_500_000_000),
        system_ns: 102_000_000_000,
        read: "2025-01-16T13:55:22.1Z".into(),
    };
    let v = stats_json("abc", "/web", &cur, Some(&prev), 2, true);
    assert_eq!(v["preread"], "2025-01-16T13:55:21.1Z");
    assert!((cli_cpu_percent(&v) - 50.0).abs() < 1e-9);
    assert_eq!(v["precpu_stats"]["online_cpus"], 2);
    assert!(v["cpu_stats"]["cpu_usage"].get("percpu_usage").is_none());
    let mem = &v["memory_stats"];
    assert!(mem.get("max_usage").is_none());
    assert_eq!(mem["failcnt"], 1);
    assert_eq!(mem["stats"].as_object().unwrap().len(), 31);
    assert!(mem["stats"].get("total_inactive_file").is_none());
    assert_eq!(cli_mem_usage(&v), 40 << 20);
    assert_eq!(v["pids_stats"], json!({"current": 2, "limit": 100}));
    let blkio = &v["blkio_stats"];
    assert_eq!(
        blkio["io_service_bytes_recursive"],
        json!([
            {"major": 259, "minor": 0, "op": "read", "value": 10},
            {"major": 259, "minor": 0, "op": "write", "value": 20}
        ])
    );
    assert_eq!(blkio["io_serviced_recursive"], Value::Null);

    let empty = stats_json("", "", &Sample::default(), None, 0, true);
    assert!(empty.get("id").is_none() && empty.get("name").is_none());
    assert_eq!(empty["read"], "0001-01-01T00:00:00Z");
    assert_eq!(
        empty["blkio_stats"]["io_service_bytes_recursive"],
        Value::Null
    );
    assert_eq!(empty["memory_stats"]["stats"]["anon"], 0);
}

#[test]
fn proc_stat_and_meminfo() {
    let stat = "cpu  768950 1271 133809 1002767 7364 0 1506 125 0 0\n\
                cpu0 366248 430 59956 528810 1941 0 257 63 0 0\n\
                cpu1 402702 841 73853 473956 5422 0 1249 62 0 0\n\
                intr 1 2 3\nctxt 5\n";
    let (ns, cpus) = parse_proc_stat(stat).unwrap();
    assert_eq!(ns, 1_915_667 * 10_000_000);
    assert_eq!(cpus, 2);
    assert_eq!(parse_proc_stat("intr 1\n"), None);
    assert_eq!(parse_proc_stat("cpu 1 2\n"), None);
    assert!(system_cpu_usage_ns().unwrap() > 0);
    assert!(online_cpus() >= 1);
    assert_eq!(
        parse_meminfo_total("MemTotal:       24684092 kB\nMemFree: 1 kB\n"),
        Some(24_684_092 * 1024)
    );
    assert_eq!(parse_meminfo_total("MemFree: 1 kB\n"), None);
}

#[test]
fn blkio_parsers_skip_totals_and_junk() {
    let e = parse_blkio_v1("8:16 Read 1\n8:16 Discard 2\nTotal 3\n\ngarbage\n");
    assert_eq!(e.len(), 2);
    assert_eq!(
        (e[1].minor, e[1].op.as_str(), e[1].value),
        (16, "Discard", 2)
    );
    let (b, i) = parse_io_stat("8:0 rbytes=1\nnonsense\n");
    assert_eq!((b.len(), i.len()), (2, 2));
    assert_eq!(b[1].value, 0);
}
