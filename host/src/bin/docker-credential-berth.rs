//! `docker-credential-berth`: the docker CLI's credential helper for Berth
//! (`"credsStore": "berth"` in ~/.docker/config.json). Secrets live in the OS
//! keychain.

use std::io::{Read, Write};
use std::process::ExitCode;

use berth_host::creds::{self, Action, KeyringStore};
use clap::{Parser, Subcommand};

/// Serves registry credentials from the OS keychain to the docker CLI.
#[derive(Debug, Parser)]
#[command(name = "docker-credential-berth", version)]
struct Cli {
    #[command(subcommand)]
    action: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print the credentials of the server URL read from stdin
    Get,
    /// Save {"ServerURL","Username","Secret"} read from stdin
    Store,
    /// Forget the credentials of the server URL read from stdin
    Erase,
    /// Print {"<server URL>": "<username>"} of every saved server
    List,
    /// Print the version
    Version,
}

fn main() -> ExitCode {
    let action = match Cli::parse().action {
        Cmd::Get => Action::Get,
        Cmd::Store => Action::Store,
        Cmd::Erase => Action::Erase,
        Cmd::List => Action::List,
        Cmd::Version => {
            println!("docker-credential-berth {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
    };
    let mut input = String::new();
    if action != Action::List {
        if let Err(e) = std::io::stdin().read_to_string(&mut input) {
            println!("cannot read stdin: {e}");
            return ExitCode::from(1);
        }
    }
    let (out, code) = match creds::run(&KeyringStore, action, &input) {
        Ok(out) => (out, ExitCode::SUCCESS),
        Err(message) => (message, ExitCode::from(1)),
    };
    let mut stdout = std::io::stdout();
    if !out.is_empty() {
        let _ = writeln!(stdout, "{out}");
    }
    let _ = stdout.flush();
    code
}
