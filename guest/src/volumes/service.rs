//! The volumes subsystem as the rest of berthd sees it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock, Weak};

use serde_json::Value;

use super::store::{Filters, Volume, VolumeStore, ANONYMOUS_LABEL};
use crate::errdefs::{Error, Result};

/// Which containers use a volume; the containers subsystem answers.
pub trait VolumeUsage: Send + Sync {
    fn users_of(&self, volume: &str) -> Vec<String>;
}

pub struct Volumes {
    events: Arc<crate::events::Events>,
    pub store: VolumeStore,
    usage: OnceLock<Weak<dyn VolumeUsage>>,
    holders: super::mounts::Holders,
}

const LIST_FILTERS: &[&str] = &["dangling", "driver", "label", "name"];

impl Volumes {
    pub fn open(
        data_root: &Path,
        events: Arc<crate::events::Events>,
    ) -> std::io::Result<Arc<Volumes>> {
        Ok(Arc::new(Volumes {
            events,
            store: VolumeStore::open(data_root)?,
            usage: OnceLock::new(),
            holders: Default::default(),
        }))
    }

    pub fn set_usage(&self, usage: Weak<dyn VolumeUsage>) {
        let _ = self.usage.set(usage);
    }

    fn users_of(&self, name: &str) -> Vec<String> {
        self.usage
            .get()
            .and_then(Weak::upgrade)
            .map(|u| u.users_of(name))
            .unwrap_or_default()
    }

    pub fn create(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Value> {
        if let Some(d) = driver.filter(|d| !d.is_empty() && *d != "local") {
            return Err(Error::not_found(format!(
                "error looking up volume plugin {d}: plugin \"{d}\" not found"
            )));
        }
        let v = self.ensure(name, labels, options)?;
        Ok(self.store.inspect_json(&v))
    }

    pub fn inspect(&self, name: &str) -> Result<Value> {
        Ok(self.store.inspect_json(&self.store.get(name)?))
    }

    pub fn list(&self, filters: &Filters) -> Result<Vec<Value>> {
        crate::filters::check_keys(filters, LIST_FILTERS)?;
        let dangling = crate::filters::bool_filter(filters, "dangling")?;
        let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
            filters
                .get(key)
                .is_none_or(|vals| vals.iter().any(|x| pred(x)))
        };
        Ok(self
            .store
            .all()
            .into_iter()
            .filter(|v| {
                dangling.is_none_or(|d| d == self.users_of(&v.name).is_empty())
                    && any("driver", &|x| x == "local")
                    && any("name", &|x| v.name.contains(x))
                    && filters
                        .get("label")
                        .is_none_or(|want| want.iter().all(|w| label_matches(v, w)))
            })
            .map(|v| self.store.inspect_json(&v))
            .collect())
    }

    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let users = self.users_of(name);
        if !users.is_empty() {
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        match self.store.remove(name) {
            Err(e) if force && e.kind == crate::errdefs::Kind::NotFound => Ok(()),
            Err(e) => Err(e),
            Ok(_) => {
                self.destroyed(name);
                Ok(())
            }
        }
    }

    /// The volume `name` (new and anonymous when None), created if missing,
    /// as containers ask for them.
    pub fn ensure(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        let existed = name.is_some_and(|n| self.store.get(n).is_ok());
        let v = self.store.create(name, labels, options)?;
        if !existed {
            self.created(&v.name);
        }
        Ok(v)
    }

    /// The directory a container mounts for volume `name`, with the
    /// volume's device mounted on it first when it has one.
    pub fn acquire(&self, name: &str, container: &str) -> Result<std::path::PathBuf> {
        let dir = self.store.mountpoint(name);
        let v = self.store.get(name)?;
        if let Some(args) = super::mounts::mount_args(&v.options)? {
            self.holders.acquire(name, &args, &dir, container)?;
        }
        Ok(dir)
    }

    /// The container stopped: volumes only it held are unmounted.
    pub fn release(&self, container: &str) {
        self.holders
            .release(container, |name| self.store.mountpoint(name));
    }

    pub fn created(&self, name: &str) {
        let attrs = crate::events::attrs([("driver", "local")]);
        self.events.publish("volume", "create", name, attrs);
    }

    pub fn destroyed(&self, name: &str) {
        let attrs = crate::events::attrs([("driver", "local")]);
        self.events.publish("volume", "destroy", name, attrs);
    }

    /// Removes unused volumes: anonymous ones only, unless `all=true` (API
    /// 1.42+; the API layer asks for all on older clients' behalf). `label`
    /// keeps those with every label given, `label!` spares those with every
    /// label given, as dockerd's prune filters do.
    pub fn prune(&self, filters: &Filters) -> Result<(Vec<String>, u64)> {
        crate::filters::check_keys(filters, &["label", "label!", "all"])?;
        let all = match filters.get("all").map(Vec::as_slice) {
            None | Some([]) => false,
            Some([one]) => match one.to_ascii_lowercase().as_str() {
                "1" | "t" | "true" => true,
                "0" | "f" | "false" => false,
                _ => return Err(invalid_filter("all", std::slice::from_ref(one))),
            },
            Some(many) => return Err(invalid_filter("all", many)),
        };
        let matches_all = |v: &Volume, key: &str| {
            filters
                .get(key)
                .is_some_and(|want| want.iter().all(|w| label_matches(v, w)))
        };
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for v in self.store.all() {
            let anonymous = v.labels.contains_key(ANONYMOUS_LABEL);
            if (!all && !anonymous)
                || !self.users_of(&v.name).is_empty()
                || (filters.contains_key("label") && !matches_all(&v, "label"))
                || matches_all(&v, "label!")
            {
                continue;
            }
            // One that cannot go (gone meanwhile, a busy mount) leaves the
            // others to go and the report to say what did, as in dockerd.
            match self.store.remove(&v.name) {
                Ok(size) => {
                    reclaimed += size;
                    self.destroyed(&v.name);
                    deleted.push(v.name);
                }
                Err(e) => tracing::warn!(volume = %v.name, "prune: cannot remove: {e}"),
            }
        }
        Ok((deleted, reclaimed))
    }
}

/// dockerd's words for a filter value it cannot use: `invalid filter 'all=[x]'`.
fn invalid_filter(key: &str, values: &[String]) -> Error {
    Error::invalid(format!("invalid filter '{key}=[{}]'", values.join(" ")))
}

fn label_matches(v: &Volume, wanted: &str) -> bool {
    crate::filters::label_matches(|k| v.labels.get(k).map(String::as_str), wanted)
}
