//! Where secrets live: the OS keychain, or memory in tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The keychain service name of every entry.
pub const SERVICE: &str = "berth-docker-credentials";
/// Keychains cannot enumerate portably: one entry keeps the server → username index.
const INDEX_ACCOUNT: &str = "berth:index";

/// A keychain: one secret per account name.
pub trait SecretStore {
    fn get(&self, account: &str) -> Result<Option<String>, String>;
    fn set(&self, account: &str, secret: &str) -> Result<(), String>;
    /// True when something was there.
    fn delete(&self, account: &str) -> Result<bool, String>;

    fn index(&self) -> Result<BTreeMap<String, String>, String> {
        match self.get(INDEX_ACCOUNT)? {
            None => Ok(BTreeMap::new()),
            // A damaged index must not lock the user out of store/erase: start afresh.
            Some(text) => Ok(serde_json::from_str(&text).unwrap_or_default()),
        }
    }

    fn set_index(&self, index: &BTreeMap<String, String>) -> Result<(), String> {
        if index.is_empty() {
            self.delete(INDEX_ACCOUNT).map(|_| ())
        } else {
            let text = serde_json::to_string(index).map_err(|e| e.to_string())?;
            self.set(INDEX_ACCOUNT, &text)
        }
    }
}

/// The OS keychain through `keyring` (Linux: the kernel keyring of the session;
/// macOS: Keychain; Windows: Credential Manager).
#[derive(Debug, Default)]
pub struct KeyringStore;

impl KeyringStore {
    fn entry(account: &str) -> Result<keyring::Entry, String> {
        keyring::Entry::new(SERVICE, account).map_err(explain)
    }
}

fn explain(e: keyring::Error) -> String {
    match e {
        keyring::Error::NoStorageAccess(inner) | keyring::Error::PlatformFailure(inner) => format!(
            "the OS keychain is not available ({inner}); on Linux without a desktop session \
             run the docker CLI inside a session keyring: `keyctl session - docker login ...`"
        ),
        other => other.to_string(),
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, account: &str) -> Result<Option<String>, String> {
        match Self::entry(account)?.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(explain(e)),
        }
    }

    fn set(&self, account: &str, secret: &str) -> Result<(), String> {
        Self::entry(account)?.set_password(secret).map_err(explain)
    }

    fn delete(&self, account: &str) -> Result<bool, String> {
        match Self::entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(explain(e)),
        }
    }
}

/// For tests of the protocol.
#[derive(Debug, Default)]
pub struct MemoryStore(pub Mutex<BTreeMap<String, String>>);

impl SecretStore for MemoryStore {
    fn get(&self, account: &str) -> Result<Option<String>, String> {
        Ok(self
            .0
            .lock()
            .map_err(|e| e.to_string())?
            .get(account)
            .cloned())
    }

    fn set(&self, account: &str, secret: &str) -> Result<(), String> {
        self.0
            .lock()
            .map_err(|e| e.to_string())?
            .insert(account.into(), secret.into());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<bool, String> {
        Ok(self
            .0
            .lock()
            .map_err(|e| e.to_string())?
            .remove(account)
            .is_some())
    }
}
