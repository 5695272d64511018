//! The per-container shim (`berth-shim <bundle>`), and what berthd shares
//! with it.
//!
//! The shim is the container's parent for its whole life: it is a child
//! subreaper, so the container's init becomes its child when the runtime
//! process that created it exits. It owns the process's stdio (pipes, or a
//! pty with `-t`), writes the log, reaps the process and records its exit in
//! the bundle (`exit.json`), and serves attach, exec, resize, kill and wait
//! to berthd over a Unix socket ([`protocol`]). It does not depend on berthd
//! staying up: containers keep running, and logging, across a daemon restart.
//!
//! The library half is what both sides need: the settings berthd hands a
//! shim ([`ShimConfig`]), the [`protocol`], the container log format
//! ([`logs`]: the shim writes, berthd reads), and the small helpers those
//! use.

pub mod clock;
pub mod fsutil;
pub mod logs;
pub mod protocol;
pub mod stdio;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What berthd tells a shim, in `<bundle>/shim.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    pub id: String,
    pub bundle: PathBuf,
    /// libcontainer's state root.
    pub state_root: PathBuf,
    pub socket: PathBuf,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    /// The container's `HostConfig.LogConfig`, daemon defaults applied.
    pub log_config: serde_json::Value,
    /// `data-root/containers/<id>`, where the log files live.
    pub container_dir: PathBuf,
    /// The runc-compatible runtime to run the container with: berthd itself
    /// (`berthd runtime`, youki's libcontainer linked in) or a binary from
    /// daemon.json's `runtimes`.
    pub runtime: RuntimeBinary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeBinary {
    pub path: PathBuf,
    pub args: Vec<String>,
}

pub const CONFIG_FILE: &str = "shim.json";
pub const EXIT_FILE: &str = "exit.json";

/// Where a container's shim listens: `exec-root/shims/<id>.sock` (short
/// enough for `sun_path` where `exec-root/containers/<id>/` would not be).
pub fn socket_path(exec_root: &Path, id: &str) -> PathBuf {
    exec_root.join("shims").join(format!("{id}.sock"))
}

/// The longest path a Unix socket address holds.
pub const MAX_SOCKET_PATH: usize = 107;
