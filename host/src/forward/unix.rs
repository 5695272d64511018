//! Listening Unix sockets that refuse to steal a path another process serves.

use anyhow::Context;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio::net::UnixListener;

/// Binds `path` (mode `mode`), replacing a stale socket file but never a live one.
pub fn bind(path: &Path, mode: u32) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder of {}", path.display()))?;
    }
    if path.exists() || path.symlink_metadata().is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!(
                "{} is busy: another process serves it (stop it, or set another \"socket\" in the Berth config.json)",
                path.display()
            );
        }
        std::fs::remove_file(path).with_context(|| {
            format!(
                "{} exists and is not a socket Berth can replace: remove it",
                path.display()
            )
        })?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_live_socket_is_not_taken_over_but_a_stale_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/docker.sock");
        let first = bind(&path, 0o600).unwrap();
        let e = bind(&path, 0o600).unwrap_err().to_string();
        assert!(e.contains("busy"), "{e}");
        drop(first); // the file stays, nobody answers: stale
        let _second = bind(&path, 0o600).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
