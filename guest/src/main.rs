//! berthd: a Docker-Engine-compatible daemon.
//!
//! It serves the Docker Engine API on a Unix socket (and TCP with TLS, or vsock
//! inside Berth's VM) so that the docker CLI, compose and SDKs work unchanged.

mod api;
mod build;
mod cli;
mod config;
mod containers;
mod daemon;
mod errdefs;
mod events;
mod filters;
mod fsutil;
mod images;
mod listeners;
mod logging;
mod networks;
mod os;
mod pidfile;
mod system;
mod task;
mod timefmt;
mod volumes;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // `berthd runtime …`: the runc-compatible runtime the container shims
    // run. Checked before anything else runs, so it stays single-threaded.
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|a| a == "runtime") {
        return containers::runtime::cli::main(args);
    }
    os::memory::keep_io_buffers();
    let matches = cli::Flags::command().get_matches();
    let flags = match cli::Flags::from_arg_matches(&matches) {
        Ok(f) => f,
        Err(e) => e.exit(),
    };
    let source = config::Source::from_flags(&flags, &matches);

    let loaded = match source.load() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if flags.validate {
        println!("configuration OK");
        return ExitCode::SUCCESS;
    }

    let log = logging::init(&loaded.config);
    for key in &loaded.not_yet_supported {
        tracing::warn!(key = %key, "configuration key is recognised but not supported by Berth yet; it has no effect");
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("berthd")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berthd: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(daemon::run(source, loaded, log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("berthd: {e:#}");
            ExitCode::from(1)
        }
    }
}
