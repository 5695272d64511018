//! The tray icon and its menu: the engine's status line, Start / Stop / Restart,
//! Open Dashboard, Settings and Quit. The status follows the engine's own event stream
//! (up/down items, see `bridge::forward_engine_events`), not a timer.

mod control;
mod status;

use std::sync::Mutex;

use berth_host::dashboard::{Context, SettingsMode};
use serde_json::Value;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

use control::{Action, Step};
pub use status::EngineState;

const TRAY_ID: &str = "berth";

/// The menu items that change, and the state they show.
struct Tray {
    state: Mutex<EngineState>,
    /// VM or native: decides how Start and Stop are done.
    mode: SettingsMode,
    status: MenuItem<Wry>,
    start: MenuItem<Wry>,
    stop: MenuItem<Wry>,
    restart: MenuItem<Wry>,
}

/// Builds the tray icon and its menu.
pub fn install(app: &AppHandle, ctx: Context) -> tauri::Result<()> {
    let initial = EngineState::Checking;
    let status = MenuItem::with_id(app, "status", initial.label(), false, None::<&str>)?;
    let engine_at = MenuItem::with_id(
        app,
        "endpoint",
        format!("{} ({})", ctx.endpoint().host, ctx.endpoint().source),
        false,
        None::<&str>,
    )?;
    let start = MenuItem::with_id(app, "start", "Start", true, None::<&str>)?;
    let stop = MenuItem::with_id(app, "stop", "Stop", false, None::<&str>)?;
    let restart = MenuItem::with_id(app, "restart", "Restart", false, None::<&str>)?;
    let dashboard = MenuItem::with_id(app, "dashboard", "Open Dashboard", true, None::<&str>)?;
    let settings = MenuItem::with_id(app, "settings", "Settings…", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Berth", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &engine_at,
            &PredefinedMenuItem::separator(app)?,
            &start,
            &stop,
            &restart,
            &PredefinedMenuItem::separator(app)?,
            &dashboard,
            &settings,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;

    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Berth")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event);
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;

    app.manage(Tray {
        state: Mutex::new(initial.clone()),
        mode: ctx.settings().mode.clone(),
        status,
        start,
        stop,
        restart,
    });
    show(app, &initial);
    Ok(())
}

/// Follows the engine from an item of its event stream.
pub fn observe(app: &AppHandle, item: &Value) {
    if item["type"] != "engine" {
        return;
    }
    let Some(running) = item["running"].as_bool() else {
        return;
    };
    update(app, |s| s.on_engine(running));
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        "start" => act(app, Action::Start),
        "stop" => act(app, Action::Stop),
        "restart" => act(app, Action::Restart),
        "dashboard" => crate::window::open(app, None),
        "settings" => crate::window::open(app, Some("settings")),
        "quit" => {
            tracing::info!("quit from the tray");
            app.exit(0);
        }
        other => tracing::debug!("tray: unhandled menu item {other}"),
    }
}

/// Runs Start / Stop / Restart in the background; the status line says how it goes.
fn act(app: &AppHandle, action: Action) {
    let Some(mode) = app.try_state::<Tray>().map(|t| t.mode.clone()) else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        for step in action.steps() {
            let busy = match step {
                Step::Start => EngineState::Starting,
                Step::Stop => EngineState::Stopping,
            };
            update(&app, |_| busy.clone());
            match control::run_step(&mode, *step).await {
                // `berth start` returns once the engine answers, `berth stop` once it is
                // gone; the event stream agrees a moment later.
                Ok(()) => update(&app, |s| match s {
                    EngineState::Starting => EngineState::Running,
                    EngineState::Stopping => EngineState::Stopped,
                    other => other.clone(),
                }),
                Err(message) => {
                    update(&app, |_| EngineState::Error(message.clone()));
                    return;
                }
            }
        }
    });
}

fn update(app: &AppHandle, next: impl FnOnce(&EngineState) -> EngineState) {
    let Some(tray) = app.try_state::<Tray>() else {
        return;
    };
    let new = {
        let mut state = tray.state.lock().unwrap_or_else(|p| p.into_inner());
        let new = next(&state);
        if *state == new {
            return;
        }
        *state = new.clone();
        new
    };
    tracing::info!("engine: {}", new.label());
    show(app, &new);
}

/// Puts the state on the menu and the icon's tooltip.
fn show(app: &AppHandle, state: &EngineState) {
    let Some(tray) = app.try_state::<Tray>() else {
        return;
    };
    let actions = state.actions();
    // The status line last: whoever sees the new status also sees the actions that go with it.
    let results = [
        tray.start.set_enabled(actions.start),
        tray.stop.set_enabled(actions.stop),
        tray.restart.set_enabled(actions.restart),
        tray.status.set_text(state.label()),
    ];
    for r in results {
        if let Err(e) = r {
            tracing::warn!("updating the tray menu: {e}");
        }
    }
    if let Some(icon) = app.tray_by_id(TRAY_ID) {
        // The tooltip has room for a whole error message; the menu shows its start.
        let text = match state {
            EngineState::Error(message) => format!("Berth — Error: {message}"),
            other => format!("Berth — {}", other.label()),
        };
        let _ = icon.set_tooltip(Some(text));
    }
}
