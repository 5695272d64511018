//! `docker pause` / `unpause`: the cgroup freezer, and `docker top`.

use std::sync::Arc;

use super::record::Container;
use super::service::Containers;
use crate::errdefs::{Error, Result};
use crate::os::cgroups::{Cgroup, Layout};

impl Containers {
    pub(super) fn cgroup(&self, c: &Container) -> Result<Cgroup> {
        // The hierarchy does not change under a running daemon: read
        // mountinfo once, not on every stats sample, stop or kill.
        let layout = match self.cgroup_layout.get() {
            Some(l) => l,
            None => {
                let l = Layout::detect().map_err(|e| {
                    Error::system(format!("cannot find the cgroup filesystem: {e}"))
                })?;
                self.cgroup_layout.get_or_init(|| l)
            }
        };
        Ok(Cgroup::new(layout, &self.cgroups_path(c)))
    }

    pub async fn pause(self: &Arc<Self>, what: &str) -> Result<()> {
        let c = self.store.get(what)?;
        let live = self.live(&c.id);
        let _op = live.op.lock().await;
        let mut c = self.store.get(&c.id)?;
        if !c.state.running {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if c.state.paused {
            return Err(Error::conflict(format!(
                "Container {} is already paused",
                c.id
            )));
        }
        self.cgroup(&c)?
            .freeze()
            .map_err(|e| Error::system(format!("cannot pause container {}: {e}", c.id)))?;
        c.state.paused = true;
        c.state.status = "paused".into();
        self.store.save(&c)?;
        self.event("pause", &c, &[]);
        Ok(())
    }

    pub async fn unpause(self: &Arc<Self>, what: &str) -> Result<()> {
        let c = self.store.get(what)?;
        let live = self.live(&c.id);
        let _op = live.op.lock().await;
        let mut c = self.store.get(&c.id)?;
        if !c.state.paused {
            return Err(Error::conflict(format!("Container {} is not paused", c.id)));
        }
        self.cgroup(&c)?
            .thaw()
            .map_err(|e| Error::system(format!("cannot unpause container {}: {e}", c.id)))?;
        c.state.paused = false;
        c.state.status = "running".into();
        self.store.save(&c)?;
        self.event("unpause", &c, &[]);
        Ok(())
    }

    /// A frozen process cannot act on a signal: thaw so a stop or kill lands.
    pub(super) fn thaw_if_paused(&self, c: &Container) {
        if let Ok(cg) = self.cgroup(c) {
            if cg.is_frozen() {
                let _ = cg.thaw();
            }
        }
    }

    pub fn top(&self, what: &str, ps_args: &str) -> Result<serde_json::Value> {
        let c = self.store.get(what)?;
        if !c.state.running {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let pids = self
            .cgroup(&c)?
            .pids()
            .map_err(|e| Error::system(format!("cannot list the container's processes: {e}")))?;
        let args = if ps_args.is_empty() { "-ef" } else { ps_args };
        let top = super::top::top(&pids, args).map_err(Error::system)?;
        Ok(serde_json::json!({"Titles": top.titles, "Processes": top.processes}))
    }
}
