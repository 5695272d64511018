//! Network records on disk, written atomically, and in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use super::model::Network;
use crate::errdefs::{Error, Result};
use crate::fsutil::{atomic_write, ensure_dir};

pub struct NetworkStore {
    dir: PathBuf,
    by_id: RwLock<HashMap<String, Network>>,
}

impl NetworkStore {
    pub fn open(data_root: &Path) -> std::io::Result<NetworkStore> {
        let dir = data_root.join("network");
        ensure_dir(&dir, 0o700)?;
        let mut by_id = HashMap::new();
        for e in std::fs::read_dir(&dir)?.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                match std::fs::read(&p).map(|b| serde_json::from_slice::<Network>(&b)) {
                    Ok(Ok(n)) => {
                        by_id.insert(n.id.clone(), n);
                    }
                    _ => {
                        tracing::warn!(file = %p.display(), "ignoring an unreadable network record")
                    }
                }
            }
        }
        Ok(NetworkStore {
            dir,
            by_id: RwLock::new(by_id),
        })
    }

    pub fn save(&self, n: &Network) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(n).map_err(|e| Error::system(e.to_string()))?;
        atomic_write(&self.dir.join(format!("{}.json", n.id)), &bytes, 0o600)?;
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(n.id.clone(), n.clone());
        Ok(())
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        match std::fs::remove_file(self.dir.join(format!("{id}.json"))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        Ok(())
    }

    pub fn all(&self) -> Vec<Network> {
        let mut v: Vec<Network> = self
            .by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// By full ID, exact name, or unique ID prefix, as dockerd resolves them.
    pub fn get(&self, what: &str) -> Result<Network> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get(what) {
            return Ok(n.clone());
        }
        if let Some(n) = map.values().find(|n| n.name == what) {
            return Ok(n.clone());
        }
        let found: Vec<&Network> = map.values().filter(|n| n.id.starts_with(what)).collect();
        match found.as_slice() {
            [one] if !what.is_empty() => Ok((*one).clone()),
            [] | [_] => Err(Error::not_found(format!("network {what} not found"))),
            _ => Err(Error::invalid(format!(
                "network {what} is ambiguous ({} matches found based on ID prefix)",
                found.len()
            ))),
        }
    }
}
