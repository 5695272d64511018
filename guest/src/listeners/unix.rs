//! `unix://` listener: mode 0660, owned by the docker group (or root).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{bail, Context};
use nix::unistd::{chown, Gid, Group};

pub fn bind(path: &Path, group: Option<&str>) -> anyhow::Result<tokio::net::UnixListener> {
    super::ensure_parent(path)?;
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another daemon is already serving {}: stop it first, or pass -H with another socket path",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    let gid = socket_group(group)?;
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("cannot listen on unix://{}", path.display()))?;
    // Ownership first, then mode: the socket is never reachable by others in between.
    if gid != nix::unistd::getegid() {
        chown(path, None, Some(gid))
            .with_context(|| format!("cannot set the group of {}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    Ok(listener)
}

/// The socket's group, as dockerd chooses it: an explicit group must exist;
/// the default "docker" group is used when present, else the daemon's own group.
fn socket_group(group: Option<&str>) -> anyhow::Result<Gid> {
    match group {
        Some(name) => match Group::from_name(name) {
            Ok(Some(g)) => Ok(g.gid),
            Ok(None) => match name.parse::<u32>() {
                Ok(n) => Ok(Gid::from_raw(n)),
                Err(_) => bail!(
                    "group {name} not found: create it, or pass --group with an existing group"
                ),
            },
            Err(e) => bail!("cannot look up group {name}: {e}"),
        },
        None => Ok(Group::from_name("docker")
            .ok()
            .flatten()
            .map(|g| g.gid)
            .unwrap_or_else(nix::unistd::getegid)),
    }
}
