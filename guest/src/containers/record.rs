//! What berthd remembers about a container, in `containers/<id>/config.v2.json`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// dockerd's zero time, shown for events that have not happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Container {
    pub id: String,
    /// With the leading slash, as the API shows names.
    pub name: String,
    pub created: String,
    /// The image ID (`sha256:…`).
    pub image: String,
    /// The image as the user named it (`busybox`), shown by `docker ps`.
    pub image_name: String,
    pub path: String,
    pub args: Vec<String>,
    /// The merged Config (image defaults + what the client sent).
    pub config: Value,
    pub host_config: Value,
    pub state: State,
    pub mount_id: String,
    /// Lower dirs of the root filesystem, relative to `overlay2/`.
    pub lower: String,
    #[serde(default)]
    pub restart_count: i64,
    /// Volumes mounted into the container (named, or anonymous from `VOLUME`).
    #[serde(default)]
    pub volumes: Vec<VolumeMount>,
    /// Host directories another container binds, taken with `--volumes-from`
    /// (its volumes go into `volumes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inherited_binds: Vec<super::volumes_from::InheritedBind>,
    /// Stopped by a user (`unless-stopped` then stays down at daemon start).
    #[serde(default)]
    pub manually_stopped: bool,
    /// What the client asked per network (`NetworkingConfig.EndpointsConfig`:
    /// aliases, addresses), by network name.
    #[serde(default)]
    pub endpoints_config: serde_json::Value,
    /// `NetworkSettings.Ports` of its published ports, while it runs.
    #[serde(default)]
    pub ports: serde_json::Value,
    /// Its endpoints by network name, while it runs.
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, crate::networks::model::Endpoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VolumeMount {
    pub name: String,
    pub destination: String,
    pub anonymous: bool,
    pub read_only: bool,
    /// `volume-nocopy` / `:nocopy`: the image's files are not copied in.
    #[serde(default)]
    pub nocopy: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// `State.Health`, for containers with a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy or unhealthy.
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthLog>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthLog {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

impl State {
    pub fn created() -> State {
        State {
            status: "created".into(),
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            health: None,
        }
    }

    /// The `Status` column of `docker ps`, as dockerd words it.
    pub fn human(&self) -> String {
        use crate::timefmt::{human_duration, seconds_since};
        let since = |t: &str| human_duration(seconds_since(t).unwrap_or(0.0));
        if self.running {
            let up = since(&self.started_at);
            if self.paused {
                return format!("Up {up} (Paused)");
            }
            return match self.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => format!("Up {up} (health: starting)"),
                Some(s) => format!("Up {up} ({s})"),
                None => format!("Up {up}"),
            };
        }
        if self.restarting {
            return format!(
                "Restarting ({}) {} ago",
                self.exit_code,
                since(&self.finished_at)
            );
        }
        if self.dead {
            return "Dead".into();
        }
        if self.started_at == ZERO_TIME {
            return "Created".into();
        }
        if self.finished_at == ZERO_TIME {
            return String::new();
        }
        format!(
            "Exited ({}) {} ago",
            self.exit_code,
            since(&self.finished_at)
        )
    }
}
