//! What the host's control requests do in the VM.

use super::berthd::{self, Supervisor};
use crate::agent::GuestOps;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub struct VmOps {
    pub supervisor: Arc<Supervisor>,
    /// Mount points to unmount at shutdown, besides the data disk's.
    pub unmount: Vec<PathBuf>,
    pub runtime: tokio::runtime::Handle,
    /// Ends the agent's events connection to berthd before berthd stops.
    pub stop_watching: tokio_util::sync::CancellationToken,
}

pub const DATA_ROOT: &str = "/var/lib/berth";

impl GuestOps for VmOps {
    fn shutdown(&self) -> Result<(), String> {
        tracing::info!("shutdown: stopping berthd");
        self.stop_watching.cancel();
        self.runtime
            .block_on(self.supervisor.stop(Duration::from_secs(60)));
        nix::unistd::sync();
        let mut roots = self.unmount.clone();
        roots.push(DATA_ROOT.into());
        unmount_under(&roots);
        nix::unistd::sync();
        tracing::info!("shutdown: disks synced and unmounted");
        Ok(())
    }

    fn power_off(&self) {
        power_off();
    }

    fn set_time(&self, unix_nanos: i64) -> Result<(), String> {
        set_clock(unix_nanos).map_err(|e| format!("setting the clock: {e}"))
    }

    fn daemon_json(&self, content: &str) -> Result<(), String> {
        crate::agent::check_daemon_json(content)?;
        crate::fsutil::write_atomic(Path::new(berthd::CONFIG), content.as_bytes())
            .map_err(|e| format!("writing {}: {e}", berthd::CONFIG))?;
        self.supervisor.reload()
    }
}

pub fn set_clock(unix_nanos: i64) -> nix::Result<()> {
    let (secs, nanos) = split_nanos(unix_nanos);
    let ts = nix::sys::time::TimeSpec::new(secs, nanos);
    nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, ts)
}

/// Seconds and a non-negative nanosecond part, as timespec wants them.
pub fn split_nanos(unix_nanos: i64) -> (i64, i64) {
    (
        unix_nanos.div_euclid(1_000_000_000),
        unix_nanos.rem_euclid(1_000_000_000),
    )
}

pub fn power_off() {
    nix::unistd::sync();
    tracing::info!("powering off");
    let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_POWER_OFF);
}

/// The mount points at or below any of `roots`, deepest first (the order
/// they must be unmounted in).
pub fn mounts_under(mountinfo: &str, roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| roots.iter().any(|r| p.starts_with(r)))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

fn unmount_under(roots: &[PathBuf]) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for m in mounts_under(&info, roots) {
        if let Err(e) = nix::mount::umount(&m) {
            // Still in use (a container kept by live-restore): detach it, the
            // filesystem was synced and its journal covers the rest.
            tracing::warn!("unmounting {}: {e}; detaching it", m.display());
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmounts_deepest_first_and_only_under_the_roots() {
        let info = "\
22 1 0:20 / / rw - tmpfs rootfs rw
30 22 254:0 / /var/lib/berth rw - ext4 /dev/vda rw
31 30 0:40 / /var/lib/berth/overlay2/abc/merged rw - overlay overlay rw
32 22 0:41 / /home/me rw - virtiofs home rw
33 22 0:42 / /home/me\\040too rw - virtiofs x rw
34 22 0:5 / /proc rw - proc proc rw
";
        let got = mounts_under(info, &["/var/lib/berth".into(), "/home/me".into()]);
        assert_eq!(
            got,
            vec![
                PathBuf::from("/var/lib/berth/overlay2/abc/merged"),
                PathBuf::from("/var/lib/berth"),
                PathBuf::from("/home/me"),
            ]
        );
    }

    #[test]
    fn clock_values_split_into_seconds_and_nanos() {
        assert_eq!(
            split_nanos(1_700_000_000_123_456_789),
            (1_700_000_000, 123_456_789)
        );
        // Before 1970 the nanoseconds stay positive.
        assert_eq!(split_nanos(-1), (-1, 999_999_999));
    }
}
