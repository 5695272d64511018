//! What a container changed in its root filesystem: `docker diff`, and the
//! layer tar `docker commit` stores (overlay whiteouts turned back into the
//! `.wh.` entries images carry).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::errdefs::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

/// Changes recorded in `upper` relative to the `lowers` (topmost first), in
/// path order, as `GET /containers/{id}/changes` lists them.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<(String, Kind)>> {
    let mut out = Vec::new();
    walk(upper, upper, &mut |rel, meta| {
        let in_lower = lowers
            .iter()
            .any(|l| l.join(rel).symlink_metadata().is_ok());
        let kind = if is_whiteout(meta) {
            Kind::Deleted
        } else if in_lower {
            Kind::Modified
        } else {
            Kind::Added
        };
        out.push((format!("/{}", rel.display()), kind));
        Ok(())
    })?;
    Ok(out)
}

pub fn changes_json(list: &[(String, Kind)]) -> Value {
    json!(list
        .iter()
        .map(|(p, k)| json!({"Path": p, "Kind": *k as u8}))
        .collect::<Vec<_>>())
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    let mut buf = [0u8; 2];
    matches!(rustix::fs::getxattr(dir, "trusted.overlay.opaque", &mut buf), Ok(1) if buf[0] == b'y')
}

/// Visits every entry under `dir` (sorted, parents first) with its path
/// relative to `root`.
fn walk(
    root: &Path,
    dir: &Path,
    f: &mut dyn FnMut(&Path, &fs::Metadata) -> Result<()>,
) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let meta = path.symlink_metadata()?;
        let rel = path
            .strip_prefix(root)
            .map_err(|e| Error::system(e.to_string()))?;
        f(rel, &meta)?;
        if meta.is_dir() {
            walk(root, &path, f)?;
        }
    }
    Ok(())
}

/// Writes `upper` as an image layer tar: whiteout devices become `.wh.NAME`,
/// opaque directories get a `.wh..wh..opq` entry, everything else keeps its
/// mode, owner, times and link targets.
pub fn layer_tar(upper: &Path, out: impl Write) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut result = Ok(());
    walk(upper, upper, &mut |rel, meta| {
        if result.is_err() {
            return Ok(());
        }
        let name = rel.to_string_lossy().into_owned();
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(meta.uid() as u64);
        h.set_gid(meta.gid() as u64);
        h.set_mtime(meta.mtime().max(0) as u64);
        h.set_size(0);
        let path = upper.join(rel);
        let r: std::io::Result<()> = if is_whiteout(meta) {
            let wh = match rel.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(p) => format!(
                    "{}/.wh.{}",
                    p.display(),
                    rel.file_name().unwrap_or_default().to_string_lossy()
                ),
                None => format!(
                    ".wh.{}",
                    rel.file_name().unwrap_or_default().to_string_lossy()
                ),
            };
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o600);
            tar.append_data(&mut h, wh, std::io::empty())
        } else if meta.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            tar.append_data(&mut h, format!("{name}/"), std::io::empty())
                .and_then(|_| {
                    if is_opaque(&path) {
                        let mut o = tar::Header::new_gnu();
                        o.set_entry_type(tar::EntryType::Regular);
                        o.set_mode(0o600);
                        o.set_size(0);
                        tar.append_data(&mut o, format!("{name}/.wh..wh..opq"), std::io::empty())
                    } else {
                        Ok(())
                    }
                })
        } else if meta.file_type().is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            fs::read_link(&path).and_then(|target| tar.append_link(&mut h, &name, target))
        } else if meta.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            fs::File::open(&path).and_then(|f| tar.append_data(&mut h, &name, f))
        } else {
            // Devices, fifos and sockets created in a container are not carried
            // into committed images (as with dockerd for sockets); skip them.
            Ok(())
        };
        if let Err(e) = r {
            result = Err(Error::system(format!("cannot archive /{name}: {e}")));
        }
        Ok(())
    })?;
    result?;
    tar.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn temp() -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("berth-changes-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn added_modified_and_deleted_and_their_tar() {
        let root = temp();
        let (lower, upper) = (root.join("lower"), root.join("upper"));
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::write(lower.join("etc/motd"), "old").unwrap();
        fs::write(lower.join("gone"), "x").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/motd"), "new").unwrap();
        fs::write(upper.join("added"), "hello").unwrap();
        symlink("added", upper.join("link")).unwrap();
        let root_user = nix::unistd::geteuid().is_root();
        if root_user {
            nix::sys::stat::mknod(
                &upper.join("gone"),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::empty(),
                0,
            )
            .unwrap();
        }
        let list = changes(&upper, std::slice::from_ref(&lower)).unwrap();
        let mut want = vec![
            ("/added".to_string(), Kind::Added),
            ("/etc".into(), Kind::Modified),
            ("/etc/motd".into(), Kind::Modified),
        ];
        if root_user {
            want.push(("/gone".into(), Kind::Deleted));
        }
        want.push(("/link".into(), Kind::Added));
        assert_eq!(list, want);

        let mut buf = Vec::new();
        layer_tar(&upper, &mut buf).unwrap();
        let mut a = tar::Archive::new(&buf[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(names.contains(&"added".to_string()) && names.contains(&"etc/motd".to_string()));
        assert!(names.contains(&"link".to_string()));
        if root_user {
            assert!(names.contains(&".wh.gone".to_string()), "{names:?}");
        }
        fs::remove_dir_all(&root).unwrap();
    }
}
