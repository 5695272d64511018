use super::super::files::rotated;
use super::super::{read_and_follow, Follower, ReadOptions, Stream};
use super::{
    append, both, json_cfg, numbered, steady_writer, texts, write_numbered, writer_at, TempDir,
};

#[test]
fn follower_starts_at_the_end() {
    let dir = TempDir::new("fnew");
    let cfg = json_cfg(dir.path(), None, 1);
    let mut w = steady_writer(&cfg);
    write_numbered(&mut w, 0..3);
    let mut f = Follower::new(&cfg).unwrap();
    assert!(f.poll(&both()).unwrap().is_empty());
    write_numbered(&mut w, 3..5);
    assert_eq!(texts(&f.poll(&both()).unwrap()), numbered(3..5));
    assert!(f.poll(&both()).unwrap().is_empty());
}

#[test]
fn follower_started_mid_entry_gets_that_entry_whole() {
    let dir = TempDir::new("fmid");
    let cfg = json_cfg(dir.path(), None, 1);
    write_numbered(&mut steady_writer(&cfg), 0..1);
    append(&cfg.path, b"{\"log\":\"line 01\\n\",");
    let mut f = Follower::new(&cfg).unwrap();
    append(
        &cfg.path,
        b"\"stream\":\"stdout\",\"time\":\"1970-01-01T00:00:01Z\"}\n",
    );
    assert_eq!(texts(&f.poll(&both()).unwrap()), numbered(1..2));
}

#[test]
fn follower_waits_for_a_log_file_to_appear() {
    let dir = TempDir::new("fwait");
    let cfg = json_cfg(dir.path(), Some(300), 3);
    let mut f = Follower::new(&cfg).unwrap();
    assert!(f.poll(&both()).unwrap().is_empty());
    // Enough to rotate before the first poll sees anything: nothing is lost.
    write_numbered(&mut steady_writer(&cfg), 0..8);
    assert!(rotated(&cfg.path, 1).exists());
    assert_eq!(texts(&f.poll(&both()).unwrap()), numbered(0..8));
}

/// Reads, then follows while the writer rotates between polls, once or
/// several times: every line comes exactly once, in order.
#[test]
fn read_then_follow_across_rotations_loses_and_repeats_nothing() {
    let dir = TempDir::new("frotate");
    let cfg = json_cfg(dir.path(), Some(300), 4);
    let mut w = steady_writer(&cfg);
    write_numbered(&mut w, 0..7);
    let (mut got, mut f) = read_and_follow(&cfg, &both()).unwrap();
    assert_eq!(texts(&got), numbered(0..7));
    let mut next = 7;
    // 5 entries fill a file: 3 rotates once, 12 twice, 13 three times
    // (the file the follower holds is then at .3, the last one kept).
    for batch in [1, 3, 0, 12, 2, 13, 4] {
        write_numbered(&mut w, next..next + batch);
        next += batch;
        got.extend(f.poll(&both()).unwrap());
    }
    assert_eq!(texts(&got), numbered(0..next));
}

#[test]
fn follow_survives_max_file_one() {
    let dir = TempDir::new("fone");
    let cfg = json_cfg(dir.path(), Some(300), 1);
    let mut w = steady_writer(&cfg);
    write_numbered(&mut w, 0..3);
    let (mut got, mut f) = read_and_follow(&cfg, &both()).unwrap();
    // 3 + 4 entries: the live file is unlinked and replaced once.
    write_numbered(&mut w, 3..7);
    got.extend(f.poll(&both()).unwrap());
    write_numbered(&mut w, 7..9);
    got.extend(f.poll(&both()).unwrap());
    assert_eq!(texts(&got), numbered(0..9));
}

#[test]
fn too_many_rotations_between_polls_skip_but_never_repeat() {
    let dir = TempDir::new("fmissed");
    let cfg = json_cfg(dir.path(), Some(300), 2);
    let mut w = steady_writer(&cfg);
    write_numbered(&mut w, 0..2);
    let (mut got, mut f) = read_and_follow(&cfg, &both()).unwrap();
    // The held file (0..5) survives only as an open descriptor; 5..20 is
    // gone from disk but for the last rotated file.
    write_numbered(&mut w, 2..27);
    got.extend(f.poll(&both()).unwrap());
    let lines = texts(&got);
    let mut want = numbered(0..5);
    want.extend(numbered(20..27));
    assert_eq!(lines, want);
}

#[test]
fn follow_filters_streams_and_since_carries_over() {
    let dir = TempDir::new("ffilter");
    let cfg = json_cfg(dir.path(), None, 1);
    let mut w = writer_at(&cfg, vec![10, 20, 30, 40, 50]);
    w.write(Stream::Stdout, b"old\n").unwrap();
    let opts = ReadOptions {
        since: Some((25, 0)),
        stderr: false,
        ..both()
    };
    let (got, mut f) = read_and_follow(&cfg, &opts).unwrap();
    assert!(got.is_empty());
    w.write(Stream::Stdout, b"still old\n").unwrap();
    w.write(Stream::Stderr, b"new err\n").unwrap();
    w.write(Stream::Stdout, b"new out\n").unwrap();
    assert_eq!(texts(&f.poll(&opts).unwrap()), ["new out\n"]);
    let until = ReadOptions {
        until: Some((45, 0)),
        ..opts
    };
    w.write(Stream::Stdout, b"too late\n").unwrap();
    assert!(f.poll(&until).unwrap().is_empty());
    assert!(f.is_done());
}
