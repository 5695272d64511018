//! The containers subsystem as the rest of berthd sees it.

use std::path::Path;
use std::sync::Arc;

use super::store::ContainerStore;
use crate::images::digest::Digest;
use crate::images::service::{ImageUsage, Images};
use crate::volumes::service::{VolumeUsage, Volumes};

pub struct Containers {
    pub(super) events: Arc<crate::events::Events>,
    pub(super) store: ContainerStore,
    pub(super) images: Arc<Images>,
    pub(super) volumes: Arc<Volumes>,
    pub(super) networks: Arc<crate::networks::service::Networks>,
    /// Bundles and runtime state live here (`exec-root`), not in the data root.
    pub(super) exec_root: std::path::PathBuf,
    /// dockerd's `cgroup-parent`: where containers' cgroups go unless a
    /// container names its own.
    pub(super) cgroup_parent: String,
    pub(super) config: Arc<crate::config::Shared>,
    pub(super) live: std::sync::Mutex<std::collections::HashMap<String, Arc<super::live::Live>>>,
    pub(super) execs: std::sync::Mutex<std::collections::HashMap<String, Arc<super::exec::Exec>>>,
    /// The published ports of running containers; dropping one closes it.
    pub(super) published:
        std::sync::Mutex<std::collections::HashMap<String, Vec<crate::networks::ports::Published>>>,
    /// The cgroup hierarchy, found on first use.
    pub(super) cgroup_layout: std::sync::OnceLock<crate::os::cgroups::Layout>,
    /// Set while the daemon shuts down: exits then are not policy restarts.
    pub(super) shutting_down: std::sync::atomic::AtomicBool,
}

impl Containers {
    pub fn open(
        data_root: &Path,
        images: Arc<Images>,
        volumes: Arc<Volumes>,
        events: Arc<crate::events::Events>,
        config: Arc<crate::config::Shared>,
        networks: Arc<crate::networks::service::Networks>,
    ) -> std::io::Result<Arc<Containers>> {
        let (exec_root, cgroup_parent) = {
            let c = config.get();
            (c.exec_root.clone(), c.cgroup_parent.clone())
        };
        let longest = super::shim::socket_path(&exec_root, &"0".repeat(64));
        if longest.as_os_str().len() > super::shim::MAX_SOCKET_PATH {
            return Err(std::io::Error::other(format!(
                "the exec root {} is too long: container sockets under it would exceed {} bytes; choose a shorter --exec-root",
                exec_root.display(),
                super::shim::MAX_SOCKET_PATH
            )));
        }
        crate::fsutil::ensure_dir(&exec_root.join("shims"), 0o700)?;
        Ok(Arc::new(Containers {
            cgroup_parent: cgroup_parent
                .as_deref()
                .filter(|p| !p.is_empty())
                .unwrap_or("/berth")
                .to_string(),
            exec_root,
            config,
            networks,
            live: Default::default(),
            execs: Default::default(),
            published: Default::default(),
            cgroup_layout: Default::default(),
            shutting_down: Default::default(),
            events,
            store: ContainerStore::open(data_root)?,
            images,
            volumes,
        }))
    }

    /// A container event with dockerd's attributes: labels, image, name.
    pub(super) fn event(&self, action: &str, c: &super::record::Container, extra: &[(&str, &str)]) {
        let mut attrs: std::collections::BTreeMap<String, String> = c.config["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        attrs.insert("image".into(), c.image_name.clone());
        attrs.insert("name".into(), c.name.trim_start_matches('/').to_string());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.to_string());
        }
        self.events.publish("container", action, &c.id, attrs);
    }

    /// (running, paused, stopped), for `docker info`.
    pub fn counts(&self) -> (i64, i64, i64) {
        let all = self.store.all();
        let running = all
            .iter()
            .filter(|c| c.state.running && !c.state.paused)
            .count() as i64;
        let paused = all.iter().filter(|c| c.state.paused).count() as i64;
        (running, paused, all.len() as i64 - running - paused)
    }
}

/// Lets the images subsystem refuse to delete an image a container uses.
impl ImageUsage for Containers {
    fn user_of(&self, image: &Digest) -> Option<(String, bool)> {
        let all = self.store.all();
        let users = all.iter().filter(|c| c.image == image.as_str());
        // A running user decides: it makes the refusal unforceable.
        let mut found = None;
        for c in users {
            if c.state.running {
                return Some((c.id.clone(), true));
            }
            found.get_or_insert((c.id.clone(), false));
        }
        found
    }
}

/// Lets the volumes subsystem refuse to remove a volume a container uses.
impl VolumeUsage for Containers {
    fn users_of(&self, volume: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .store
            .all()
            .into_iter()
            .filter(|c| c.volumes.iter().any(|v| v.name == volume))
            .map(|c| c.id.clone())
            .collect();
        ids.sort();
        ids
    }
}
