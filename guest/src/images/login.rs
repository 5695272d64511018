//! `POST /auth` (docker login): checks credentials against the registry the
//! way a pull would authenticate, without storing anything daemon-side.

use std::time::Duration;

use super::registry;
use super::service::Images;
use crate::errdefs::{Error, Result};

impl Images {
    pub async fn login(&self, username: &str, password: &str, server: &str) -> Result<()> {
        let host = registry_host(server);
        let cfg = self.config.get();
        let insecure = registry::is_insecure(&host, &cfg);
        let bases: Vec<String> = if insecure {
            vec![format!("https://{host}"), format!("http://{host}")]
        } else {
            vec![format!("https://{host}")]
        };
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(insecure)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::system(e.to_string()))?;
        let mut last = None;
        for base in bases {
            let url = format!("{base}/v2/");
            let resp = match client
                .get(&url)
                .basic_auth(username, Some(password))
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    last = Some(Error::system(format!("Get \"{url}\": {e}")));
                    continue;
                }
            };
            if resp.status().is_success() {
                return Ok(());
            }
            let status = resp.status();
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            if status == reqwest::StatusCode::UNAUTHORIZED
                && challenge.to_ascii_lowercase().starts_with("bearer")
            {
                return bearer_login(&client, &challenge, username, password, &url).await;
            }
            return Err(Error::unauthorized(format!(
                "login attempt to {url} failed with status: {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )));
        }
        Err(last.unwrap_or_else(|| Error::system("no registry endpoint")))
    }
}

/// Token servers (Docker Hub, Harbor, …) check the credentials when asked for a token.
async fn bearer_login(
    client: &reqwest::Client,
    challenge: &str,
    user: &str,
    pass: &str,
    url: &str,
) -> Result<()> {
    let params = parse_challenge(challenge);
    let realm = params
        .iter()
        .find(|(k, _)| k == "realm")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            Error::system(format!(
                "registry at {url} sent a bearer challenge without realm"
            ))
        })?;
    let mut query: Vec<(String, String)> =
        params.into_iter().filter(|(k, _)| k == "service").collect();
    query.push(("account".into(), user.into()));
    let resp = client
        .get(&realm)
        .query(&query)
        .basic_auth(user, Some(pass))
        .send()
        .await
        .map_err(|e| Error::system(format!("Get \"{realm}\": {e}")))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(Error::unauthorized(format!(
            "login attempt to {url} failed with status: {} {}",
            resp.status().as_u16(),
            resp.status().canonical_reason().unwrap_or("")
        )))
    }
}

/// `Bearer realm="https://auth",service="registry"` → [(realm, …), (service, …)].
fn parse_challenge(h: &str) -> Vec<(String, String)> {
    let rest = h.split_once(' ').map(|(_, r)| r).unwrap_or("");
    rest.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            )
        })
        .collect()
}

/// What `docker login` sends as serveraddress, as a registry host.
pub fn registry_host(server: &str) -> String {
    let s = server.trim();
    if s.is_empty() || s.contains("index.docker.io") || s == "docker.io" {
        return "registry-1.docker.io".into();
    }
    let s = s.split_once("://").map(|(_, r)| r).unwrap_or(s);
    s.split('/').next().unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_become_hosts() {
        assert_eq!(
            registry_host("https://index.docker.io/v1/"),
            "registry-1.docker.io"
        );
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_host("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }

    #[test]
    fn challenges_parse() {
        let p = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
    }
}
