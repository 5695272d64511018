//! The daemon's start and shutdown as containers see them: reconnect to
//! the shims of running containers (live restore), account for exits that
//! happened while berthd was down, apply restart policies and `--rm`; and
//! at shutdown stop containers unless `live-restore` keeps them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::record::Container;
use super::service::Containers;

impl Containers {
    pub async fn restore(self: &Arc<Self>) {
        // Before any policy restart makes namespaces of its own.
        self.remove_stale_namespaces();
        self.restore_containers().await;
    }

    /// Network namespaces left by containers that no longer run (berthd
    /// was killed while they stopped, or the machine rebooted).
    fn remove_stale_namespaces(&self) {
        let dir = self.exec_root.join("netns");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let id = e.file_name().to_string_lossy().to_string();
            let running = self
                .store
                .get(&id)
                .map(|c| c.state.running)
                .unwrap_or(false);
            if !running {
                tracing::info!(id, "removing a stale network namespace");
                self.teardown_network(&id);
                let _ = self.networks.ops_delete_netns(&e.path());
            }
        }
    }

    async fn restore_containers(self: &Arc<Self>) {
        for c in self.store.all() {
            if c.state.running || c.state.restarting {
                let client = self.shim(&c.id);
                match client.state().await {
                    Ok(s) if s.exit.is_none() && s.pid.is_some() => {
                        tracing::info!(id = %c.id, "reconnected to the running container");
                        for ep in c.networks.values() {
                            self.networks.reserve(ep);
                        }
                        if let Err(e) = self.publish_ports(&c.id, true).await {
                            tracing::warn!(id = %c.id, "publishing the container's ports again: {e}");
                        }
                        tokio::spawn(self.clone().monitor(c.id.clone(), client));
                        self.start_health_checks(&c.id);
                        continue;
                    }
                    Ok(s) if s.exit.is_some() => {
                        self.handle_exit(
                            &c.id,
                            s.exit.unwrap_or_else(|| self.exit_from_disk(&c.id)),
                        )
                        .await;
                    }
                    _ if c.state.running => {
                        let exit = self.exit_from_disk(&c.id);
                        tracing::info!(id = %c.id, code = exit.code, "the container ended while berthd was down");
                        self.handle_exit(&c.id, exit).await;
                    }
                    _ => {}
                }
                continue;
            }
            // berthd died between the shim's start and recording it: the
            // container runs, so it is running.
            if let Ok(s) = self.shim(&c.id).state().await {
                if let (Some(pid), None) = (s.pid, &s.exit) {
                    tracing::info!(id = %c.id, "adopting a container started just before berthd stopped");
                    if let Ok(mut c) = self.store.get(&c.id) {
                        c.state.status = "running".into();
                        c.state.running = true;
                        c.state.pid = pid as i64;
                        c.state.started_at = crate::timefmt::now_rfc3339();
                        let _ = self.store.save(&c);
                    }
                    tokio::spawn(self.clone().monitor(c.id.clone(), self.shim(&c.id)));
                    continue;
                }
            }
            if c.host_config["AutoRemove"].as_bool().unwrap_or(false) && c.state.status != "created"
            {
                let me = self.clone();
                let id = c.id.clone();
                let _ = crate::task::blocking(move || me.remove(&id, true, true)).await;
                continue;
            }
            if c.state.status != "created" && restart_on_boot(&c) {
                let me = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = me.start(&c.id).await {
                        tracing::warn!(id = %c.id, "restarting the container at daemon start: {e}");
                    }
                });
            }
        }
    }

    /// Without `live-restore`, stops every running container as dockerd
    /// does, within the daemon's shutdown timeout.
    pub async fn shutdown(self: &Arc<Self>, timeout: Duration) {
        self.shutting_down.store(true, Ordering::SeqCst);
        if self.config.get().live_restore {
            tracing::info!("live-restore is on: leaving containers running");
            return;
        }
        let running: Vec<Container> = self
            .store
            .all()
            .into_iter()
            .filter(|c| c.state.running)
            .map(|c| Container::clone(&c))
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for c in running {
            let me = self.clone();
            let grace = timeout.as_secs().saturating_sub(1) as i64;
            tasks.spawn(async move {
                let live = me.live(&c.id);
                let _op = live.op.lock().await;
                let t = c.config["StopTimeout"].as_i64().unwrap_or(10).min(grace);
                if let Err(e) = me.stop_locked(&c, &live, Some(t), None).await {
                    tracing::warn!(id = %c.id, "stopping the container at shutdown: {e}");
                }
            });
        }
        let _ = tokio::time::timeout(timeout + Duration::from_secs(5), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }
}

/// dockerd's rule at daemon start: `always` restarts, `unless-stopped`
/// unless a user stopped it, `on-failure` after a failure within its count.
fn restart_on_boot(c: &Container) -> bool {
    let policy = &c.host_config["RestartPolicy"];
    match policy["Name"].as_str().unwrap_or("") {
        "always" => true,
        "unless-stopped" => !c.manually_stopped,
        "on-failure" => {
            let max = policy["MaximumRetryCount"].as_i64().unwrap_or(0);
            c.state.exit_code != 0 && (max == 0 || c.restart_count < max)
        }
        _ => false,
    }
}
