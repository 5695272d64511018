//! Code shared by berthd (guest/) and the desktop app (host/, src-tauri/).
//!
//! Everything here must build on macOS and Windows too: no Linux-only
//! dependencies, no I/O beyond what the caller hands in.

pub mod daemon_config;
pub mod framed;
pub mod vmlink;
