//! berthd's side of the per-container shims: where the `berth-shim` binary
//! is, and the client that spawns a shim and talks to it. The shim itself,
//! its settings and its protocol are in the `berth-shim` crate.

pub mod client;

use std::io;
use std::path::PathBuf;

pub use berth_shim::{
    protocol, socket_path, RuntimeBinary, ShimConfig, CONFIG_FILE, EXIT_FILE, MAX_SOCKET_PATH,
};

/// Where the shim binary is: `$BERTH_SHIM_BINARY`, else `berth-shim` next
/// to berthd's own file (as `cargo build` and the VM image put it).
pub fn shim_binary() -> io::Result<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_SHIM_BINARY").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(p);
        if path.is_file() {
            return Ok(path);
        }
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "BERTH_SHIM_BINARY={} is not a berth-shim binary",
                path.display()
            ),
        ));
    }
    let path = own_path()?.with_file_name("berth-shim");
    if path.is_file() {
        return Ok(path);
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "no berth-shim binary at {}: install it next to berthd (`cargo build` builds both), \
             or set BERTH_SHIM_BINARY",
            path.display()
        ),
    ))
}

/// How the shim runs berthd's own runtime (youki's libcontainer, linked
/// into berthd): as a runc-compatible `berthd runtime …` process.
pub fn builtin_runtime() -> io::Result<RuntimeBinary> {
    Ok(RuntimeBinary {
        path: own_path()?,
        args: vec!["runtime".into()],
    })
}

/// berthd's file. After an upgrade (or a rebuild) replaced it, the kernel
/// names the running image "<path> (deleted)": the path then names the new
/// binary, which is what a shim should run from now on.
fn own_path() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    match exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(path) => Ok(PathBuf::from(path)),
        None => Ok(exe),
    }
}
