//! Streams as Tauri events: each open stream is a task that emits its items until the
//! stream ends, the page closes it, or the app quits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use berth_host::dashboard::{self, CommandError, Context};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter};

/// Time for a page that let the bridge pick the id to `listen` before the first item.
const UNNAMED_GRACE: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct Streams {
    next: AtomicU64,
    running: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl Streams {
    pub fn open(&self, app: &AppHandle, ctx: &Context, args: Value) -> Result<Value, CommandError> {
        let name = str_arg(&args, "stream")?.ok_or_else(|| {
            CommandError::bad_request(
                "stream.open: argument \"stream\" is required (containers.logs or images.pull)",
            )
        })?;
        let (id, grace) = match str_arg(&args, "id")? {
            Some(id) if valid_id(&id) => (id, Duration::ZERO),
            Some(id) => {
                return Err(CommandError::bad_request(format!(
                    "stream.open: id {id:?} must be 1-64 letters, digits, '-' or '_'"
                )))
            }
            None => (
                format!("s{}", self.next.fetch_add(1, Ordering::Relaxed) + 1),
                UNNAMED_GRACE,
            ),
        };
        let inner_args = args.get("args").cloned().unwrap_or(Value::Null);
        // Argument errors come back from the call itself, not as a stream item.
        let mut items = dashboard::stream(ctx, &name, inner_args)?;

        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|_, task| !task.inner().is_finished());
        if running.contains_key(&id) {
            return Err(CommandError::bad_request(format!(
                "stream.open: a stream with id {id:?} is already open"
            )));
        }
        let app = app.clone();
        let event = format!("stream-{id}");
        let task = tauri::async_runtime::spawn(async move {
            tokio::time::sleep(grace).await;
            while let Some(item) = items.next().await {
                let end = item["type"] == "end";
                if let Err(e) = app.emit(&event, &item) {
                    tracing::warn!("{event}: the window is gone ({e}); stream stopped");
                    return;
                }
                if end {
                    return;
                }
            }
            // A stream that ran dry without its own end item still tells the page.
            let _ = app.emit(&event, json!({"type": "end"}));
        });
        running.insert(id.clone(), task);
        tracing::debug!(stream = %name, id = %id, "stream opened");
        Ok(json!({ "id": id }))
    }

    pub fn close(&self, args: Value) -> Result<Value, CommandError> {
        let id = str_arg(&args, "id")?.ok_or_else(|| {
            CommandError::bad_request("stream.close: argument \"id\" is required")
        })?;
        let task = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        // Closing a stream that already ended is not an error: the page cannot know.
        let closed = task.map(|t| t.abort()).is_some();
        Ok(json!({ "id": id, "closed": closed }))
    }
}

impl Streams {
    /// Stops every open stream: the page that opened them is gone (reloaded or navigated),
    /// and nobody would close them.
    pub fn close_all(&self) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        for (id, task) in running.drain() {
            task.abort();
            tracing::debug!(id = %id, "stream closed with its page");
        }
    }
}

/// Emits every engine event (and engine up/down item) as `engine-event`, and lets the
/// tray follow the engine's state from the same stream.
pub fn forward_engine_events(app: AppHandle, ctx: Context) {
    tauri::async_runtime::spawn(async move {
        let mut events = Box::pin(dashboard::events(&ctx));
        while let Some(item) = events.next().await {
            crate::tray::observe(&app, &item);
            if let Err(e) = app.emit("engine-event", &item) {
                tracing::debug!("engine-event not delivered: {e}");
            }
        }
        tracing::warn!("the engine event stream ended");
    });
}

fn str_arg(args: &Value, key: &str) -> Result<Option<String>, CommandError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(CommandError::bad_request(format!(
            "argument {key:?} must be a string, got {other}"
        ))),
    }
}

/// Ids become part of an event name: Tauri allows letters, digits, '-', '/', ':' and '_'.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_are_safe_event_names() {
        assert!(valid_id("logs-3f2a_1"));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id("x.y"));
        assert!(!valid_id(&"a".repeat(65)));
    }

    #[test]
    fn string_arguments_are_checked() {
        let args = json!({"stream": "images.pull", "id": 7});
        assert_eq!(
            str_arg(&args, "stream").unwrap().as_deref(),
            Some("images.pull")
        );
        assert_eq!(str_arg(&args, "missing").unwrap(), None);
        let e = str_arg(&args, "id").unwrap_err();
        assert!(e.message.contains("must be a string"), "{}", e.message);
    }
}
