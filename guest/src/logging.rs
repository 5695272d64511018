//! Logging with levels, reloadable on SIGHUP (debug / log-level).

use std::io::IsTerminal;

use berth_common::daemon_config::DaemonConfig;
use tracing_subscriber::{
    filter::LevelFilter, layer::SubscriberExt, reload, util::SubscriberInitExt, Layer,
};

/// Changes the log level of the running daemon.
#[derive(Clone)]
pub struct LogControl {
    handle: reload::Handle<LevelFilter, tracing_subscriber::Registry>,
}

/// dockerd's rule: `debug` wins over `log-level`; "fatal" has no tracing level of its own.
pub fn level_for(config: &DaemonConfig) -> LevelFilter {
    if config.debug {
        return LevelFilter::DEBUG;
    }
    match config.log_level.as_str() {
        "debug" => LevelFilter::DEBUG,
        "warn" => LevelFilter::WARN,
        "error" | "fatal" => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    }
}

pub fn init(config: &DaemonConfig) -> LogControl {
    let (filter, handle) = reload::Layer::new(level_for(config));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .boxed();
    // A second init (only possible in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
    LogControl { handle }
}

impl LogControl {
    pub fn apply(&self, config: &DaemonConfig) {
        let level = level_for(config);
        if let Err(e) = self.handle.modify(|f| *f = level) {
            tracing::warn!("cannot change the log level: {e}");
        }
    }
}
