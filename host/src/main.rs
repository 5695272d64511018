//! `berth`: manage the Berth engine from the host. Each subcommand lives in `cli/`; add one by
//! adding a variant here and a file there.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use berth_host::cli;
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
    /// Boot the Berth VM in the background and serve the Docker socket
    Start {
        /// Run berthd natively on this Linux host instead (scripts/start-native.sh)
        #[arg(long)]
        native: bool,
        /// Seconds to wait for the engine to answer
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Shut the guest down cleanly and stop the VM
    Stop {
        /// Seconds to wait for a clean shutdown before the VM is killed
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Stop the VM cleanly, then start it again (applies every daemon.json key)
    Restart {
        /// Seconds to wait for the engine to answer after the start
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Show whether the VM runs and the engine answers
    Status {
        /// The engine's socket (default: the one in Berth's settings)
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
    /// Show the guest's console: its init and berthd
    Logs {
        /// Keep printing what the guest writes
        #[arg(short, long)]
        follow: bool,
    },
    /// Open a debug shell in the guest (or run a command there)
    Shell {
        /// The command to run instead of /bin/sh
        #[arg(trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Create or update the `berth` docker context for the forwarded socket
    Context,
    /// Check what the VM needs: QEMU, helpers, images, acceleration, socket, disk space
    Doctor,
    /// Serve the dashboard UI in the browser
    Dashboard(berth_host::dashboard::cli::DashboardArgs),
    /// Run the VM supervisor in the foreground (what `berth start` runs in the background)
    #[command(hide = true)]
    Supervise,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Dashboard(args) = cli.command {
        return berth_host::dashboard::cli::run(args);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Start { native: true, .. } => cli::start::native(),
        Command::Start { timeout, .. } => {
            cli::start::run(Duration::from_secs(timeout)).map(|_| ExitCode::SUCCESS)
        }
        Command::Stop { timeout } => {
            cli::stop::run(Duration::from_secs(timeout)).map(|_| ExitCode::SUCCESS)
        }
        Command::Restart { timeout } => cli::stop::run(Duration::from_secs(120))
            .and_then(|_| cli::start::run(Duration::from_secs(timeout)))
            .map(|_| ExitCode::SUCCESS),
        Command::Status { socket } => cli::status::run(socket),
        Command::Logs { follow } => cli::logs::run(follow).map(|_| ExitCode::SUCCESS),
        Command::Shell { command } => cli::shell::run(command).map(|c| ExitCode::from(c as u8)),
        Command::Context => cli::context::run().map(|_| ExitCode::SUCCESS),
        Command::Doctor => cli::doctor::run(),
        Command::Supervise => supervise(),
        Command::Dashboard(_) => unreachable!("dispatched above"),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn supervise() -> anyhow::Result<ExitCode> {
    #[cfg(target_os = "macos")]
    if let Some(spec) = std::env::var_os("BERTH_KRUN_CHILD") {
        berth_host::vm::krun::enter(std::path::Path::new(&spec))?;
    }
    let (home, settings) = cli::load()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(berth_host::supervisor::run(home, settings))?;
    Ok(ExitCode::SUCCESS)
}
