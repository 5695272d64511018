//! `berthd runtime …`: the linked-in runtime as a runc-compatible command,
//! the one the per-container shim runs (as it would run `runc`). It speaks
//! the part of runc's command line the shim uses: `create`, `start`,
//! `exec --detach` and `delete --force`, with `--root`, `--log` and
//! `--log-format json` before the subcommand. Errors go to stderr and, as a
//! `{"level":"error","msg":…}` line, to the `--log` file, where the shim
//! looks for them.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use super::{ProcessIo, Stdio};

#[derive(Parser, Debug)]
#[command(
    name = "berthd runtime",
    about = "Berth's OCI runtime (youki's libcontainer) with runc's command line; the container shim runs it"
)]
struct Args {
    /// Where the runtime keeps its containers' state.
    #[arg(long, default_value = "/run/berth/runtime")]
    root: PathBuf,
    /// A file to append errors to, as JSON lines.
    #[arg(long)]
    log: Option<PathBuf>,
    /// The log's format; only `json` is written.
    #[arg(long, default_value = "json")]
    log_format: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Creates a container from a bundle; its process waits for `start`.
    Create {
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// A Unix socket to send the terminal's master end to (`process.terminal`).
        #[arg(long)]
        console_socket: Option<PathBuf>,
        id: String,
    },
    /// Starts a created container's process.
    Start { id: String },
    /// Runs another process in a running container.
    Exec {
        /// The OCI `process` object, as JSON.
        #[arg(long, short)]
        process: PathBuf,
        /// Return once the process runs (the only mode: the shim reaps it).
        #[arg(long, short)]
        detach: bool,
        #[arg(long)]
        pid_file: Option<PathBuf>,
        #[arg(long)]
        console_socket: Option<PathBuf>,
        id: String,
    },
    /// Removes a container's state and cgroup.
    Delete {
        /// Kill its processes first if it still runs.
        #[arg(long, short)]
        force: bool,
        id: String,
    },
}

/// Runs `berthd runtime <args>` (`args` without the program name and
/// `runtime`).
pub fn main(args: impl Iterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(std::iter::once("berthd runtime".into()).chain(args));
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("berthd runtime: {msg}");
            if let Some(log) = &args.log {
                log_error(log, &msg);
            }
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let root = &args.root;
    match &args.cmd {
        Cmd::Create {
            bundle,
            pid_file,
            console_socket,
            id,
        } => {
            let io = own_stdio(console_socket.as_deref())?;
            let pid = super::create(id, bundle, root, io).map_err(|e| e.to_string())?;
            write_pid(pid_file.as_deref(), pid)
        }
        Cmd::Start { id } => super::start(id, root).map_err(|e| e.to_string()),
        Cmd::Exec {
            process,
            detach,
            pid_file,
            console_socket,
            id,
        } => {
            if !detach {
                return Err(
                    "exec without --detach is not supported: the caller reaps the process".into(),
                );
            }
            let io = own_stdio(console_socket.as_deref())?;
            let pid = super::exec(id, root, process, io).map_err(|e| e.to_string())?;
            write_pid(pid_file.as_deref(), pid)
        }
        Cmd::Delete { force, id } => super::delete(id, root, *force).map_err(|e| e.to_string()),
    }
}

/// As runc does: the process gets this command's own stdin, stdout and
/// stderr, or a terminal through the console socket.
fn own_stdio(console_socket: Option<&Path>) -> Result<ProcessIo, String> {
    if let Some(socket) = console_socket {
        // libcontainer links to the socket from its state directory: a
        // relative name (as the shim passes it, to keep socket addresses
        // short) must become absolute first.
        let socket = std::env::current_dir()
            .map_err(|e| format!("cannot resolve the console socket's path: {e}"))?
            .join(socket);
        return Ok(ProcessIo::Console(socket));
    }
    let dup = |fd: std::os::fd::BorrowedFd<'_>| -> Result<OwnedFd, String> {
        fd.try_clone_to_owned()
            .map_err(|e| format!("cannot take the standard streams: {e}"))
    };
    Ok(ProcessIo::Pipes(Stdio {
        stdin: Some(dup(std::io::stdin().as_fd())?),
        stdout: dup(std::io::stdout().as_fd())?,
        stderr: dup(std::io::stderr().as_fd())?,
    }))
}

fn write_pid(path: Option<&Path>, pid: i32) -> Result<(), String> {
    match path {
        Some(p) => berth_shim::fsutil::replace_derived(p, pid.to_string().as_bytes(), 0o600)
            .map_err(|e| format!("cannot write the pid to {}: {e}", p.display())),
        None => Ok(()),
    }
}

fn log_error(path: &Path, msg: &str) {
    let line = serde_json::json!({
        "level": "error",
        "msg": msg,
        "time": berth_shim::clock::now_rfc3339(),
    });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}
