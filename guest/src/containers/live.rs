//! What berthd keeps in memory about each container beyond its record:
//! exit notifications for `wait`, clients attached before a start, the lock
//! that orders lifecycle operations, and a pending policy restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UnixStream;
use tokio::sync::{oneshot, watch};

use super::service::Containers;
use super::shim::client::ShimClient;

/// Bumped on every exit and on removal; `wait` watches it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ExitSeq {
    pub seq: u64,
    pub code: i64,
    pub removed: bool,
}

/// A client that attached before the container started: the start
/// connects it to the new shim before the process runs, so it sees all
/// output.
pub struct PendingAttach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tx: oneshot::Sender<UnixStream>,
}

#[derive(Default)]
pub struct Live {
    /// Held by start, stop, restart, kill-and-remove: one at a time.
    pub op: tokio::sync::Mutex<()>,
    pub exits: watch::Sender<ExitSeq>,
    pub pending: Mutex<Vec<PendingAttach>>,
    /// Stopped or killed by a user: the restart policy stays quiet.
    pub manual_stop: AtomicBool,
    /// A policy restart waiting for its delay.
    pub restart: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The last policy restart's delay, doubled for the next one.
    pub restart_delay: Mutex<Option<std::time::Duration>>,
}

impl Live {
    pub fn publish_exit(&self, code: i64) {
        self.exits.send_modify(|e| {
            e.seq += 1;
            e.code = code;
        });
    }

    pub fn cancel_restart(&self) -> bool {
        match self
            .restart
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(h) => {
                h.abort();
                true
            }
            None => false,
        }
    }

    pub fn set_manual_stop(&self, v: bool) {
        self.manual_stop.store(v, Ordering::SeqCst);
    }

    pub fn manually_stopped(&self) -> bool {
        self.manual_stop.load(Ordering::SeqCst)
    }
}

impl Containers {
    pub(super) fn live(&self, id: &str) -> Arc<Live> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// The container is gone: wake `wait --condition removed` and forget it.
    pub(super) fn forget(&self, id: &str) {
        let live = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Some(live) = live {
            live.cancel_restart();
            live.exits.send_modify(|e| e.removed = true);
        }
    }

    pub(super) fn shim(&self, id: &str) -> ShimClient {
        ShimClient::new(super::shim::socket_path(&self.exec_root, id))
    }
}
