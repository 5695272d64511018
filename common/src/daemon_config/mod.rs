//! daemon.json: the model, its loading with dockerd's rules and messages,
//! and what a change needs (reload or restart).
//!
//! berthd calls [`load`] at start-up and on SIGHUP; the desktop settings
//! panel calls [`validate_text`] and [`reload_plan`] on what the user edits.

mod error;
mod keys;
mod listen;
mod load;
mod model;
mod netaddr;
mod positions;
mod reload;
mod size;
mod typecheck;
mod validate;

pub use error::ConfigError;
pub use keys::{key_info, KeyInfo, ValueKind, KEYS};
pub use listen::{
    ListenAddr, DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, DEFAULT_TLS_HTTP_PORT, DEFAULT_UNIX_SOCKET,
};
pub use load::{load, validate_config, validate_text, FileSource, Loaded};
pub use model::{
    AddressPool, DaemonConfig, Runtime, Ulimit, BUILTIN_RUNTIME, DEFAULT_CONFIG_FILE,
    DEFAULT_SHM_SIZE, RESERVED_RUNTIME_NAMES,
};
pub use reload::{reload_plan, Change, ReloadPlan};
pub use size::parse_ram_size;
