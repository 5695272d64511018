//! Unpacked layers: `overlay2/<cache-id>/diff` holds the files, and a layerdb
//! entry (renamed into place only once the files are durable) says the layer
//! exists. A cache id is random, never derived from the chain id, so a layer
//! being removed and the same layer being created again never share a dir.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::util::{random_hex, random_short, sync_dir, sync_fs, write_synced};
use super::{Paths, State, Store, StoreError};
use crate::fsutil::atomic_write;
use crate::images::digest::Digest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// Bytes of the unpacked files.
    pub size: u64,
    /// The layer's directory name under `overlay2/`.
    pub cache_id: String,
    /// The compressed blob the layer was unpacked from, kept for push/save.
    pub compressed: Option<Digest>,
}

impl Store {
    pub fn layer(&self, chain_id: &Digest) -> Option<LayerInfo> {
        self.read().layers.get(chain_id).cloned()
    }

    pub fn layer_diff_dir(&self, info: &LayerInfo) -> PathBuf {
        self.paths.overlay.join(&info.cache_id).join("diff")
    }

    /// Creates the layer `chain_id(parent, diff_id)` unless it exists: `fill`
    /// unpacks into the empty dir it is given and returns the diff id it
    /// computed and the unpacked size. Concurrent calls for one chain id run
    /// `fill` once; the others wait and return its layer (or, if it failed,
    /// try with their own `fill`).
    pub fn create_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        compressed: Option<&Digest>,
        fill: impl FnOnce(&Path) -> Result<(Digest, u64), StoreError>,
    ) -> Result<LayerInfo, StoreError> {
        let chain_id = Self::chain_id(parent, diff_id);
        if let Some(l) = self.layer(&chain_id) {
            return Ok(l);
        }
        let claim = Claim::new(self, &chain_id);
        let _only_creator = claim.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = self.layer(&chain_id) {
            return Ok(l);
        }
        self.build_layer(chain_id, parent, diff_id, compressed, fill)
    }

    fn build_layer(
        &self,
        chain_id: Digest,
        parent: Option<&Digest>,
        diff_id: &Digest,
        compressed: Option<&Digest>,
        fill: impl FnOnce(&Path) -> Result<(Digest, u64), StoreError>,
    ) -> Result<LayerInfo, StoreError> {
        let parent_info =
            match parent {
                Some(p) => Some(self.layer(p).ok_or_else(|| {
                    StoreError::NotFound(format!("parent layer {p} does not exist"))
                })?),
                None => None,
            };
        let cache_id = random_hex();
        let dir = self.paths.overlay.join(&cache_id);
        let mut pending = Pending {
            dir: Some(dir.clone()),
            link: None,
        };
        fs::create_dir(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o710))?;
        let diff_dir = dir.join("diff");
        fs::create_dir(&diff_dir)?;
        fs::set_permissions(&diff_dir, fs::Permissions::from_mode(0o755))?;

        let (actual, size) = fill(&diff_dir)?;
        if actual != *diff_id {
            return Err(StoreError::DigestMismatch {
                expected: diff_id.clone(),
                actual,
            });
        }
        sync_fs(&diff_dir)?;
        let short = make_link(&self.paths, &cache_id)?;
        pending.link = Some(self.paths.links.join(&short));
        if let Some(p) = &parent_info {
            atomic_write(
                &dir.join("lower"),
                lower_for(&self.paths, p)?.as_bytes(),
                0o644,
            )?;
        }

        let info = LayerInfo {
            chain_id: chain_id.clone(),
            diff_id: diff_id.clone(),
            parent: parent.cloned(),
            size,
            cache_id,
            compressed: compressed.cloned(),
        };
        // Under the lock, so that a deletion cannot take the parent away
        // between this check and the entry appearing.
        let mut state = self.write();
        if let Some(p) = parent {
            if !state.layers.contains_key(p) {
                return Err(StoreError::NotFound(format!(
                    "parent layer {p} was deleted while {chain_id} was being created"
                )));
            }
        }
        write_entry(&self.paths, &info)?;
        state.layers.insert(chain_id, info.clone());
        pending.dir = None;
        pending.link = None;
        Ok(info)
    }

    /// Takes a layer out of the layerdb and returns what is left to delete
    /// once the lock is released. The entry is renamed away first, so a crash
    /// never leaves an entry whose files are half gone.
    pub(super) fn unlink_layer(
        &self,
        state: &mut State,
        chain_id: &Digest,
    ) -> io::Result<Vec<PathBuf>> {
        let Some(info) = state.layers.get(chain_id) else {
            return Ok(Vec::new());
        };
        let gone = self.paths.temp_name("removed-layer");
        fs::rename(self.paths.layerdb.join(chain_id.hex()), &gone)?;
        sync_dir(&self.paths.layerdb)?;
        let dir = self.paths.overlay.join(&info.cache_id);
        let mut doomed = vec![gone];
        if let Ok(short) = fs::read_to_string(dir.join("link")) {
            doomed.push(self.paths.links.join(short.trim()));
        }
        doomed.push(dir);
        state.layers.remove(chain_id);
        Ok(doomed)
    }
}

/// Registration in `Store::creating`, dropped from the map by the last holder.
struct Claim<'a> {
    store: &'a Store,
    chain_id: Digest,
    slot: Arc<Mutex<()>>,
}

impl<'a> Claim<'a> {
    fn new(store: &'a Store, chain_id: &Digest) -> Self {
        let mut map = store
            .creating
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = map.entry(chain_id.clone()).or_default().clone();
        Claim {
            store,
            chain_id: chain_id.clone(),
            slot,
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut map = self
            .store
            .creating
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Two references: the map's and ours. Nobody else is waiting.
        if map
            .get(&self.chain_id)
            .is_some_and(|s| Arc::strong_count(s) == 2)
        {
            map.remove(&self.chain_id);
        }
    }
}

/// A layer under construction, removed if construction stops early for any
/// reason, a panic in `fill` included.
struct Pending {
    dir: Option<PathBuf>,
    link: Option<PathBuf>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        for p in [self.link.take(), self.dir.take()].into_iter().flatten() {
            if let Err(e) = super::util::remove_path(&p) {
                tracing::warn!("cannot remove unfinished layer {}: {e}", p.display());
            }
        }
    }
}

/// Gives `overlay2/<cache_id>/diff` a short alias in `overlay2/l/` and
/// records it in `overlay2/<cache_id>/link`; returns the alias.
pub(super) fn make_link(paths: &Paths, cache_id: &str) -> io::Result<String> {
    let target = Path::new("..").join(cache_id).join("diff");
    loop {
        let short = random_short();
        match symlink(&target, paths.links.join(&short)) {
            Ok(()) => {
                sync_dir(&paths.links)?;
                atomic_write(
                    &paths.overlay.join(cache_id).join("link"),
                    short.as_bytes(),
                    0o644,
                )?;
                return Ok(short);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The `lower` file of a layer on top of `parent`: the parent's link, then
/// the parent's own lowers, topmost first as overlayfs wants them.
pub(super) fn lower_for(paths: &Paths, parent: &LayerInfo) -> io::Result<String> {
    let dir = paths.overlay.join(&parent.cache_id);
    let link = fs::read_to_string(dir.join("link"))?;
    let mut lower = format!("l/{}", link.trim());
    match fs::read_to_string(dir.join("lower")) {
        Ok(below) if !below.trim().is_empty() => {
            lower.push(':');
            lower.push_str(below.trim());
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(lower)
}

/// Writes the layerdb entry in `tmp/` and renames it into place whole.
fn write_entry(paths: &Paths, info: &LayerInfo) -> io::Result<()> {
    let tmp = paths.temp_name("layerdb");
    fs::create_dir(&tmp)?;
    let result = (|| {
        write_synced(&tmp.join("diff"), info.diff_id.as_str().as_bytes())?;
        if let Some(p) = &info.parent {
            write_synced(&tmp.join("parent"), p.as_str().as_bytes())?;
        }
        write_synced(&tmp.join("size"), info.size.to_string().as_bytes())?;
        write_synced(&tmp.join("cache-id"), info.cache_id.as_bytes())?;
        if let Some(c) = &info.compressed {
            write_synced(&tmp.join("compressed"), c.as_str().as_bytes())?;
        }
        sync_dir(&tmp)?;
        fs::rename(&tmp, paths.layerdb.join(info.chain_id.hex()))?;
        sync_dir(&paths.layerdb)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Reads a layerdb entry; `Err` says why it is unusable.
pub(super) fn read_entry(paths: &Paths, chain_id: &Digest) -> Result<LayerInfo, String> {
    let dir = paths.layerdb.join(chain_id.hex());
    let file = |name: &str| -> Result<Option<String>, String> {
        match fs::read_to_string(dir.join(name)) {
            Ok(s) => Ok(Some(s.trim().to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{name}: {e}")),
        }
    };
    let required = |name: &str| file(name)?.ok_or_else(|| format!("no {name} file"));
    let digest = |name: &str, s: String| Digest::parse(&s).map_err(|e| format!("{name}: {e}"));

    let diff_id = digest("diff", required("diff")?)?;
    let parent = file("parent")?.map(|s| digest("parent", s)).transpose()?;
    let compressed = file("compressed")?
        .map(|s| digest("compressed", s))
        .transpose()?;
    let size = required("size")?
        .parse::<u64>()
        .map_err(|e| format!("size: {e}"))?;
    let cache_id = required("cache-id")?;
    if cache_id.is_empty() || cache_id == "l" || cache_id.contains('/') || cache_id.starts_with('.')
    {
        return Err(format!("invalid cache-id {cache_id:?}"));
    }
    if Store::chain_id(parent.as_ref(), &diff_id) != *chain_id {
        return Err("diff and parent do not add up to the chain id".into());
    }
    if !paths.overlay.join(&cache_id).join("diff").is_dir() {
        return Err(format!("overlay2/{cache_id}/diff is missing"));
    }
    Ok(LayerInfo {
        chain_id: chain_id.clone(),
        diff_id,
        parent,
        size,
        cache_id,
        compressed,
    })
}
