//! Where berthd's configuration comes from (flags + daemon.json) and how a
//! SIGHUP reload is applied. The model and its validation live in
//! `berth_common::daemon_config`, shared with the desktop settings panel.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use berth_common::daemon_config::{self, ConfigError, DaemonConfig, FileSource, Loaded};
use clap::ArgMatches;
use serde_json::{Map, Value};

use crate::cli::Flags;

/// The inputs to a configuration load, kept so that a reload re-reads the same file
/// and re-applies the same flags.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: PathBuf,
    /// An explicitly named file must exist; the default one may be absent.
    pub file_required: bool,
    pub flags: Map<String, Value>,
}

impl Source {
    pub fn from_flags(flags: &Flags, matches: &ArgMatches) -> Self {
        Source {
            file: flags
                .config_file
                .clone()
                .unwrap_or_else(|| PathBuf::from(daemon_config::DEFAULT_CONFIG_FILE)),
            file_required: flags.config_file.is_some(),
            flags: flags.explicit(matches),
        }
    }

    pub fn load(&self) -> Result<Loaded, ConfigError> {
        let text = match std::fs::read_to_string(&self.file) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.file_required => None,
            Err(e) => {
                return Err(ConfigError {
                    file: Some(self.file.clone()),
                    key: None,
                    line: None,
                    column: None,
                    message: format!("cannot read the configuration file: {e}"),
                })
            }
        };
        let file = text.as_deref().map(|text| FileSource {
            path: &self.file,
            text,
        });
        daemon_config::load(file, &self.flags)
    }
}

/// The running configuration: readers take a cheap snapshot, a reload swaps it.
#[derive(Debug)]
pub struct Shared {
    current: RwLock<Arc<DaemonConfig>>,
}

impl Shared {
    pub fn new(config: DaemonConfig) -> Self {
        Shared {
            current: RwLock::new(Arc::new(config)),
        }
    }

    pub fn get(&self) -> Arc<DaemonConfig> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies the reloadable part of `new` and returns what was done.
    ///
    /// Keys that need a restart keep their running value, so the daemon never
    /// runs with a half-applied configuration (e.g. a new data-root).
    pub fn reload(&self, new: DaemonConfig) -> daemon_config::ReloadPlan {
        let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
        let plan = daemon_config::reload_plan(&guard, &new);
        let mut merged = serde_json::to_value(&**guard).unwrap_or(Value::Null);
        let new_json = serde_json::to_value(&new).unwrap_or(Value::Null);
        for change in &plan.reloaded {
            if let (Some(m), Some(v)) = (merged.as_object_mut(), new_json.get(&change.key)) {
                m.insert(change.key.clone(), v.clone());
            }
        }
        match serde_json::from_value::<DaemonConfig>(merged) {
            Ok(mut next) => {
                next.unsupported = new.unsupported.clone();
                *guard = Arc::new(next);
            }
            Err(e) => tracing::error!("internal error applying the reloaded configuration: {e}"),
        }
        plan
    }
}
