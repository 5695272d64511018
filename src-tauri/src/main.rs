//! Berth Desktop: the tray and the dashboard window. The window loads the same
//! `frontend/dist` as `berth dashboard`; its commands and streams go through the
//! same handlers (`berth_host::dashboard`), here over Tauri IPC instead of HTTP.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod bridge;
mod tray;
mod window;

use std::io::IsTerminal;
use std::path::PathBuf;

use berth_host::dashboard::{Context, SettingsTarget};
use clap::Parser;

/// Berth Desktop: the tray menu and the dashboard window.
///
/// The engine is found like the docker CLI finds it: DOCKER_HOST, then the
/// current docker context, then Berth's own socket.
#[derive(Debug, Parser)]
#[command(name = "berth-desktop", version, about)]
struct Cli {
    /// Start in the tray only; "Open Dashboard" shows the window
    #[arg(long)]
    hidden: bool,

    /// The daemon.json of a natively running berthd (default: Berth's VM settings when the
    /// VM is set up, else /etc/berth/daemon.json)
    #[arg(long, value_name = "PATH")]
    daemon_config: Option<PathBuf>,

    /// The pidfile of that berthd, so that applied settings reach it by SIGHUP
    #[arg(long, value_name = "PATH", requires = "daemon_config")]
    daemon_pidfile: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let mut ctx = Context::discover();
    if let Some(path) = cli.daemon_config.clone() {
        ctx = ctx.with_settings(SettingsTarget::native(path, cli.daemon_pidfile.clone()));
    }
    tracing::info!(
        engine = %ctx.endpoint().host,
        source = %ctx.endpoint().source,
        daemon_json = %ctx.settings().daemon_json.display(),
        "berth-desktop starting"
    );

    if let Err(message) = check_display() {
        eprintln!("berth-desktop: {message}");
        std::process::exit(1);
    }

    let hidden = cli.hidden;
    let result = tauri::Builder::default()
        .manage(bridge::Bridge::new(ctx.clone()))
        .invoke_handler(tauri::generate_handler![bridge::berth_cmd])
        .on_page_load(bridge::on_page_load)
        .setup(move |app| {
            tray::install(app.handle(), ctx.clone())?;
            window::create(app.handle(), !hidden)?;
            bridge::forward_engine_events(app.handle().clone(), ctx.clone());
            Ok(())
        })
        .on_window_event(window::keep_in_tray)
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!(
            "berth-desktop: could not start the app: {e}\n\
             It needs a graphical session (DISPLAY or WAYLAND_DISPLAY) and WebKitGTK 4.1."
        );
        std::process::exit(1);
    }
}

/// GTK cannot start without a display, and says so with a panic: say it plainly first.
fn check_display() -> Result<(), String> {
    if cfg!(target_os = "linux")
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
    {
        return Err(
            "no graphical session (neither DISPLAY nor WAYLAND_DISPLAY is set). \
             Run it on your desktop, or under Xvfb (xvfb-run berth-desktop); \
             `berth dashboard` serves the same dashboard to a browser"
                .into(),
        );
    }
    Ok(())
}
