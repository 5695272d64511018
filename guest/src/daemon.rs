//! The daemon's lifetime: state directories, identity, listeners, signals.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth_common::daemon_config::{DaemonConfig, Loaded};
use bollard_stubs::models::{SystemInfo, SystemVersion};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiState, SystemBackend};
use crate::config;
use crate::containers::{backend::ContainerService, service::Containers};
use crate::events::Events;
use crate::fsutil;
use crate::images::{
    backend::ImageService,
    service::{ImageUsage, Images},
};
use crate::listeners;
use crate::logging::LogControl;
use crate::pidfile::PidFile;
use crate::system::host::{self, HostFacts};
use crate::system::info;
use crate::volumes::{
    backend::VolumeService,
    service::{VolumeUsage, Volumes},
};

/// The daemon as the API sees it.
pub struct Daemon {
    config: Arc<config::Shared>,
    engine_id: String,
    images: Arc<Images>,
    containers: Arc<Containers>,
    volumes: Arc<Volumes>,
    events: Arc<Events>,
}

impl SystemBackend for Daemon {
    fn version(&self) -> SystemVersion {
        info::version(&host::kernel(), &self.config.get())
    }

    fn info(&self) -> SystemInfo {
        let cfg = self.config.get();
        let facts = HostFacts::read(&cfg.data_root);
        info::info(info::InfoInputs {
            facts: &facts,
            config: &cfg,
            counts: {
                let (running, paused, stopped) = self.containers.counts();
                info::Counts {
                    containers_running: running,
                    containers_paused: paused,
                    containers_stopped: stopped,
                    images: self.images.count() as i64,
                }
            },
            engine_id: &self.engine_id,
            events_listeners: self.events.listeners() as i64,
            system_time: crate::timefmt::now_rfc3339(),
        })
    }

    fn experimental(&self) -> bool {
        self.config.get().experimental
    }

    fn disk_usage(&self) -> crate::errdefs::Result<serde_json::Value> {
        crate::system::df::disk_usage(&self.images, &self.containers, &self.volumes)
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(source: config::Source, loaded: Loaded, log: LogControl) -> anyhow::Result<()> {
    let cfg = loaded.config;
    prepare_dirs(&cfg)?;
    let _pidfile = PidFile::create(&cfg.pidfile)?;
    let engine_id = engine_id(&cfg.data_root)?;
    let listeners = listeners::bind_all(&cfg)?;
    let shutdown_grace = Duration::from_secs(cfg.shutdown_timeout.clamp(1, 60) as u64);

    let data_root = cfg.data_root.clone();
    let config = Arc::new(config::Shared::new(cfg));
    let events = Arc::new(Events::default());
    let images = Images::open(&data_root, config.clone(), events.clone())
        .with_context(|| format!("cannot open the image store in {}", data_root.display()))?;
    let volumes = Volumes::open(&data_root, events.clone())
        .with_context(|| format!("cannot open the volume store in {}", data_root.display()))?;
    let networks = crate::networks::service::Networks::open(
        &data_root,
        config.clone(),
        events.clone(),
        Arc::new(crate::os::net::Linux),
        crate::networks::firewall::NetFirewall::from_config(&config.get()),
    )
    .with_context(|| format!("cannot open the network store in {}", data_root.display()))?;
    let containers = Containers::open(
        &data_root,
        images.clone(),
        volumes.clone(),
        events.clone(),
        config.clone(),
        networks.clone(),
    )
    .with_context(|| format!("cannot open the container store in {}", data_root.display()))?;
    let image_usage: Arc<dyn ImageUsage> = containers.clone();
    images.set_usage(Arc::downgrade(&image_usage));
    let network_usage: Arc<dyn crate::networks::service::NetworkUsage> = containers.clone();
    networks.set_usage(Arc::downgrade(&network_usage));
    let volume_usage: Arc<dyn VolumeUsage> = containers.clone();
    volumes.set_usage(Arc::downgrade(&volume_usage));
    let daemon = Arc::new(Daemon {
        config,
        engine_id,
        images: images.clone(),
        containers: containers.clone(),
        volumes: volumes.clone(),
        events: events.clone(),
    });
    containers.restore().await;
    let builder = Arc::new(crate::build::Builder {
        images: images.clone(),
        containers: containers.clone(),
    });
    let router = api::router(ApiState {
        system: daemon.clone(),
        images: Arc::new(ImageService(images)),
        containers: Arc::new(ContainerService(containers.clone())),
        volumes: Arc::new(VolumeService(volumes)),
        networks: Arc::new(crate::networks::backend::NetworkService {
            networks: networks.clone(),
            containers: containers.clone(),
        }),
        events: events.clone(),
        builder,
    });

    // Said once at start rather than discovered at the first `docker run`.
    if let Err(e) = crate::containers::shim::shim_binary() {
        tracing::warn!("containers cannot start: {e}");
    }
    let stop = CancellationToken::new();
    let server = tokio::spawn(listeners.serve(router, stop.clone(), shutdown_grace));
    tracing::info!(
        version = info::ENGINE_VERSION,
        data_root = %daemon.config.get().data_root.display(),
        "Daemon has completed initialization"
    );

    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    loop {
        tokio::select! {
            _ = hup.recv() => reload(&source, &daemon, &log),
            _ = term.recv() => { tracing::info!("Processing signal 'terminated'"); break }
            _ = int.recv() => { tracing::info!("Processing signal 'interrupt'"); break }
        }
    }
    containers.shutdown(shutdown_grace).await;
    events.close();
    if !daemon.config.get().live_restore {
        // Nothing runs any more: no rule of ours should outlive us.
        let nets = networks.clone();
        let _ = tokio::task::spawn_blocking(move || nets.firewall.stop()).await;
    }
    stop.cancel();
    let _ = server.await;
    tracing::info!("Daemon shutdown complete");
    Ok(())
}

/// SIGHUP: re-read daemon.json; an invalid file keeps the running config.
fn reload(source: &config::Source, daemon: &Daemon, log: &LogControl) {
    tracing::info!(file = %source.file.display(), "Got signal to reload configuration");
    let loaded = match source.load() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("Error reloading the configuration, keeping the running one: {e}");
            return;
        }
    };
    for key in &loaded.not_yet_supported {
        tracing::warn!(key = %key, "configuration key is recognised but not supported by Berth yet; it has no effect");
    }
    let plan = daemon.config.reload(loaded.config);
    log.apply(&daemon.config.get());
    daemon.images.reconfigure();
    for c in &plan.reloaded {
        tracing::info!(key = %c.key, old = %c.old, new = %c.new, "Reloaded configuration key");
    }
    for c in &plan.needs_restart {
        tracing::warn!(key = %c.key, running = %c.old, file = %c.new, "Configuration key changed but needs a daemon restart to take effect");
    }
    if plan.reloaded.is_empty() && plan.needs_restart.is_empty() {
        tracing::info!("Configuration reloaded: nothing changed");
    }
}

fn prepare_dirs(cfg: &DaemonConfig) -> anyhow::Result<()> {
    // 0711: others may traverse but not list. The data root must be traversable
    // for overlay mounts inside it; the exec root holds the default socket,
    // which the docker group must reach (the socket itself is 0660).
    fsutil::ensure_dir(&cfg.data_root, 0o711)
        .with_context(|| format!("cannot create the data root {}", cfg.data_root.display()))?;
    fsutil::ensure_dir(&cfg.exec_root, 0o711)
        .with_context(|| format!("cannot create the exec root {}", cfg.exec_root.display()))?;
    Ok(())
}

/// The engine's persistent identity (`docker info` ID), created once.
fn engine_id(data_root: &Path) -> anyhow::Result<String> {
    let path = data_root.join("engine-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if uuid::Uuid::parse_str(id).is_ok() {
            return Ok(id.to_string());
        }
        tracing::warn!(file = %path.display(), "engine-id is corrupt; creating a new one");
    }
    let id = uuid::Uuid::new_v4().to_string();
    fsutil::atomic_write(&path, id.as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
}
