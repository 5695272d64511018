use std::fs;

use super::super::writer::MAX_LINE;
use super::super::{read, Driver, LogConfig, LogWriter, Stream};
use super::{both, json_cfg, steady_writer, streams, texts, writer_at, TempDir};

#[test]
fn file_bytes_are_dockerd_json_lines() {
    let dir = TempDir::new("bytes");
    let cfg = json_cfg(dir.path(), None, 1);
    let mut w = LogWriter::open(&cfg).unwrap();
    let mut stamps = vec![(1_700_000_000, 123_456_789), (1_700_000_001, 0)].into_iter();
    w.clock = Box::new(move || stamps.next().unwrap());
    w.write(Stream::Stdout, b"hello <world>\n").unwrap();
    w.write(Stream::Stderr, b"oops\n").unwrap();
    assert_eq!(
        fs::read_to_string(&cfg.path).unwrap(),
        "{\"log\":\"hello \\u003cworld\\u003e\\n\",\"stream\":\"stdout\",\"time\":\"2023-11-14T22:13:20.123456789Z\"}\n\
         {\"log\":\"oops\\n\",\"stream\":\"stderr\",\"time\":\"2023-11-14T22:13:21Z\"}\n"
    );
}

#[test]
fn lines_are_split_whatever_the_chunking() {
    let dir = TempDir::new("chunks");
    let cfg = json_cfg(dir.path(), None, 1);
    let mut w = steady_writer(&cfg);
    for chunk in [&b"hel"[..], b"lo\nwor", b"ld\n\nlast", b" one\n"] {
        w.write(Stream::Stdout, chunk).unwrap();
    }
    let got = read(&cfg, &both()).unwrap();
    assert_eq!(texts(&got), ["hello\n", "world\n", "\n", "last one\n"]);
}

#[test]
fn streams_are_buffered_separately() {
    let dir = TempDir::new("streams");
    let cfg = json_cfg(dir.path(), None, 1);
    let mut w = steady_writer(&cfg);
    w.write(Stream::Stdout, b"out-").unwrap();
    w.write(Stream::Stderr, b"err-").unwrap();
    w.write(Stream::Stderr, b"line\n").unwrap();
    w.write(Stream::Stdout, b"line\n").unwrap();
    let got = read(&cfg, &both()).unwrap();
    assert_eq!(texts(&got), ["err-line\n", "out-line\n"]);
    assert_eq!(streams(&got), [Stream::Stderr, Stream::Stdout]);
}

#[test]
fn long_lines_go_out_in_16k_pieces_with_the_first_stamp() {
    let dir = TempDir::new("long");
    let cfg = json_cfg(dir.path(), None, 1);
    let mut w = writer_at(&cfg, (100..200).collect());
    let long = vec![b'x'; 2 * MAX_LINE + 100];
    // Fed in odd chunks, the line feed in the same chunk as the tail.
    for chunk in long.chunks(5000) {
        w.write(Stream::Stdout, chunk).unwrap();
    }
    w.write(Stream::Stdout, b"\nnext\n").unwrap();
    let got = read(&cfg, &both()).unwrap();
    let lens: Vec<usize> = got.iter().map(|e| e.line.len()).collect();
    assert_eq!(lens, [MAX_LINE, MAX_LINE, 101, 5]);
    assert!(!got[0].line.ends_with(b"\n") && !got[1].line.ends_with(b"\n"));
    assert!(got[2].line.ends_with(b"x\n"));
    let secs: Vec<i64> = got.iter().map(|e| e.unix.0).collect();
    assert_eq!(secs, [100, 100, 100, 101]);
}

#[test]
fn the_16k_boundary_is_dockerds() {
    let dir = TempDir::new("boundary");
    let cfg = json_cfg(dir.path(), None, 1);
    let mut w = steady_writer(&cfg);
    // One byte short of the buffer, with its line feed: one entry.
    let mut fits = vec![b'a'; MAX_LINE - 1];
    fits.push(b'\n');
    w.write(Stream::Stdout, &fits).unwrap();
    // A full buffer without line feed is a piece; its line feed comes alone.
    let mut full = vec![b'b'; MAX_LINE];
    full.push(b'\n');
    w.write(Stream::Stdout, &full).unwrap();
    let got = read(&cfg, &both()).unwrap();
    let lens: Vec<usize> = got.iter().map(|e| e.line.len()).collect();
    assert_eq!(lens, [MAX_LINE, MAX_LINE, 1]);
    assert_eq!(got[2].line, b"\n");
}

#[test]
fn eof_flushes_the_unfinished_line_without_a_line_feed() {
    let dir = TempDir::new("eof");
    let cfg = json_cfg(dir.path(), None, 1);
    let mut w = steady_writer(&cfg);
    w.write(Stream::Stdout, b"done\nno newline").unwrap();
    w.write(Stream::Stderr, b"err tail").unwrap();
    w.flush_partial(Stream::Stdout).unwrap();
    w.flush_partial(Stream::Stdout).unwrap();
    let got = read(&cfg, &both()).unwrap();
    assert_eq!(texts(&got), ["done\n", "no newline"]);
    w.flush_partial(Stream::Stderr).unwrap();
    assert_eq!(texts(&read(&cfg, &both()).unwrap())[2], "err tail");
}

#[test]
fn reopening_appends_and_seals_a_torn_line() {
    let dir = TempDir::new("reopen");
    let cfg = json_cfg(dir.path(), None, 1);
    steady_writer(&cfg)
        .write(Stream::Stdout, b"first run\n")
        .unwrap();
    // A shim killed in the middle of an entry.
    super::append(&cfg.path, b"{\"log\":\"torn");
    steady_writer(&cfg)
        .write(Stream::Stdout, b"second run\n")
        .unwrap();
    let got = read(&cfg, &both()).unwrap();
    assert_eq!(texts(&got), ["first run\n", "second run\n"]);
}

#[test]
fn none_driver_writes_nothing_and_cannot_be_read() {
    let dir = TempDir::new("none");
    let cfg = LogConfig {
        driver: Driver::None,
        path: dir.path().join("nothing.log"),
        max_size: None,
        max_file: 1,
    };
    let mut w = LogWriter::open(&cfg).unwrap();
    w.write(Stream::Stdout, b"dropped\npartial").unwrap();
    w.flush_partial(Stream::Stdout).unwrap();
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    let err = read(&cfg, &both()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "configured logging driver does not support reading"
    );
    assert!(super::super::Follower::new(&cfg).is_err());
}

#[test]
fn local_driver_creates_its_directory() {
    let dir = TempDir::new("local");
    let cfg = LogConfig::from_host_config("c1", dir.path(), &serde_json::json!({"Type": "local"}))
        .unwrap();
    steady_writer(&cfg)
        .write(Stream::Stderr, b"local line\n")
        .unwrap();
    assert!(dir.path().join("local-logs/container.log").is_file());
    assert_eq!(texts(&read(&cfg, &both()).unwrap()), ["local line\n"]);
}
