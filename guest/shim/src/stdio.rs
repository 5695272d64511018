//! A container process's standard streams, as the shim hands them to the
//! runtime.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// Each descriptor is moved into the container (dup'd onto 0, 1 and 2 in its
/// init process) and closed in the shim once the container exists, so a
/// reader of a pipe sees EOF when the container (and everything it spawned)
/// has closed it.
pub struct Stdio {
    /// `None` = `/dev/null` (never the caller's own stdin).
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Where the process's standard streams come from.
pub enum ProcessIo {
    Pipes(Stdio),
    /// A terminal: the process opens a pty inside the container and sends
    /// its master end to this listening Unix socket (runc's console-socket
    /// protocol; the shim accepts and receives it with `SCM_RIGHTS`).
    Console(PathBuf),
}
