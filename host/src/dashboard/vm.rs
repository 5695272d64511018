//! The VM's resources (CPUs, memory, disk, shared folders) in the settings panel, through
//! the VM helper's own settings module (`config.json`): one reader, one validator.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::context::{Context, SettingsMode};
use super::error::CommandError;
use super::Args;
use crate::settings::{Home, Settings};

/// The fields the panel edits, as config.json names them.
const FIELDS: &[&str] = &["cpus", "memory_mib", "disk_gib", "shares"];

fn vm_home(ctx: &Context) -> Option<PathBuf> {
    match &ctx.settings().mode {
        SettingsMode::Vm { home } => Some(home.clone()),
        SettingsMode::Native { .. } => None,
    }
}

/// `{"available": false}` for a native engine: the panel then shows no VM section.
pub(crate) fn get(ctx: &Context) -> Result<Value, CommandError> {
    let Some(dir) = vm_home(ctx) else {
        return Ok(json!({"available": false}));
    };
    let home = Home::at(&dir);
    let settings = Settings::load(&home).map_err(|e| CommandError::internal(e.to_string()))?;
    Ok(json!({
        "available": true,
        "path": home.config_file().display().to_string(),
        "cpus": settings.cpus,
        "memory_mib": settings.memory_mib,
        "disk_gib": settings.disk_gib,
        "shares": settings.shares,
        "host_cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }))
}

/// The field a validation message is about: the VM helper's messages start with its name.
fn field_of(message: &str) -> Option<String> {
    FIELDS
        .iter()
        .find(|f| message.starts_with(*f))
        .map(|f| f.to_string())
}

pub(crate) fn apply(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let dir = vm_home(ctx).ok_or_else(|| {
        CommandError::bad_request(
            "this engine runs natively, without Berth's VM: there are no VM resources to set",
        )
    })?;
    let home = Home::at(&dir);
    let mut settings = Settings::load(&home).map_err(|e| CommandError::internal(e.to_string()))?;
    let before = settings.clone();
    let num = |key: &str| -> Result<Option<u64>, CommandError> {
        match args.u64_or(key, u64::MAX) {
            Ok(u64::MAX) => Ok(None),
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(CommandError::invalid_field(Some(key.into()), e.message)),
        }
    };
    if let Some(v) = num("cpus")? {
        settings.cpus = u32::try_from(v).map_err(|_| {
            CommandError::invalid_field(
                Some("cpus".into()),
                format!("cpus must be 1..256, not {v}"),
            )
        })?;
    }
    if let Some(v) = num("memory_mib")? {
        settings.memory_mib = v;
    }
    if let Some(v) = num("disk_gib")? {
        if v < before.disk_gib {
            return Err(CommandError::invalid_field(
                Some("disk_gib".into()),
                format!(
                    "the data disk only grows: {v} GiB is less than its {} GiB",
                    before.disk_gib
                ),
            ));
        }
        settings.disk_gib = v;
    }
    if let Some(shares) = args.string_list("shares")? {
        settings.shares = shares.iter().map(PathBuf::from).collect();
    }
    settings
        .validate()
        .map_err(|m| CommandError::invalid_field(field_of(&m), m))?;
    settings
        .save(&home)
        .map_err(|e| CommandError::internal(e.to_string()))?;
    let changed = settings != before;
    Ok(json!({
        "written": true,
        "action": if changed { "restart-required" } else { "none" },
        "message": if changed {
            format!("Saved {}. The VM uses it from its next start: restart the engine (Restart in the tray, or `berth stop && berth start`).", home.config_file().display())
        } else {
            "Nothing changed.".to_string()
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{dispatch, Endpoint, SettingsTarget};
    use super::*;
    use std::path::Path;

    fn vm_ctx(dir: &Path) -> Context {
        Context::new(
            Endpoint {
                host: "unix:///nonexistent.sock".into(),
                source: "test".into(),
            },
            SettingsTarget {
                daemon_json: dir.join("daemon.json"),
                mode: SettingsMode::Vm {
                    home: dir.to_path_buf(),
                },
            },
        )
    }

    #[tokio::test]
    async fn native_engines_have_no_vm_section() {
        let ctx = Context::new(
            Endpoint {
                host: "unix:///nonexistent.sock".into(),
                source: "test".into(),
            },
            SettingsTarget::native("/nonexistent/daemon.json".into(), None),
        );
        let got = dispatch(&ctx, "vm.get", Value::Null).await.unwrap();
        assert_eq!(got, json!({"available": false}));
        assert_eq!(
            dispatch(&ctx, "vm.apply", json!({"cpus": 2}))
                .await
                .unwrap_err()
                .status,
            400
        );
    }

    #[tokio::test]
    async fn resources_are_validated_by_the_vm_settings_and_saved() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = vm_ctx(dir.path());
        let got = dispatch(&ctx, "vm.get", Value::Null).await.unwrap();
        assert_eq!(got["available"], true);
        let e = dispatch(&ctx, "vm.apply", json!({"memory_mib": 16}))
            .await
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("memory_mib"), "{e:?}");
        assert!(!dir.path().join("config.json").exists());
        let e = dispatch(&ctx, "vm.apply", json!({"shares": ["relative/path"]}))
            .await
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("shares"), "{e:?}");
        let r = dispatch(
            &ctx,
            "vm.apply",
            json!({"cpus": 3, "memory_mib": 3072, "shares": ["/srv/code"]}),
        )
        .await
        .unwrap();
        assert_eq!(r["action"], "restart-required");
        let saved = Settings::load(&Home::at(dir.path())).unwrap();
        assert_eq!((saved.cpus, saved.memory_mib), (3, 3072));
        assert_eq!(saved.shares, vec![PathBuf::from("/srv/code")]);
        let e = dispatch(&ctx, "vm.apply", json!({"disk_gib": 1}))
            .await
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("disk_gib"));
    }
}
