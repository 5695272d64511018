//! `docker tag` and `docker rmi`: references come and go; an image is deleted
//! when its last reference goes (or when deleted by ID).

use std::collections::BTreeSet;

use bollard_stubs::models::ImageDeleteResponseItem;

use super::digest::Digest;
use super::reference::{looks_like_image_id, Reference};
use super::service::Images;
use crate::errdefs::{Error, Result};

impl Images {
    pub fn tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let id = self.resolve(name)?;
        let target = Reference::tagged(repo, tag).map_err(|e| Error::invalid(e.to_string()))?;
        if target.digest().is_some() {
            return Err(Error::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        self.store.set_ref(&target.to_string(), &id)?;
        self.store
            .mark_tagged(&id)
            .map_err(super::pull::store_err)?;
        self.event("tag", id.as_str(), Some(&target.familiar()));
        Ok(())
    }

    pub fn remove(&self, name: &str, force: bool) -> Result<Vec<ImageDeleteResponseItem>> {
        let id = self.resolve(name)?;
        let refs: Vec<Reference> = self
            .store
            .refs_of(&id)
            .iter()
            .filter_map(|r| Reference::parse(r).ok())
            .collect();
        let by_id =
            looks_like_image_id(name) && id.hex().starts_with(name.trim_start_matches("sha256:"));
        let mut out = Vec::new();
        let user = self.user_of(&id);
        if !by_id {
            let named = Reference::parse(name)
                .map_err(|e| Error::invalid(e.to_string()))?
                .with_default_tag();
            let tags_left = refs
                .iter()
                .any(|r| r.digest().is_none() && r.to_string() != named.to_string());
            if let (Some((container, _)), false, false) = (&user, tags_left, force) {
                return Err(Error::conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                    &container[..12],
                    id.short()
                )));
            }
            self.untag(&named, &mut out)?;
            // A container still uses the image: forced, it loses its name but stays.
            // Images built on it keep it too (as dockerd: untagged only).
            if tags_left || user.is_some() || !self.store.children(&id).is_empty() {
                return Ok(out);
            }
            // The last tag went: the digest references of this image go with it.
            for r in refs.iter().filter(|r| r.digest().is_some()) {
                self.untag(r, &mut out)?;
            }
        } else {
            if let Some((container, running)) = &user {
                if *running || !force {
                    let (how, state) = if *running {
                        ("cannot be forced", "running")
                    } else {
                        ("must be forced", "stopped")
                    };
                    return Err(Error::conflict(format!(
                        "conflict: unable to delete {} ({how}) - image is being used by {state} container {}",
                        id.short(),
                        &container[..12]
                    )));
                }
                for r in &refs {
                    self.untag(r, &mut out)?;
                }
                return Ok(out);
            }
            if !self.store.children(&id).is_empty() {
                return Err(Error::conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                    id.short()
                )));
            }
            let repos: BTreeSet<String> = refs.iter().map(|r| r.repository()).collect();
            if repos.len() > 1 && !force {
                return Err(Error::conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    id.short()
                )));
            }
            for r in &refs {
                self.untag(r, &mut out)?;
            }
        }
        self.delete_with_parents(&id, &mut out)?;
        Ok(out)
    }

    /// Deletes the image, and the untagged images it was built on as far as
    /// nothing else needs them (dockerd's rmi without --no-prune).
    fn delete_with_parents(
        &self,
        id: &Digest,
        out: &mut Vec<ImageDeleteResponseItem>,
    ) -> Result<()> {
        let mut parent = self.store.image(id).and_then(|r| r.parent);
        self.delete(id, out)?;
        while let Some(p) = parent {
            let needed = !self.store.refs_of(&p).is_empty()
                || !self.store.children(&p).is_empty()
                || self.user_of(&p).is_some();
            if needed || self.store.image(&p).is_none() {
                break;
            }
            parent = self.store.image(&p).and_then(|r| r.parent);
            self.delete(&p, out)?;
        }
        Ok(())
    }

    fn untag(&self, r: &Reference, out: &mut Vec<ImageDeleteResponseItem>) -> Result<()> {
        if let Some(id) = self.store.remove_ref(&r.to_string())? {
            self.event("untag", id.as_str(), Some(&r.familiar()));
            out.push(ImageDeleteResponseItem {
                untagged: Some(r.familiar()),
                deleted: None,
            });
        }
        Ok(())
    }

    fn delete(&self, id: &Digest, out: &mut Vec<ImageDeleteResponseItem>) -> Result<()> {
        let layers = self
            .store
            .delete_image(id)
            .map_err(super::pull::store_err)?;
        self.event("delete", id.as_str(), None);
        out.push(ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(id.to_string()),
        });
        for l in layers.iter().rev() {
            out.push(ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(l.to_string()),
            });
        }
        Ok(())
    }
}

/// What `docker image prune` reports.
pub struct Pruned {
    pub deleted: Vec<ImageDeleteResponseItem>,
    pub reclaimed: u64,
}

impl Images {
    /// Removes dangling images, or with `dangling=false` (`-a`) every image no
    /// container uses. What it reclaims is the size of the layers that went:
    /// a layer another image or a container still stands on stays and is
    /// not counted.
    pub fn prune(&self, filters: &super::query::Filters) -> Result<Pruned> {
        crate::filters::check_keys(filters, &["dangling", "label", "label!", "until"])?;
        let only_dangling = !filters
            .get("dangling")
            .and_then(|v| v.first())
            .is_some_and(|v| matches!(v.as_str(), "false" | "0"));
        let mut out = Pruned {
            deleted: Vec::new(),
            reclaimed: 0,
        };
        // label and until select exactly as they do for `docker images`.
        let selection: super::query::Filters = filters
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "label" | "until"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // dockerd's label!: spares an image that has every label given.
        let spared = |labels: &std::collections::HashMap<String, String>| {
            filters.get("label!").is_some_and(|not| {
                not.iter().all(|w| {
                    crate::filters::label_matches(|k| labels.get(k).map(String::as_str), w)
                })
            })
        };
        // Passes until nothing more goes: an image others were built on
        // becomes a candidate once they have gone.
        loop {
            let listed = self.list(&selection, true)?;
            let mut progressed = false;
            for summary in listed {
                if (only_dangling && !summary.repo_tags.is_empty()) || spared(&summary.labels) {
                    continue;
                }
                let id = Digest::parse(&summary.id).map_err(|e| Error::system(e.to_string()))?;
                // An image others were built on is not dangling; it goes with the
                // last of them. One already gone went as such a parent.
                if self.user_of(&id).is_some()
                    || self.store.image(&id).is_none()
                    || !self.store.children(&id).is_empty()
                {
                    continue;
                }
                let sizes = self.layer_sizes(&id);
                for r in self.store.refs_of(&id) {
                    if let Ok(p) = Reference::parse(&r) {
                        self.untag(&p, &mut out.deleted)?;
                    }
                }
                let first = out.deleted.len();
                self.delete_with_parents(&id, &mut out.deleted)?;
                progressed = true;
                let gone: std::collections::HashSet<&str> = out.deleted[first..]
                    .iter()
                    .filter_map(|d| d.deleted.as_deref())
                    .collect();
                out.reclaimed += sizes
                    .iter()
                    .filter(|(layer, _)| gone.contains(layer.as_str()))
                    .map(|(_, size)| size)
                    .sum::<u64>();
            }
            if !progressed {
                break;
            }
        }
        Ok(out)
    }
}
