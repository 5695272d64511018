//! New images from a layer tar on top of an existing image (`docker commit`;
//! later the classic builder's steps).

use std::fs::File;
use std::io;
use std::path::Path;

use serde_json::{json, Value};

use super::digest::Digest;
use super::reference::Reference;
use super::service::Images;
use super::store::Store;
use crate::errdefs::{Error, Result};

pub struct NewImage<'a> {
    pub base: &'a Digest,
    /// An uncompressed layer tar, and its digest (the new diff ID).
    pub layer_tar: &'a Path,
    pub diff_id: &'a Digest,
    /// The image's `config` section (Cmd, Env, …).
    pub config: Value,
    pub author: Option<String>,
    pub comment: Option<String>,
    pub created_by: String,
    pub reference: Option<Reference>,
}

impl Images {
    /// Stores an uncompressed layer tar whose digest is `diff_id` on top of
    /// the layer `parent`; returns the new layer's chain ID. The tar is kept
    /// as the layer's blob (verified against `diff_id`), so images made this
    /// way can be saved and pushed like pulled ones.
    pub(super) fn add_layer_tar(
        &self,
        tar: &Path,
        diff_id: &Digest,
        parent: Option<&Digest>,
    ) -> Result<Digest> {
        let mut w = self.store.blob_writer(diff_id, None)?;
        io::copy(&mut File::open(tar)?, &mut w)?;
        w.commit().map_err(super::pull::store_err)?;
        let chain = Store::chain_id(parent, diff_id);
        if self.store.layer(&chain).is_none() {
            super::pull::unpack_blob(&self.store, parent, diff_id, diff_id, |_| {})?;
        }
        Ok(chain)
    }

    pub fn commit(&self, n: NewImage<'_>) -> Result<Digest> {
        let diff_id = n.diff_id.clone();
        let base = self
            .store
            .image(n.base)
            .ok_or_else(|| Error::not_found(format!("No such image: {}", n.base)))?;
        let chain = self.add_layer_tar(n.layer_tar, &diff_id, base.layers.last())?;
        let mut config = self.image_config(n.base)?;
        let now = crate::timefmt::now_rfc3339();
        config["created"] = json!(now);
        config["config"] = n.config;
        if let Some(a) = &n.author {
            config["author"] = json!(a);
        }
        let diff_ids = config["rootfs"]["diff_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut diff_ids = diff_ids;
        diff_ids.push(json!(diff_id.to_string()));
        config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
        let mut history = config["history"].as_array().cloned().unwrap_or_default();
        let mut entry = json!({"created": now, "created_by": n.created_by});
        if let Some(c) = n.comment.as_ref().filter(|c| !c.is_empty()) {
            entry["comment"] = json!(c);
        }
        if let Some(a) = &n.author {
            entry["author"] = json!(a);
        }
        history.push(entry);
        config["history"] = json!(history);

        let bytes = serde_json::to_vec(&config).map_err(|e| Error::system(e.to_string()))?;
        let config_digest = self.store.put_blob(&bytes)?;
        let mut chains = base.layers.clone();
        chains.push(chain);
        let image = self
            .store
            .put_image(&config_digest, &chains, None)
            .map_err(super::pull::store_err)?;
        self.store
            .set_parent(&image.id, n.base)
            .map_err(super::pull::store_err)?;
        if let Some(r) = &n.reference {
            self.store.set_ref(&r.to_string(), &image.id)?;
            self.store
                .mark_tagged(&image.id)
                .map_err(super::pull::store_err)?;
            self.event("tag", image.id.as_str(), Some(&r.familiar()));
        }
        Ok(image.id)
    }

    /// A new image with `base`'s layers and another `config` section: a
    /// build step that changes only the config (`ENV`, `CMD`, …), recorded
    /// in the history as an empty layer.
    pub fn derive(&self, base: &Digest, config: Value, created_by: String) -> Result<Digest> {
        let record = self
            .store
            .image(base)
            .ok_or_else(|| Error::not_found(format!("No such image: {base}")))?;
        let mut full = self.image_config(base)?;
        let now = crate::timefmt::now_rfc3339();
        full["created"] = json!(now);
        full["config"] = config;
        let mut history = full["history"].as_array().cloned().unwrap_or_default();
        history.push(json!({"created": now, "created_by": created_by, "empty_layer": true}));
        full["history"] = json!(history);
        let bytes = serde_json::to_vec(&full).map_err(|e| Error::system(e.to_string()))?;
        let config_digest = self.store.put_blob(&bytes)?;
        let image = self
            .store
            .put_image(&config_digest, &record.layers, None)
            .map_err(super::pull::store_err)?;
        self.store
            .set_parent(&image.id, base)
            .map_err(super::pull::store_err)?;
        Ok(image.id)
    }

    /// The build cache: an image made from `parent` by the step recorded as
    /// `created_by` (the newest, if several were).
    pub fn cached_child(&self, parent: &Digest, created_by: &str) -> Option<Digest> {
        let mut hits: Vec<(String, Digest)> = self
            .store
            .children(parent)
            .into_iter()
            .filter_map(|child| {
                let config = self.image_config(&child).ok()?;
                let last = config["history"].as_array()?.last()?.clone();
                (last["created_by"].as_str() == Some(created_by))
                    .then(|| (config["created"].as_str().unwrap_or("").to_string(), child))
            })
            .collect();
        hits.sort();
        hits.pop().map(|(_, id)| id)
    }
}
