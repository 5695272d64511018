//! `docker pause` / `unpause`: the v1 freezer controller or v2's cgroup.freeze.
//!
//! Both are asynchronous in the kernel: the write only starts freezing, and a
//! task stuck in an uninterruptible sleep can keep the cgroup in FREEZING
//! indefinitely. So every change is confirmed by polling, with a bound, and
//! a freeze that never completes is undone rather than left half-way.

use std::io;
use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use super::fsio::{read, read_flat_keyed, read_opt, write};
use super::{Cgroup, Dirs};

/// v1 tries: each rewrites FROZEN (which retries the tasks that were busy)
/// and every 50th thaws briefly so a task holding a lock others wait on can
/// get out of the way. About a second in all, like runc.
const V1_TRIES: u32 = 1000;
/// v2 polls of cgroup.events, 10ms apart.
const V2_POLLS: u32 = 200;

impl Cgroup {
    pub fn freeze(&self) -> io::Result<()> {
        match &self.dirs {
            Dirs::V1(_) => freeze_v1(self.require("freezer")?),
            Dirs::V2(dir) => set_v2(dir, true),
        }
    }

    pub fn thaw(&self) -> io::Result<()> {
        match &self.dirs {
            Dirs::V1(_) => thaw_v1(self.require("freezer")?),
            Dirs::V2(dir) => set_v2(dir, false),
        }
    }

    /// Whether the container was paused (also true while still FREEZING,
    /// since the pause was asked for).
    pub fn is_frozen(&self) -> bool {
        match &self.dirs {
            Dirs::V1(_) => self
                .dir("freezer")
                .and_then(|d| read_opt(&d.join("freezer.state")).ok().flatten())
                .is_some_and(|s| s == "FROZEN" || s == "FREEZING"),
            Dirs::V2(dir) => read_opt(&dir.join("cgroup.freeze"))
                .ok()
                .flatten()
                .is_some_and(|s| s == "1"),
        }
    }
}

fn freeze_v1(dir: &Path) -> io::Result<()> {
    let state = dir.join("freezer.state");
    for i in 0..V1_TRIES {
        if i % 50 == 49 {
            write(&state, "THAWED")?;
            sleep(Duration::from_millis(10));
        }
        write(&state, "FROZEN")?;
        if i % 25 == 24 {
            sleep(Duration::from_micros(100));
        }
        if read(&state)? == "FROZEN" {
            return Ok(());
        }
    }
    // Best effort: leaving it FREEZING would stop some tasks but not all.
    let _ = write(&state, "THAWED");
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "unable to freeze the container's cgroup: a task would not stop",
    ))
}

fn thaw_v1(dir: &Path) -> io::Result<()> {
    let state = dir.join("freezer.state");
    for i in 0..V1_TRIES {
        write(&state, "THAWED")?;
        if read(&state)? == "THAWED" {
            return Ok(());
        }
        if i % 25 == 24 {
            sleep(Duration::from_millis(1));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "unable to thaw the container's cgroup",
    ))
}

fn set_v2(dir: &Path, frozen: bool) -> io::Result<()> {
    write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let want = u64::from(frozen);
    for _ in 0..V2_POLLS {
        let events = read_flat_keyed(&dir.join("cgroup.events"))?;
        // Kernels before 5.2 have no `frozen` key (and no cgroup.freeze, so
        // the write above already failed); nothing more to wait for.
        match events.get("frozen") {
            None => return Ok(()),
            Some(v) if *v == want => return Ok(()),
            Some(_) => sleep(Duration::from_millis(10)),
        }
    }
    if frozen {
        let _ = write(&dir.join("cgroup.freeze"), "0");
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "cgroup {} did not become {}",
            dir.display(),
            if frozen { "frozen" } else { "thawed" }
        ),
    ))
}
