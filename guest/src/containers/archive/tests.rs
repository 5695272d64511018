//! Path mapping through mounts, escape refusal, extraction and archiving, on
//! plain directories standing for a container's root and its volumes.

mod extract;
mod resolve;

use std::fs;
use std::path::{Path, PathBuf};

use super::fs::{ContainerFs, MountSpec};
use super::untar::{untar, UntarOptions};

struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    /// `root/` (the container's root filesystem), `vol/` (a volume mounted
    /// at /data), `ro/` (a read-only bind at /ro) and `outside/` (the host).
    fn new() -> Sandbox {
        let dir = std::env::temp_dir().join(format!(
            "berth-cp-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ));
        for d in ["root/etc", "root/tmp", "root/data", "vol", "ro", "outside"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        fs::write(dir.join("root/etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::write(dir.join("outside/secret"), "host").unwrap();
        Sandbox { dir }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn fs(&self) -> ContainerFs {
        let mounts = [
            MountSpec {
                dest: "/data".into(),
                source: self.p("vol"),
                read_only: false,
            },
            MountSpec {
                dest: "/ro".into(),
                source: self.p("ro"),
                read_only: true,
            },
        ];
        ContainerFs::open(&self.p("root"), false, &mounts).unwrap()
    }

    /// Every path under `outside/`, to show nothing was written there.
    fn outside(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.p("outside"), &mut out);
        out.sort();
        out
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn walk(dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        out.push(p.display().to_string());
        if e.file_type().unwrap().is_dir() {
            walk(&p, out);
        }
    }
}

/// A tar entry written with raw header fields, so hostile names reach the
/// extractor as they would from a crafted request.
fn tar_of(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let (uid, gid) = (
        nix::unistd::getuid().as_raw() as u64,
        nix::unistd::getgid().as_raw() as u64,
    );
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_mode(if *kind == b'5' { 0o755 } else { 0o644 });
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn extract(fs: &ContainerFs, dest: &str, tar: &[u8]) -> crate::errdefs::Result<u64> {
    let d = fs.resolve(dest.as_bytes(), true).unwrap();
    untar(fs, &d.path, tar, &UntarOptions::default())
}
