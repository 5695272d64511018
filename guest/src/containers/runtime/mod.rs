//! The OCI runtime step, linked in: youki's `libcontainer` runs a bundle
//! (`config.json` + rootfs) with the stdio it is given.
//!
//! The interface is deliberately narrow; its caller is `berthd runtime`
//! ([`cli`]), the runc-compatible command the per-container shim runs (the
//! tests call it directly):
//!
//! - [`create`] creates the container (namespaces, cgroup, mounts,
//!   seccomp…) with its process waiting to be started, and returns the
//!   process's pid; [`start`] lets it run; [`create_and_start`] does both.
//!   libcontainer makes the container's init process a **child of the
//!   calling process** (its intermediate process clones init with
//!   `CLONE_PARENT`). `berthd runtime create` exits right after, and the
//!   kernel hands init to the nearest child subreaper: the shim, which reaps
//!   it. (In tests the caller reaps it with [`wait`].)
//! - [`exec`] starts another process in a running container, the same way.
//! - [`kill`] signals the container's init process.
//! - [`delete`] removes what the runtime created (the cgroup, its state
//!   directory); with `force` it first kills a container still running.
//!
//! The caller should be single-threaded when it calls [`create`] or
//! [`exec`]: libcontainer clones with the raw `clone3` syscall, which does
//! not run the `pthread_atfork` handlers, and the child allocates; in a
//! multi-threaded process a lock held by another thread at that moment would
//! never be released in the child. `berthd runtime`, a fresh process that
//! starts no threads, is the safe shape.
//!
//! State lives in `state_root/<id>/` (libcontainer's `state.json`, the
//! spec it runs from and the start notification socket). Terminals use
//! runc's console-socket protocol: the container's init opens a pty inside
//! the container and sends its master end to the socket the shim listens on.

pub mod cli;
#[cfg(test)]
mod wait;

#[cfg(test)]
pub(crate) mod tests;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::error::LibcontainerError;
#[cfg(test)]
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

#[cfg(test)]
pub use wait::{wait, Exit};

pub use berth_shim::stdio::{ProcessIo, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {0} not found")]
    NotFound(String),
    #[cfg(test)]
    #[error("invalid signal {0}")]
    InvalidSignal(i32),
    #[error("{op} {id}: {message}")]
    Runtime {
        op: &'static str,
        id: String,
        message: String,
    },
    #[error("{op} {path}: {source}", path = path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<Error> for crate::errdefs::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(_) => crate::errdefs::Error::not_found(e.to_string()),
            #[cfg(test)]
            Error::InvalidSignal(_) => crate::errdefs::Error::invalid(e.to_string()),
            _ => crate::errdefs::Error::system(e.to_string()),
        }
    }
}

/// Writes `bundle/config.json` atomically (temp file, fsync, rename), with
/// the adjustments libcontainer needs (see [`adjust_for_libcontainer`]).
/// Bundles for [`create_and_start`] should be written with it.
pub fn write_config(bundle: &Path, spec: &Spec) -> Result<(), Error> {
    let io = |op| {
        move |source| Error::Io {
            op,
            path: bundle.join("config.json"),
            source,
        }
    };
    let mut spec = spec.clone();
    adjust_for_libcontainer(&mut spec);
    let json = serde_json::to_vec(&spec).map_err(|e| io("serializing")(e.into()))?;
    let tmp = bundle.join(".config.json.tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("writing"))?;
    f.write_all(&json).map_err(io("writing"))?;
    f.sync_all().map_err(io("writing"))?;
    std::fs::rename(&tmp, bundle.join("config.json")).map_err(io("writing"))
}

/// libcontainer 0.7 decides when to load the seccomp filter from
/// `process.noNewPrivileges` being *present*, not true: with an explicit
/// `false` (which `spec::build` writes, like dockerd) it loads the filter
/// after dropping CAP_SYS_ADMIN and without setting no_new_privs, and the
/// kernel refuses it ("failed to load seccomp context", ECANCELED from
/// libseccomp). Absent means false in the runtime spec, so drop it.
pub fn adjust_for_libcontainer(spec: &mut Spec) {
    if let Some(process) = spec.process_mut() {
        if process.no_new_privileges() == Some(false) {
            process.set_no_new_privileges(None);
        }
    }
}

/// Creates the container described by `bundle/config.json` and starts its
/// process; returns the process's pid (in the caller's pid namespace).
///
/// On failure nothing is left behind: libcontainer removes the cgroup and
/// the state directory of a container it failed to create, and a container
/// created but not started is deleted here.
#[cfg(test)]
pub fn create_and_start(
    id: &str,
    bundle: &Path,
    state_root: &Path,
    io: ProcessIo,
) -> Result<i32, Error> {
    let pid = create(id, bundle, state_root, io)?;
    start(id, state_root)?;
    Ok(pid)
}

/// Creates the container described by `bundle/config.json`, its process
/// ready but held until [`start`]; returns the process's pid, a child of
/// the caller (see the module doc).
pub fn create(id: &str, bundle: &Path, state_root: &Path, io: ProcessIo) -> Result<i32, Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_root)
        .map_err(|source| Error::Io {
            op: "creating the runtime state directory",
            path: state_root.to_path_buf(),
            source,
        })?;
    let builder = ContainerBuilder::new(id.to_string(), SyscallType::Linux)
        .validate_id()
        .and_then(|b| b.with_root_path(state_root))
        .map_err(|e| runtime_err("creating container", id, e))?;
    let container = with_io(builder, io)?
        .as_init(bundle)
        // cgroupfs with the spec's explicit cgroupsPath, never systemd.
        .with_systemd(false)
        // Detached: the caller gets control back once the process exists.
        .with_detach(true)
        .build()
        .map_err(|e| runtime_err("creating container", id, e))?;
    container
        .pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| Error::Runtime {
            op: "creating container",
            id: id.to_string(),
            message: "the runtime recorded no pid".into(),
        })
}

/// Lets a created container's process run. If that fails the container is
/// deleted.
pub fn start(id: &str, state_root: &Path) -> Result<(), Error> {
    let mut container = load(id, state_root)?;
    if let Err(e) = container.start() {
        let err = runtime_err("starting container", id, e);
        if let Err(cleanup) = container.delete(true) {
            tracing::warn!(id, error = %error_chain(&cleanup), "cleaning up after a failed start");
        }
        return Err(err);
    }
    Ok(())
}

/// Starts another process in the running container `id`, described by the
/// OCI `process` object in `process_json`; returns its pid, a child of the
/// caller (the same single-thread rule as [`create_and_start`] applies).
pub fn exec(id: &str, state_root: &Path, process_json: &Path, io: ProcessIo) -> Result<i32, Error> {
    let builder = ContainerBuilder::new(id.to_string(), SyscallType::Linux)
        .with_root_path(state_root)
        .map_err(|e| runtime_err("exec in container", id, e))?;
    let pid = with_io(builder, io)?
        .as_tenant()
        .with_process(Some(process_json))
        .with_detach(true)
        .build()
        .map_err(|e| runtime_err("exec in container", id, e))?;
    Ok(pid.as_raw())
}

fn with_io(builder: ContainerBuilder, io: ProcessIo) -> Result<ContainerBuilder, Error> {
    Ok(match io {
        ProcessIo::Pipes(stdio) => {
            let stdin: OwnedFd = match stdio.stdin {
                Some(fd) => fd,
                None => File::open("/dev/null")
                    .map_err(|source| Error::Io {
                        op: "opening",
                        path: "/dev/null".into(),
                        source,
                    })?
                    .into(),
            };
            builder
                .with_stdin(stdin)
                .with_stdout(stdio.stdout)
                .with_stderr(stdio.stderr)
        }
        ProcessIo::Console(socket) => builder.with_console_socket(Some(socket)),
    })
}

/// Sends `signal` to the container's init process (the shim signals its
/// child directly; this is for callers that are not its parent). A process
/// that already exited is not an error.
#[cfg(test)]
pub fn kill(id: &str, state_root: &Path, signal: i32) -> Result<(), Error> {
    let signal = Signal::try_from(signal).map_err(|_| Error::InvalidSignal(signal))?;
    let mut container = load(id, state_root)?;
    container
        .kill(signal, false)
        .map_err(|e| runtime_err("killing container", id, e))
}

/// Removes the container's cgroup and runtime state. A running container
/// is refused unless `force`, which kills every process in it first.
/// Deleting a container that does not exist is not an error, so that a
/// cleanup can be retried.
pub fn delete(id: &str, state_root: &Path, force: bool) -> Result<(), Error> {
    let mut container = match load(id, state_root) {
        Ok(c) => c,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    container
        .delete(force)
        .map_err(|e| runtime_err("deleting container", id, e))
}

fn load(id: &str, state_root: &Path) -> Result<Container, Error> {
    // An id is a path component here: refuse anything else before joining.
    if id.is_empty() || id.contains('/') || id == "." || id == ".." {
        return Err(Error::NotFound(id.to_string()));
    }
    let dir = state_root.join(id);
    if !dir.join("state.json").exists() {
        return Err(Error::NotFound(id.to_string()));
    }
    Container::load(dir).map_err(|e| runtime_err("loading container", id, e))
}

fn runtime_err(op: &'static str, id: &str, e: LibcontainerError) -> Error {
    Error::Runtime {
        op,
        id: id.to_string(),
        message: error_chain(&e),
    }
}

/// The whole chain: libcontainer's top-level messages are often just
/// "invalid input" or "oci spec error", with the detail in a source or in
/// the variant's payload.
fn error_chain(e: &LibcontainerError) -> String {
    let mut out = match e {
        LibcontainerError::InvalidInput(detail) => format!("{e}: {detail}"),
        _ => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
