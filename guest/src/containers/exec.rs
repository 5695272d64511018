//! `docker exec`: exec instances (create, start, inspect, resize), run by
//! the container's shim.

use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{json, Value};

use super::attach::{parse_detach_keys, Session};
use super::service::Containers;
use super::shim::client::read_to_exit;
use super::shim::protocol::ExecRequest;
use super::spec::resolve_user;
use crate::errdefs::{Error, Result};

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub detach_keys: Option<String>,
    pub tty: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub privileged: bool,
    pub user: Option<String>,
    pub working_dir: Option<String>,
}

pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
}

#[derive(Debug, Clone, Default)]
pub struct ExecState {
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

impl Containers {
    pub fn exec_create(&self, what: &str, config: ExecConfig) -> Result<String> {
        let c = self.store.get(what)?;
        if !c.state.running {
            return Err(Error::conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        if c.state.paused {
            return Err(Error::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(Error::invalid("No exec command specified"));
        }
        parse_detach_keys(config.detach_keys.as_deref().unwrap_or(""))?;
        let id = super::create::new_id();
        let exec = Arc::new(Exec {
            id: id.clone(),
            container_id: c.id.clone(),
            config,
            state: Mutex::default(),
        });
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), exec.clone());
        let cmd = exec.config.cmd.clone().unwrap_or_default().join(" ");
        let attr = format!("exec_create: {cmd}");
        self.event(&attr, &c, &[("execID", &id)]);
        Ok(id)
    }

    fn exec_get(&self, id: &str) -> Result<Arc<Exec>> {
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    /// Starts the exec; with `detach` it runs on its own and `None` comes
    /// back, else the session to connect the client to.
    pub async fn exec_start(self: &Arc<Self>, id: &str, detach: bool) -> Result<Option<Session>> {
        let exec = self.exec_get(id)?;
        {
            let mut st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.started {
                return Err(Error::conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
            st.started = true;
            st.running = true;
        }
        let c = self.store.get(&exec.container_id)?;
        if !c.state.running {
            return Err(Error::conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        let (process, rootfs) = self.exec_process(&c, &exec.config)?;
        let precheck = rootfs.and_then(|rootfs| {
            let env: Vec<String> = process["env"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            let cmd0 = process["args"][0].as_str().unwrap_or("");
            let cwd = process["cwd"].as_str().unwrap_or("/");
            super::executable::check(&rootfs, cmd0, &env, cwd).map(|msg| {
                msg.replace(
                    "failed to create task for container: OCI runtime create failed",
                    "OCI runtime exec failed: exec failed",
                )
            })
        });
        let cfg = &exec.config;
        let stdin = cfg.attach_stdin && !detach;
        let req = ExecRequest {
            id: exec.id.clone(),
            process,
            stdin,
            stdout: cfg.attach_stdout && !detach,
            stderr: cfg.attach_stderr && !detach,
            detached: detach,
        };
        let cmd = cfg.cmd.clone().unwrap_or_default().join(" ");
        let attr = format!("exec_start: {cmd}");
        self.event(&attr, &c, &[("execID", id)]);
        let me = self.clone();
        let (exec2, c2) = (exec.clone(), c.clone());
        let record = move |code: i32| {
            {
                let mut st = exec2.state.lock().unwrap_or_else(|p| p.into_inner());
                st.running = false;
                st.exit_code = Some(code as i64);
            }
            let code = code.to_string();
            me.event(
                "exec_die",
                &c2,
                &[("execID", &exec2.id), ("exitCode", &code)],
            );
        };
        let shim = self.shim(&c.id);
        let exec3 = exec.clone();
        // Runs the exec; on failure records it as dockerd does and says why
        // on the stream the client already holds.
        let launch = async move {
            if let Some(msg) = precheck {
                let mut st = exec3.state.lock().unwrap_or_else(|p| p.into_inner());
                st.running = false;
                st.exit_code = Some(super::executable::exit_code_for(&msg));
                return Err(msg);
            }
            match shim.exec(req).await {
                Ok((pid, conn)) => {
                    exec3.state.lock().unwrap_or_else(|p| p.into_inner()).pid = pid as i64;
                    Ok(conn)
                }
                Err(e) => {
                    let mut st = exec3.state.lock().unwrap_or_else(|p| p.into_inner());
                    st.running = false;
                    st.exit_code = Some(super::executable::exit_code_for(&e.to_string()));
                    Err(format!(
                        "OCI runtime exec failed: exec failed: unable to start container process: {e}: unknown"
                    ))
                }
            }
        };
        if detach {
            let conn = launch.await.map_err(Error::system)?;
            tokio::spawn(async move {
                if let Some((code, _)) = read_to_exit(conn, 0).await {
                    record(code);
                }
            });
            return Ok(None);
        }
        let keys = parse_detach_keys(cfg.detach_keys.as_deref().unwrap_or(""))?;
        Ok(Some(
            Session::deferred(cfg.tty, stdin, keys, Box::pin(launch)).on_exit(record),
        ))
    }

    pub fn exec_inspect(&self, id: &str) -> Result<Value> {
        let exec = self.exec_get(id)?;
        let st = exec.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let cfg = &exec.config;
        let cmd = cfg.cmd.clone().unwrap_or_default();
        Ok(json!({
            "CanRemove": false,
            "ContainerID": exec.container_id,
            "DetachKeys": cfg.detach_keys.clone().unwrap_or_default(),
            "ExitCode": st.exit_code,
            "ID": exec.id,
            "OpenStderr": cfg.attach_stderr,
            "OpenStdin": cfg.attach_stdin,
            "OpenStdout": cfg.attach_stdout,
            "ProcessConfig": {
                "arguments": cmd.get(1..).unwrap_or(&[]),
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "privileged": cfg.privileged,
                "tty": cfg.tty,
                "user": cfg.user.clone().unwrap_or_default(),
            },
            "Running": st.running,
            "Pid": st.pid,
        }))
    }

    pub async fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let exec = self.exec_get(id)?;
        self.shim(&exec.container_id)
            .resize(Some(exec.id.clone()), height, width)
            .await
            .map_err(|e| Error::system(e.to_string()))
    }

    /// The OCI process for an exec: the container's own process with the
    /// exec's command, environment, user, directory and terminal; and the
    /// container's root filesystem, from the same runtime configuration.
    pub(super) fn exec_process(
        &self,
        c: &super::record::Container,
        cfg: &ExecConfig,
    ) -> Result<(Value, Option<std::path::PathBuf>)> {
        let spec: Value = std::fs::read(self.bundle_dir(&c.id).join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                Error::system(format!("container {} has no runtime configuration", c.id))
            })?;
        let mut p = spec["process"].clone();
        p["args"] = json!(cfg.cmd.clone().unwrap_or_default());
        p["terminal"] = json!(cfg.tty);
        let mut env: Vec<String> = p["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let mut extra = cfg.env.clone().unwrap_or_default();
        if cfg.tty && !env.iter().chain(&extra).any(|e| e.starts_with("TERM=")) {
            extra.push("TERM=xterm".into());
        }
        for e in extra {
            let key = e.split('=').next().unwrap_or("").to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(e);
        }
        p["env"] = json!(env);
        if let Some(dir) = cfg.working_dir.as_deref().filter(|d| !d.is_empty()) {
            p["cwd"] = json!(dir);
        }
        if let Some(user) = cfg.user.as_deref().filter(|u| !u.is_empty()) {
            let rootfs = spec["root"]["path"].as_str().unwrap_or("");
            let u = resolve_user(std::path::Path::new(rootfs), user, &[])?;
            p["user"] = json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids});
        }
        if cfg.privileged {
            let all: Vec<String> = super::spec::all_capabilities();
            for set in ["bounding", "effective", "permitted"] {
                p["capabilities"][set] = json!(all);
            }
        }
        let rootfs = spec["root"]["path"].as_str().map(std::path::PathBuf::from);
        Ok((p, rootfs))
    }
}
