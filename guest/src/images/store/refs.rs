//! References (`docker.io/library/busybox:latest`,
//! `docker.io/library/busybox@sha256:…`) to image ids, persisted in dockerd's
//! `repositories.json` shape. The store takes them already normalised.

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};

use super::images::add_repo_digest;
use super::Store;
use crate::fsutil::atomic_write;
use crate::images::digest::Digest;

#[derive(Serialize, Deserialize, Default)]
pub(super) struct RepositoriesFile {
    #[serde(rename = "Repositories", default)]
    pub repositories: BTreeMap<String, BTreeMap<String, Digest>>,
}

impl RepositoriesFile {
    pub(super) fn from_refs(refs: &BTreeMap<String, Digest>) -> Self {
        let mut file = RepositoriesFile::default();
        for (r, id) in refs {
            file.repositories
                .entry(repository_of(r).to_string())
                .or_default()
                .insert(r.clone(), id.clone());
        }
        file
    }

    pub(super) fn into_refs(self) -> BTreeMap<String, Digest> {
        self.repositories.into_values().flatten().collect()
    }
}

/// The repository part of a normalised reference: without `@digest`, or
/// without `:tag` (a colon in the last path component only, so a registry
/// port stays).
pub fn repository_of(reference: &str) -> &str {
    if let Some((repo, _)) = reference.split_once('@') {
        return repo;
    }
    let last = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last..].rfind(':') {
        Some(i) => &reference[..last + i],
        None => reference,
    }
}

impl Store {
    /// Points `reference` at the image `id` (which must exist) and returns
    /// the image it pointed at before. A digest reference is also recorded in
    /// the image's repo digests.
    pub fn set_ref(&self, reference: &str, id: &Digest) -> io::Result<Option<Digest>> {
        if reference.is_empty() || reference.chars().any(char::is_whitespace) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid reference {reference:?}"),
            ));
        }
        let mut state = self.write();
        let Some(record) = state.images.get(id) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("No such image: {id}"),
            ));
        };
        if reference.contains('@') {
            let mut updated = record.clone();
            add_repo_digest(&mut updated, reference.to_string());
            if updated != *record {
                // Record before reference: a crash in between leaves a known
                // manifest without a name, never a name without its record.
                self.write_record(&updated)?;
                state.images.insert(id.clone(), updated);
            }
        }
        let previous = state.refs.insert(reference.to_string(), id.clone());
        if previous.as_ref() != Some(id) {
            if let Err(e) = self.write_refs(&state.refs) {
                match &previous {
                    Some(p) => state.refs.insert(reference.to_string(), p.clone()),
                    None => state.refs.remove(reference),
                };
                return Err(e);
            }
        }
        Ok(previous)
    }

    /// Removes `reference`; returns the image it pointed at, if it existed.
    pub fn remove_ref(&self, reference: &str) -> io::Result<Option<Digest>> {
        let mut state = self.write();
        let Some(previous) = state.refs.remove(reference) else {
            return Ok(None);
        };
        if let Err(e) = self.write_refs(&state.refs) {
            state.refs.insert(reference.to_string(), previous);
            return Err(e);
        }
        Ok(Some(previous))
    }

    pub fn resolve_ref(&self, reference: &str) -> Option<Digest> {
        self.read().refs.get(reference).cloned()
    }

    /// The references naming `id`, sorted.
    pub fn refs_of(&self, id: &Digest) -> Vec<String> {
        self.read()
            .refs
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Every reference with its image id, sorted by reference.
    #[cfg(test)]
    pub fn refs(&self) -> Vec<(String, Digest)> {
        self.read()
            .refs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(super) fn write_refs(&self, refs: &BTreeMap<String, Digest>) -> io::Result<()> {
        let json =
            serde_json::to_vec(&RepositoriesFile::from_refs(refs)).map_err(io::Error::other)?;
        atomic_write(&self.paths.repositories, &json, 0o600)
    }
}
