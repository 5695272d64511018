//! Registry credentials in the OS keychain (`keyring`), served to the docker
//! CLI by `docker-credential-berth` through the credential-helper protocol:
//! `store` reads `{"ServerURL","Username","Secret"}`, `get` reads a server URL
//! and prints that object, `erase` reads a server URL, `list` prints
//! `{"<server URL>": "<username>"}`. Errors go to stdout with exit status 1,
//! as the docker CLI reads them there.

mod helper;
mod store;

pub use helper::{run, Action};
pub use store::{KeyringStore, MemoryStore, SecretStore};

/// What the docker CLI's helpers print when they have nothing for a server; the
/// CLI recognises this exact text as "not logged in" rather than a failure.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
