//! Extracting archives (hostile ones too) and writing them.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;

use super::super::pack;
use super::super::untar::{untar, UntarOptions};
use super::{extract, tar_of, Sandbox};

#[test]
fn hostile_archives_are_refused_or_contained() {
    let s = Sandbox::new();
    let fs = s.fs();
    let before = s.outside();
    for name in ["../../escape", "a/../../b", "../"] {
        let e = extract(&fs, "/tmp", &tar_of(&[(name, b'0', "", b"pwned")])).unwrap_err();
        assert!(e.message.contains("is outside of"), "{name}: {e}");
    }
    let e = extract(&fs, "/tmp", &tar_of(&[("evil", b'2', "../../../..", b"")])).unwrap_err();
    assert!(e.message.starts_with("invalid symlink"), "{e}");
    let e = extract(&fs, "/tmp", &tar_of(&[("h", b'1', "../etc/passwd", b"")])).unwrap_err();
    assert!(e.message.starts_with("invalid hardlink"), "{e}");
    // An absolute symlink then a write through it: inside the container.
    let host_path = s.p("outside").display().to_string();
    extract(
        &fs,
        "/tmp",
        &tar_of(&[
            ("root", b'2', "/", b""),
            ("root/etc/owned", b'0', "", b"contained"),
            ("host", b'2', &host_path, b""),
            ("host/secret", b'0', "", b"contained too"),
            ("/abs/file", b'0', "", b"under dest"),
        ]),
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(s.p("root/etc/owned")).unwrap(),
        "contained"
    );
    let inner = s
        .p("root")
        .join(host_path.trim_start_matches('/'))
        .join("secret");
    assert_eq!(fs::read_to_string(inner).unwrap(), "contained too");
    assert_eq!(
        fs::read_to_string(s.p("root/tmp/abs/file")).unwrap(),
        "under dest"
    );
    assert_eq!(fs::read_to_string(s.p("outside/secret")).unwrap(), "host");
    assert_eq!(s.outside(), before);
}

#[test]
fn entries_land_in_volumes_on_their_way() {
    let s = Sandbox::new();
    let fs = s.fs();
    extract(
        &fs,
        "/",
        &tar_of(&[
            ("data/", b'5', "", b""),
            ("data/x", b'0', "", b"into the volume"),
        ]),
    )
    .unwrap();
    assert_eq!(fs::read_to_string(s.p("vol/x")).unwrap(), "into the volume");
    assert!(!s.p("root/data/x").exists());
    let e = extract(&fs, "/", &tar_of(&[("ro/x", b'0', "", b"no")])).unwrap_err();
    assert_eq!(e.message, "mounted volume is marked read-only");
    let e = extract(&fs, "/", &tar_of(&[("ro/new/x", b'0', "", b"no")])).unwrap_err();
    assert!(e.message.contains("Read-only file system"), "{e}");
    assert!(!s.p("ro/new").exists());
    let e = extract(&fs, "/", &tar_of(&[("data", b'0', "", b"no")])).unwrap_err();
    assert!(e.message.contains("cannot replace the mount point"), "{e}");
    assert!(!s.p("ro/x").exists());
}

#[test]
fn directories_and_non_directories_replace_each_other_unless_told_not_to() {
    let s = Sandbox::new();
    let fs = s.fs();
    fs::create_dir_all(s.p("root/tmp/d")).unwrap();
    fs::write(s.p("root/tmp/f"), "file").unwrap();
    let d = fs.resolve(b"/tmp", true).unwrap().path;
    let strict = UntarOptions {
        no_overwrite_dir_non_dir: true,
        owner: None,
    };
    let e = untar(
        &fs,
        &d,
        tar_of(&[("d", b'0', "", b"x")]).as_slice(),
        &strict,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "cannot overwrite directory \"/tmp/d\" with non-directory \"/tmp\""
    );
    let e = untar(
        &fs,
        &d,
        tar_of(&[("f/", b'5', "", b"")]).as_slice(),
        &strict,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "cannot overwrite non-directory \"/tmp/f\" with directory \"/tmp\""
    );
    extract(
        &fs,
        "/tmp",
        &tar_of(&[("d", b'0', "", b"now a file"), ("f/", b'5', "", b"")]),
    )
    .unwrap();
    assert_eq!(fs::read_to_string(s.p("root/tmp/d")).unwrap(), "now a file");
    assert!(s.p("root/tmp/f").is_dir());
}

#[test]
fn an_archive_round_trips_with_links_and_owners() {
    let s = Sandbox::new();
    let src = s.p("root/etc/app");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("a"), "alpha").unwrap();
    fs::hard_link(src.join("a"), src.join("sub/a-again")).unwrap();
    symlink("../a", src.join("sub/link")).unwrap();
    let fs = s.fs();
    let r = fs.resolve(b"/etc/app/.", true).unwrap();
    let tar = pack::write_tree(&fs, r.leaf, r.path, ".", Vec::new()).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(tar.as_slice()).entries().unwrap() {
        let e = e.unwrap();
        names.push(String::from_utf8_lossy(&e.path_bytes()).into_owned());
        if e.header().entry_type() == tar::EntryType::Link {
            assert_eq!(e.link_name_bytes().unwrap().as_ref(), b"./a");
        }
    }
    // The "./" prefix is what `docker cp c:/dir/. x` renames.
    assert_eq!(
        names,
        ["./", "./a", "./sub/", "./sub/a-again", "./sub/link"]
    );
    let n = extract(&fs, "/data", &tar).unwrap();
    assert_eq!(n, 4);
    assert_eq!(fs::read_to_string(s.p("vol/sub/a-again")).unwrap(), "alpha");
    assert_eq!(
        fs::read_link(s.p("vol/sub/link")).unwrap(),
        Path::new("../a")
    );
    assert_eq!(
        fs::metadata(s.p("vol/a")).unwrap().ino(),
        fs::metadata(s.p("vol/sub/a-again")).unwrap().ino()
    );

    // A named file, and the root, named as docker names them.
    let r = fs.resolve(b"/etc/passwd", false).unwrap();
    let tar = pack::write_tree(&fs, r.leaf, r.path, "passwd", Vec::new()).unwrap();
    let mut one = tar::Archive::new(tar.as_slice());
    let e = one.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.path_bytes().as_ref(), b"passwd");
    assert_eq!(e.header().size().unwrap(), 26);
    let r = fs.resolve(b"/", true).unwrap();
    let tar = pack::write_tree(&fs, r.leaf, r.path, "/", Vec::new()).unwrap();
    let names: Vec<String> = tar::Archive::new(tar.as_slice())
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect();
    assert!(
        names.contains(&"/".to_string()) && names.contains(&"//data/sub/link".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("//ro/")),
        "the read-only bind is empty"
    );
}

#[test]
fn the_owner_can_be_forced() {
    let s = Sandbox::new();
    let fs = s.fs();
    let d = fs.resolve(b"/tmp", true).unwrap().path;
    let me = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    let opts = UntarOptions {
        no_overwrite_dir_non_dir: false,
        owner: Some(me),
    };
    untar(&fs, &d, tar_of(&[("o", b'0', "", b"x")]).as_slice(), &opts).unwrap();
    let m = fs::metadata(s.p("root/tmp/o")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (me.0, me.1, 0o644));
    assert_eq!(m.mtime(), 1_600_000_000);
}

/// A body as the server hands it over: pieces of odd sizes, read on a
/// blocking thread. Files of every size around the 512-byte blocks, a GNU
/// long name and a PAX record each come out byte for byte: the file data
/// goes straight from the pieces to the files while the tar parser skips it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_extracts_byte_for_byte() {
    let sizes = [0usize, 1, 511, 512, 513, 1023, 70_000, 1 << 20];
    let mut b = tar::Builder::new(Vec::new());
    let mut files = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..*size).map(|k| (k * 7 + i) as u8).collect();
        let name = if i == 5 {
            format!("{}/f{i}", "long-directory-name".repeat(8)) // > 100 bytes
        } else {
            format!("f{i}")
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        if i == 3 {
            b.append_pax_extensions([("user.note", b"kept".as_slice())])
                .unwrap();
        }
        b.append_data(&mut h, &name, data.as_slice()).unwrap();
        files.push((name, data));
    }
    let tar = b.into_inner().unwrap();
    let pieces: Vec<std::io::Result<bytes::Bytes>> = tar
        .chunks(3001)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();

    let s = Sandbox::new();
    let (body, feed) = crate::task::body_reader(futures_util::stream::iter(pieces));
    let root = s.p("root");
    let work = tokio::task::spawn_blocking(move || {
        let fs = s.fs();
        let d = fs.resolve(b"/tmp", true).unwrap();
        let n = untar(&fs, &d.path, body, &UntarOptions::default());
        (s, n)
    });
    let (_, done) = tokio::join!(feed, work);
    let (_s, n) = done.unwrap();
    // The long name's directory is created on the way, not an entry of its own.
    assert_eq!(n.unwrap(), sizes.len() as u64);
    for (name, data) in files {
        let got = fs::read(root.join("tmp").join(&name)).unwrap();
        assert!(
            got == data,
            "{name}: {} bytes, want {}",
            got.len(),
            data.len()
        );
    }
}

/// An archive cut off inside a file's data is the archive's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_is_a_read_error() {
    let tar = tar_of(&[("big", b'0', "", &[7u8; 5000])]);
    let pieces = vec![Ok(bytes::Bytes::copy_from_slice(&tar[..2000]))];
    let s = Sandbox::new();
    let (body, feed) = crate::task::body_reader(futures_util::stream::iter(pieces));
    let work = tokio::task::spawn_blocking(move || {
        let fs = s.fs();
        let d = fs.resolve(b"/tmp", true).unwrap();
        untar(&fs, &d.path, body, &UntarOptions::default())
    });
    let (_, done) = tokio::join!(feed, work);
    let e = done.unwrap().unwrap_err();
    assert!(e.message.starts_with("reading the archive"), "{e}");
}
