//! `berth status`: is the VM up, does the engine answer.

use crate::{engine, supervisor::pidfile};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(socket: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let (home, settings) = super::load()?;
    let socket = socket.unwrap_or_else(|| settings.socket_path(&home));
    let supervisor = pidfile::running(&home.pid_file());
    match supervisor {
        Some(pid) => println!(
            "VM: running (supervisor pid {pid}, home {})",
            home.dir().display()
        ),
        None => println!("VM: stopped (home {})", home.dir().display()),
    }
    match engine::status(&socket) {
        Ok(s) => {
            println!(
                "Engine: Berth {} (API {}) on unix://{}",
                s.version,
                s.api_version,
                socket.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("Engine: no answer on unix://{} ({e})", socket.display());
            if supervisor.is_none() {
                println!(
                    "Start it with: berth start   (or natively: sudo scripts/start-native.sh)"
                );
            } else {
                println!("The guest may still be booting: `berth logs` shows its console.");
            }
            Ok(ExitCode::from(1))
        }
    }
}
