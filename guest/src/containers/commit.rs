//! `docker diff` and `docker commit`.

use std::path::PathBuf;

use serde_json::Value;

use super::changes;
use super::service::Containers;
use crate::errdefs::{Error, Result};
use crate::images::commit::NewImage;
use crate::images::digest::{Digest, HashingWriter};
use crate::images::reference::Reference;

pub struct CommitRequest {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub changes: Vec<String>,
    /// The image's config instead of the container's (a build step's
    /// container ran a command that is not the image's).
    pub config: Option<Value>,
    /// The history's "created by" instead of the container's command.
    pub created_by: Option<String>,
}

impl Containers {
    fn layer_dirs(&self, c: &super::record::Container) -> (PathBuf, Vec<PathBuf>) {
        let root = self.images.overlay_root();
        let upper = root.join(&c.mount_id).join("diff");
        let lowers = c.lower.split(':').map(|l| root.join(l)).collect();
        (upper, lowers)
    }

    pub fn diff(&self, what: &str) -> Result<Value> {
        let c = self.store.get(what)?;
        let (upper, lowers) = self.layer_dirs(&c);
        Ok(changes::changes_json(&changes::changes(&upper, &lowers)?))
    }

    /// A new image: the container's image plus what the container changed,
    /// with the container's configuration (and `--change`s) as its config.
    pub fn commit(&self, what: &str, req: CommitRequest) -> Result<String> {
        let c = self.store.get(what)?;
        let reference = req
            .repo
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|repo| Reference::tagged(repo, req.tag.as_deref()))
            .transpose()
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mut config = req
            .config
            .as_ref()
            .unwrap_or(&c.config)
            .as_object()
            .cloned()
            .unwrap_or_default();
        crate::images::changes::apply(&mut config, &req.changes)?;
        let (upper, _) = self.layer_dirs(&c);
        let tar = self.images.temp_path("commit");
        let result = (|| {
            let mut w = HashingWriter {
                inner: std::fs::File::create(&tar)?,
                hasher: Default::default(),
            };
            changes::layer_tar(&upper, &mut w)?;
            w.inner.sync_all()?;
            let diff_id = w.hasher.finish();
            let base = Digest::parse(&c.image).map_err(|e| Error::system(e.to_string()))?;
            let created_by = req.created_by.clone().unwrap_or_else(|| {
                std::iter::once(c.path.as_str())
                    .chain(c.args.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            self.images.commit(NewImage {
                base: &base,
                layer_tar: &tar,
                diff_id: &diff_id,
                config: Value::Object(config),
                author: req.author.clone(),
                comment: req.comment.clone(),
                created_by,
                reference,
            })
        })();
        let _ = std::fs::remove_file(&tar);
        let id = result?;
        self.event("commit", &c, &[]);
        Ok(id.to_string())
    }
}
