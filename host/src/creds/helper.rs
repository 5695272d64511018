//! The credential-helper protocol on top of a [`SecretStore`].

use serde::{Deserialize, Serialize};

use super::store::SecretStore;
use super::NOT_FOUND;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Get,
    Store,
    Erase,
    List,
}

#[derive(Debug, Serialize, Deserialize)]
struct Credentials {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Stored per server: the account name is the server URL.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    username: String,
    secret: String,
}

/// Runs one action: `input` is the helper's stdin; Ok is what to print on stdout (exit 0),
/// Err the message to print on stdout with exit status 1.
pub fn run(store: &dyn SecretStore, action: Action, input: &str) -> Result<String, String> {
    match action {
        Action::Store => {
            let c: Credentials = serde_json::from_str(input).map_err(|e| {
                format!("store expects {{\"ServerURL\",\"Username\",\"Secret\"}} on stdin: {e}")
            })?;
            let server = server_of(&c.server_url)?;
            let stored = serde_json::to_string(&Stored {
                username: c.username.clone(),
                secret: c.secret,
            })
            .map_err(|e| e.to_string())?;
            store.set(&server, &stored)?;
            let mut index = store.index()?;
            index.insert(server, c.username);
            store.set_index(&index)?;
            Ok(String::new())
        }
        Action::Get => {
            let server = server_of(input)?;
            let text = store.get(&server)?.ok_or_else(|| NOT_FOUND.to_string())?;
            let s: Stored = serde_json::from_str(&text)
                .map_err(|e| format!("the keychain entry for {server} is damaged ({e}); run `docker logout {server}` and log in again"))?;
            let c = Credentials {
                server_url: server,
                username: s.username,
                secret: s.secret,
            };
            serde_json::to_string(&c).map_err(|e| e.to_string())
        }
        Action::Erase => {
            let server = server_of(input)?;
            let had = store.delete(&server)?;
            let mut index = store.index()?;
            let listed = index.remove(&server).is_some();
            store.set_index(&index)?;
            if had || listed {
                Ok(String::new())
            } else {
                Err(NOT_FOUND.to_string())
            }
        }
        Action::List => serde_json::to_string(&store.index()?).map_err(|e| e.to_string()),
    }
}

fn server_of(input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("no server URL given on stdin".into());
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::MemoryStore;
    use super::*;

    #[test]
    fn store_get_list_erase() {
        let m = MemoryStore::default();
        assert_eq!(run(&m, Action::Get, "reg:5000\n"), Err(NOT_FOUND.into()));
        assert_eq!(run(&m, Action::List, ""), Ok("{}".into()));
        let input = r#"{"ServerURL":"reg:5000","Username":"alice","Secret":"s3cret"}"#;
        assert_eq!(run(&m, Action::Store, input), Ok(String::new()));
        let got: serde_json::Value =
            serde_json::from_str(&run(&m, Action::Get, "reg:5000\n").unwrap()).unwrap();
        assert_eq!(
            got,
            serde_json::json!({"ServerURL": "reg:5000", "Username": "alice", "Secret": "s3cret"})
        );
        assert_eq!(
            run(&m, Action::List, ""),
            Ok(r#"{"reg:5000":"alice"}"#.into())
        );
        assert_eq!(run(&m, Action::Erase, "reg:5000"), Ok(String::new()));
        assert_eq!(run(&m, Action::Get, "reg:5000"), Err(NOT_FOUND.into()));
        assert_eq!(run(&m, Action::Erase, "reg:5000"), Err(NOT_FOUND.into()));
        assert_eq!(run(&m, Action::List, ""), Ok("{}".into()));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let m = MemoryStore::default();
        let e = run(&m, Action::Store, "not json").unwrap_err();
        assert!(e.contains("ServerURL"), "{e}");
        assert!(run(&m, Action::Get, "  \n")
            .unwrap_err()
            .contains("no server URL"));
    }
}
