use std::fs;

use super::super::files::rotated;
use super::super::{read, read_and_follow, ReadOptions, Stream};
use super::{
    append, both, json_cfg, numbered, steady_writer, texts, write_numbered, writer_at, TempDir,
};

/// With max-size 300 each 68-byte entry of `write_numbered` ends up five
/// to a file: dockerd rotates once a file has reached max-size, before
/// the next entry.
const ENTRY: u64 = 68;

#[test]
fn rotation_keeps_max_file_files_and_reads_in_order() {
    let dir = TempDir::new("rotate");
    let cfg = json_cfg(dir.path(), Some(300), 3);
    let mut w = steady_writer(&cfg);
    write_numbered(&mut w, 0..40);
    for p in [
        cfg.path.clone(),
        rotated(&cfg.path, 1),
        rotated(&cfg.path, 2),
    ] {
        assert_eq!(fs::metadata(&p).unwrap().len(), 5 * ENTRY, "{p:?}");
    }
    assert!(!rotated(&cfg.path, 3).exists());
    assert_eq!(texts(&read(&cfg, &both()).unwrap()), numbered(25..40));
    // One more entry rotates again: .2 (25..30) is dropped.
    write_numbered(&mut w, 40..41);
    assert_eq!(fs::metadata(&cfg.path).unwrap().len(), ENTRY);
    assert_eq!(texts(&read(&cfg, &both()).unwrap()), numbered(30..41));
}

#[test]
fn max_file_one_replaces_the_live_file() {
    let dir = TempDir::new("maxfile1");
    let cfg = json_cfg(dir.path(), Some(300), 1);
    let mut w = steady_writer(&cfg);
    write_numbered(&mut w, 0..7);
    assert!(!rotated(&cfg.path, 1).exists());
    assert_eq!(texts(&read(&cfg, &both()).unwrap()), numbered(5..7));
}

#[test]
fn no_max_size_never_rotates() {
    let dir = TempDir::new("norotate");
    let cfg = json_cfg(dir.path(), None, 3);
    write_numbered(&mut steady_writer(&cfg), 0..50);
    assert!(!rotated(&cfg.path, 1).exists());
    assert_eq!(read(&cfg, &both()).unwrap().len(), 50);
}

#[test]
fn tail_counts_from_the_end_across_files() {
    let dir = TempDir::new("tail");
    let cfg = json_cfg(dir.path(), Some(300), 3);
    write_numbered(&mut steady_writer(&cfg), 0..40);
    let tail = |n| {
        texts(
            &read(
                &cfg,
                &ReadOptions {
                    tail: Some(n),
                    ..both()
                },
            )
            .unwrap(),
        )
    };
    assert_eq!(tail(7), numbered(33..40));
    assert_eq!(tail(5), numbered(35..40));
    assert_eq!(tail(1), numbered(39..40));
    assert_eq!(tail(100), numbered(25..40));
    assert!(tail(0).is_empty());
}

#[test]
fn tail_counts_both_streams_before_filtering_like_dockerd() {
    let dir = TempDir::new("tailstreams");
    let cfg = json_cfg(dir.path(), None, 1);
    let mut w = steady_writer(&cfg);
    for (stream, line) in [
        (Stream::Stdout, "a\n"),
        (Stream::Stderr, "b\n"),
        (Stream::Stdout, "c\n"),
        (Stream::Stderr, "d\n"),
    ] {
        w.write(stream, line.as_bytes()).unwrap();
    }
    let stdout = ReadOptions {
        stderr: false,
        ..both()
    };
    assert_eq!(texts(&read(&cfg, &stdout).unwrap()), ["a\n", "c\n"]);
    assert_eq!(
        texts(
            &read(
                &cfg,
                &ReadOptions {
                    tail: Some(2),
                    ..stdout
                }
            )
            .unwrap()
        ),
        ["c\n"]
    );
    let stderr = ReadOptions {
        stdout: false,
        tail: Some(3),
        ..both()
    };
    assert_eq!(texts(&read(&cfg, &stderr).unwrap()), ["b\n", "d\n"]);
}

fn stamped(dir: &TempDir, secs: &[i64]) -> super::super::LogConfig {
    let cfg = json_cfg(dir.path(), None, 1);
    let mut w = writer_at(&cfg, secs.to_vec());
    for s in secs {
        w.write(Stream::Stdout, format!("t{s}\n").as_bytes())
            .unwrap();
    }
    cfg
}

fn window(
    cfg: &super::super::LogConfig,
    since: Option<(i64, u32)>,
    until: Option<(i64, u32)>,
) -> Vec<String> {
    texts(
        &read(
            cfg,
            &ReadOptions {
                since,
                until,
                ..both()
            },
        )
        .unwrap(),
    )
}

#[test]
fn since_is_inclusive_and_until_too() {
    let dir = TempDir::new("window");
    let cfg = stamped(&dir, &[10, 20, 30, 40]);
    assert_eq!(
        window(&cfg, Some((20, 0)), None),
        ["t20\n", "t30\n", "t40\n"]
    );
    assert_eq!(window(&cfg, Some((20, 1)), None), ["t30\n", "t40\n"]);
    assert_eq!(
        window(&cfg, None, Some((30, 0))),
        ["t10\n", "t20\n", "t30\n"]
    );
    assert_eq!(
        window(&cfg, None, Some((29, 999_999_999))),
        ["t10\n", "t20\n"]
    );
    assert_eq!(
        window(&cfg, Some((15, 0)), Some((35, 0))),
        ["t20\n", "t30\n"]
    );
    assert!(window(&cfg, Some((50, 0)), None).is_empty());
}

#[test]
fn since_stops_filtering_after_the_first_match() {
    let dir = TempDir::new("sinceonce");
    let cfg = stamped(&dir, &[10, 30, 20, 40]);
    assert_eq!(
        window(&cfg, Some((25, 0)), None),
        ["t30\n", "t20\n", "t40\n"]
    );
}

#[test]
fn until_ends_the_read_at_the_first_later_entry() {
    let dir = TempDir::new("untilstop");
    let cfg = stamped(&dir, &[10, 40, 20]);
    assert_eq!(window(&cfg, None, Some((30, 0))), ["t10\n"]);
    let (got, mut follower) = read_and_follow(
        &cfg,
        &ReadOptions {
            until: Some((30, 0)),
            ..both()
        },
    )
    .unwrap();
    assert_eq!(texts(&got), ["t10\n"]);
    assert!(follower.is_done());
    write_numbered(&mut steady_writer(&cfg), 0..2);
    assert!(follower
        .poll(&ReadOptions {
            until: Some((30, 0)),
            ..both()
        })
        .unwrap()
        .is_empty());
}

#[test]
fn tail_applies_before_since() {
    let dir = TempDir::new("tailsince");
    let cfg = stamped(&dir, &[10, 20, 30, 40]);
    let opts = ReadOptions {
        tail: Some(3),
        since: Some((5, 0)),
        ..both()
    };
    assert_eq!(
        texts(&read(&cfg, &opts).unwrap()),
        ["t20\n", "t30\n", "t40\n"]
    );
}

#[test]
fn a_half_written_last_line_is_left_for_later() {
    let dir = TempDir::new("half");
    let cfg = json_cfg(dir.path(), None, 1);
    write_numbered(&mut steady_writer(&cfg), 0..2);
    append(&cfg.path, b"{\"log\":\"line 02\\n\",\"stream\":\"std");
    let (got, mut follower) = read_and_follow(&cfg, &both()).unwrap();
    assert_eq!(texts(&got), numbered(0..2));
    assert_eq!(
        texts(
            &read(
                &cfg,
                &ReadOptions {
                    tail: Some(1),
                    ..both()
                }
            )
            .unwrap()
        ),
        numbered(1..2)
    );
    assert!(follower.poll(&both()).unwrap().is_empty());
    append(&cfg.path, b"out\",\"time\":\"2026-01-01T00:00:00Z\"}\n");
    assert_eq!(texts(&follower.poll(&both()).unwrap()), numbered(2..3));
    assert!(follower.poll(&both()).unwrap().is_empty());
}

#[test]
fn corrupt_lines_are_skipped() {
    let dir = TempDir::new("corrupt");
    let cfg = json_cfg(dir.path(), None, 1);
    write_numbered(&mut steady_writer(&cfg), 0..1);
    append(
        &cfg.path,
        b"garbage{\n\n{\"log\":\"x\\n\",\"stream\":\"stdin\",\"time\":\"2026-01-01T00:00:00Z\"}\n",
    );
    append(
        &cfg.path,
        b"{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"noon\"}\n[1,2]\n\xff\xfe\n",
    );
    write_numbered(&mut steady_writer(&cfg), 1..2);
    assert_eq!(texts(&read(&cfg, &both()).unwrap()), numbered(0..2));
}

#[test]
fn missing_files_read_as_empty() {
    let dir = TempDir::new("missing");
    let cfg = json_cfg(dir.path(), Some(300), 3);
    assert!(read(&cfg, &both()).unwrap().is_empty());
}

#[test]
fn a_huge_run_without_line_feed_is_dropped_not_buffered() {
    let dir = TempDir::new("garbage");
    let cfg = json_cfg(dir.path(), None, 1);
    write_numbered(&mut steady_writer(&cfg), 0..1);
    append(&cfg.path, &vec![b'z'; 3 * 1024 * 1024 + 17]);
    append(&cfg.path, b"\n");
    write_numbered(&mut steady_writer(&cfg), 1..3);
    assert_eq!(texts(&read(&cfg, &both()).unwrap()), numbered(0..3));
}
