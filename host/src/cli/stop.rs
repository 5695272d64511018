//! `berth stop`: shut the guest down cleanly (the supervisor does it on SIGTERM).

use crate::supervisor::pidfile;
use std::time::{Duration, Instant};

pub fn run(timeout: Duration) -> anyhow::Result<()> {
    let (home, _settings) = super::load()?;
    let Some(pid) = pidfile::running(&home.pid_file()) else {
        println!("Berth is not running.");
        return Ok(());
    };
    println!("Stopping Berth (the guest stops its containers and syncs its disk) ...");
    // SAFETY: plain kill(2); the pid was checked to be a berth supervisor.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let deadline = Instant::now() + timeout;
    while pidfile::running(&home.pid_file()) == Some(pid) {
        if Instant::now() > deadline {
            eprintln!(
                "the supervisor did not stop within {} s: killing it (its VM dies with it)",
                timeout.as_secs()
            );
            // SAFETY: as above.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            std::thread::sleep(Duration::from_millis(500));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("Berth stopped.");
    Ok(())
}
