//! berth-vm-init: PID 1 of Berth's VM guest, and the agent that serves the
//! host's multiplexed streams.
//!
//! Run by the kernel as `/init` it does the init's work (see `init`); the
//! `agent` subcommand runs the same agent on a Unix socket so that it can be
//! tested outside the VM.

mod agent;
mod fsutil;
mod init;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "berth-vm-init",
    version,
    about = "PID 1 of Berth's VM guest and its host agent"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run as the guest's init (what the kernel runs as /init). Needs the VM.
    Init,
    /// Run only the agent on a Unix socket instead of vsock (for tests and
    /// debugging outside the VM); the same protocol, no init duties.
    Agent {
        /// Listen on this Unix socket path (replaced if it exists).
        #[arg(long)]
        listen_unix: PathBuf,
        /// berthd's socket that `{"open":"docker"}` streams connect to.
        #[arg(long, default_value = berth_common::vmlink::GUEST_DOCKER_SOCKET)]
        docker_socket: PathBuf,
        /// Where a `daemon-json` control request writes the new file.
        #[arg(long)]
        daemon_json: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    // The kernel hands init the unknown words of its command line as
    // arguments: PID 1 is always the init, whatever they are.
    if std::process::id() == 1 {
        init::run_as_pid1();
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init => {
            eprintln!(
                "berth-vm-init: `init` only works as PID 1 inside Berth's VM; \
                 use `berth-vm-init agent --listen-unix PATH` to run the agent here"
            );
            return std::process::ExitCode::from(2);
        }
        Command::Agent {
            listen_unix,
            docker_socket,
            daemon_json,
        } => {
            init_logging();
            agent::run_local(listen_unix, docker_socket, daemon_json)
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-vm-init: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
