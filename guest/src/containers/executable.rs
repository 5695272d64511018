//! Checks made on the container's root filesystem before its process
//! starts, so that a missing or non-executable command fails with dockerd's
//! words (which the docker CLI turns into exit codes 127 and 126).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub use super::spec::resolve_in_root;

/// dockerd's (runc's) error for a command that cannot run, or `None` when
/// it can. `env` is the process environment (for `PATH`), `cwd` its working
/// directory.
pub fn check(root: &Path, cmd: &str, env: &[String], cwd: &str) -> Option<String> {
    if cmd.is_empty() {
        return Some("no command specified".into());
    }
    let runc = |detail: String| {
        format!("failed to create task for container: OCI runtime create failed: unable to start container process: error during container init: {detail}: unknown")
    };
    if cmd.contains('/') {
        let inside = if cmd.starts_with('/') {
            cmd.to_string()
        } else {
            format!("{}/{cmd}", cwd.trim_end_matches('/'))
        };
        let host = resolve_in_root(root, &inside)?;
        return match std::fs::metadata(&host) {
            Err(_) => Some(runc(format!(
                "exec: \"{cmd}\": stat {cmd}: no such file or directory"
            ))),
            Ok(m) if m.is_dir() || m.permissions().mode() & 0o111 == 0 => {
                Some(runc(format!("exec: \"{cmd}\": permission denied")))
            }
            Ok(_) => None,
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        if let Some(host) = resolve_in_root(root, &format!("{dir}/{cmd}")) {
            if let Ok(m) = std::fs::metadata(&host) {
                if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                    return None;
                }
            }
        }
    }
    Some(runc(format!(
        "exec: \"{cmd}\": executable file not found in $PATH"
    )))
}

/// The exit code dockerd records for a start that failed with `message`.
pub fn exit_code_for(message: &str) -> i64 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        128
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn root() -> PathBuf {
        let r = std::env::temp_dir().join(format!("berth-exe-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(r.join("bin")).unwrap();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("bin/busybox"), b"").unwrap();
        std::fs::set_permissions(
            r.join("bin/busybox"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("busybox", r.join("bin/sh")).unwrap();
        std::os::unix::fs::symlink("/../../bin", r.join("escape")).unwrap();
        std::fs::write(r.join("etc/data"), b"").unwrap();
        r
    }

    #[test]
    fn commands_resolve_inside_the_root_only() {
        let r = root();
        assert_eq!(check(&r, "sh", &[], "/"), None);
        assert_eq!(check(&r, "/bin/sh", &[], "/"), None);
        assert_eq!(check(&r, "../bin/sh", &[], "/etc"), None);
        // The symlink to "/../../bin" stays in the root.
        assert_eq!(
            resolve_in_root(&r, "/escape/sh"),
            Some(r.join("bin/busybox"))
        );
        let e = check(&r, "nope", &["PATH=/bin".into()], "/").unwrap();
        assert!(
            e.contains("exec: \"nope\": executable file not found in $PATH"),
            "{e}"
        );
        assert_eq!(exit_code_for(&e), 127);
        let e = check(&r, "/etc/data", &[], "/").unwrap();
        assert!(e.contains("permission denied"), "{e}");
        assert_eq!(exit_code_for(&e), 126);
        let e = check(&r, "/etc", &[], "/").unwrap();
        assert_eq!(exit_code_for(&e), 126);
        let e = check(&r, "/bin/nope", &[], "/").unwrap();
        assert!(e.contains("no such file or directory"), "{e}");
        std::fs::remove_dir_all(&r).unwrap();
    }
}
