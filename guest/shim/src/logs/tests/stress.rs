//! The writer and a follower running at once, as the shim and the daemon
//! do: whatever the interleaving, every line arrives once and in order.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use super::super::{read_and_follow, Entry, LogWriter, ReadOptions};
use super::{both, json_cfg, numbered, texts, write_numbered, TempDir};

/// Follows until `done` is set, then polls once more for the rest.
fn follow_until(done: &AtomicBool, mut f: super::super::Follower) -> Vec<Entry> {
    let mut got = Vec::new();
    loop {
        let finished = done.load(Ordering::Acquire);
        got.extend(f.poll(&both()).unwrap());
        if finished {
            return got;
        }
        thread::yield_now();
    }
}

#[test]
fn concurrent_writer_with_rotations() {
    let dir = TempDir::new("stress");
    // Small files, rotated out once 60 exist: a busy poller never falls
    // that far behind.
    let cfg = json_cfg(dir.path(), Some(700), 60);
    let mut w = LogWriter::open(&cfg).unwrap();
    write_numbered(&mut w, 0..30);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        thread::spawn(move || {
            write_numbered(&mut w, 30..2000);
            done.store(true, Ordering::Release);
        })
    };
    let (mut got, f) = read_and_follow(&cfg, &both()).unwrap();
    got.extend(follow_until(&done, f));
    writer.join().unwrap();
    assert_eq!(texts(&got), numbered(0..2000));
}

#[test]
fn concurrent_torn_writes() {
    let dir = TempDir::new("torn");
    let cfg = json_cfg(dir.path(), None, 1);
    std::fs::write(&cfg.path, b"").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (done, path) = (done.clone(), cfg.path.clone());
        thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            for n in 0..500 {
                let entry = format!(
                    "{{\"log\":\"line {n:02}\\n\",\"stream\":\"stdout\",\"time\":\"1970-01-01T00:00:01Z\"}}\n"
                );
                let (a, b) = entry.as_bytes().split_at(n as usize % entry.len());
                file.write_all(a).unwrap();
                thread::yield_now();
                file.write_all(b).unwrap();
            }
            done.store(true, Ordering::Release);
        })
    };
    let (mut got, f) = read_and_follow(&cfg, &both()).unwrap();
    got.extend(follow_until(&done, f));
    writer.join().unwrap();
    assert_eq!(texts(&got), numbered(0..500));
}

#[test]
fn concurrent_tail_then_follow() {
    let dir = TempDir::new("tailrace");
    let cfg = json_cfg(dir.path(), Some(700), 60);
    let mut w = LogWriter::open(&cfg).unwrap();
    write_numbered(&mut w, 0..20);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        thread::spawn(move || {
            write_numbered(&mut w, 20..1500);
            done.store(true, Ordering::Release);
        })
    };
    let opts = ReadOptions {
        tail: Some(25),
        ..both()
    };
    let (mut got, f) = read_and_follow(&cfg, &opts).unwrap();
    let tailed = got.len();
    got.extend(follow_until(&done, f));
    writer.join().unwrap();
    // Wherever the writer was: the 25 lines before that point, then the rest.
    let lines = texts(&got);
    let first: u32 = lines[0]["line ".len()..lines[0].len() - 1].parse().unwrap();
    assert_eq!(lines, numbered(first..1500));
    // 25, unless fewer lines than that had been written.
    assert!(
        tailed == 25 || (first == 0 && tailed >= 20),
        "{tailed} from {first}"
    );
}
