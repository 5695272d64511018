//! The dashboard's command handlers, shared by both shells: `berth dashboard`
//! (HTTP + Server-Sent Events, [`server`]) and the desktop app (one Tauri
//! command calling [`dispatch`], Tauri events for the streams).
//!
//! Every command takes JSON arguments and answers JSON, or a [`CommandError`]
//! (`{"message", "field"}`). The engine is reached only through the Engine
//! API over its socket (bollard), never by reading berthd's files.
//!
//! Streams ([`stream`], [`events`]) yield JSON items tagged by `"type"`:
//! `event` (an engine event), `engine` (`{"running": bool}` when the engine
//! goes away or comes back), `log` (`{"stream", "line"}`), `progress`
//! (`{"id", "status", "percent"}` of a pull), `error` (`{"message"}`), and a
//! last `end` item when a finite stream (logs without follow, pull) is done.

pub mod cli;
mod containers;
mod context;
mod discover;
mod engine;
mod error;
mod images;
#[cfg(unix)]
mod raw;
pub mod server;
mod settings;
mod streams;
mod vm;
mod volumes;

pub use cli::DashboardArgs;
pub use context::{Context, SettingsMode, SettingsTarget};
pub use discover::{find_engine, Endpoint, Environment};
pub use error::CommandError;
pub use streams::{events, stream};

use serde_json::Value;

/// Every command name `dispatch` knows, for `--help`-like listings and tests.
pub const COMMANDS: &[&str] = &[
    "engine.status",
    "engine.info",
    "containers.list",
    "containers.start",
    "containers.stop",
    "containers.restart",
    "containers.remove",
    "containers.inspect",
    "containers.logs",
    "containers.ports",
    "images.list",
    "images.pull",
    "images.remove",
    "volumes.list",
    "volumes.remove",
    "settings.get",
    "settings.validate",
    "settings.apply",
    "vm.get",
    "vm.apply",
];

/// Runs one named command. `args` is a JSON object (or `null` for none).
pub async fn dispatch(ctx: &Context, name: &str, args: Value) -> Result<Value, CommandError> {
    let args = Args::new(name, args)?;
    tracing::debug!(command = name, "dispatch");
    match name {
        "engine.status" => engine::status(ctx).await,
        "engine.info" => engine::info(ctx).await,
        "containers.list" => containers::list(ctx, &args).await,
        "containers.start" => containers::start(ctx, &args).await,
        "containers.stop" => containers::stop(ctx, &args).await,
        "containers.restart" => containers::restart(ctx, &args).await,
        "containers.remove" => containers::remove(ctx, &args).await,
        "containers.inspect" => containers::inspect(ctx, &args).await,
        "containers.logs" => containers::logs(ctx, &args).await,
        "containers.ports" => containers::ports(ctx, &args).await,
        "images.list" => images::list(ctx).await,
        "images.pull" => images::pull(ctx, &args).await,
        "images.remove" => images::remove(ctx, &args).await,
        "volumes.list" => volumes::list(ctx).await,
        "volumes.remove" => volumes::remove(ctx, &args).await,
        "settings.get" => settings::get(ctx),
        "settings.validate" => settings::validate(ctx, &args),
        "settings.apply" => settings::apply(ctx, &args),
        "vm.get" => vm::get(ctx),
        "vm.apply" => vm::apply(ctx, &args),
        _ => Err(CommandError::not_found(format!(
            "unknown command {name:?}; known commands: {}",
            COMMANDS.join(", ")
        ))),
    }
}

/// A command's arguments with typed accessors that fail with a clear message.
pub(crate) struct Args {
    command: String,
    map: serde_json::Map<String, Value>,
}

impl Args {
    pub(crate) fn new(command: &str, value: Value) -> Result<Self, CommandError> {
        let map = match value {
            Value::Null => serde_json::Map::new(),
            Value::Object(m) => m,
            other => {
                return Err(CommandError::bad_request(format!(
                    "{command}: arguments must be a JSON object, got {other}"
                )))
            }
        };
        Ok(Args {
            command: command.to_string(),
            map,
        })
    }

    /// A required non-empty string.
    pub(crate) fn str(&self, key: &str) -> Result<String, CommandError> {
        match self.map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(Value::String(_)) | None | Some(Value::Null) => Err(CommandError::bad_request(
                format!("{}: argument {key:?} is required", self.command),
            )),
            Some(other) => Err(CommandError::bad_request(format!(
                "{}: argument {key:?} must be a string, got {other}",
                self.command
            ))),
        }
    }

    /// A string that may hold anything, including nothing (daemon.json text).
    pub(crate) fn text(&self, key: &str) -> Result<String, CommandError> {
        match self.map.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(CommandError::bad_request(format!(
                "{}: argument {key:?} (a string) is required",
                self.command
            ))),
        }
    }

    pub(crate) fn bool_or(&self, key: &str, default: bool) -> Result<bool, CommandError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(CommandError::bad_request(format!(
                "{}: argument {key:?} must be true or false, got {other}",
                self.command
            ))),
        }
    }

    /// An optional list of strings.
    pub(crate) fn string_list(&self, key: &str) -> Result<Option<Vec<String>>, CommandError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        CommandError::invalid_field(
                            Some(key.into()),
                            format!("{}: {key:?} must list strings, got {v}", self.command),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(CommandError::invalid_field(
                Some(key.into()),
                format!(
                    "{}: {key:?} must be a list of strings, got {other}",
                    self.command
                ),
            )),
        }
    }

    pub(crate) fn u64_or(&self, key: &str, default: u64) -> Result<u64, CommandError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_u64().ok_or_else(|| {
                CommandError::bad_request(format!(
                    "{}: argument {key:?} must be a whole number, got {v}",
                    self.command
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn offline() -> Context {
        Context::new(
            Endpoint {
                host: "unix:///nonexistent/berth-test.sock".into(),
                source: "test".into(),
            },
            SettingsTarget::native("/nonexistent/daemon.json".into(), None),
        )
    }

    #[tokio::test]
    async fn unknown_commands_and_bad_args_are_clear_errors() {
        let ctx = offline();
        let e = dispatch(&ctx, "containers.explode", Value::Null)
            .await
            .unwrap_err();
        assert_eq!(e.status, 404);
        assert!(e.message.contains("containers.list"), "{}", e.message);
        let e = dispatch(&ctx, "containers.start", json!([1]))
            .await
            .unwrap_err();
        assert!(e.message.contains("JSON object"), "{}", e.message);
        let e = dispatch(&ctx, "containers.start", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.message, "containers.start: argument \"id\" is required");
        let e = dispatch(&ctx, "containers.logs", json!({"id": "x", "tail": "ten"}))
            .await
            .unwrap_err();
        assert!(e.message.contains("whole number"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_missing_engine_is_reported_not_fatal() {
        let ctx = offline();
        let status = dispatch(&ctx, "engine.status", Value::Null).await.unwrap();
        assert_eq!(status["running"], json!(false));
        assert!(status["error"]
            .as_str()
            .unwrap()
            .contains("berth-test.sock"));
        let e = dispatch(&ctx, "containers.list", Value::Null)
            .await
            .unwrap_err();
        assert_eq!(e.status, 503);
        assert!(e.message.contains("not running"), "{}", e.message);
    }
}
