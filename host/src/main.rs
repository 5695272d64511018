//! `berth`: manage the Berth engine from the host.

use std::path::PathBuf;
use std::process::ExitCode;

use berth_host::engine;
use clap::{Parser, Subcommand};

/// Berth: Linux containers on the desktop, driven by the docker CLI.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show whether the engine answers, and its version
    Status {
        /// The engine's socket (default: $DOCKER_HOST if unix://, else /var/run/berth/docker.sock)
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Status { socket } => {
            let socket = socket.unwrap_or_else(engine::default_socket);
            match engine::status(&socket) {
                Ok(s) => {
                    println!(
                        "Running: Berth engine {} (API {}) on unix://{}",
                        s.version,
                        s.api_version,
                        socket.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!(
                        "Stopped: no engine answers on unix://{} ({e})",
                        socket.display()
                    );
                    println!("Start it natively with: sudo scripts/start-native.sh");
                    ExitCode::from(1)
                }
            }
        }
    }
}
