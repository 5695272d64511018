//! Finding the engine the way the docker CLI does, and the daemon.json the
//! settings panel edits.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where a natively running berthd serves by default.
pub const NATIVE_SOCKET: &str = "/var/run/berth/docker.sock";
/// The native daemon's configuration and pidfile (as `scripts/start-native.sh` starts it).
pub const NATIVE_DAEMON_JSON: &str = "/etc/berth/daemon.json";
pub const NATIVE_PIDFILE: &str = "/var/run/berthd.pid";

/// Which engine endpoint was chosen, and why (shown in the engine status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// A docker host URL: `unix:///path`, `tcp://host:port`, `npipe://...`.
    pub host: String,
    /// "DOCKER_HOST", "docker context <name>", "Berth VM socket", "Berth native socket".
    pub source: String,
}

/// What discovery reads; the real one reads the process environment, tests pass their own.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
    /// `BERTH_HOME`: Berth's directory when it is not `~/.berth`.
    pub berth_home: Option<PathBuf>,
    /// `DOCKER_TLS_VERIFY`: the `DOCKER_HOST` endpoint wants TLS client certificates.
    pub tls_verify: bool,
}

impl Environment {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Environment {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            berth_home: var("BERTH_HOME").map(PathBuf::from),
            tls_verify: var("DOCKER_TLS_VERIFY").is_some_and(|v| v != "0"),
        }
    }

    fn docker_config_dir(&self) -> Option<PathBuf> {
        self.docker_config
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")))
    }

    /// `$BERTH_HOME`, else `~/.berth`: Berth's per-user directory (VM, settings, sockets).
    pub fn berth_dir(&self) -> Option<PathBuf> {
        self.berth_home
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".berth")))
    }
}

/// `DOCKER_HOST`, then the current docker context, then Berth's own sockets.
pub fn find_engine(env: &Environment) -> Endpoint {
    if let Some(host) = &env.docker_host {
        return Endpoint {
            host: host.clone(),
            source: if env.tls_verify {
                "DOCKER_HOST (TLS)".into()
            } else {
                "DOCKER_HOST".into()
            },
        };
    }
    if let Some(endpoint) = context_endpoint(env) {
        return endpoint;
    }
    // The VM's socket: where its config.json says, else its default place.
    let vm_socket = env.berth_dir().map(|d| {
        let home = crate::settings::Home::at(&d);
        crate::settings::Settings::load(&home)
            .map(|s| s.socket_path(&home))
            .unwrap_or_else(|_| d.join("run").join("docker.sock"))
    });
    if let Some(sock) = vm_socket.as_ref().filter(|s| s.exists()) {
        return socket_endpoint(sock, "Berth VM socket");
    }
    socket_endpoint(Path::new(NATIVE_SOCKET), "Berth native socket")
}

fn socket_endpoint(path: &Path, source: &str) -> Endpoint {
    Endpoint {
        host: format!("unix://{}", path.display()),
        source: source.into(),
    }
}

/// The docker CLI's current context (`DOCKER_CONTEXT`, else `currentContext` in config.json),
/// unless it is the built-in `default`, which means "no context" here.
fn context_endpoint(env: &Environment) -> Option<Endpoint> {
    let config_dir = env.docker_config_dir()?;
    let name = match &env.docker_context {
        Some(n) => n.clone(),
        None => {
            let text = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
            let config: serde_json::Value = serde_json::from_str(&text).ok()?;
            config.get("currentContext")?.as_str()?.to_string()
        }
    };
    if name.is_empty() || name == "default" {
        return None;
    }
    let digest = hex::encode(Sha256::digest(name.as_bytes()));
    let meta = config_dir
        .join("contexts")
        .join("meta")
        .join(digest)
        .join("meta.json");
    let text = std::fs::read_to_string(&meta).ok()?;
    let meta: serde_json::Value = serde_json::from_str(&text).ok()?;
    let host = meta
        .pointer("/Endpoints/docker/Host")?
        .as_str()?
        .to_string();
    Some(Endpoint {
        host,
        source: format!("docker context {name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_in(home: &Path) -> Environment {
        Environment {
            home: Some(home.to_path_buf()),
            ..Default::default()
        }
    }

    fn write_context(home: &Path, name: &str, host: &str) {
        let digest = hex::encode(Sha256::digest(name.as_bytes()));
        let dir = home.join(".docker/contexts/meta").join(digest);
        std::fs::create_dir_all(&dir).unwrap();
        let meta = serde_json::json!({"Name": name, "Endpoints": {"docker": {"Host": host}}});
        std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
    }

    #[test]
    fn docker_host_wins() {
        let home = tempfile::tempdir().unwrap();
        write_context(home.path(), "berth", "unix:///ctx.sock");
        let env = Environment {
            docker_host: Some("tcp://127.0.0.1:2375".into()),
            docker_context: Some("berth".into()),
            ..env_in(home.path())
        };
        assert_eq!(find_engine(&env).host, "tcp://127.0.0.1:2375");
    }

    #[test]
    fn current_context_from_config_json() {
        let home = tempfile::tempdir().unwrap();
        write_context(home.path(), "berth", "unix:///ctx.sock");
        std::fs::write(
            home.path().join(".docker/config.json"),
            r#"{"currentContext": "berth"}"#,
        )
        .unwrap();
        let found = find_engine(&env_in(home.path()));
        assert_eq!(found.host, "unix:///ctx.sock");
        assert_eq!(found.source, "docker context berth");
    }

    #[test]
    fn default_context_and_broken_files_fall_back_to_berth() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".docker")).unwrap();
        std::fs::write(
            home.path().join(".docker/config.json"),
            r#"{"currentContext": "default"}"#,
        )
        .unwrap();
        assert_eq!(
            find_engine(&env_in(home.path())).host,
            "unix:///var/run/berth/docker.sock"
        );
        std::fs::write(home.path().join(".docker/config.json"), "{not json").unwrap();
        assert_eq!(
            find_engine(&env_in(home.path())).source,
            "Berth native socket"
        );
        // A context named but without metadata is skipped too.
        let env = Environment {
            docker_context: Some("gone".into()),
            ..env_in(home.path())
        };
        assert_eq!(find_engine(&env).source, "Berth native socket");
    }

    #[test]
    fn berth_vm_socket_before_native() {
        let home = tempfile::tempdir().unwrap();
        let run = home.path().join(".berth/run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("docker.sock"), "").unwrap();
        let found = find_engine(&env_in(home.path()));
        assert_eq!(
            found.host,
            format!("unix://{}", run.join("docker.sock").display())
        );
        assert_eq!(found.source, "Berth VM socket");
    }
}
