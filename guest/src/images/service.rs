//! The images subsystem as the rest of berthd sees it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::digest::Digest;
use super::reference::{looks_like_image_id, Reference};
use super::store::Store;
use crate::config;
use crate::errdefs::{Error, Result};

/// Who uses an image, so that `rmi` can refuse as dockerd does. The
/// containers subsystem answers; images never look into containers.
pub trait ImageUsage: Send + Sync {
    /// A container using `image` and whether it is running.
    fn user_of(&self, image: &Digest) -> Option<(String, bool)>;
}

pub struct Images {
    pub(super) events: Arc<crate::events::Events>,
    usage: std::sync::OnceLock<std::sync::Weak<dyn ImageUsage>>,
    pub(super) store: Arc<Store>,
    pub(super) config: Arc<config::Shared>,
    /// `max-concurrent-downloads` across all pulls, as dockerd's transfer manager.
    /// Replaced on reload; downloads in flight finish under the permits they hold.
    downloads: Mutex<(usize, Arc<Semaphore>)>,
    /// One lock per blob being downloaded: concurrent pulls of images that share a
    /// layer download it once; the second waits and then finds it in the store.
    inflight: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

impl Images {
    pub fn open(
        data_root: &Path,
        config: Arc<config::Shared>,
        events: Arc<crate::events::Events>,
    ) -> std::io::Result<Arc<Images>> {
        let store = Store::open(data_root)?;
        let limit = config.get().max_concurrent_downloads.max(1) as usize;
        Ok(Arc::new(Images {
            events,
            usage: std::sync::OnceLock::new(),
            store: Arc::new(store),
            config,
            downloads: Mutex::new((limit, Arc::new(Semaphore::new(limit)))),
            inflight: Mutex::new(HashMap::new()),
        }))
    }

    /// Connects the answer to "which container uses this image?" (weakly: the
    /// containers subsystem holds the images one, not the other way round).
    pub fn set_usage(&self, usage: std::sync::Weak<dyn ImageUsage>) {
        let _ = self.usage.set(usage);
    }

    pub(super) fn user_of(&self, image: &Digest) -> Option<(String, bool)> {
        self.usage.get()?.upgrade()?.user_of(image)
    }

    /// The image's config document.
    pub fn image_config(&self, id: &Digest) -> Result<serde_json::Value> {
        let bytes = self
            .store
            .read_blob(id)
            .map_err(|e| Error::system(format!("image {id} is damaged: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::system(format!("image {id} has an invalid config: {e}")))
    }

    /// The chain ID of the image's top layer (None for an image without layers).
    pub fn top_layer(&self, id: &Digest) -> Result<Option<Digest>> {
        let rec = self
            .store
            .image(id)
            .ok_or_else(|| Error::not_found(format!("No such image: {id}")))?;
        Ok(rec.layers.last().cloned())
    }

    pub fn create_rw_layer(
        &self,
        container: &str,
        parent: &Digest,
    ) -> Result<super::store::RwLayer> {
        self.store
            .create_rw_layer(container, parent)
            .map_err(super::pull::store_err)
    }

    pub fn remove_rw_layer(&self, container: &str) -> Result<()> {
        self.store
            .remove_rw_layer(container)
            .map_err(super::pull::store_err)
    }

    /// (chain ID, unpacked bytes) of each layer of the image, base first.
    pub fn layer_sizes(&self, id: &Digest) -> Vec<(Digest, u64)> {
        self.store
            .image(id)
            .map(|r| {
                r.layers
                    .iter()
                    .filter_map(|c| self.store.layer(c).map(|l| (c.clone(), l.size)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A fresh path in the store's tmp/ (wiped at start) for work in progress.
    pub fn temp_path(&self, what: &str) -> std::path::PathBuf {
        self.store.temp_path(what)
    }

    pub fn overlay_root(&self) -> std::path::PathBuf {
        self.store.overlay_root()
    }

    /// An image event; `name` is the reference it concerns, when there is one.
    pub(super) fn event(&self, action: &str, id: &str, name: Option<&str>) {
        let attrs = name
            .map(|n| crate::events::attrs([("name", n)]))
            .unwrap_or_default();
        self.events.publish("image", action, id, attrs);
    }

    /// Applies reloadable settings (SIGHUP): the download limit.
    pub fn reconfigure(&self) {
        let want = self.config.get().max_concurrent_downloads.max(1) as usize;
        let mut d = self.downloads.lock().unwrap_or_else(|p| p.into_inner());
        if d.0 != want {
            tracing::info!(from = d.0, to = want, "max-concurrent-downloads changed");
            *d = (want, Arc::new(Semaphore::new(want)));
        }
    }

    pub(super) fn download_permits(&self) -> Arc<Semaphore> {
        self.downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    pub fn count(&self) -> usize {
        self.store.images().len()
    }

    pub(super) fn blob_lock(&self, d: &Digest) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        // Forget locks nobody holds any more, so the map stays small.
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.entry(d.clone()).or_default().clone()
    }

    /// Resolves what a user typed (`busybox`, `busybox:1`, `repo@sha256:…`, a full
    /// or short image ID) to an image ID, as dockerd's image lookup does.
    pub fn resolve(&self, name: &str) -> Result<Digest> {
        if looks_like_image_id(name) {
            let hex = name.strip_prefix("sha256:").unwrap_or(name);
            match self.store.resolve_id_prefix(hex) {
                Ok(Some(id)) => return Ok(id),
                Ok(None) => {}
                Err(e) => return Err(Error::invalid(e.to_string())),
            }
        }
        let no_such = || Error::not_found(format!("No such image: {name}"));
        let reference = match Reference::parse(name) {
            Ok(r) => r,
            Err(_) => return Err(no_such()),
        };
        let reference = reference.with_default_tag();
        self.store
            .resolve_ref(&reference.to_string())
            .ok_or_else(|| Error::not_found(format!("No such image: {}", reference.familiar())))
    }
}
