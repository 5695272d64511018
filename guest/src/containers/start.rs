//! `docker start`: mount and write the bundle, start a shim, connect the
//! clients that attached early, run the process, watch for its exit.

use std::sync::Arc;

use serde_json::{json, Value};

use super::executable;
use super::live::Live;
use super::record::Container;
use super::service::Containers;
use super::shim::{self, client::ShimClient, ShimConfig};
use crate::errdefs::{Error, Kind, Result};
use crate::task::blocking;

impl Containers {
    pub async fn start(self: &Arc<Self>, what: &str) -> Result<()> {
        let id = self.store.get(what)?.id;
        let live = self.live(&id);
        let _op = live.op.lock().await;
        let c = self.store.get(&id)?;
        if c.state.running {
            return Err(Error::new(Kind::NotModified, "container already started"));
        }
        live.set_manual_stop(false);
        live.cancel_restart();
        let auto_remove = c.host_config["AutoRemove"].as_bool().unwrap_or(false);
        let result = self.start_locked(c, &live).await;
        if result.is_err() {
            // Clients attached for this start get their streams closed, and
            // `--rm` removes a container that could not start (the CLI waits
            // for that).
            live.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
            if auto_remove {
                let me = self.clone();
                tokio::spawn(async move {
                    let _ = crate::task::blocking(move || me.remove(&id, true, true)).await;
                });
            }
        }
        result
    }

    /// Starts `c`; the caller holds `live.op`.
    pub(super) async fn start_locked(
        self: &Arc<Self>,
        c: Container,
        live: &Arc<Live>,
    ) -> Result<()> {
        let me = self.clone();
        let id = c.id.clone();
        let net = blocking(move || me.setup_network(&id)).await;
        if let Err(e) = net {
            return Err(self.start_failed(&c, e));
        }
        if let Err(e) = self.publish_ports(&c.id, false).await {
            self.unpublish_ports(&c.id);
            return Err(self.start_failed(&c, e));
        }
        let c = self.store.get(&c.id)?;
        let me = self.clone();
        let c2 = c.clone();
        let bundle = blocking(move || {
            let b = me.prepare(&c2)?;
            if let Some(msg) = me.check_command(&c2, &b.rootfs).filter(|_| !b.init) {
                let _ = me.unprepare(&c2);
                return Err(Error::invalid(msg));
            }
            Ok(b)
        })
        .await;
        let bundle = match bundle {
            Ok(b) => b,
            Err(e) => return Err(self.start_failed(&c, e)),
        };
        let cfg = ShimConfig {
            id: c.id.clone(),
            bundle: bundle.dir.clone(),
            state_root: self.exec_root.join("runtime"),
            socket: shim::socket_path(&self.exec_root, &c.id),
            tty: c.config["Tty"].as_bool().unwrap_or(false),
            open_stdin: c.config["OpenStdin"].as_bool().unwrap_or(false),
            stdin_once: c.config["StdinOnce"].as_bool().unwrap_or(false),
            log_config: self.log_config(&c),
            container_dir: self.store.dir(&c.id),
            runtime: match self.runtime_binary(&c) {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = self.unprepare(&c);
                    let e = Error::system(format!("cannot find berthd's own binary: {e}"));
                    return Err(self.start_failed(&c, e));
                }
            },
        };
        let client = match self.spawn_shim(&cfg).await {
            Ok(client) => client,
            Err(e) => {
                let _ = self.unprepare(&c);
                return Err(self.start_failed(
                    &c,
                    Error::system(format!("cannot start the container's shim: {e}")),
                ));
            }
        };
        // Early attachers see the process's first byte.
        let pending: Vec<_> =
            std::mem::take(&mut *live.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for p in pending {
            if let Ok(conn) = client.attach(p.stdin, p.stdout, p.stderr).await {
                let _ = p.tx.send(conn);
            }
        }
        let pid = match client.start().await {
            Ok(pid) => pid,
            Err(e) => {
                let _ = self.unprepare(&c);
                let msg = format!(
                    "failed to create task for container: OCI runtime create failed: {e}: unknown"
                );
                return Err(self.start_failed(&c, Error::system(msg)));
            }
        };
        // The container holds its own copies of the private binds now.
        self.release_private_binds(&c.id);
        let mut c = self.store.get(&c.id)?;
        c.state.status = "running".into();
        c.state.running = true;
        c.state.paused = false;
        c.state.restarting = false;
        c.state.oom_killed = false;
        c.state.dead = false;
        c.state.pid = pid as i64;
        c.state.exit_code = 0;
        c.state.error = String::new();
        c.state.health = None;
        c.state.started_at = crate::timefmt::now_rfc3339();
        c.manually_stopped = false;
        self.store.save(&c)?;
        self.event("start", &c, &[]);
        self.start_health_checks(&c.id);
        tokio::spawn(self.clone().monitor(c.id.clone(), client));
        Ok(())
    }

    async fn spawn_shim(&self, cfg: &ShimConfig) -> std::io::Result<ShimClient> {
        let json = serde_json::to_vec_pretty(cfg).map_err(std::io::Error::other)?;
        crate::fsutil::atomic_write(&cfg.bundle.join(shim::CONFIG_FILE), &json, 0o600)?;
        let _ = std::fs::remove_file(cfg.bundle.join(shim::EXIT_FILE));
        shim::client::spawn(&cfg.bundle, &cfg.container_dir.join("shim.log")).await?;
        Ok(ShimClient::new(cfg.socket.clone()))
    }

    /// Records a failed start as dockerd does (the error and an exit code
    /// on a container that stays stopped) and returns the error.
    fn start_failed(&self, c: &Container, e: Error) -> Error {
        self.release_private_binds(&c.id);
        self.unpublish_ports(&c.id);
        self.teardown_network(&c.id);
        if let Ok(mut c) = self.store.get(&c.id) {
            c.state.error = e.message.clone();
            c.state.exit_code = executable::exit_code_for(&e.message);
            let _ = self.store.save(&c);
        }
        e
    }

    /// Whether the container's command can run, checked in its mounted root.
    fn check_command(&self, c: &Container, rootfs: &std::path::Path) -> Option<String> {
        let env: Vec<String> = c.config["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let cwd = c.config["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .unwrap_or("/");
        // dockerd creates a missing working directory.
        if let Some(dir) = executable::resolve_in_root(rootfs, cwd) {
            if !dir.exists() {
                if let Err(e) = std::fs::create_dir_all(&dir) {
                    return Some(format!("cannot create the working directory {cwd}: {e}"));
                }
            }
        }
        executable::check(rootfs, &c.path, &env, cwd)
    }

    /// The runc-compatible binary the container runs with: one named under
    /// daemon.json's `runtimes`, else berthd's own (the linked-in runtime,
    /// `berth`, also known as `runc`).
    fn runtime_binary(&self, c: &Container) -> std::io::Result<shim::RuntimeBinary> {
        let cfg = self.config.get();
        let name = c.host_config["Runtime"].as_str().unwrap_or("");
        match cfg.runtimes.get(name) {
            Some(rt) => Ok(shim::RuntimeBinary {
                path: if rt.path.is_empty() {
                    name.into()
                } else {
                    rt.path.clone().into()
                },
                args: rt.runtime_args.clone(),
            }),
            None => shim::builtin_runtime(),
        }
    }

    /// The container's log configuration, with the daemon's defaults for
    /// what it does not set.
    pub(super) fn log_config(&self, c: &Container) -> Value {
        let lc = &c.host_config["LogConfig"];
        if lc["Type"].as_str().is_some_and(|t| !t.is_empty()) {
            return lc.clone();
        }
        let cfg = self.config.get();
        json!({"Type": cfg.log_driver, "Config": cfg.log_opts})
    }
}
