//! Binds with private propagation (`rprivate`, dockerd's default). The
//! container's root is made a slave of the host's mounts (so that unmounts
//! on the host reach it), and libcontainer 0.7 ignores a mount's own
//! propagation option: a bind would then see mounts the host makes later
//! under its source. So each such bind is first bound privately in berthd's
//! namespace and the container binds that copy; copies of a private mount
//! stay private. The staging copies are needed only until the container
//! exists (it holds its own copies), so they are released right after start.
//!
//! Safety: the staging directory is never removed recursively; each entry is
//! unmounted, then removed only if empty, so nothing is ever deleted through
//! a mount into a host directory.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;

use super::service::Containers;
use crate::errdefs::{Error, Result};

/// Indexes of the spec's mounts to stage: binds with private propagation
/// whose source is not one of berthd's own files (`own`: data root, exec
/// root, the init binary), which nothing else mounts under.
pub fn candidates(spec: &Spec, own: &[&Path]) -> Vec<usize> {
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            let opts = m.options().as_deref().unwrap_or_default();
            let bind = m.typ().as_deref() == Some("bind")
                || opts.iter().any(|o| o == "bind" || o == "rbind");
            let private = opts.iter().any(|o| o == "rprivate" || o == "private");
            let source = m.source().as_deref();
            bind && private && source.is_some_and(|s| !own.iter().any(|o| s.starts_with(o)))
        })
        .map(|(i, _)| i)
        .collect()
}

impl Containers {
    fn private_binds_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join("binds").join(id)
    }

    /// Replaces the sources of the spec's private binds by private copies.
    pub(super) fn stage_private_binds(
        &self,
        id: &str,
        spec: &mut Spec,
        own: &[&Path],
    ) -> Result<()> {
        let picked = candidates(spec, own);
        if picked.is_empty() {
            return Ok(());
        }
        let dir = self.private_binds_dir(id);
        self.release_private_binds(id); // a crash may have left some
        crate::fsutil::ensure_dir(&dir, 0o700)?;
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        for i in picked {
            let Some(source) = mounts[i].source().clone() else {
                continue;
            };
            let staged = dir.join(i.to_string());
            stage(&source, &staged).map_err(|e| {
                self.release_private_binds(id);
                Error::system(format!(
                    "error while mounting {}: cannot bind it privately: {e}",
                    source.display()
                ))
            })?;
            mounts[i].set_source(Some(staged));
        }
        spec.set_mounts(Some(mounts));
        Ok(())
    }

    /// Unmounts and removes the staging copies (idempotent).
    pub(super) fn release_private_binds(&self, id: &str) {
        let dir = self.private_binds_dir(id);
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if crate::fsutil::is_mounted(&path) {
                if let Err(e) = umount2(&path, MntFlags::MNT_DETACH) {
                    tracing::warn!(path = %path.display(), "releasing a private bind: {e}");
                    continue; // never remove what may still be a mount
                }
            }
            // Not recursive: an entry still holding anything is left alone.
            let _ = fs::remove_dir(&path).or_else(|_| fs::remove_file(&path));
        }
        let _ = fs::remove_dir(&dir);
    }
}

/// Binds `source` (and what is mounted under it) at `staged`, privately.
fn stage(source: &Path, staged: &Path) -> std::io::Result<()> {
    if fs::metadata(source)?.is_dir() {
        fs::create_dir(staged)?;
    } else {
        fs::File::create(staged)?;
    }
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(source), staged, None::<&str>, flags, None::<&str>)?;
    let private = MsFlags::MS_PRIVATE | MsFlags::MS_REC;
    if let Err(e) = mount(None::<&str>, staged, None::<&str>, private, None::<&str>) {
        let _ = umount2(staged, MntFlags::MNT_DETACH);
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{MountBuilder, SpecBuilder};

    fn bind(src: &str, opts: &[&str]) -> oci_spec::runtime::Mount {
        MountBuilder::default()
            .destination("/x")
            .typ("bind")
            .source(src)
            .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .build()
            .unwrap()
    }

    #[test]
    fn only_private_binds_of_user_paths_are_staged() {
        let spec = SpecBuilder::default()
            .mounts(vec![
                bind("/home/u/src", &["rbind", "rprivate"]),
                bind("/home/u/logs", &["rbind", "rslave"]),
                bind("/var/lib/berth/volumes/v/_data", &["rbind", "rprivate"]),
                bind("/srv/file.conf", &["bind", "private", "ro"]),
                MountBuilder::default()
                    .destination("/tmp")
                    .typ("tmpfs")
                    .source("tmpfs")
                    .options(vec!["rprivate".to_string()])
                    .build()
                    .unwrap(),
            ])
            .build()
            .unwrap();
        let own = [Path::new("/var/lib/berth"), Path::new("/run/berth")];
        assert_eq!(candidates(&spec, &own), vec![0, 3]);
    }
}
