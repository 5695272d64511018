//! Start, Stop and Restart from the tray. Berth's VM is started and stopped by the `berth`
//! CLI of berth-host (`berth start` runs its supervisor by re-executing itself, so the CLI,
//! not a library call, is the entry point). A native berthd is started by
//! `berth start --native` and stopped through its pidfile, as scripts/start-native.sh does.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use berth_host::dashboard::SettingsMode;
use tokio::process::Command;

/// How long a native berthd gets to stop its containers and exit after SIGTERM.
const NATIVE_STOP_WAIT: Duration = Duration::from_secs(60);

/// What the tray asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Start,
    Stop,
}

impl Action {
    pub fn steps(self) -> &'static [Step] {
        match self {
            Action::Start => &[Step::Start],
            Action::Stop => &[Step::Stop],
            Action::Restart => &[Step::Stop, Step::Start],
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

/// Runs one step for the engine the app manages; the error is what the user should read.
pub async fn run_step(mode: &SettingsMode, step: Step) -> Result<(), String> {
    match (mode, step) {
        (SettingsMode::Vm { home }, Step::Start) => berth(&["start"], Some(home)).await,
        (SettingsMode::Vm { home }, Step::Stop) => berth(&["stop"], Some(home)).await,
        (SettingsMode::Native { .. }, Step::Start) => berth(&["start", "--native"], None).await,
        (SettingsMode::Native { pidfile: Some(p) }, Step::Stop) => stop_native(p).await,
        (SettingsMode::Native { pidfile: None }, Step::Stop) => Err(
            "no pidfile is known for this berthd: start the app with --daemon-pidfile, or stop \
             berthd yourself (sudo scripts/start-native.sh --stop)"
                .into(),
        ),
    }
}

/// Runs the CLI; `home` is the Berth home the app found (so both manage the same VM).
async fn berth(args: &[&str], home: Option<&Path>) -> Result<(), String> {
    let cli = berth_cli();
    let shown = format!("berth {}", args.join(" "));
    tracing::info!(cli = %cli.display(), "{shown}");
    let mut cmd = Command::new(&cli);
    cmd.args(args).stdin(Stdio::null());
    if let Some(home) = home {
        cmd.env("BERTH_HOME", home);
    }
    let out = cmd.output().await.map_err(|e| {
        format!(
            "could not run `{shown}` ({}): {e}. Install Berth's CLI or set BERTH_CLI",
            cli.display()
        )
    })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    tracing::warn!("{shown} failed ({}): {}", out.status, said.trim());
    Err(format!("`{shown}` failed: {}", said.trim()))
}

/// SIGTERM to the pid in the pidfile, then waits until that process is gone.
#[cfg(unix)]
async fn stop_native(pidfile: &Path) -> Result<(), String> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let text = tokio::fs::read_to_string(pidfile)
        .await
        .map_err(|e| format!("berthd is not running ({}: {e})", pidfile.display()))?;
    let pid: i32 = text
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| format!("{} does not hold a process id", pidfile.display()))?;
    let pid = Pid::from_raw(pid);
    tracing::info!(%pid, "stopping berthd (SIGTERM)");
    kill(pid, Signal::SIGTERM).map_err(|e| match e {
        nix::errno::Errno::EPERM => format!(
            "not allowed to stop berthd (pid {pid}): run `sudo scripts/start-native.sh --stop`"
        ),
        nix::errno::Errno::ESRCH => format!("berthd (pid {pid}) is not running"),
        other => format!("stopping berthd (pid {pid}): {other}"),
    })?;
    let deadline = tokio::time::Instant::now() + NATIVE_STOP_WAIT;
    while kill(pid, None).is_ok() && !is_zombie(pid.as_raw()) {
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "berthd (pid {pid}) is still running {}s after SIGTERM",
                NATIVE_STOP_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// An exited process its parent has not reaped yet is gone for our purpose.
#[cfg(unix)]
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(false)
}

#[cfg(not(unix))]
async fn stop_native(_pidfile: &Path) -> Result<(), String> {
    Err("a native berthd runs only on Linux".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_is_stop_then_start() {
        assert_eq!(Action::Restart.steps(), [Step::Stop, Step::Start]);
        assert_eq!(Action::Start.steps(), [Step::Start]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_failing_cli_is_reported_with_its_message() {
        // A stand-in CLI: the real one needs a VM or root.
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("berth-desktop-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("berth");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho \"no VM image in $BERTH_HOME for $*\" >&2\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::env::set_var("BERTH_CLI", &fake);
        let vm = SettingsMode::Vm {
            home: dir.join("home"),
        };
        let err = run_step(&vm, Step::Start).await.unwrap_err();
        std::env::remove_var("BERTH_CLI");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("`berth start` failed"), "{err}");
        let said = format!("no VM image in {} for start", dir.join("home").display());
        assert!(err.contains(&said), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn native_stop_needs_a_live_pid() {
        let dir = std::env::temp_dir().join(format!("berth-desktop-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("berthd.pid");
        let none = SettingsMode::Native { pidfile: None };
        assert!(run_step(&none, Step::Stop)
            .await
            .unwrap_err()
            .contains("--daemon-pidfile"));
        let mode = SettingsMode::Native {
            pidfile: Some(pidfile.clone()),
        };
        let err = run_step(&mode, Step::Stop).await.unwrap_err();
        assert!(err.contains("not running"), "{err}");
        std::fs::write(&pidfile, "garbage\n").unwrap();
        let err = run_step(&mode, Step::Stop).await.unwrap_err();
        assert!(err.contains("does not hold a process id"), "{err}");

        // A real process stands in for berthd: SIGTERM ends it and the step waits for that.
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        std::fs::write(&pidfile, format!("{}\n", child.id())).unwrap();
        let reaper = std::thread::spawn(move || child.wait().unwrap());
        run_step(&mode, Step::Stop).await.unwrap();
        assert!(!reaper.join().unwrap().success());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
