//! The container records on disk (`containers/<id>/config.v2.json`, written
//! atomically) and in memory, with the name index.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::record::Container;
use crate::errdefs::{Error, Result};
use crate::fsutil::{atomic_write, ensure_dir};

pub struct ContainerStore {
    root: PathBuf,
    /// Shared records: a listing takes references, not deep copies (their
    /// Config and HostConfig are JSON trees; `docker ps -a` over hundreds of
    /// containers spent most of its time copying them).
    by_id: RwLock<HashMap<String, Arc<Container>>>,
}

const RECORD: &str = "config.v2.json";

impl ContainerStore {
    pub fn open(data_root: &Path) -> std::io::Result<ContainerStore> {
        let root = data_root.join("containers");
        ensure_dir(&root, 0o710)?;
        let mut by_id = HashMap::new();
        for entry in fs::read_dir(&root)? {
            let entry = entry?;
            let path = entry.path().join(RECORD);
            match fs::read(&path).map(|b| serde_json::from_slice::<Container>(&b)) {
                Ok(Ok(c)) => {
                    by_id.insert(c.id.clone(), Arc::new(c));
                }
                Ok(Err(e)) => {
                    tracing::warn!(file = %path.display(), "ignoring an unreadable container record: {e}")
                }
                // A dir without a record is a create that crashed before its
                // record was written: nothing refers to it.
                Err(_) => {
                    tracing::info!(dir = %entry.path().display(), "removing an incomplete container directory");
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(ContainerStore {
            root,
            by_id: RwLock::new(by_id),
        })
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Writes the record; the in-memory copy changes only once it is on disk.
    pub fn save(&self, c: &Container) -> Result<()> {
        let dir = self.dir(&c.id);
        ensure_dir(&dir, 0o710)?;
        let bytes = serde_json::to_vec_pretty(c).map_err(|e| Error::system(e.to_string()))?;
        atomic_write(&dir.join(RECORD), &bytes, 0o600)?;
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.id.clone(), Arc::new(c.clone()));
        Ok(())
    }

    /// Inserts `c` unless its name is taken: the check, the write and the
    /// insertion happen under one lock, so two creates never share a name.
    pub fn insert_new(&self, c: &Container) -> Result<()> {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        if let Some(other) = map.values().find(|o| o.name == c.name) {
            return Err(name_conflict(&c.name, &other.id));
        }
        let dir = self.dir(&c.id);
        ensure_dir(&dir, 0o710)?;
        let bytes = serde_json::to_vec_pretty(c).map_err(|e| Error::system(e.to_string()))?;
        atomic_write(&dir.join(RECORD), &bytes, 0o600)?;
        map.insert(c.id.clone(), Arc::new(c.clone()));
        Ok(())
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        Ok(())
    }

    pub fn all(&self) -> Vec<Arc<Container>> {
        self.by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn name_taken_by(&self, name: &str) -> Option<String> {
        self.by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|c| c.name == name)
            .map(|c| c.id.clone())
    }

    /// dockerd's lookup: full ID, then exact name, then a unique ID prefix.
    pub fn get(&self, what: &str) -> Result<Container> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(what) {
            return Ok(Container::clone(c));
        }
        let name = if what.starts_with('/') {
            what.to_string()
        } else {
            format!("/{what}")
        };
        if let Some(c) = map.values().find(|c| c.name == name) {
            return Ok(Container::clone(c));
        }
        let mut hits = map
            .values()
            .filter(|c| !what.is_empty() && c.id.starts_with(what));
        match (hits.next(), hits.next()) {
            (Some(c), None) => Ok(Container::clone(c)),
            (Some(_), Some(_)) => Err(Error::invalid(format!(
                "Multiple IDs found with provided prefix: {what}"
            ))),
            _ => Err(Error::not_found(format!("No such container: {what}"))),
        }
    }
}

pub fn name_conflict(name: &str, id: &str) -> Error {
    Error::conflict(format!(
        "Conflict. The container name \"{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}
