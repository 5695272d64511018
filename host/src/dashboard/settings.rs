//! The daemon.json panel: read, validate with the daemon's own code, apply
//! (atomic write, then SIGHUP or a restart notice).

use std::path::Path;

use berth_common::daemon_config::{self, key_info, ConfigError, DaemonConfig};
use serde_json::{json, Value};

use super::context::{Context, SettingsMode};
use super::error::CommandError;
use super::Args;

/// The keys the form edits; everything else goes through the raw editor.
pub const FORM_KEYS: &[&str] = &[
    "registry-mirrors",
    "insecure-registries",
    "dns",
    "default-address-pools",
    "log-driver",
    "log-opts",
    "live-restore",
    "debug",
    "features",
];

const NATIVE_RESTART_HINT: &str =
    "sudo scripts/start-native.sh --stop && sudo scripts/start-native.sh";

fn config_error(e: ConfigError) -> CommandError {
    let at = match (e.line, e.column) {
        // serde_json's syntax errors already say where.
        _ if e.message.contains(" line ") => String::new(),
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        _ => String::new(),
    };
    CommandError::invalid_field(e.key.clone(), format!("{}{at}", e.message))
}

fn read_text(path: &Path) -> Result<Option<String>, CommandError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CommandError::internal(format!(
            "cannot read {}: {e}; check that it is readable by this user",
            path.display()
        ))),
    }
}

pub(crate) fn get(ctx: &Context) -> Result<Value, CommandError> {
    let target = ctx.settings();
    let text = read_text(&target.daemon_json)?;
    let exists = text.is_some();
    let text = text.unwrap_or_else(|| "{}\n".into());
    let (valid, error) = match daemon_config::validate_text(&text) {
        Ok(_) => (true, Value::Null),
        Err(e) => (
            false,
            serde_json::to_value(config_error(e)).unwrap_or_default(),
        ),
    };
    let values: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let form: Vec<Value> = FORM_KEYS
        .iter()
        .map(|k| {
            let info = key_info(k);
            json!({
                "key": k,
                "kind": info.map(|i| format!("{:?}", i.kind)),
                "reloadable": info.map(|i| i.reloadable),
                "value": values.get(*k),
            })
        })
        .collect();
    let (mode, pidfile) = match &target.mode {
        SettingsMode::Native { pidfile } => {
            ("native", pidfile.as_ref().map(|p| p.display().to_string()))
        }
        SettingsMode::Vm { .. } => ("vm", None),
    };
    Ok(json!({
        "path": target.daemon_json.display().to_string(),
        "exists": exists,
        "mode": mode,
        "pidfile": pidfile,
        "text": text,
        "valid": valid,
        "error": error,
        "form": form,
    }))
}

/// The current file's configuration, or the defaults when it is missing or invalid
/// (then every key in the new text counts as changed).
fn current_config(path: &Path) -> DaemonConfig {
    read_text(path)
        .ok()
        .flatten()
        .and_then(|t| daemon_config::validate_text(&t).ok())
        .map(|l| l.config)
        .unwrap_or_default()
}

fn plan_json(ctx: &Context, new: &DaemonConfig) -> (Vec<String>, Vec<String>) {
    let old = current_config(&ctx.settings().daemon_json);
    let plan = daemon_config::reload_plan(&old, new);
    let keys = |v: &[daemon_config::Change]| v.iter().map(|c| c.key.clone()).collect::<Vec<_>>();
    (keys(&plan.reloaded), keys(&plan.needs_restart))
}

pub(crate) fn validate(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let text = args.text("text")?;
    let loaded = daemon_config::validate_text(&text).map_err(config_error)?;
    let (reloaded, needs_restart) = plan_json(ctx, &loaded.config);
    Ok(json!({
        "valid": true,
        "reloaded": reloaded,
        "needs_restart": needs_restart,
        "not_yet_supported": loaded.not_yet_supported,
    }))
}

pub(crate) fn apply(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let text = args.text("text")?;
    // Nothing touches the disk unless the daemon would accept the text.
    let loaded = daemon_config::validate_text(&text).map_err(config_error)?;
    let (reloaded, needs_restart) = plan_json(ctx, &loaded.config);
    let path = &ctx.settings().daemon_json;
    crate::settings::write_atomic(path, text.as_bytes()).map_err(|e| {
        CommandError::internal(format!(
            "cannot write {}: {e}; check that this user may write there \
             (or start the dashboard with --daemon-config PATH)",
            path.display()
        ))
    })?;
    tracing::info!(path = %path.display(), ?reloaded, ?needs_restart, "daemon.json written");

    let mut messages = vec![format!("Saved {}.", path.display())];
    let mut action = "none";
    match &ctx.settings().mode {
        SettingsMode::Native { pidfile } => {
            if !reloaded.is_empty() {
                match pidfile.as_deref().map(signal_reload) {
                    Some(Ok(pid)) => {
                        action = "reloaded";
                        messages.push(format!(
                            "Reloaded berthd (SIGHUP to pid {pid}): {}.",
                            reloaded.join(", ")
                        ));
                    }
                    Some(Err(e)) => messages.push(format!(
                        "Could not reload berthd: {e}. Reload it yourself with \
                         `sudo kill -HUP $(cat PIDFILE)`."
                    )),
                    None => messages.push(
                        "No pidfile is known (start the dashboard with --daemon-pidfile): \
                         reload berthd with SIGHUP yourself."
                            .into(),
                    ),
                }
            }
            if !needs_restart.is_empty() {
                action = "restart-required";
                messages.push(format!(
                    "These keys take effect only after a restart of berthd: {}. Restart it with: {NATIVE_RESTART_HINT}",
                    needs_restart.join(", ")
                ));
            }
        }
        SettingsMode::Vm { .. } => {
            // berth-host's supervisor watches this file and hands a valid change to the
            // guest, whose berthd reloads it: the reloadable keys need nothing more.
            if !reloaded.is_empty() {
                action = "reloaded";
                messages.push(format!(
                    "The running VM picks the file up within seconds and berthd reloads: {}.",
                    reloaded.join(", ")
                ));
            }
            if !needs_restart.is_empty() {
                match restart_vm() {
                    Ok(()) => {
                        action = "restarting";
                        messages.push(format!(
                            "Restarting the VM for: {} (`berth restart`, about half a minute).",
                            needs_restart.join(", ")
                        ));
                    }
                    Err(e) => {
                        action = "restart-required";
                        messages.push(format!(
                            "These keys need a restart: {}. It could not be started ({e}): run `berth restart`.",
                            needs_restart.join(", ")
                        ));
                    }
                }
            }
        }
    }
    if reloaded.is_empty() && needs_restart.is_empty() {
        messages.push("Nothing changed for the daemon.".into());
    }
    Ok(json!({
        "written": true,
        "action": action,
        "reloaded": reloaded,
        "needs_restart": needs_restart,
        "message": messages.join(" "),
    }))
}

/// `berth restart` in the background: the `berth` next to this program (the dashboard runs
/// inside it; the desktop app ships beside it), else the one on PATH.
fn restart_vm() -> std::io::Result<()> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("berth")))
        .filter(|p| p.is_file());
    let berth = beside.unwrap_or_else(|| "berth".into());
    std::process::Command::new(berth)
        .arg("restart")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
}

/// SIGHUP to the daemon named by the pidfile, after checking the pid is a berthd.
#[cfg(unix)]
fn signal_reload(pidfile: &Path) -> Result<i32, String> {
    let text = std::fs::read_to_string(pidfile)
        .map_err(|e| format!("cannot read pidfile {}: {e}", pidfile.display()))?;
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|_| format!("pidfile {} holds no pid", pidfile.display()))?;
    #[cfg(target_os = "linux")]
    {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "berthd" {
            return Err(format!(
                "pid {pid} from {} is not a running berthd (stale pidfile?)",
                pidfile.display()
            ));
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    )
    .map_err(|e| format!("SIGHUP to pid {pid}: {e}"))?;
    Ok(pid)
}

#[cfg(not(unix))]
fn signal_reload(_pidfile: &Path) -> Result<i32, String> {
    Err("signals are not available on this platform".into())
}

#[cfg(test)]
mod tests {
    use super::super::{dispatch, Endpoint, SettingsTarget};
    use super::*;

    fn ctx_for(path: &Path) -> Context {
        Context::new(
            Endpoint {
                host: "unix:///nonexistent.sock".into(),
                source: "test".into(),
            },
            SettingsTarget::native(path.to_path_buf(), None),
        )
    }

    #[tokio::test]
    async fn invalid_text_names_the_field_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        std::fs::write(&path, "{\"debug\": false}\n").unwrap();
        let ctx = ctx_for(&path);
        let e = dispatch(
            &ctx,
            "settings.apply",
            json!({"text": "{\"debug\": \"yes\"}"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("debug"), "{e:?}");
        assert_eq!(e.status, 422);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"debug\": false}\n"
        );
        let e = dispatch(&ctx, "settings.validate", json!({"text": "{\"nope\": 1}"}))
            .await
            .unwrap_err();
        assert!(e.message.contains("nope"), "{}", e.message);
    }

    #[tokio::test]
    async fn valid_text_is_written_with_its_plan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("daemon.json");
        let ctx = ctx_for(&path);
        let got = dispatch(&ctx, "settings.get", Value::Null).await.unwrap();
        assert_eq!(got["exists"], false);
        assert_eq!(got["valid"], true);
        let text = "{\"debug\": true, \"data-root\": \"/srv/berth\"}";
        let v = dispatch(&ctx, "settings.validate", json!({"text": text}))
            .await
            .unwrap();
        assert_eq!(v["reloaded"], json!(["debug"]));
        assert_eq!(v["needs_restart"], json!(["data-root"]));
        let r = dispatch(&ctx, "settings.apply", json!({"text": text}))
            .await
            .unwrap();
        assert_eq!(r["action"], "restart-required");
        assert!(r["message"].as_str().unwrap().contains("--daemon-pidfile"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let got = dispatch(&ctx, "settings.get", Value::Null).await.unwrap();
        assert_eq!(got["form"][7]["key"], "debug");
        assert_eq!(got["form"][7]["value"], true);
    }

    #[tokio::test]
    async fn in_vm_mode_reloadable_keys_are_reloaded_by_the_supervisor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        std::fs::write(&path, "{}\n").unwrap();
        let target = SettingsTarget {
            daemon_json: path.clone(),
            mode: SettingsMode::Vm {
                home: dir.path().to_path_buf(),
            },
        };
        let ctx = Context::new(
            Endpoint {
                host: "unix:///nonexistent.sock".into(),
                source: "test".into(),
            },
            target,
        );
        let text = "{\"debug\": true}";
        let r = dispatch(&ctx, "settings.apply", json!({"text": text}))
            .await
            .unwrap();
        assert_eq!(r["action"], "reloaded", "{r}");
        assert!(r["message"].as_str().unwrap().contains("debug"), "{r}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
