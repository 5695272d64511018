//! Volume records: `volumes/<name>/opts.json` (driver options, labels,
//! creation time) beside the `_data` directory, written atomically.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::errdefs::{Error, Result};
use crate::fsutil::{atomic_write, ensure_dir};

/// The label dockerd puts on volumes created without a name; prune removes
/// only those unless asked for all.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
const LOCAL_OPTIONS: &[&str] = &["type", "device", "o", "size"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Volume {
    pub name: String,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

pub struct VolumeStore {
    root: PathBuf,
    volumes: Mutex<HashMap<String, Volume>>,
}

pub use crate::filters::Filters;

impl VolumeStore {
    pub fn open(data_root: &Path) -> std::io::Result<VolumeStore> {
        let root = data_root.join("volumes");
        ensure_dir(&root, 0o701)?;
        let mut volumes = HashMap::new();
        for entry in fs::read_dir(&root)? {
            let entry = entry?;
            let meta = entry.path().join("opts.json");
            match fs::read(&meta).map(|b| serde_json::from_slice::<Volume>(&b)) {
                Ok(Ok(v)) => {
                    volumes.insert(v.name.clone(), v);
                }
                Ok(Err(e)) => {
                    tracing::warn!(file = %meta.display(), "ignoring an unreadable volume record: {e}")
                }
                // A directory without a record: a create that crashed first.
                Err(_) if entry.path().is_dir() => {
                    tracing::info!(dir = %entry.path().display(), "removing an incomplete volume directory");
                    let _ = fs::remove_dir_all(entry.path());
                }
                Err(_) => {}
            }
        }
        Ok(VolumeStore {
            root,
            volumes: Mutex::new(volumes),
        })
    }

    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    /// Creates the volume, or returns the existing one of that name as dockerd does.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        let (name, mut labels) = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                validate_name(n)?;
                (n.to_string(), labels)
            }
            None => {
                let mut l = labels;
                l.insert(ANONYMOUS_LABEL.into(), String::new());
                (
                    format!(
                        "{}{}",
                        uuid::Uuid::new_v4().simple(),
                        uuid::Uuid::new_v4().simple()
                    ),
                    l,
                )
            }
        };
        validate_options(&options)?;
        let mut map = self.volumes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = map.get(&name) {
            return Ok(v.clone());
        }
        labels.retain(|k, _| !k.is_empty());
        let v = Volume {
            name: name.clone(),
            created: crate::timefmt::now_rfc3339(),
            labels,
            options,
        };
        let dir = self.root.join(&name);
        ensure_dir(&dir, 0o701)?;
        ensure_dir(&dir.join("_data"), 0o755)?;
        // The record goes last: without it, open() treats the dir as debris.
        let bytes = serde_json::to_vec_pretty(&v).map_err(|e| Error::system(e.to_string()))?;
        atomic_write(&dir.join("opts.json"), &bytes, 0o600)?;
        map.insert(name, v.clone());
        Ok(v)
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        self.volumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))
    }

    pub fn all(&self) -> Vec<Volume> {
        let mut v: Vec<Volume> = self
            .volumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Removes the volume and its data; returns the bytes it held.
    pub fn remove(&self, name: &str) -> Result<u64> {
        let mut map = self.volumes.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(name) {
            return Err(Error::not_found(format!("get {name}: no such volume")));
        }
        let dir = self.root.join(name);
        // Never delete through a mount: a bind volume's data is the host's.
        super::mounts::unmount(&dir.join("_data"))
            .map_err(|e| Error::system(format!("remove {name}: cannot unmount the volume: {e}")))?;
        let size = crate::fsutil::dir_size(&dir.join("_data"));
        // The record first, so a crash midway leaves debris open() removes,
        // never a record whose data is half gone.
        let _ = fs::remove_file(dir.join("opts.json"));
        fs::remove_dir_all(&dir)?;
        map.remove(name);
        Ok(size)
    }

    pub fn inspect_json(&self, v: &Volume) -> Value {
        json!({
            "CreatedAt": v.created,
            "Driver": "local",
            "Labels": if v.labels.is_empty() { Value::Null } else { json!(v.labels) },
            "Mountpoint": self.mountpoint(&v.name),
            "Name": v.name,
            "Options": if v.options.is_empty() { Value::Null } else { json!(v.options) },
            "Scope": "local",
        })
    }
}

/// dockerd's rule for local volume names.
pub fn validate_name(name: &str) -> Result<()> {
    if name.len() < 2 {
        return Err(Error::invalid(
            "volume name is too short, names should be at least two alphanumeric characters",
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err(Error::invalid(format!(
            "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

fn validate_options(opts: &BTreeMap<String, String>) -> Result<()> {
    for k in opts.keys() {
        if !LOCAL_OPTIONS.contains(&k.as_str()) {
            return Err(Error::invalid(format!("invalid option key: \"{k}\"")));
        }
    }
    if opts.contains_key("size") {
        return Err(Error::invalid(
            "quota size requested but no quota support: the local driver has no size limit on this filesystem",
        ));
    }
    if opts.contains_key("type") != opts.contains_key("device") {
        return Err(Error::invalid(
            "the local driver's \"type\" and \"device\" options go together: e.g. --opt type=tmpfs --opt device=tmpfs",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-vol-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn names_follow_dockerd() {
        assert!(validate_name("data").is_ok());
        assert!(validate_name("a")
            .unwrap_err()
            .message
            .contains("too short"));
        assert!(validate_name("bad/name")
            .unwrap_err()
            .message
            .contains("includes invalid characters"));
        assert!(validate_name("-x").is_err());
    }

    #[test]
    fn create_is_idempotent_and_survives_reopen_and_debris_is_removed() {
        let root = temp();
        let s = VolumeStore::open(&root).unwrap();
        let v = s
            .create(Some("data"), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert_eq!(
            s.create(Some("data"), BTreeMap::new(), BTreeMap::new())
                .unwrap(),
            v
        );
        fs::write(s.mountpoint("data").join("f"), b"12345").unwrap();
        fs::create_dir_all(root.join("volumes/half/_data")).unwrap();
        let s = VolumeStore::open(&root).unwrap();
        assert_eq!(s.all().len(), 1);
        assert!(!root.join("volumes/half").exists());
        assert_eq!(s.remove("data").unwrap(), 5);
        assert!(s.get("data").is_err());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn anonymous_volumes_are_labelled_and_options_checked() {
        let root = temp();
        let s = VolumeStore::open(&root).unwrap();
        let v = s.create(None, BTreeMap::new(), BTreeMap::new()).unwrap();
        assert_eq!(v.name.len(), 64);
        assert!(v.labels.contains_key(ANONYMOUS_LABEL));
        let bad: BTreeMap<_, _> = [("colour".to_string(), "red".to_string())].into();
        assert_eq!(
            s.create(Some("x1"), BTreeMap::new(), bad)
                .unwrap_err()
                .message,
            "invalid option key: \"colour\""
        );
        let half: BTreeMap<_, _> = [("type".to_string(), "tmpfs".to_string())].into();
        assert!(s.create(Some("x2"), BTreeMap::new(), half).is_err());
        fs::remove_dir_all(&root).unwrap();
    }
}
