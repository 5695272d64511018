//! The container's root filesystem opened for one copy: mounted if it was
//! not (and unmounted after), with its mounts, under the lifecycle lock.

use std::sync::Arc;

use super::fs::{ContainerFs, MountSpec};
use crate::containers::record::Container;
use crate::containers::service::Containers;
use crate::errdefs::{Error, Result};

impl Containers {
    /// Runs `job` on a blocking thread with the container's filesystem open,
    /// holding the lifecycle lock throughout, even if the caller goes away.
    pub(super) async fn run_locked<T, F>(self: &Arc<Self>, id: String, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Arc<Containers>, Result<&Session>) -> Result<T> + Send + 'static,
    {
        let me = self.clone();
        let task = tokio::spawn(async move {
            let live = me.live(&id);
            let _op = live.op.lock().await;
            let me2 = me.clone();
            crate::task::blocking(move || {
                let session = me2.store.get(&id).and_then(|c| Session::open(&me2, c));
                job(&me2, session.as_ref().map_err(Clone::clone))
            })
            .await
        });
        task.await
            .map_err(|e| Error::system(format!("internal task failed: {e}")))?
    }

    /// The container's volumes, binds and etc files, as [`ContainerFs`] takes them.
    fn mount_specs(&self, c: &Container) -> Vec<MountSpec> {
        let read_only_root = c.host_config["ReadonlyRootfs"].as_bool().unwrap_or(false);
        let files = self.store.dir(&c.id);
        let mut out: Vec<MountSpec> = [
            ("/etc/resolv.conf", "resolv.conf"),
            ("/etc/hostname", "hostname"),
            ("/etc/hosts", "hosts"),
        ]
        .into_iter()
        .map(|(dest, file)| MountSpec {
            dest: dest.into(),
            source: files.join(file),
            read_only: read_only_root,
        })
        .filter(|m| m.source.exists())
        .collect();
        out.extend(binds(&c.host_config));
        out.extend(c.inherited_binds.iter().map(|b| MountSpec {
            dest: b.destination.clone(),
            source: b.source.clone().into(),
            read_only: b.read_only,
        }));
        out.extend(c.volumes.iter().map(|v| MountSpec {
            dest: v.destination.clone(),
            source: self.volumes.store.mountpoint(&v.name),
            read_only: v.read_only,
        }));
        out
    }
}

/// Host-path binds from `Binds` (`/src:/dst[:opts]`; named volumes there are
/// in the record's volumes) and from `Mounts` of type bind.
fn binds(host_config: &serde_json::Value) -> Vec<MountSpec> {
    let mut out = Vec::new();
    for b in host_config["Binds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b.as_str())
    {
        let mut parts = b.splitn(3, ':');
        let (Some(src), Some(dst)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !src.starts_with('/') {
            continue;
        }
        let opts = parts.next().unwrap_or("");
        out.push(MountSpec {
            dest: dst.into(),
            source: src.into(),
            read_only: opts.split(',').any(|o| o == "ro"),
        });
    }
    for m in host_config["Mounts"].as_array().into_iter().flatten() {
        if m["Type"] != "bind" {
            continue;
        }
        let (Some(src), Some(dst)) = (m["Source"].as_str(), m["Target"].as_str()) else {
            continue;
        };
        out.push(MountSpec {
            dest: dst.into(),
            source: src.into(),
            read_only: m["ReadOnly"].as_bool().unwrap_or(false),
        });
    }
    out
}

/// The container's root filesystem, mounted for the copy if it was not.
pub(super) struct Session {
    me: Arc<Containers>,
    pub(super) c: Container,
    /// Where the root filesystem is mounted, for what reads it by path.
    pub(super) rootfs: std::path::PathBuf,
    fs: Option<ContainerFs>,
    /// Not running when opened: unmounted again when done.
    release: bool,
}

impl Session {
    fn open(me: &Arc<Containers>, c: Container) -> Result<Session> {
        let release = !c.state.running;
        let rootfs = me.mount_rootfs(&c)?;
        let mut s = Session {
            me: me.clone(),
            fs: None,
            release,
            rootfs,
            c,
        };
        let read_only = s.c.host_config["ReadonlyRootfs"].as_bool().unwrap_or(false);
        let specs = me.mount_specs(&s.c);
        s.fs = Some(ContainerFs::open(&s.rootfs, read_only, &specs)?);
        Ok(s)
    }

    pub(super) fn fs(&self) -> &ContainerFs {
        self.fs
            .as_ref()
            .expect("a session's filesystem is open until it is dropped")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Descriptors first: they would keep a lazily unmounted overlay alive.
        self.fs = None;
        let running = self.me.store.get(&self.c.id).is_ok_and(|c| c.state.running);
        if self.release && !running {
            if let Err(e) = self.me.unprepare(&self.c) {
                tracing::warn!(id = %self.c.id, "releasing the root filesystem after a copy: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_from_both_fields_with_their_modes() {
        let hc = serde_json::json!({
            "Binds": ["/host/src:/dst:ro,rprivate", "named:/vol", "/h2:/d2"],
            "Mounts": [
                {"Type": "bind", "Source": "/h3", "Target": "/d3", "ReadOnly": true},
                {"Type": "volume", "Source": "v", "Target": "/d4"},
                {"Type": "tmpfs", "Target": "/d5"},
            ],
        });
        let got: Vec<(String, String, bool)> = binds(&hc)
            .into_iter()
            .map(|m| (m.dest, m.source.display().to_string(), m.read_only))
            .collect();
        assert_eq!(
            got,
            [
                ("/dst".into(), "/host/src".into(), true),
                ("/d2".into(), "/h2".into(), false),
                ("/d3".into(), "/h3".into(), true),
            ]
        );
    }
}
