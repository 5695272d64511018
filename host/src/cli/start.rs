//! `berth start`: boot the VM in a background supervisor and wait for the engine.

use super::tail;
use crate::settings::{Home, Settings};
use crate::{engine, supervisor::pidfile};
use anyhow::Context;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn run(timeout: Duration) -> anyhow::Result<()> {
    let (home, settings) = super::load()?;
    let socket = settings.socket_path(&home);
    if let Some(pid) = pidfile::running(&home.pid_file()) {
        if engine::status(&socket).is_ok() {
            println!("Berth is already running (supervisor pid {pid}).");
            print_usage(&socket);
            return Ok(());
        }
        anyhow::bail!("a Berth supervisor (pid {pid}) is running but its engine does not answer on {}: `berth stop`, then start again", socket.display());
    }
    preflight(&home, &settings)?;

    std::fs::create_dir_all(home.vm_dir())?;
    let log = std::fs::File::create(home.host_log())
        .with_context(|| format!("cannot create {}", home.host_log().display()))?;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("supervise")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .env("BERTH_HOME", home.dir());
    // SAFETY: setsid is async-signal-safe. Its own session: the terminal's Ctrl-C or hang-up
    // must not reach the VM.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start the supervisor")?;
    println!("Starting Berth (log: {}) ...", home.host_log().display());

    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            anyhow::bail!(
                "Berth's supervisor stopped ({status}):\n{}\n--- guest console (tail) ---\n{}",
                tail(&home.host_log(), 20),
                tail(&home.console_log(), 20)
            );
        }
        if let Ok(s) = engine::status(&socket) {
            println!(
                "Berth is running: engine {} (API {}).",
                s.version, s.api_version
            );
            print_usage(&socket);
            return Ok(());
        }
        if Instant::now() > deadline {
            // SAFETY: plain kill(2) of the child we started.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
            anyhow::bail!(
                "the guest did not come up within {} s. Its console (tail of {}):\n{}\n--- supervisor log (tail) ---\n{}",
                timeout.as_secs(),
                home.console_log().display(),
                tail(&home.console_log(), 30),
                tail(&home.host_log(), 10)
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The checks that give a clear message now instead of a line in the background log.
fn preflight(home: &Home, settings: &Settings) -> anyhow::Result<()> {
    crate::vm::VmSpec::from_settings(home, settings)?;
    #[cfg(target_os = "linux")]
    {
        use crate::vm::qemu::tools::Tool;
        Tool::Qemu.find()?;
        Tool::VhostVsock.find()?;
        if !settings.shares.is_empty() {
            Tool::Virtiofsd.find()?;
        }
    }
    let socket = settings.socket_path(home);
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        anyhow::bail!(
            "{} is busy: another process serves it (a native berthd or Docker?). Stop it, or set another \"socket\" in {}",
            socket.display(),
            home.config_file().display()
        );
    }
    crate::vm::disk::check_host_space(&home.vm_dir().join("data.img"))
}

fn print_usage(socket: &std::path::Path) {
    println!("Docker socket: {}", socket.display());
    println!(
        "Use it with:   export DOCKER_HOST=unix://{}",
        socket.display()
    );
    println!("          or:  berth context && docker context use berth");
}

/// `berth start --native`: berthd on this Linux host, through scripts/start-native.sh.
pub fn native() -> anyhow::Result<std::process::ExitCode> {
    let exe = std::env::current_exe()?;
    let script = exe
        .ancestors()
        .map(|d| d.join("scripts/start-native.sh"))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("scripts/start-native.sh not found next to this berth: run it from Berth's source tree"))?;
    let status = Command::new("bash").arg(&script).status()?;
    Ok(std::process::ExitCode::from(
        status.code().unwrap_or(1) as u8
    ))
}
