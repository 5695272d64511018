//! The one dashboard window: made at start-up, shown from the tray, hidden (not
//! destroyed) on close so the app keeps running in the tray.

use tauri::webview::NewWindowResponse;
use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder, Window, WindowEvent};

/// The window's label (capabilities/default.json grants it Berth's command).
pub const MAIN: &str = "main";

/// Creates the dashboard window on the bundled frontend (`frontend/dist`).
pub fn create(app: &AppHandle, visible: bool) -> tauri::Result<()> {
    WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App("index.html".into()))
        .title("Berth")
        .inner_size(1180.0, 760.0)
        .min_inner_size(720.0, 480.0)
        .visible(visible)
        // "Open" on a published port (a target=_blank link) belongs in the user's browser.
        .on_new_window(|url, _features| {
            open_external(url.as_str());
            NewWindowResponse::Deny
        })
        // The window only ever shows the bundled dashboard: a page elsewhere must not get
        // Berth's command; it opens in the browser instead.
        .on_navigation(|url| {
            let local = is_bundled(url);
            if !local {
                open_external(url.as_str());
            }
            local
        })
        .build()?;
    Ok(())
}

/// The app's own pages: `tauri://localhost` (Linux, macOS) or `http(s)://tauri.localhost`
/// (Windows).
fn is_bundled(url: &tauri::Url) -> bool {
    url.scheme() == "tauri" || url.host_str() == Some("tauri.localhost")
}

fn open_external(url: &str) {
    // Only web pages: a page must not make the app launch arbitrary handlers.
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        tracing::warn!("not opening {url}: only http(s) links leave the app");
        return;
    }
    if let Err(e) = open::that_detached(url) {
        tracing::warn!("could not open {url} in the browser: {e}");
    }
}

/// Shows and focuses the dashboard; with `view`, switches it to that view
/// (`containers`, `images`, `volumes`, `settings`).
pub fn open(app: &AppHandle, view: Option<&str>) {
    let Some(w) = app.get_webview_window(MAIN) else {
        tracing::warn!("the dashboard window is gone; nothing to show");
        return;
    };
    for r in [w.unminimize(), w.show(), w.set_focus()] {
        if let Err(e) = r {
            tracing::warn!("showing the dashboard window: {e}");
        }
    }
    if let Some(view) = view {
        // The frontend routes on the URL hash (and listens for hashchange).
        let script = format!(
            "window.location.hash = {};",
            serde_json::json!(format!("#{view}"))
        );
        if let Err(e) = w.eval(&script) {
            tracing::warn!("switching the dashboard to {view}: {e}");
        }
    }
}

/// Closing the window hides it; Quit in the tray ends the app.
pub fn keep_in_tray(window: &Window, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        if window.label() == MAIN {
            api.prevent_close();
            if let Err(e) = window.hide() {
                tracing::warn!("hiding the dashboard window: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bundled_pages_stay_in_the_window() {
        let ok = |u: &str| is_bundled(&tauri::Url::parse(u).unwrap());
        assert!(ok("tauri://localhost/index.html#settings"));
        assert!(ok("http://tauri.localhost/index.html"));
        assert!(!ok("http://127.0.0.1:8080/"));
        assert!(!ok("https://tauri.localhost.example.com/"));
    }
}
