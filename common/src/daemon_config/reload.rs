//! What a configuration change needs: a reload (SIGHUP) or a restart.

use std::collections::BTreeSet;

use serde_json::Value;

use super::keys::key_info;
use super::model::DaemonConfig;

/// One key whose value differs; an absent key reads as `null`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: String,
    pub old: Value,
    pub new: Value,
}

/// Changed keys split by dockerd's reloadable set, each list sorted by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReloadPlan {
    pub reloaded: Vec<Change>,
    pub needs_restart: Vec<Change>,
}

impl ReloadPlan {
    pub fn is_empty(&self) -> bool {
        self.reloaded.is_empty() && self.needs_restart.is_empty()
    }
}

/// Compares two configurations key by key (as daemon.json sees them).
pub fn reload_plan(old: &DaemonConfig, new: &DaemonConfig) -> ReloadPlan {
    let (old, new) = (old.to_json(), new.to_json());
    let empty = serde_json::Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut plan = ReloadPlan::default();
    for key in keys {
        let (before, after) = (
            old.get(key).cloned().unwrap_or(Value::Null),
            new.get(key).cloned().unwrap_or(Value::Null),
        );
        if before == after {
            continue;
        }
        let change = Change {
            key: key.clone(),
            old: before,
            new: after,
        };
        // A key missing from the table cannot be applied live, so be safe.
        if key_info(key).is_some_and(|k| k.reloadable) {
            plan.reloaded.push(change);
        } else {
            plan.needs_restart.push(change);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identical_configs_need_nothing() {
        let c = DaemonConfig::default();
        assert!(reload_plan(&c, &c.clone()).is_empty());
    }

    #[test]
    fn splits_by_reloadability() {
        let old = DaemonConfig::default();
        let mut new = old.clone();
        new.debug = true;
        new.labels = vec!["a=b".into()];
        new.max_concurrent_downloads = 10;
        new.data_root = "/data".into();
        new.log_level = "debug".into();
        new.tls = Some(true);
        let plan = reload_plan(&old, &new);
        let keys = |v: &[Change]| v.iter().map(|c| c.key.clone()).collect::<Vec<_>>();
        assert_eq!(
            keys(&plan.reloaded),
            ["debug", "labels", "max-concurrent-downloads"]
        );
        assert_eq!(keys(&plan.needs_restart), ["data-root", "log-level", "tls"]);
        assert_eq!(
            plan.reloaded[0],
            Change {
                key: "debug".into(),
                old: json!(false),
                new: json!(true)
            }
        );
        assert_eq!(plan.needs_restart[2].old, Value::Null);
    }

    #[test]
    fn unsupported_keys_are_compared_too() {
        let old = DaemonConfig::default();
        let mut new = old.clone();
        new.unsupported.insert("ipv6".into(), json!(true));
        new.unsupported
            .insert("authorization-plugins".into(), json!(["authz"]));
        let plan = reload_plan(&old, &new);
        assert_eq!(plan.reloaded.len(), 1);
        assert_eq!(plan.reloaded[0].key, "authorization-plugins");
        assert_eq!(plan.needs_restart[0].key, "ipv6");
    }
}
