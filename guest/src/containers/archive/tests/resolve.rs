//! Resolving container paths: through mounts and symlinks, never out of the root.

use std::fs;
use std::os::unix::fs::symlink;

use super::super::fs::{display, ContainerFs, MountSpec};
use super::Sandbox;

#[test]
fn paths_under_a_mount_map_to_its_directory() {
    let s = Sandbox::new();
    fs::write(s.p("vol/x"), "in the volume").unwrap();
    fs::write(s.p("root/data/x"), "hidden under the mount").unwrap();
    symlink("/data", s.p("root/tmp/to-data")).unwrap();
    let fs = s.fs();
    for path in ["/data/x", "data/x", "/tmp/to-data/x", "/etc/../data/./x"] {
        let r = fs.resolve(path.as_bytes(), false).unwrap();
        assert_eq!(display(&r.path), "/data/x", "{path}");
        let mut body = String::new();
        std::io::Read::read_to_string(&mut r.leaf.open_file().unwrap(), &mut body).unwrap();
        assert_eq!(body, "in the volume", "{path}");
        assert!(!fs.read_only(r.mount));
    }
    assert!(fs.read_only(fs.resolve(b"/ro/anything", false).unwrap().mount));
    // The final symlink is the link itself unless followed.
    let link = fs.resolve(b"/tmp/to-data", false).unwrap();
    assert_eq!(display(&link.path), "/tmp/to-data");
    assert!(link
        .leaf
        .lstat()
        .is_ok_and(|st| st.st_mode & 0o170000 == 0o120000));
    assert_eq!(
        display(&fs.resolve(b"/tmp/to-data", true).unwrap().path),
        "/data"
    );
}

#[test]
fn a_mount_destination_is_resolved_through_the_roots_symlinks() {
    let s = Sandbox::new();
    fs::create_dir_all(s.p("root/run")).unwrap();
    fs::create_dir_all(s.p("root/var")).unwrap();
    symlink("../run", s.p("root/var/run")).unwrap();
    let mounts = [MountSpec {
        dest: "/var/run".into(),
        source: s.p("vol"),
        read_only: false,
    }];
    fs::write(s.p("vol/sock"), "v").unwrap();
    let fs = ContainerFs::open(&s.p("root"), false, &mounts).unwrap();
    assert_eq!(fs.mount_at(&[b"run".to_vec()]), Some(1));
    assert_eq!(
        display(&fs.resolve(b"/var/run/sock", false).unwrap().path),
        "/run/sock"
    );
    assert!(fs
        .resolve(b"/run/sock", false)
        .unwrap()
        .leaf
        .lstat()
        .is_ok());
}

#[test]
fn symlinks_resolve_inside_the_root_never_out_of_it() {
    let s = Sandbox::new();
    let outside = s.p("outside");
    symlink("../../../../../..", s.p("root/tmp/up")).unwrap();
    symlink("/", s.p("root/tmp/abs")).unwrap();
    symlink(&outside, s.p("root/tmp/host")).unwrap();
    symlink("loop", s.p("root/tmp/loop")).unwrap();
    let fs = s.fs();
    for path in [
        "/tmp/up/etc/passwd",
        "/tmp/abs/etc/passwd",
        "/../../etc/passwd",
    ] {
        let r = fs.resolve(path.as_bytes(), false).unwrap();
        assert_eq!(display(&r.path), "/etc/passwd", "{path}");
    }
    // The host's absolute path means that path inside the container, where it is not.
    let e = fs.resolve(b"/tmp/host/secret", false).err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    let e = fs.resolve(b"/tmp/loop/x", false).err().unwrap();
    assert_eq!(
        e.raw_os_error(),
        Some(rustix::io::Errno::LOOP.raw_os_error())
    );
    let e = fs.resolve(b"/etc/passwd/x", false).err().unwrap();
    assert_eq!(
        e.raw_os_error(),
        Some(rustix::io::Errno::NOTDIR.raw_os_error())
    );
}
