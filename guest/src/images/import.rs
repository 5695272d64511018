//! `docker import`: a root filesystem tar becomes a one-layer image.

use std::fs::File;
use std::io::{self, Read};

use serde_json::{json, Map, Value};

use super::changes;
use super::compression;
use super::digest::{Digest, HashingReader};
use super::manifest::Platform;
use super::reference::Reference;
use super::service::Images;
use crate::errdefs::{Error, Result};

pub struct ImportRequest {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub platform: Option<Platform>,
}

impl Images {
    /// Imports the (possibly compressed) tar read from `input`; returns the image ID.
    pub fn import(&self, input: impl Read, req: &ImportRequest) -> Result<Digest> {
        // Validate the name before reading a possibly large upload.
        let target = req
            .repo
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|repo| Reference::tagged(repo, req.tag.as_deref()))
            .transpose()
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mut config_section = Map::new();
        changes::apply(&mut config_section, &req.changes)?;

        // The uncompressed tar is kept as the layer's blob, so the image can be
        // saved and pushed like any other.
        let tmp = self.store.temp_path("import");
        let result = (|| {
            let mut hashing = HashingReader::new(compression::decompress(input)?);
            let mut f = File::create(&tmp)?;
            io::copy(&mut hashing, &mut f)?;
            f.sync_all()?;
            let (diff_id, _) = hashing.finish()?;
            let chain = self.add_layer_tar(&tmp, &diff_id, None)?;
            Ok::<_, Error>((diff_id, chain))
        })();
        let _ = std::fs::remove_file(&tmp);
        let (diff_id, chain) = result?;
        let platform = req.platform.clone().unwrap_or_else(Platform::host);
        let now = crate::timefmt::now_rfc3339();
        let mut config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "created": now,
            "config": Value::Object(config_section),
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
            "history": [{"created": now, "comment": req.message.clone().unwrap_or_else(|| "Imported from -".into())}],
        });
        if let Some(v) = platform.variant {
            config["variant"] = json!(v);
        }
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::system(e.to_string()))?;
        let config_digest = self.store.put_blob(&bytes)?;
        let image = self
            .store
            .put_image(&config_digest, &[chain], None)
            .map_err(super::pull::store_err)?;
        if let Some(t) = &target {
            self.store.set_ref(&t.to_string(), &image.id)?;
        }
        let name = target.as_ref().map(|t| t.familiar());
        self.event("import", image.id.as_str(), name.as_deref());
        Ok(image.id)
    }
}
