//! `docker update`: resources and restart policy of an existing container.

use std::sync::Arc;

use serde_json::{json, Value};

use super::service::Containers;
use crate::errdefs::{Error, Result};
use crate::os::cgroups::Resources;

const UPDATABLE: &[&str] = &[
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "CpuShares",
    "CpuQuota",
    "CpuPeriod",
    "NanoCpus",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "BlkioWeight",
    "KernelMemory",
];

impl Containers {
    pub async fn update(self: &Arc<Self>, what: &str, body: Value) -> Result<Vec<String>> {
        let c = self.store.get(what)?;
        let live = self.live(&c.id);
        let _op = live.op.lock().await;
        let mut c = self.store.get(&c.id)?;
        let obj = body
            .as_object()
            .ok_or_else(|| Error::invalid("the update must be a JSON object"))?;
        if let Some(policy) = obj
            .get("RestartPolicy")
            .filter(|p| !p["Name"].as_str().unwrap_or("").is_empty())
        {
            if c.host_config["AutoRemove"].as_bool().unwrap_or(false) && policy["Name"] != "no" {
                return Err(Error::invalid(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                ));
            }
            c.host_config["RestartPolicy"] = policy.clone();
        }
        let num = |k: &str| obj.get(k).and_then(Value::as_i64).filter(|v| *v != 0);
        if num("NanoCpus").is_some() && (num("CpuQuota").is_some() || num("CpuPeriod").is_some()) {
            return Err(Error::invalid(
                "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
            ));
        }
        let mut r = Resources {
            memory: num("Memory"),
            memory_swap: num("MemorySwap"),
            memory_reservation: num("MemoryReservation"),
            cpu_shares: num("CpuShares").map(|v| v as u64),
            cpu_quota: num("CpuQuota"),
            cpu_period: num("CpuPeriod").map(|v| v as u64),
            cpuset_cpus: obj
                .get("CpusetCpus")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            cpuset_mems: obj
                .get("CpusetMems")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            pids_limit: obj.get("PidsLimit").and_then(Value::as_i64),
            blkio_weight: num("BlkioWeight").map(|v| v as u16),
        };
        if let Some(nano) = num("NanoCpus") {
            r.cpu_period = Some(100_000);
            r.cpu_quota = Some(nano * 100_000 / 1_000_000_000);
        }
        if let (Some(m), None) = (r.memory, r.memory_swap) {
            // dockerd keeps swap at twice the memory when only memory changes
            // and no swap limit was set before.
            if c.host_config["MemorySwap"].as_i64().unwrap_or(0) == 0 {
                r.memory_swap = Some(m * 2);
            }
        }
        if let (Some(m), Some(s)) = (r.memory, r.memory_swap) {
            if s > 0 && s < m {
                return Err(Error::invalid(
                    "Minimum memoryswap limit should be larger than memory limit, see usage",
                ));
            }
        }
        if c.state.running {
            self.cgroup(&c)?
                .update(&r)
                .map_err(|e| Error::system(format!("Cannot update container {}: {e}", c.id)))?;
        }
        for k in UPDATABLE {
            if let Some(v) = obj
                .get(*k)
                .filter(|v| !v.is_null() && *v != &json!(0) && *v != &json!(""))
            {
                c.host_config[*k] = v.clone();
            }
        }
        if let Some(s) = r.memory_swap {
            c.host_config["MemorySwap"] = json!(s);
        }
        self.store.save(&c)?;
        self.event("update", &c, &[]);
        Ok(Vec::new())
    }

    /// `docker export`: the container's filesystem as a tar stream.
    pub fn export(
        self: &Arc<Self>,
        what: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>> {
        let c = self.store.get(what)?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let was_mounted = c.state.running;
            let root = match me.mount_rootfs(&c) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.message)));
                    return;
                }
            };
            let writer = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(64 * 1024),
            };
            let mut b = tar::Builder::new(writer);
            b.follow_symlinks(false);
            let result = b
                .append_dir_all(".", &root)
                .and_then(|_| b.into_inner())
                .and_then(|mut w| w.flush_now());
            if let Err(e) = result {
                let _ = tx.blocking_send(Err(e));
            }
            if !was_mounted
                && !me
                    .store
                    .get(&c.id)
                    .map(|c| c.state.running)
                    .unwrap_or(false)
            {
                let _ = me.unprepare(&c);
            }
            me.event("export", &c, &[]);
        });
        Ok(rx)
    }
}

struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn flush_now(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.tx
                .blocking_send(Ok(chunk))
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        }
        Ok(())
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush_now()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_now()
    }
}
