//! The webview's way to Berth: one Tauri command, `berth_cmd(name, args)`, running
//! the same handlers as `berth dashboard`'s `POST /api/cmd/<name>`, and Tauri events
//! for what the browser shell sends as Server-Sent Events:
//!
//! - `engine-event`: every item of the engine's event stream (`{"type": "event", ...}`
//!   and `{"type": "engine", "running": bool}`), for as long as the app runs;
//! - `stream-<id>`: the items of a stream the page opened with
//!   `berth_cmd("stream.open", {"stream": "containers.logs" | "images.pull", "args": {...},
//!   "id"?: "<id>"})`, which answers `{"id": "<id>"}`; the last item is `{"type": "end"}`.
//!   `berth_cmd("stream.close", {"id"})` stops one early (a closed log panel).
//!
//! A page that passes its own `id` can `listen("stream-<id>")` before opening, so it
//! misses no item; without one the bridge picks an id and starts after a short grace.

mod streams;

use berth_host::dashboard::{dispatch, CommandError, Context};
use serde_json::Value;
use tauri::{AppHandle, State};

pub use streams::forward_engine_events;
use streams::Streams;

/// Shared by every call of the command.
pub struct Bridge {
    ctx: Context,
    streams: Streams,
}

impl Bridge {
    pub fn new(ctx: Context) -> Self {
        Bridge {
            ctx,
            streams: Streams::default(),
        }
    }
}

/// A page (re)load in the window ends the streams the previous page opened.
pub fn on_page_load(webview: &tauri::Webview, payload: &tauri::webview::PageLoadPayload<'_>) {
    use tauri::Manager;
    if payload.event() == tauri::webview::PageLoadEvent::Started {
        if let Some(bridge) = webview.try_state::<Bridge>() {
            bridge.streams.close_all();
        }
    }
}

/// The one command the frontend calls. Errors reach the page as
/// `{"message": "...", "field": "<daemon.json key>" | null}`, as over HTTP.
#[tauri::command]
pub async fn berth_cmd(
    app: AppHandle,
    bridge: State<'_, Bridge>,
    name: String,
    args: Option<Value>,
) -> Result<Value, CommandError> {
    let args = args.unwrap_or(Value::Null);
    match name.as_str() {
        "stream.open" => bridge.streams.open(&app, &bridge.ctx, args),
        "stream.close" => bridge.streams.close(args),
        _ => dispatch(&bridge.ctx, &name, args).await,
    }
}
