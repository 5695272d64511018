//! Exit status collection. The container's init process is a child of the
//! process that called [`super::create_and_start`], so that process reaps it.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::Error;

/// How the container's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// docker's `State.ExitCode`: the code, or 128 + the signal number.
    pub fn docker_code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// Blocks until `pid` (a child of this process) ends, and reaps it.
///
/// Fine for one container per process; a shim that also runs exec
/// processes should instead reap on SIGCHLD with `waitpid(-1, WNOHANG)` and
/// dispatch by pid, so that no child stays a zombie.
pub fn wait(pid: i32) -> Result<Exit, Error> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Exit::Code(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(Exit::Signal(sig as i32)),
            // Stopped/continued are reported only with WUNTRACED/WCONTINUED.
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => {
                return Err(Error::Io {
                    op: "waiting for",
                    path: format!("pid {pid}").into(),
                    source: e.into(),
                });
            }
        }
    }
}
