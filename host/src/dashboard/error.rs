//! The one error type every command returns: what the user reads, and the
//! settings key it is about (so the UI can show it next to that field).

use serde::Serialize;

/// Serialises to `{"message": "...", "field": "<key>" | null}` for both shells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub message: String,
    pub field: Option<String>,
    /// The HTTP status the browser shell answers with (4xx: the request, 5xx: the engine).
    #[serde(skip)]
    pub status: u16,
}

impl CommandError {
    /// The caller asked for something that cannot work (bad arguments, unknown command).
    pub fn bad_request(message: impl Into<String>) -> Self {
        CommandError {
            message: message.into(),
            field: None,
            status: 400,
        }
    }

    /// A settings value was refused; `field` names the daemon.json key.
    pub fn invalid_field(field: Option<String>, message: impl Into<String>) -> Self {
        CommandError {
            message: message.into(),
            field,
            status: 422,
        }
    }

    /// Something on our side or the engine's failed.
    pub fn internal(message: impl Into<String>) -> Self {
        CommandError {
            message: message.into(),
            field: None,
            status: 500,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        CommandError {
            message: message.into(),
            field: None,
            status: 404,
        }
    }
}

impl From<bollard::errors::Error> for CommandError {
    fn from(e: bollard::errors::Error) -> Self {
        use bollard::errors::Error as E;
        match e {
            // The engine's own message is what the docker CLI would print: pass it on as is
            // (e.g. "conflict: unable to remove repository reference ... is using its image").
            E::DockerResponseServerError {
                status_code,
                message,
            } => CommandError {
                message,
                field: None,
                status: if (400..600).contains(&status_code) {
                    status_code
                } else {
                    502
                },
            },
            E::SocketNotFoundError(path) => CommandError {
                message: format!(
                    "the engine is not running: no socket at {path}. Start it with `berth start` \
                     (or `sudo scripts/start-native.sh` for a native engine)"
                ),
                field: None,
                status: 503,
            },
            other => {
                let text = other.to_string();
                let status = if text.contains("onnection refused") || text.contains("Connect") {
                    503
                } else {
                    502
                };
                CommandError {
                    message: format!("talking to the engine at its socket failed: {text}"),
                    field: None,
                    status,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_to_message_and_field_only() {
        let e = CommandError::invalid_field(Some("debug".into()), "expected a boolean");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"message": "expected a boolean", "field": "debug"})
        );
        let e = CommandError::bad_request("no such command");
        assert_eq!(
            serde_json::to_value(&e).unwrap()["field"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn engine_errors_keep_their_status_and_message() {
        let e: CommandError = bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message: "image is being used by running container abc".into(),
        }
        .into();
        assert_eq!(e.status, 409);
        assert!(e.message.contains("being used"));
    }
}
