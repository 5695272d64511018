//! The image store: blobs by digest, unpacked layers and image records under
//! `data_root`, laid out like dockerd's so that people find their way:
//!
//! ```text
//! image/content/sha256/<hex>                  blobs: manifests, configs, compressed layers
//! image/layerdb/sha256/<chain-id>/            diff, parent, size, cache-id, compressed
//! image/layerdb/mounts/<container>/           mount-id, init-id, parent (container layers)
//! image/imagedb/metadata/sha256/<id>/image.json
//! image/repositories.json                     references -> image ids
//! overlay2/<cache-id>/{diff/,link,lower}      unpacked layers
//! overlay2/l/<short> -> ../<cache-id>/diff    short names keep mount options under a page
//! tmp/                                        work in progress, wiped at open
//! ```
//!
//! Crash safety rests on one ordering rule: content is durable before any
//! metadata points at it, and metadata goes before the content it points at.
//! Whatever a kill -9 leaves is then either complete or unreferenced, and
//! [`Store::open`] deletes the unreferenced.
//!
//! Other subsystems that create overlay2 directories (container layers) must
//! name them in `image/layerdb/mounts/<id>/mount-id` or `init-id`, or `open`
//! takes them for debris of an interrupted unpack.
//!
//! All temporary files live in `tmp/`, so `data_root` must be one filesystem
//! (renames into place do not cross devices).

mod content;
mod error;
mod images;
mod layers;
mod recovery;
mod refs;
mod rwlayer;
#[cfg(test)]
mod tests;
mod util;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::digest::Digest;

// The API's types, named from here; not every caller exists yet.
pub use self::rwlayer::RwLayer;
#[allow(unused_imports)]
pub use self::{
    content::BlobWriter, error::StoreError, images::ImageRecord, layers::LayerInfo,
    refs::repository_of,
};

pub struct Store {
    paths: Paths,
    state: RwLock<State>,
    /// One lock per chain id being unpacked, so that a second creator waits
    /// for the first instead of unpacking the same layer again.
    creating: Mutex<HashMap<Digest, Arc<Mutex<()>>>>,
}

/// Everything the metadata on disk says, kept in memory so that lookups never
/// touch the disk. Changed only after the disk has been changed.
#[derive(Default)]
struct State {
    images: BTreeMap<Digest, ImageRecord>,
    layers: HashMap<Digest, LayerInfo>,
    refs: BTreeMap<String, Digest>,
}

struct Paths {
    tmp: PathBuf,
    image: PathBuf,
    content: PathBuf,
    layerdb: PathBuf,
    mounts: PathBuf,
    imagedb: PathBuf,
    repositories: PathBuf,
    overlay: PathBuf,
    links: PathBuf,
}

impl Paths {
    fn new(root: &Path) -> Paths {
        let image = root.join("image");
        Paths {
            tmp: root.join("tmp"),
            content: image.join("content/sha256"),
            layerdb: image.join("layerdb/sha256"),
            mounts: image.join("layerdb/mounts"),
            imagedb: image.join("imagedb/metadata/sha256"),
            repositories: image.join("repositories.json"),
            overlay: root.join("overlay2"),
            links: root.join("overlay2/l"),
            image,
        }
    }

    fn create(&self) -> io::Result<()> {
        for dir in [
            &self.tmp,
            &self.image,
            &self.content,
            &self.layerdb,
            &self.mounts,
            &self.imagedb,
        ] {
            crate::fsutil::ensure_dir(dir, 0o700)?;
        }
        // Traversable by the group so that remapped container roots can reach
        // their lower dirs, as dockerd does.
        crate::fsutil::ensure_dir(&self.overlay, 0o710)?;
        crate::fsutil::ensure_dir(&self.links, 0o700)
    }

    /// A fresh name in `tmp/`; random so that nothing left from an earlier run
    /// or another thread can collide with it.
    fn temp_name(&self, what: &str) -> PathBuf {
        self.tmp
            .join(format!("{what}-{}", &util::random_hex()[..16]))
    }
}

impl Store {
    /// Opens (creating if needed) the store under `data_root`, repairing what
    /// an earlier crash left behind.
    pub fn open(data_root: &Path) -> io::Result<Store> {
        std::fs::create_dir_all(data_root)?;
        let paths = Paths::new(data_root);
        paths.create()?;
        let state = recovery::recover(&paths)?;
        Ok(Store {
            paths,
            state: RwLock::new(state),
            creating: Mutex::new(HashMap::new()),
        })
    }

    /// OCI chain id: chain(0) = diff(0), chain(n) = sha256(chain(n-1) + " " + diff(n)).
    pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
        match parent {
            None => diff_id.clone(),
            Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
        }
    }

    /// A fresh path in `tmp/` for a caller's work in progress (save, load,
    /// import): on the store's filesystem, so results can be renamed into the
    /// store, and wiped at the next open if the caller dies before removing it.
    /// Nothing is created.
    pub fn temp_path(&self, what: &str) -> PathBuf {
        self.paths.temp_name(what)
    }

    // The state is changed only after the disk write it mirrors succeeded, so
    // a panic elsewhere cannot leave it half-updated: poisoning is ignored.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}
