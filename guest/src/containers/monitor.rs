//! After a container's process ends: record the exit, release the root
//! filesystem, wake waiters, then remove (`--rm`) or restart (the restart
//! policy) the container.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::live::Live;
use super::record::Container;
use super::service::Containers;
use super::shim::client::ShimClient;
use super::shim::protocol::ExitInfo;

/// dockerd's restart back-off: 100 ms doubling up to a minute, reset when
/// the container had run for 10 s.
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);

impl Containers {
    /// Waits on the shim for the container's exit and handles it.
    pub(super) async fn monitor(self: Arc<Self>, id: String, client: ShimClient) {
        let exit = match client.wait().await {
            Ok(e) => e,
            // The shim is gone without answering (killed): what it wrote,
            // if anything, says how the process ended.
            Err(_) => self.exit_from_disk(&id),
        };
        self.handle_exit(&id, exit).await;
    }

    pub(super) fn exit_from_disk(&self, id: &str) -> ExitInfo {
        let path = self.bundle_dir(id).join(super::shim::EXIT_FILE);
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| ExitInfo {
                code: 255,
                finished_at: crate::timefmt::now_rfc3339(),
                oom_killed: false,
            })
    }

    pub(super) async fn handle_exit(self: &Arc<Self>, id: &str, exit: ExitInfo) {
        let Ok(mut c) = self.store.get(id) else {
            return;
        };
        let live = self.live(id);
        let ran_for = run_time(&c, &exit.finished_at);
        c.state.status = "exited".into();
        c.state.running = false;
        c.state.paused = false;
        c.state.pid = 0;
        c.state.exit_code = exit.code as i64;
        c.state.oom_killed = exit.oom_killed;
        c.state.finished_at = exit.finished_at.clone();
        c.manually_stopped = live.manually_stopped();
        if let Err(e) = self.unprepare(&c) {
            tracing::warn!(id, "releasing the container's root filesystem: {e}");
        }
        self.teardown_network(id);
        c.networks.clear();
        c.ports = serde_json::Value::Null;
        let restart = !self.shutting_down.load(Ordering::SeqCst)
            && !live.manually_stopped()
            && should_restart(&c, exit.code);
        if restart {
            c.state.restarting = true;
            c.state.status = "restarting".into();
        }
        if let Err(e) = self.store.save(&c) {
            tracing::error!(id, "recording the container's exit: {e}");
        }
        if exit.oom_killed {
            self.event("oom", &c, &[]);
        }
        let code = exit.code.to_string();
        self.event("die", &c, &[("exitCode", &code)]);
        live.publish_exit(exit.code as i64);

        if c.host_config["AutoRemove"].as_bool().unwrap_or(false) && !restart {
            let me = self.clone();
            let id = id.to_string();
            let _ = crate::task::blocking(move || me.remove(&id, true, true)).await;
            return;
        }
        if restart {
            self.schedule_restart(c, live, ran_for);
        }
    }

    fn schedule_restart(
        self: &Arc<Self>,
        c: Container,
        live: Arc<Live>,
        ran_for: Option<Duration>,
    ) {
        let delay = {
            let mut d = live.restart_delay.lock().unwrap_or_else(|p| p.into_inner());
            *d = match (*d, ran_for) {
                (_, Some(t)) if t >= Duration::from_secs(10) => FIRST_DELAY,
                (None, _) => FIRST_DELAY,
                (Some(prev), _) => (prev * 2).min(MAX_DELAY),
            }
            .into();
            d.unwrap_or(FIRST_DELAY)
        };
        let me = self.clone();
        let live2 = live.clone();
        let handle = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _op = live2.op.lock().await;
            let Ok(mut c) = me.store.get(&c.id) else {
                return;
            };
            if live2.manually_stopped() || !c.state.restarting {
                return;
            }
            c.restart_count += 1;
            let _ = me.store.save(&c);
            if let Err(e) = me.start_locked(c.clone(), &live2).await {
                tracing::warn!(id = %c.id, "restarting the container: {e}");
                if let Ok(mut c) = me.store.get(&c.id) {
                    c.state.restarting = false;
                    c.state.status = "exited".into();
                    let _ = me.store.save(&c);
                }
            }
        });
        *live.restart.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
    }
}

/// The restart policy's verdict on an exit with `code`.
pub fn should_restart(c: &Container, code: i32) -> bool {
    let policy = &c.host_config["RestartPolicy"];
    match policy["Name"].as_str().unwrap_or("") {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            let max = policy["MaximumRetryCount"].as_i64().unwrap_or(0);
            code != 0 && (max == 0 || c.restart_count < max)
        }
        _ => false,
    }
}

fn run_time(c: &Container, finished: &str) -> Option<Duration> {
    let parse = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    };
    let d = parse(finished)? - parse(&c.state.started_at)?;
    d.try_into().ok()
}
