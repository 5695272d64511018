//! `docker rm` and `docker rename`.

use super::names;
use super::service::Containers;
use crate::errdefs::{Error, Result};

impl Containers {
    pub fn remove(&self, what: &str, force: bool, remove_volumes: bool) -> Result<()> {
        let c = self.store.get(what)?;
        if c.state.running {
            if !force {
                return Err(Error::conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            return Err(Error::not_implemented(
                "stopping containers is not supported by Berth yet",
            ));
        }
        // The record goes last: a crash in between leaves a record whose layer
        // is gone, which the next `rm` finishes, never a layer nobody owns.
        self.images.remove_rw_layer(&c.id)?;
        self.store.remove(&c.id)?;
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
        c.name = name;
        self.store.save(&c)
    }
}
