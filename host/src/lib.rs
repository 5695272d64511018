//! berth-host: the host side of Berth: settings, the VM backends, the supervisor that keeps
//! the VM and the session with its agent, the Docker socket and published-port forwarding,
//! and the `berth` CLI's subcommands (see DESIGN.md).

#[cfg(unix)]
pub mod cli;
pub mod creds;
pub mod dashboard;
pub mod engine;
#[cfg(unix)]
pub mod forward;
#[cfg(unix)]
pub mod ports;
pub mod settings;
#[cfg(unix)]
pub mod supervisor;
#[cfg(unix)]
pub mod vm;
