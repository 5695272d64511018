//! `berth doctor`: check what the VM needs, one line per check, with the fix.

use crate::settings::Settings;
use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    let home = crate::settings::Home::from_env()?;
    let mut ok = true;
    let mut check = |name: &str, r: Result<String, String>| match r {
        Ok(detail) => println!("ok    {name}: {detail}"),
        Err(fix) => {
            ok = false;
            println!("FAIL  {name}: {fix}")
        }
    };
    let settings = match Settings::load(&home) {
        Ok(s) => {
            check(
                "settings",
                Ok(format!(
                    "{} ({} cpus, {} MiB, {} GiB disk, shares {:?})",
                    home.config_file().display(),
                    s.cpus,
                    s.memory_mib,
                    s.disk_gib,
                    s.shares
                )),
            );
            s
        }
        Err(e) => {
            check("settings", Err(e.to_string()));
            Settings::default()
        }
    };
    #[cfg(target_os = "linux")]
    {
        use crate::vm::qemu::{accel, tools::Tool};
        for tool in [Tool::Qemu, Tool::VhostVsock, Tool::Virtiofsd] {
            check(
                tool.name(),
                tool.find()
                    .map(|p| p.display().to_string())
                    .map_err(|e| e.to_string()),
            );
        }
        let (chosen, why) = accel::choose(settings.accel, accel::HostCaps::probe());
        check("accelerator", Ok(format!("{}: {why}", chosen.as_str())));
    }
    check(
        "guest images",
        crate::vm::images::Images::find(&home, &settings)
            .map(|i| {
                format!(
                    "{} (version {})",
                    i.dir.display(),
                    i.version.as_deref().unwrap_or("unknown")
                )
            })
            .map_err(|e| e.to_string()),
    );
    let dj = home.daemon_json();
    if dj.exists() {
        let r = std::fs::read_to_string(&dj)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                berth_common::daemon_config::validate_text(&t)
                    .map(|_| dj.display().to_string())
                    .map_err(|e| format!("{}: {e}", dj.display()))
            });
        check("daemon.json", r);
    }
    let socket = settings.socket_path(&home);
    let running = crate::supervisor::pidfile::running(&home.pid_file());
    let answers = std::os::unix::net::UnixStream::connect(&socket).is_ok();
    check(
        "socket",
        match (running, answers) {
            (Some(_), true) => Ok(format!("{} served by Berth", socket.display())),
            (None, true) => Err(format!(
                "{} is busy: another process serves it; stop it or set another \"socket\"",
                socket.display()
            )),
            (_, false) => Ok(format!("{} free", socket.display())),
        },
    );
    check(
        "host disk",
        crate::vm::disk::host_free(&home.vm_dir().join("data.img"))
            .map_err(|e| e.to_string())
            .and_then(|free| {
                if free >= crate::vm::disk::MIN_HOST_FREE {
                    Ok(format!("{} MiB free", free >> 20))
                } else {
                    Err(format!(
                        "only {} MiB free where the data disk lives: free some space",
                        free >> 20
                    ))
                }
            }),
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
