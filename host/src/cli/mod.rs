//! The `berth` subcommands, one file each; `main.rs` only parses and dispatches.

pub mod context;
pub mod doctor;
pub mod logs;
pub mod shell;
pub mod start;
pub mod status;
pub mod stop;

use crate::settings::{Home, Settings};

/// The Berth home and its settings, as every command needs them.
pub fn load() -> anyhow::Result<(Home, Settings)> {
    let home = Home::from_env()?;
    let settings = Settings::load(&home)?;
    Ok((home, settings))
}

/// The last `lines` lines of a file, for error messages.
pub fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
