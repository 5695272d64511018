//! Start, Stop and Restart from the tray: the `berth` CLI of berth-host does the work
//! (VM or native engine), the tray only runs it and reports how it went.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::Command;

/// What the tray asks `berth` to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

impl Action {
    /// The `berth` subcommands, in order.
    pub fn steps(self) -> &'static [&'static str] {
        match self {
            Action::Start => &["start"],
            Action::Stop => &["stop"],
            Action::Restart => &["stop", "start"],
        }
    }
}

/// The `berth` CLI: `$BERTH_CLI`, else the one installed next to this app, else `berth`
/// on the PATH.
pub fn berth_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_CLI") {
        return PathBuf::from(p);
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("berth")))
        .filter(|p| p.is_file());
    beside.unwrap_or_else(|| PathBuf::from("berth"))
}

/// Runs one `berth` subcommand to completion; the error is what the user should read.
pub async fn run_step(step: &str) -> Result<(), String> {
    let cli = berth_cli();
    {
        tracing::info!(cli = %cli.display(), "berth {step}");
        let out = Command::new(&cli)
            .arg(step)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| {
                format!(
                    "could not run `{} {step}`: {e}. Install Berth's CLI or set BERTH_CLI",
                    cli.display()
                )
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let said = if stderr.trim().is_empty() {
                stdout
            } else {
                stderr
            };
            tracing::warn!("berth {step} failed ({}): {}", out.status, said.trim());
            return Err(format!("`berth {step}` failed: {}", said.trim()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_is_stop_then_start() {
        assert_eq!(Action::Restart.steps(), ["stop", "start"]);
        assert_eq!(Action::Start.steps(), ["start"]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_failing_cli_is_reported_with_its_message() {
        // A stand-in CLI: the real one needs a VM or root.
        let dir = std::env::temp_dir().join(format!("berth-desktop-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("berth");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho \"no VM image: run vm-images/build.sh\" >&2\nexit 3\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::env::set_var("BERTH_CLI", &fake);
        let err = run_step("start").await.unwrap_err();
        std::env::remove_var("BERTH_CLI");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            err.contains("berth start") && err.contains("no VM image"),
            "{err}"
        );
    }
}
