//! Starts berthd and keeps it running: its output goes to the console and
//! to /var/log/berthd.log; when it dies it is started again after a back-off.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const BINARY: &str = "/usr/bin/berthd";
pub const LOG: &str = "/var/log/berthd.log";
pub const CONFIG: &str = "/run/berth/daemon.json";

/// berthd's command line in the guest.
pub fn args(debug_tcp: bool) -> Vec<String> {
    let vsock = format!("vsock://:{}", berth_common::vmlink::ENGINE_VSOCK_PORT);
    let mut v: Vec<String> = [
        "--data-root",
        "/var/lib/berth",
        "--exec-root",
        "/run/berth/exec",
        "-H",
        "unix:///var/run/berth/docker.sock",
        "-H",
        &vsock,
        "--pidfile",
        "/run/berth/berthd.pid",
        "--config-file",
        CONFIG,
    ]
    .map(String::from)
    .to_vec();
    if debug_tcp {
        // Debug only (berth.debug_tcp=1): plain TCP for checks without vsock.
        v.extend(["-H", "tcp://0.0.0.0:2375", "--tls=false"].map(String::from));
    }
    v
}

/// berthd's async worker threads in a guest with `cpus` vCPUs: half of them,
/// at least one. In the VM the async workers share the vCPUs with the
/// kernel's vsock receive work and with berthd's blocking threads (a docker
/// cp's file writes), and a worker with nothing of its own to do keeps
/// stealing the busy connection's task: each time hyper wakes its own task
/// (a body chunk passed on) tokio offers it to an idle worker. Measured
/// with 2 vCPUs under emulation, a 256 MiB docker cp: two workers made
/// three times the context switches and ten times the futex calls of one,
/// and cost a quarter more guest CPU. tokio reads TOKIO_WORKER_THREADS.
pub fn async_workers(cpus: usize) -> usize {
    (cpus / 2).max(1)
}

/// The wait before the next start: doubling from 1 s up to 30 s, back to
/// 1 s after a run that lasted a minute (a crash loop slows down, a rare
/// crash restarts quickly).
pub fn backoff(previous: Duration, ran_for: Duration) -> Duration {
    if ran_for >= Duration::from_secs(60) {
        Duration::from_secs(1)
    } else {
        (previous * 2).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }
}

pub struct Supervisor {
    args: Vec<String>,
    /// See [`async_workers`].
    workers: usize,
    stopping: AtomicBool,
    pid: AtomicI32,
    stopped: tokio::sync::Notify,
}

impl Supervisor {
    pub fn new(args: Vec<String>) -> Arc<Supervisor> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(Supervisor {
            args,
            workers: async_workers(cpus),
            stopping: AtomicBool::new(false),
            pid: AtomicI32::new(0),
            stopped: tokio::sync::Notify::new(),
        })
    }

    pub fn pid(&self) -> Option<i32> {
        Some(self.pid.load(Ordering::SeqCst)).filter(|p| *p > 0)
    }

    /// Runs berthd until [`Supervisor::stop`].
    pub async fn run(self: Arc<Self>) {
        let mut wait = Duration::ZERO;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            let started = Instant::now();
            match self.run_once().await {
                Ok(status) if self.stopping.load(Ordering::SeqCst) => {
                    tracing::info!("berthd stopped: {status}")
                }
                Ok(status) => tracing::warn!("berthd exited: {status}"),
                Err(e) => tracing::error!("cannot start berthd: {e}"),
            }
            self.pid.store(0, Ordering::SeqCst);
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            wait = backoff(wait, started.elapsed());
            tracing::info!("starting berthd again in {wait:?}");
            tokio::time::sleep(wait).await;
        }
        self.stopped.notify_waiters();
    }

    async fn run_once(&self) -> std::io::Result<std::process::ExitStatus> {
        let mut child = tokio::process::Command::new(BINARY)
            .args(&self.args)
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("TOKIO_WORKER_THREADS", self.workers.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        self.pid
            .store(child.id().map(|p| p as i32).unwrap_or(0), Ordering::SeqCst);
        tracing::info!(pid = ?child.id(), "berthd started: {BINARY} {}", self.args.join(" "));
        let log = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(LOG)
            .await
            .ok();
        let log = Arc::new(tokio::sync::Mutex::new(log));
        let out = tokio::spawn(tee(child.stdout.take().unwrap(), log.clone()));
        let err = tokio::spawn(tee(child.stderr.take().unwrap(), log));
        let status = child.wait().await;
        let _ = out.await;
        let _ = err.await;
        status
    }

    /// SIGTERM, then SIGKILL after `grace`; returns when berthd is gone.
    pub async fn stop(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        let Some(pid) = self.pid() else { return };
        let stopped = self.stopped.notified();
        tokio::pin!(stopped);
        stopped.as_mut().enable();
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(grace, &mut stopped).await.is_err() {
            tracing::warn!("berthd did not stop within {grace:?}: killing it");
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = tokio::time::timeout(Duration::from_secs(5), stopped).await;
        }
    }

    pub fn reload(&self) -> Result<(), String> {
        let pid = self.pid().ok_or("berthd is not running")?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGHUP,
        )
        .map_err(|e| format!("signalling berthd: {e}"))
    }
}

/// Copies berthd's output lines to the console (our stderr) and the log file.
async fn tee<R: tokio::io::AsyncRead + Unpin>(
    r: R,
    log: Arc<tokio::sync::Mutex<Option<tokio::fs::File>>>,
) {
    let mut lines = BufReader::new(r).lines();
    let mut console = tokio::io::stderr();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = format!("berthd: {line}\n");
        let _ = console.write_all(line.as_bytes()).await;
        if let Some(f) = log.lock().await.as_mut() {
            let _ = f.write_all(&line.as_bytes()[8..]).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap_and_resets_after_a_long_run() {
        let s = Duration::from_secs;
        let quick = Duration::from_millis(500);
        assert_eq!(backoff(Duration::ZERO, quick), s(1));
        assert_eq!(backoff(s(1), quick), s(2));
        assert_eq!(backoff(s(16), quick), s(30));
        assert_eq!(backoff(s(30), quick), s(30));
        assert_eq!(backoff(s(30), s(120)), s(1));
    }

    #[test]
    fn half_the_vcpus_run_async_work() {
        assert_eq!(async_workers(0), 1);
        assert_eq!(async_workers(1), 1);
        assert_eq!(async_workers(2), 1);
        assert_eq!(async_workers(3), 1);
        assert_eq!(async_workers(8), 4);
    }

    #[test]
    fn the_command_line_matches_the_contract() {
        let a = args(false).join(" ");
        assert_eq!(
            a,
            "--data-root /var/lib/berth --exec-root /run/berth/exec \
             -H unix:///var/run/berth/docker.sock -H vsock://:2375 --pidfile /run/berth/berthd.pid \
             --config-file /run/berth/daemon.json"
        );
        assert!(args(true)
            .join(" ")
            .ends_with("-H tcp://0.0.0.0:2375 --tls=false"));
    }
}
