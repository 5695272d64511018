//! `docker rm` and `docker rename`.

use super::names;
use super::service::Containers;
use crate::errdefs::{Error, Result};

impl Containers {
    pub fn remove(&self, what: &str, force: bool, remove_volumes: bool) -> Result<()> {
        let c = self.store.get(what)?;
        if c.state.running {
            // `force` was handled by the caller, which stopped it first.
            let _ = force;
            return Err(Error::conflict(format!(
                "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                c.name
            )));
        }
        let _ = self.unprepare(&c);
        // The record goes last: a crash in between leaves a record whose layer
        // is gone, which the next `rm` finishes, never a layer nobody owns.
        self.images.remove_rw_layer(&c.id)?;
        self.store.remove(&c.id)?;
        self.forget(&c.id);
        self.event("destroy", &c, &[]);
        if remove_volumes {
            // Like dockerd, -v removes anonymous volumes only; named ones are the user's.
            self.drop_anonymous(&c.volumes);
        }
        Ok(())
    }

    pub fn rename(&self, what: &str, new_name: &str) -> Result<()> {
        let mut c = self.store.get(what)?;
        let name = names::validate(new_name)?;
        if name == c.name {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        if let Some(other) = self.store.name_taken_by(&name) {
            return Err(Error::conflict(format!(
                "Error when allocating new name: {}",
                super::store::name_conflict(&name, &other)
            )));
        }
        let old = std::mem::replace(&mut c.name, name);
        self.store.save(&c)?;
        self.event("rename", &c, &[("oldName", &old)]);
        Ok(())
    }
}

impl Containers {
    /// `docker container prune`: removes every container that is not running
    /// (created or exited), honouring the `label` and `until` filters.
    pub fn prune(&self, filters: &super::query::Filters) -> Result<(Vec<String>, u64)> {
        crate::filters::check_keys(filters, &["label", "label!", "until"])?;
        let until = match filters.get("until").and_then(|v| v.first()) {
            Some(v) => Some(crate::timefmt::until_cutoff(v, crate::timefmt::now_unix())?),
            None => None,
        };
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for c in self.store.all() {
            if c.state.running {
                continue;
            }
            let labels = &c.config["Labels"];
            let has = |w: &str| crate::filters::label_matches(|k| labels[k].as_str(), w);
            if !filters
                .get("label")
                .is_none_or(|w| w.iter().all(|x| has(x)))
                || filters
                    .get("label!")
                    .is_some_and(|w| w.iter().any(|x| has(x)))
            {
                continue;
            }
            let created = crate::timefmt::rfc3339_to_unix(&c.created);
            if until.is_some_and(|u| created >= u) {
                continue;
            }
            reclaimed += self.rw_size(&c);
            self.remove(&c.id, false, false)?;
            deleted.push(c.id.clone());
        }
        Ok((deleted, reclaimed))
    }

    /// Bytes written into the container's read-write layer.
    pub fn rw_size(&self, c: &super::record::Container) -> u64 {
        crate::fsutil::dir_size(&self.images.overlay_root().join(&c.mount_id).join("diff"))
    }
}
