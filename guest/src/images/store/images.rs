//! Image records: an image is its config blob (whose digest is the image id)
//! plus the chain of layers the config's diff ids add up to.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::util::{remove_path, sync_dir};
use super::{State, Store, StoreError};
use crate::fsutil::{atomic_write, ensure_dir};
use crate::images::digest::Digest;

pub(super) const RECORD_FILE: &str = "image.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: Digest,
    /// Chain ids, base layer first.
    pub layers: Vec<Digest>,
    /// Sum of the layers' unpacked sizes.
    pub size: u64,
    /// The config's `created` (RFC 3339), if it has one.
    #[serde(default)]
    pub created: Option<String>,
    /// `repository@manifest-digest` for every manifest known to describe this
    /// image: the ones it was pulled by and pushed as. Kept after the digest
    /// reference is removed, so that deleting the image finds the blobs.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// RFC 3339; set by [`Store::mark_tagged`], as dockerd sets it on tag,
    /// load and build but not on pull.
    #[serde(default)]
    pub last_tag_time: Option<String>,
    #[serde(default)]
    pub parent: Option<Digest>,
}

/// The parts of an image config the store relies on.
#[derive(Deserialize)]
struct ConfigView {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

impl Store {
    /// Records the image whose config is the blob `config` and whose layers
    /// are `layers` (chain ids, which must exist and match the config's diff
    /// ids). Idempotent; a `manifest` is added to the record's repo digests.
    pub fn put_image(
        &self,
        config: &Digest,
        layers: &[Digest],
        manifest: Option<(&str, &Digest)>,
    ) -> Result<ImageRecord, StoreError> {
        let bytes = self.read_blob(config)?;
        let view: ConfigView = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("image config {config} is invalid: {e}")))?;
        let diff_ids = view.rootfs.map(|r| r.diff_ids).unwrap_or_default();
        let mut chain = Vec::with_capacity(diff_ids.len());
        for d in &diff_ids {
            chain.push(Self::chain_id(chain.last(), d));
        }
        if chain != layers {
            return Err(StoreError::Corrupt(format!(
                "the layers given for image {config} do not match the diff ids in its config"
            )));
        }

        let mut state = self.write();
        let mut size = 0;
        for l in layers {
            let info = state
                .layers
                .get(l)
                .ok_or_else(|| StoreError::NotFound(format!("layer {l} does not exist")))?;
            size += info.size;
        }
        let existing = state.images.get(config);
        let mut record = existing.cloned().unwrap_or_else(|| ImageRecord {
            id: config.clone(),
            layers: layers.to_vec(),
            size,
            created: view.created,
            repo_digests: Vec::new(),
            last_tag_time: None,
            parent: None,
        });
        if let Some((repository, digest)) = manifest {
            add_repo_digest(&mut record, format!("{repository}@{digest}"));
        }
        if existing != Some(&record) {
            self.write_record(&record)?;
            state.images.insert(config.clone(), record.clone());
        }
        Ok(record)
    }

    pub fn image(&self, id: &Digest) -> Option<ImageRecord> {
        self.read().images.get(id).cloned()
    }

    /// All images, by id.
    pub fn images(&self) -> Vec<ImageRecord> {
        self.read().images.values().cloned().collect()
    }

    /// A full or short image id, with or without `sha256:`, as users type it:
    /// `Ok(None)` if no image matches, [`StoreError::Ambiguous`] if several do.
    pub fn resolve_id_prefix(&self, prefix: &str) -> Result<Option<Digest>, StoreError> {
        let hex = prefix.strip_prefix("sha256:").unwrap_or(prefix);
        if hex.is_empty()
            || hex.len() > 64
            || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Ok(None);
        }
        let state = self.read();
        let mut matches = state.images.keys().filter(|id| id.hex().starts_with(hex));
        match (matches.next(), matches.next()) {
            (None, _) => Ok(None),
            (Some(id), None) => Ok(Some(id.clone())),
            (Some(_), Some(_)) => Err(StoreError::Ambiguous(prefix.to_string())),
        }
    }

    /// Changes the image's record with `edit`, on disk and in memory.
    fn update_record(
        &self,
        id: &Digest,
        edit: impl FnOnce(&mut ImageRecord),
    ) -> Result<(), StoreError> {
        let mut state = self.write();
        let mut record = state
            .images
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("No such image: {id}")))?;
        edit(&mut record);
        if state.images.get(id) == Some(&record) {
            return Ok(());
        }
        self.write_record(&record)?;
        state.images.insert(id.clone(), record);
        Ok(())
    }

    /// Sets the image's LastTagTime to now (for tag, load, build and commit).
    pub fn mark_tagged(&self, id: &Digest) -> Result<(), StoreError> {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| StoreError::Corrupt(format!("cannot format the time: {e}")))?;
        self.update_record(id, |r| r.last_tag_time = Some(now))
    }

    /// Records that `id` was made from `parent` (a build step, a commit):
    /// dockerd's image parent, which hides intermediate build images from
    /// `docker images` and lets `docker rmi` take them along.
    pub fn set_parent(&self, id: &Digest, parent: &Digest) -> Result<(), StoreError> {
        if id == parent {
            return Ok(());
        }
        self.update_record(id, |r| r.parent = Some(parent.clone()))
    }

    /// The images made from `id`.
    pub fn children(&self, id: &Digest) -> Vec<Digest> {
        self.read()
            .images
            .values()
            .filter(|r| r.parent.as_ref() == Some(id))
            .map(|r| r.id.clone())
            .collect()
    }

    /// Deletes the image, any references still naming it, its config and
    /// manifest blobs, and the layers (with their compressed blobs) that no
    /// other image, layer or container uses. Returns the removed layers'
    /// chain ids, base first as in [`ImageRecord::layers`].
    pub fn delete_image(&self, id: &Digest) -> Result<Vec<Digest>, StoreError> {
        let mut doomed: Vec<PathBuf> = Vec::new();
        let mut removed = Vec::new();
        {
            let mut state = self.write();
            let record = state
                .images
                .get(id)
                .cloned()
                .ok_or_else(|| StoreError::NotFound(format!("No such image: {id}")))?;

            // Names first: a crash after this leaves an untagged image, which
            // is still a usable one.
            let names: Vec<String> = state
                .refs
                .iter()
                .filter(|(_, v)| *v == id)
                .map(|(k, _)| k.clone())
                .collect();
            if !names.is_empty() {
                let mut next = state.refs.clone();
                for n in &names {
                    next.remove(n);
                }
                self.write_refs(&next)?;
                state.refs = next;
            }

            let gone = self.paths.temp_name("removed-image");
            fs::rename(self.paths.imagedb.join(id.hex()), &gone)?;
            sync_dir(&self.paths.imagedb)?;
            state.images.remove(id);
            doomed.push(gone);

            let used = self.layers_in_use(&state);
            for chain_id in record.layers.iter().rev() {
                // Stop at the first layer something still stands on: whatever
                // holds it holds everything below it too.
                let has_child = state
                    .layers
                    .values()
                    .any(|l| l.parent.as_ref() == Some(chain_id));
                if used.contains(chain_id) || has_child {
                    break;
                }
                let info = state.layers.get(chain_id).cloned();
                doomed.extend(self.unlink_layer(&mut state, chain_id)?);
                removed.push(chain_id.clone());
                if let Some(c) = info.and_then(|i| i.compressed) {
                    if !state
                        .layers
                        .values()
                        .any(|l| l.compressed.as_ref() == Some(&c))
                    {
                        self.remove_blob(&c)?;
                    }
                }
            }

            self.remove_blob(id)?;
            self.remove_manifests(&state, &record)?;
        }
        // Outside the lock: a big layer takes a while to delete, and nothing
        // points at these paths any more.
        for p in doomed {
            if let Err(e) = remove_path(&p) {
                tracing::warn!("cannot remove {}: {e}", p.display());
            }
        }
        removed.reverse();
        Ok(removed)
    }

    /// Layers that must stay whatever else is removed: those of every image
    /// and the parents of container layers.
    fn layers_in_use(&self, state: &State) -> HashSet<Digest> {
        let mut used: HashSet<Digest> = state
            .images
            .values()
            .flat_map(|r| r.layers.iter().cloned())
            .collect();
        if let Ok(dir) = fs::read_dir(&self.paths.mounts) {
            for entry in dir.flatten() {
                if let Ok(s) = fs::read_to_string(entry.path().join("parent")) {
                    if let Ok(d) = Digest::parse(s.trim()) {
                        used.insert(d);
                    }
                }
            }
        }
        used
    }

    /// Removes the manifests naming only this image; for a manifest list, also
    /// the platform manifests it lists, which no record names on their own.
    fn remove_manifests(&self, state: &State, record: &ImageRecord) -> io::Result<()> {
        let still_named: HashSet<Digest> = state
            .images
            .values()
            .flat_map(|r| r.repo_digests.iter().filter_map(|rd| digest_of_ref(rd)))
            .collect();
        let mut candidates: Vec<Digest> = record
            .repo_digests
            .iter()
            .filter_map(|rd| digest_of_ref(rd))
            .collect();
        let mut children = Vec::new();
        for d in &candidates {
            if still_named.contains(d) {
                continue;
            }
            if let Ok(bytes) = self.read_blob(d) {
                children.extend(index_children(&bytes));
            }
        }
        candidates.extend(children);
        for d in candidates {
            if !still_named.contains(&d) && !state.images.contains_key(&d) {
                self.remove_blob(&d)?;
            }
        }
        Ok(())
    }

    pub(super) fn write_record(&self, record: &ImageRecord) -> io::Result<()> {
        let dir = self.paths.imagedb.join(record.id.hex());
        ensure_dir(&dir, 0o700)?;
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        atomic_write(&dir.join(RECORD_FILE), &json, 0o600)
    }
}

pub(super) fn add_repo_digest(record: &mut ImageRecord, repo_digest: String) {
    if !record.repo_digests.contains(&repo_digest) {
        record.repo_digests.push(repo_digest);
        record.repo_digests.sort();
    }
}

fn digest_of_ref(reference: &str) -> Option<Digest> {
    reference
        .split_once('@')
        .and_then(|(_, d)| Digest::parse(d).ok())
}

/// The manifests an OCI index or Docker manifest list points to; nothing for
/// anything else.
fn index_children(bytes: &[u8]) -> Vec<Digest> {
    #[derive(Deserialize)]
    struct Index {
        manifests: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        digest: String,
    }
    serde_json::from_slice::<Index>(bytes)
        .map(|i| {
            i.manifests
                .iter()
                .filter_map(|m| Digest::parse(&m.digest).ok())
                .collect()
        })
        .unwrap_or_default()
}
