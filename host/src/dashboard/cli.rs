//! `berth dashboard`: its flags and its run, kept here so the CLI's main only routes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use super::server::{find_frontend, Dashboard};
use super::{Context, SettingsTarget};

/// Serve the dashboard UI in the browser (loopback only unless --listen says otherwise)
#[derive(Debug, Clone, clap::Args)]
pub struct DashboardArgs {
    /// Address to listen on; port 0 picks a free one
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:7171")]
    pub listen: SocketAddr,
    /// The daemon.json of a natively running berthd to edit in Settings
    /// (default: ~/.berth/daemon.json with the VM, else /etc/berth/daemon.json)
    #[arg(long, value_name = "PATH")]
    pub daemon_config: Option<PathBuf>,
    /// berthd's pidfile, for SIGHUP after a reloadable change (with --daemon-config)
    #[arg(long, value_name = "PATH", requires = "daemon_config")]
    pub daemon_pidfile: Option<PathBuf>,
    /// The built frontend (default: $BERTH_FRONTEND_DIR, else the installed or checkout copy)
    #[arg(long, value_name = "DIR")]
    pub frontend: Option<PathBuf>,
}

pub fn run(args: DashboardArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth dashboard: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth dashboard: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn serve(args: DashboardArgs) -> anyhow::Result<()> {
    let mut ctx = Context::discover();
    if let Some(path) = args.daemon_config {
        ctx = ctx.with_settings(SettingsTarget::native(path, args.daemon_pidfile));
    }
    if !args.listen.ip().is_loopback() {
        tracing::warn!(
            "listening on {}: reachable from other machines; anyone with the URL's token can control the engine",
            args.listen
        );
    }
    let dashboard = Dashboard::bind(ctx.clone(), args.listen, find_frontend(args.frontend)).await?;
    tracing::info!(
        engine = %ctx.endpoint().host,
        source = %ctx.endpoint().source,
        settings = %ctx.settings().daemon_json.display(),
        "dashboard ready"
    );
    // The one line on stdout: scripts and tests read the URL from it.
    println!("Berth dashboard: {}", dashboard.url());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    dashboard.serve().await
}
