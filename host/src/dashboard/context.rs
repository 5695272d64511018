//! What every command needs: the engine endpoint (and a client for it) and
//! the daemon.json the settings panel edits.

use std::path::PathBuf;
use std::sync::Arc;

use bollard::Docker;
use tokio::sync::Mutex;

use super::discover::{self, Endpoint, Environment};
use super::error::CommandError;

/// How a settings change reaches the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsMode {
    /// berthd runs on this host: SIGHUP through its pidfile, or a restart by the user.
    Native { pidfile: Option<PathBuf> },
    /// berthd runs in Berth's VM; `<home>/daemon.json` is copied in when the VM boots and
    /// handed to the running guest by berth-host's supervisor when it changes;
    /// `<home>/config.json` holds the VM's resources.
    Vm { home: PathBuf },
}

/// The daemon.json file the settings panel edits, and how changes are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsTarget {
    pub daemon_json: PathBuf,
    pub mode: SettingsMode,
}

impl SettingsTarget {
    pub fn native(daemon_json: PathBuf, pidfile: Option<PathBuf>) -> Self {
        SettingsTarget {
            daemon_json,
            mode: SettingsMode::Native { pidfile },
        }
    }

    /// The VM's daemon.json when Berth's VM is set up (`~/.berth/config.json` exists),
    /// else the native daemon's.
    pub fn discover(env: &Environment) -> Self {
        if let Some(dir) = env.berth_dir().filter(|d| d.join("config.json").exists()) {
            return SettingsTarget {
                daemon_json: dir.join("daemon.json"),
                mode: SettingsMode::Vm { home: dir },
            };
        }
        SettingsTarget::native(
            discover::NATIVE_DAEMON_JSON.into(),
            Some(discover::NATIVE_PIDFILE.into()),
        )
    }
}

/// Cheap to clone; the engine client is made on first use and shared.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    settings: SettingsTarget,
    docker: Mutex<Option<Docker>>,
}

impl Context {
    /// Finds the engine like the docker CLI does and the settings file like Berth does.
    pub fn discover() -> Context {
        let env = Environment::from_process();
        Context::new(discover::find_engine(&env), SettingsTarget::discover(&env))
    }

    pub fn new(endpoint: Endpoint, settings: SettingsTarget) -> Context {
        Context {
            inner: Arc::new(Inner {
                endpoint,
                settings,
                docker: Mutex::new(None),
            }),
        }
    }

    /// The same engine, another settings file (`berth dashboard --daemon-config`).
    pub fn with_settings(&self, settings: SettingsTarget) -> Context {
        Context::new(self.inner.endpoint.clone(), settings)
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    pub fn settings(&self) -> &SettingsTarget {
        &self.inner.settings
    }

    /// A client speaking the engine's API version. Failures are not cached, so a
    /// dashboard opened before the engine started works once it is up.
    pub(crate) async fn docker(&self) -> Result<Docker, CommandError> {
        let mut slot = self.inner.docker.lock().await;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let host = &self.inner.endpoint.host;
        if self.inner.endpoint.source.ends_with("(TLS)") {
            return Err(CommandError::internal(format!(
                "{host} wants TLS client certificates (DOCKER_TLS_VERIFY), which the dashboard \
                 does not speak yet: point DOCKER_HOST at the engine's Unix socket instead"
            )));
        }
        if !(host.starts_with("unix://")
            || host.starts_with("tcp://")
            || host.starts_with("npipe://"))
        {
            return Err(CommandError::internal(format!(
                "engine address {host:?} is not supported: use unix://PATH or tcp://HOST:PORT"
            )));
        }
        let docker = Docker::connect_with_host(host)?;
        // bollard speaks a newer API than most engines accept; ask the engine.
        let docker = docker.negotiate_version().await?;
        *slot = Some(docker.clone());
        Ok(docker)
    }

    /// The engine's Unix socket path, when it is reached through one.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn unix_socket(&self) -> Option<PathBuf> {
        self.inner
            .endpoint
            .host
            .strip_prefix("unix://")
            .map(PathBuf::from)
    }
}
