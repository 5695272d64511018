//! Containers' read-write layers: `overlay2/<mount-id>/{diff,work}` on top of
//! an image's layers, registered in `layerdb/mounts/<container>/` (mount-id,
//! parent) as dockerd does, so recovery keeps them and deleting the image
//! keeps the layers they stand on.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::layers::{lower_for, make_link};
use super::util::{random_hex, remove_path, sync_dir, write_synced};
use super::{Store, StoreError};
use crate::images::digest::Digest;

/// The directories overlayfs needs to mount a container's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RwLayer {
    pub mount_id: String,
    /// `overlay2/<mount-id>`; overlay mount options name dirs relative to
    /// `overlay2/` (`l/<short>`) to keep them under the page size.
    pub dir: PathBuf,
    /// Colon-separated lower dirs relative to `overlay2/`, topmost first.
    pub lower: String,
}

impl Store {
    /// Creates the read-write layer of `container` on the image layer `parent`.
    pub fn create_rw_layer(&self, container: &str, parent: &Digest) -> Result<RwLayer, StoreError> {
        let parent_info = self
            .layer(parent)
            .ok_or_else(|| StoreError::NotFound(format!("layer {parent} does not exist")))?;
        let mount_id = random_hex();
        let dir = self.paths.overlay.join(&mount_id);
        fs::create_dir(&dir)?;
        let result = (|| {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o710))?;
            for sub in ["diff", "work"] {
                fs::create_dir(dir.join(sub))?;
            }
            make_link(&self.paths, &mount_id)?;
            let lower = lower_for(&self.paths, &parent_info)?;
            write_synced(&dir.join("lower"), lower.as_bytes())?;
            // The registration goes last and whole: until it exists, recovery
            // treats the dir as an orphan and removes it.
            let tmp = self.paths.temp_name("mount");
            fs::create_dir(&tmp)?;
            write_synced(&tmp.join("mount-id"), mount_id.as_bytes())?;
            write_synced(&tmp.join("parent"), parent.as_str().as_bytes())?;
            sync_dir(&tmp)?;
            fs::rename(&tmp, self.paths.mounts.join(container))?;
            sync_dir(&self.paths.mounts)?;
            Ok::<_, StoreError>(lower)
        })();
        match result {
            Ok(lower) => Ok(RwLayer {
                mount_id,
                dir,
                lower,
            }),
            Err(e) => {
                let _ = remove_path(&dir);
                Err(e)
            }
        }
    }

    /// `overlay2/`, the directory overlay mount options are relative to.
    pub fn overlay_root(&self) -> PathBuf {
        self.paths.overlay.clone()
    }

    /// Removes the read-write layer of `container`, if it has one. The
    /// registration goes first, so a crash leaves an orphan dir (removed at the
    /// next open), never a registration without its files.
    pub fn remove_rw_layer(&self, container: &str) -> Result<(), StoreError> {
        let reg = self.paths.mounts.join(container);
        let mount_id = match fs::read_to_string(reg.join("mount-id")) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let doomed = self.paths.temp_name("unmount");
        fs::rename(&reg, &doomed)?;
        sync_dir(&self.paths.mounts)?;
        let dir = self.paths.overlay.join(&mount_id);
        if let Ok(link) = fs::read_to_string(dir.join("link")) {
            let _ = fs::remove_file(self.paths.links.join(link.trim()));
        }
        remove_path(&dir)?;
        remove_path(&doomed)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::digest::Digest;

    #[test]
    fn rw_layers_survive_reopen_keep_their_parent_and_go_away_cleanly() {
        let root = std::env::temp_dir().join(format!("berth-rw-{}", random_hex()));
        let store = Store::open(&root).unwrap();
        let diff = Digest::of(b"layer");
        let base = store
            .create_layer(None, &diff, None, |dir| {
                fs::write(dir.join("f"), b"x")?;
                Ok((diff.clone(), 1))
            })
            .unwrap();
        let rw = store.create_rw_layer("c1", &base.chain_id).unwrap();
        assert!(rw.dir.join("diff").is_dir() && rw.dir.join("work").is_dir());
        assert!(rw.lower.starts_with("l/"));
        assert!(store.overlay_root().join(&rw.lower).join("f").exists());
        drop(store);
        let store = Store::open(&root).unwrap();
        assert!(
            rw.dir.join("diff").is_dir(),
            "recovery must keep a registered container layer"
        );
        store.remove_rw_layer("c1").unwrap();
        assert!(!rw.dir.exists());
        store.remove_rw_layer("c1").unwrap();
        fs::remove_dir_all(&root).unwrap();
    }
}
