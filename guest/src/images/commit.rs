//! New images from a layer tar on top of an existing image (`docker commit`;
//! later the classic builder's steps).

use std::fs::File;
use std::io;
use std::path::Path;

use serde_json::{json, Value};

use super::digest::{Digest, HashingReader};
use super::reference::Reference;
use super::service::Images;
use super::store::Store;
use crate::errdefs::{Error, Result};

pub struct NewImage<'a> {
    pub base: &'a Digest,
    /// An uncompressed layer tar; its digest becomes the new diff ID.
    pub layer_tar: &'a Path,
    /// The image's `config` section (Cmd, Env, …).
    pub config: Value,
    pub author: Option<String>,
    pub comment: Option<String>,
    pub created_by: String,
    pub reference: Option<Reference>,
}

impl Images {
    pub fn commit(&self, n: NewImage<'_>) -> Result<Digest> {
        let mut hashing = HashingReader::new(File::open(n.layer_tar)?);
        io::copy(&mut hashing, &mut io::sink())?;
        let (diff_id, _) = hashing.finish()?;
        // The tar is kept as the layer's blob, as for load and import, so the
        // image can be saved and pushed.
        let mut w = self.store.blob_writer(&diff_id, None)?;
        io::copy(&mut File::open(n.layer_tar)?, &mut w)?;
        w.commit().map_err(super::pull::store_err)?;

        let base = self
            .store
            .image(n.base)
            .ok_or_else(|| Error::not_found(format!("No such image: {}", n.base)))?;
        let parent = base.layers.last().cloned();
        let chain = Store::chain_id(parent.as_ref(), &diff_id);
        if self.store.layer(&chain).is_none() {
            super::pull::unpack_blob(&self.store, parent.as_ref(), &diff_id, &diff_id, |_| {})?;
        }
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
        if let Some(r) = &n.reference {
            self.store.set_ref(&r.to_string(), &image.id)?;
            self.store
                .mark_tagged(&image.id)
                .map_err(super::pull::store_err)?;
            self.event("tag", image.id.as_str(), Some(&r.familiar()));
        }
        Ok(image.id)
    }
}
