//! The supervisor: the background process `berth start` leaves running. It boots the VM,
//! keeps the session with the guest's agent (reconnecting when the guest restarts), serves the
//! Docker socket and the published ports, and on SIGTERM (`berth stop`) shuts the guest down
//! cleanly before it exits.

mod daemon_json;
mod link;
pub mod pidfile;

use crate::forward::{self, control::Control, GuestPort, Mux};
use crate::settings::{Home, Settings};
use crate::vm::{self, VmSpec};
use anyhow::Context;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// How long a guest may take to power off after the shutdown request (berthd stops its
/// containers first: their stop timeouts count).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(90);

/// Runs the supervisor until the VM stops. Called on the main thread inside a tokio runtime:
/// the VM's processes are started from it (they die with the thread that started them).
pub async fn run(home: Home, settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(home.vm_dir())?;
    let _pid = pidfile::PidFile::claim(&home.pid_file())?;
    let spec = VmSpec::from_settings(&home, &settings)?;
    vm::disk::prepare(&spec.data_disk, settings.disk_gib)?;
    vm::disk::check_host_space(&spec.data_disk)?;

    let socket_path = settings.socket_path(&home);
    let docker_listener = forward::unix::bind(&socket_path, 0o600)?;
    let agent_listener = forward::unix::bind(&home.agent_socket(), 0o600)?;
    let _cleanup = RemoveOnDrop(vec![socket_path.clone(), home.agent_socket()]);

    // What QEMU hands the guest at boot: later changes are sent over the control stream.
    let booted_daemon_json = spec
        .daemon_json
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let mut backend = vm::backend(&spec)?;
    tracing::info!("booting the guest with {}", backend.describe());
    backend.start(&spec).context("cannot start the VM")?;

    let (mux_tx, mux_rx) = watch::channel::<Option<Mux>>(None);
    let (control_tx, control_rx) = watch::channel::<Option<Arc<Control>>>(None);
    // berthd's own vsock port is reached through the hybrid vsock socket (QEMU's
    // vhost-device-vsock), once the engine is ready; until then, and without such a socket,
    // docker connections go through the agent.
    let (ready_tx, ready_rx) = watch::channel(false);
    let direct = backend
        .vsock_handshake()
        .then(|| forward::Direct::new(backend.vsock_socket(), GuestPort::Engine, ready_rx));
    // The agent's stream port is bound before its session is up, and published ports are
    // only served once the session is: ready from the start.
    let ports_direct = backend.vsock_handshake().then(|| {
        let (_, ready) = watch::channel(true);
        Arc::new(forward::Direct::new(
            backend.vsock_socket(),
            GuestPort::Streams,
            ready,
        ))
    });
    let docker = tokio::spawn(forward::docker::serve(
        docker_listener,
        mux_rx.clone(),
        direct,
    ));
    let agent = tokio::spawn(forward::agent::serve(agent_listener, mux_rx.clone()));
    let link = tokio::spawn(link::keep(
        backend.vsock_socket(),
        backend.vsock_handshake(),
        mux_tx,
        control_tx,
        home.vm_dir().join("ready"),
        ready_tx,
        ports_direct,
    ));

    let follow = tokio::spawn(daemon_json::follow(
        home.daemon_json(),
        booted_daemon_json,
        control_rx.clone(),
    ));
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let reason = loop {
        tokio::select! {
            _ = term.recv() => break None,
            _ = int.recv() => break None,
            _ = tick.tick() => if let Some(why) = backend.exited() { break Some(why) },
        }
    };
    match reason {
        Some(why) => tracing::warn!("the VM stopped by itself: {why}"),
        None => {
            tracing::info!("stopping: asking the guest to shut down");
            let control = control_rx.borrow().clone();
            let asked = match control {
                Some(c) => c
                    .request(
                        berth_common::vmlink::Request::Shutdown,
                        Duration::from_secs(10),
                    )
                    .await
                    .map_err(|e| tracing::warn!("shutdown request failed: {e}"))
                    .is_ok(),
                None => false,
            };
            // No docker connection may start while the guest goes down.
            docker.abort();
            agent.abort();
            if asked {
                let deadline = Instant::now() + SHUTDOWN_WAIT;
                while backend.exited().is_none() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            match backend.exited() {
                Some(why) => tracing::info!("the guest powered off ({why})"),
                None => tracing::warn!("the guest did not power off in time: stopping QEMU"),
            }
        }
    }
    link.abort();
    follow.abort();
    docker.abort();
    agent.abort();
    backend.kill();
    let _ = std::fs::remove_file(home.vm_dir().join("ready"));
    Ok(())
}

struct RemoveOnDrop(Vec<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}
