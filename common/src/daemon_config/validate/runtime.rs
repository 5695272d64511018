//! What containers run with: storage driver, runtimes, default ulimits.

use super::{bad, Check};
use crate::daemon_config::model::{DaemonConfig, RESERVED_RUNTIME_NAMES};

pub(super) fn check_storage_driver(c: &DaemonConfig) -> Check {
    match c.storage_driver.as_deref() {
        None | Some("overlay2" | "vfs") => Ok(()),
        Some(other) => bad(
            "storage-driver",
            format!(
                "storage driver \"{other}\" is not supported by Berth: use \"overlay2\" or \"vfs\""
            ),
        ),
    }
}

pub(super) fn check_runtimes(c: &DaemonConfig) -> Check {
    for (name, rt) in &c.runtimes {
        if RESERVED_RUNTIME_NAMES.contains(&name.as_str()) {
            return bad("runtimes", format!("runtime name '{name}' is reserved"));
        }
        if rt.path.is_empty() {
            return bad(
                "runtimes",
                format!("runtime {name}: a path must be configured"),
            );
        }
    }
    match c.default_runtime.as_deref() {
        Some(rt) if !RESERVED_RUNTIME_NAMES.contains(&rt) && !c.runtimes.contains_key(rt) => bad(
            "default-runtime",
            format!("specified default runtime '{rt}' does not exist"),
        ),
        _ => Ok(()),
    }
}

/// The resource names go-units knows (setrlimit's, without RLIMIT_).
const ULIMIT_NAMES: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

pub(super) fn check_ulimits(c: &DaemonConfig) -> Check {
    for (key, u) in &c.default_ulimits {
        if u.name != *key {
            return bad(
                "default-ulimits",
                format!(
                    "default-ulimits entry \"{key}\" has a different Name: \"{}\"",
                    u.name
                ),
            );
        }
        if !ULIMIT_NAMES.contains(&key.as_str()) {
            return bad("default-ulimits", format!("invalid ulimit type: {key}"));
        }
        if u.hard >= 0 && u.soft > u.hard {
            return bad(
                "default-ulimits",
                format!(
                    "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                    u.soft, u.hard
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::super::test_support::{refuse, with};
    use crate::daemon_config::model::{Runtime, Ulimit};

    #[test]
    fn ulimits() {
        let ul = |key: &str, name: &str, soft, hard| {
            with(|c| {
                c.default_ulimits.insert(
                    key.into(),
                    Ulimit {
                        name: name.into(),
                        soft,
                        hard,
                    },
                );
            })
        };
        assert!(check(&ul("nofile", "nofile", 1024, 2048)).is_ok());
        assert!(check(&ul("core", "core", -1, -1)).is_ok());
        assert_eq!(
            refuse(&ul("nofile", "nofile", 3, 2)).1,
            "ulimit soft limit must be less than or equal to hard limit: 3 > 2"
        );
        assert_eq!(
            refuse(&ul("files", "files", 1, 2)).1,
            "invalid ulimit type: files"
        );
        assert!(refuse(&ul("nofile", "nproc", 1, 2))
            .1
            .contains("different Name"));
    }

    #[test]
    fn storage_and_runtimes() {
        assert!(check(&with(|c| c.storage_driver = Some("vfs".into()))).is_ok());
        assert_eq!(
            refuse(&with(|c| c.storage_driver = Some("btrfs".into()))).1,
            "storage driver \"btrfs\" is not supported by Berth: use \"overlay2\" or \"vfs\""
        );
        let rt = |name: &str, path: &str| {
            with(|c| {
                c.runtimes.insert(
                    name.into(),
                    Runtime {
                        path: path.into(),
                        runtime_args: vec![],
                    },
                );
            })
        };
        assert_eq!(
            refuse(&rt("berth", "/x")).1,
            "runtime name 'berth' is reserved"
        );
        assert_eq!(
            refuse(&rt("runc", "/x")).1,
            "runtime name 'runc' is reserved"
        );
        assert_eq!(
            refuse(&rt("crun", "")).1,
            "runtime crun: a path must be configured"
        );
        assert_eq!(
            refuse(&with(|c| c.default_runtime = Some("crun".into()))),
            (
                "default-runtime".into(),
                "specified default runtime 'crun' does not exist".into()
            )
        );
        let mut ok = rt("crun", "/usr/bin/crun");
        ok.default_runtime = Some("crun".into());
        assert!(check(&ok).is_ok());
        assert!(check(&with(|c| c.default_runtime = Some("runc".into()))).is_ok());
    }
}
