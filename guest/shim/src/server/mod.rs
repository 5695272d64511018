//! The shim process (`berth-shim <bundle>`).
//!
//! It runs on a current-thread tokio runtime and never starts another
//! thread (no `spawn_blocking`, no `tokio::fs`, no `tokio::process`): one
//! thread is the smallest process, and the runtime it runs for the
//! container and for each exec is a separate process it waits for.
//!
//! Life: bind the socket, say `ready` on stdout, wait for `start`, run the
//! container, pump its output into the log and to attached clients, reap it,
//! write `exit.json`, let the runtime remove its cgroups, answer waiters,
//! and exit.

mod feed;
mod io;
mod proc;
mod runc;
mod session;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use self::proc::Proc;
use berth_shim::logs::{LogConfig, LogWriter};
use berth_shim::protocol::{self, ExitInfo, Request, Response};
use berth_shim::{ShimConfig, CONFIG_FILE, EXIT_FILE};

/// How long berthd has to send `start` before the shim gives up.
const START_DEADLINE: Duration = Duration::from_secs(120);
/// After a process ends, how long its output may keep flowing from
/// processes that outlive it (only possible outside a private pid
/// namespace) before its exit is published anyway.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);
/// After the container ends, how long the shim stays for waiters that come
/// late (attach and exec streams keep it as long as they are open).
const LINGER: Duration = Duration::from_millis(500);

pub fn main(bundle: &Path) -> ExitCode {
    let cfg: ShimConfig = match std::fs::read(bundle.join(CONFIG_FILE))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "berth-shim: cannot read {}: {e}",
                bundle.join(CONFIG_FILE).display()
            );
            return ExitCode::from(1);
        }
    };
    // Relative paths keep the console socket's address short whatever the
    // bundle's path; nothing else here depends on the working directory.
    // A runtime binary's processes are reparented here when it exits.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("berth-shim: cannot become a subreaper: {e}");
        return ExitCode::from(1);
    }
    if let Err(e) = std::env::set_current_dir(bundle) {
        eprintln!("berth-shim: cannot enter {}: {e}", bundle.display());
        return ExitCode::from(1);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth-shim: cannot start the event loop: {e}");
            return ExitCode::from(1);
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&rt, run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-shim: {e}");
            ExitCode::from(1)
        }
    }
}

pub(super) struct Shim {
    cfg: ShimConfig,
    init: Rc<Proc>,
    /// Exec processes by pid, for the reaper.
    execs: RefCell<HashMap<i32, Rc<Proc>>>,
    exec_by_id: RefCell<HashMap<String, Rc<Proc>>>,
    started: Cell<bool>,
    /// The init process's exit, published once its output is drained and
    /// the exit is on disk.
    exit: watch::Sender<Option<ExitInfo>>,
    /// How many attach and exec streams are still open.
    streams: Rc<watch::Sender<usize>>,
    log: Rc<RefCell<Option<LogWriter>>>,
    /// The init process's stdio, made before anyone attaches so that input
    /// sent before the start waits in the pipe.
    init_io: RefCell<Option<berth_shim::stdio::ProcessIo>>,
}

async fn run(cfg: ShimConfig) -> Result<(), String> {
    let _ = std::fs::remove_file(&cfg.socket);
    let listener = UnixListener::bind(&cfg.socket)
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.socket.display()))?;
    // The socket path is reused by the container's next shim (a restart):
    // only this shim's own socket file is removed at the end.
    let socket_ino = std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(&cfg.socket).map_err(|e| e.to_string())?,
    );
    let log_config = LogConfig::from_host_config(&cfg.id, &cfg.container_dir, &cfg.log_config)?;
    let log = LogWriter::open(&log_config).map_err(|e| format!("cannot open the log: {e}"))?;
    let init = Rc::new(Proc::new(true, cfg.stdin_once));
    let init_io = init
        .prepare_io(cfg.tty, cfg.open_stdin, &cfg.bundle)
        .map_err(|e| format!("cannot set up the container's stdio: {e}"))?;
    let shim = Rc::new(Shim {
        init,
        init_io: RefCell::new(Some(init_io)),
        cfg,
        execs: RefCell::default(),
        exec_by_id: RefCell::default(),
        started: Cell::new(false),
        exit: watch::Sender::new(None),
        streams: Rc::new(watch::Sender::new(0)),
        log: Rc::new(RefCell::new(Some(log))),
    });
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
        .map_err(|e| format!("cannot watch SIGCHLD: {e}"))?;
    ready();

    let deadline = tokio::time::sleep(START_DEADLINE);
    tokio::pin!(deadline);
    let mut exited = shim.exit.subscribe();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((conn, _)) = accepted {
                    tokio::task::spawn_local(serve(shim.clone(), conn));
                }
            }
            _ = sigchld.recv() => reap(&shim),
            _ = &mut deadline, if !shim.started.get() => {
                return Err("berthd did not start the container in time".into());
            }
            _ = exited.changed() => break,
        }
    }
    // Let connections deliver the exit before the socket goes away: waiters
    // that come late, and streams with output still queued for a client
    // that reads slowly (ending here would cut it off). A stream ends once
    // it is delivered, or when berthd drops it (its client went away), as
    // dockerd keeps an attach open for as long as its client does.
    let linger = tokio::time::sleep(LINGER);
    tokio::pin!(linger);
    let mut streams = shim.streams.subscribe();
    let mut lingered = false;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((conn, _)) = accepted {
                    tokio::task::spawn_local(serve(shim.clone(), conn));
                }
            }
            _ = &mut linger, if !lingered => lingered = true,
            _ = streams.wait_for(|n| *n == 0), if lingered => break,
        }
    }
    let still_ours = std::fs::metadata(&shim.cfg.socket)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m) == socket_ino)
        .unwrap_or(false);
    if still_ours {
        let _ = std::fs::remove_file(&shim.cfg.socket);
    }
    Ok(())
}

/// An attach or exec stream, counted from its request to its end.
struct StreamOpen(Rc<watch::Sender<usize>>);

impl StreamOpen {
    fn new(count: &Rc<watch::Sender<usize>>) -> StreamOpen {
        count.send_modify(|n| *n += 1);
        StreamOpen(count.clone())
    }
}

impl Drop for StreamOpen {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Tells the spawning berthd that the socket is up, then lets go of stdout.
fn ready() {
    let mut out = std::io::stdout();
    let _ = out.write_all(b"ready\n");
    let _ = out.flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1);
    }
}

/// Collects every child that ended: the container's init, execs, and the
/// runtime's helpers that were reparented here.
fn reap(shim: &Rc<Shim>) {
    loop {
        let (pid, code) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), code),
            Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), 128 + sig as i32),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return,
        };
        if shim.init.pid.get() == pid {
            shim.init.set_exited(code);
            tokio::task::spawn_local(finish(shim.clone(), code));
        } else if let Some(p) = shim.execs.borrow_mut().remove(&pid) {
            p.set_exited(code);
        }
    }
}

/// The container's init ended with `code`: drain, record, clean up, publish.
async fn finish(shim: Rc<Shim>, code: i32) {
    shim.init.drain_output().await;
    if let Some(mut log) = shim.log.borrow_mut().take() {
        let _ = log.flush_partial(berth_shim::logs::Stream::Stdout);
        let _ = log.flush_partial(berth_shim::logs::Stream::Stderr);
    }
    let info = ExitInfo {
        code,
        finished_at: berth_shim::clock::now_rfc3339(),
        oom_killed: oom_killed(&shim.cfg),
    };
    let path = shim.cfg.bundle.join(EXIT_FILE);
    if let Err(e) = berth_shim::fsutil::atomic_write(
        &path,
        &serde_json::to_vec(&info).unwrap_or_default(),
        0o600,
    ) {
        eprintln!(
            "berth-shim: cannot record the exit in {}: {e}",
            path.display()
        );
    }
    delete_runtime_state(&shim.cfg);
    shim.exit.send_replace(Some(info));
}

/// Whether the kernel's OOM killer acted in the container's memory cgroup.
fn oom_killed(cfg: &ShimConfig) -> bool {
    let Some(path) = cgroups_path(cfg) else {
        return false;
    };
    let rel = path.trim_start_matches('/');
    let v1 = Path::new("/sys/fs/cgroup/memory")
        .join(rel)
        .join("memory.oom_control");
    let v2 = Path::new("/sys/fs/cgroup").join(rel).join("memory.events");
    [v1, v2].iter().any(|f| {
        std::fs::read_to_string(f)
            .map(|t| {
                t.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .is_some_and(|n| n.trim().parse::<u64>().unwrap_or(0) > 0)
                })
            })
            .unwrap_or(false)
    })
}

fn cgroups_path(cfg: &ShimConfig) -> Option<String> {
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.bundle.join("config.json")).ok()?).ok()?;
    spec["linux"]["cgroupsPath"].as_str().map(String::from)
}

/// One connection from berthd: a request, a response, maybe streams.
async fn serve(shim: Rc<Shim>, mut conn: UnixStream) {
    let req: Request = match protocol::recv(&mut conn).await {
        Ok(r) => r,
        Err(_) => return,
    };
    match req {
        Request::Start => {
            let resp = start(&shim);
            let _ = protocol::send(&mut conn, &resp).await;
        }
        Request::Attach {
            stdin,
            stdout,
            stderr,
        } => {
            let rx = shim.init.subscribe(stdout, stderr);
            let exit = shim.exit.subscribe();
            let _open = StreamOpen::new(&shim.streams);
            if protocol::send(&mut conn, &Response::ok()).await.is_ok() {
                session::run(shim.init.clone(), conn, stdin, rx, Some(exit)).await;
            }
        }
        Request::Kill { signal } => {
            let resp = kill(&shim, signal);
            let _ = protocol::send(&mut conn, &resp).await;
        }
        Request::Resize {
            exec,
            height,
            width,
        } => {
            let proc = match exec {
                None => Some(shim.init.clone()),
                Some(id) => shim.exec_by_id.borrow().get(&id).cloned(),
            };
            let resp = match proc {
                Some(p) => match p.resize(height, width) {
                    Ok(()) => Response::ok(),
                    Err(e) => Response::error(format!("cannot resize the terminal: {e}")),
                },
                None => Response::error("no such exec process"),
            };
            let _ = protocol::send(&mut conn, &resp).await;
        }
        Request::Exec(req) => {
            let proc = Rc::new(Proc::new(false, true));
            let rx = proc.subscribe(req.stdout, req.stderr);
            let _open = StreamOpen::new(&shim.streams);
            let (resp, ok) = match exec(&shim, &req, &proc) {
                Ok(pid) => (
                    Response {
                        pid: Some(pid),
                        ..Default::default()
                    },
                    true,
                ),
                Err(e) => (Response::error(e), false),
            };
            if protocol::send(&mut conn, &resp).await.is_ok() && ok {
                session::run(proc.clone(), conn, req.stdin, rx, None).await;
            }
            shim.exec_by_id.borrow_mut().remove(&req.id);
        }
        Request::Wait => {
            let mut rx = shim.exit.subscribe();
            let info = loop {
                if let Some(info) = rx.borrow_and_update().clone() {
                    break info;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            };
            let _ = protocol::send(
                &mut conn,
                &Response {
                    exit: Some(info),
                    ..Default::default()
                },
            )
            .await;
        }
        Request::State => {
            let resp = Response {
                pid: Some(shim.init.pid.get()).filter(|p| *p > 0),
                exit: shim.exit.borrow().clone(),
                ..Default::default()
            };
            let _ = protocol::send(&mut conn, &resp).await;
        }
    }
}

fn start(shim: &Rc<Shim>) -> Response {
    if shim.started.replace(true) {
        return Response::error("the container was already started");
    }
    let cfg = &shim.cfg;
    let Some(io) = shim.init_io.borrow_mut().take() else {
        return Response::error("the container's stdio is gone");
    };
    // A runtime state left by a shim that was killed mid-start would make
    // the create fail ("container already exists"); nothing else owns it.
    delete_runtime_state(cfg);
    match runc::create_and_start(&cfg.runtime, &cfg.id, &cfg.bundle, &cfg.state_root, io) {
        Ok(pid) => {
            shim.init.pid.set(pid);
            if let Err(e) = shim.init.start_pumps(shim.log.clone()) {
                eprintln!("berth-shim: {e}");
            }
            Response {
                pid: Some(pid),
                ..Default::default()
            }
        }
        Err(e) => {
            shim.init.abandon_io();
            // Nothing runs: end the shim once berthd has read the error.
            let info = ExitInfo {
                code: 128,
                finished_at: berth_shim::clock::now_rfc3339(),
                oom_killed: false,
            };
            let exit = shim.exit.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                exit.send_replace(Some(info));
            });
            Response::error(e)
        }
    }
}

/// Removes the container's runtime state and cgroups, killing what is left.
fn delete_runtime_state(cfg: &ShimConfig) {
    runc::delete(&cfg.runtime, &cfg.id, &cfg.state_root);
}

fn kill(shim: &Shim, signal: i32) -> Response {
    let pid = shim.init.pid.get();
    if pid <= 0 || shim.init.exited() {
        return Response::error("the container is not running");
    }
    let sig = match nix::sys::signal::Signal::try_from(signal) {
        Ok(s) => s,
        Err(_) => return Response::error(format!("invalid signal {signal}")),
    };
    // Safe from pid reuse: the process is this shim's child and is reaped
    // only by this thread.
    match nix::sys::signal::kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(Errno::ESRCH) => Response::ok(),
        Err(e) => Response::error(format!("cannot signal the container: {e}")),
    }
}

fn exec(shim: &Rc<Shim>, req: &protocol::ExecRequest, proc: &Rc<Proc>) -> Result<i32, String> {
    if !shim.started.get() || shim.init.exited() || shim.init.pid.get() <= 0 {
        return Err("the container is not running".into());
    }
    let tty = req.process["terminal"].as_bool().unwrap_or(false);
    let file = format!("exec-{}.json", req.id);
    let path = shim.cfg.bundle.join(&file);
    berth_shim::fsutil::atomic_write(
        &path,
        &serde_json::to_vec(&req.process).map_err(|e| e.to_string())?,
        0o600,
    )
    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let io = proc
        .prepare_io(tty, req.stdin, &shim.cfg.bundle)
        .map_err(|e| format!("cannot set up the exec's stdio: {e}"))?;
    let cfg = &shim.cfg;
    let result = runc::exec(&cfg.runtime, &cfg.id, &cfg.state_root, &path, io);
    let _ = std::fs::remove_file(&path);
    let pid = match result {
        Ok(pid) => pid,
        Err(e) => {
            proc.abandon_io();
            return Err(e);
        }
    };
    proc.pid.set(pid);
    shim.execs.borrow_mut().insert(pid, proc.clone());
    shim.exec_by_id
        .borrow_mut()
        .insert(req.id.clone(), proc.clone());
    proc.start_pumps(Rc::new(RefCell::new(None)))?;
    // It may have ended before it was registered for the reaper.
    reap(shim);
    Ok(pid)
}
