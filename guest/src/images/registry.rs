//! Which registry endpoints serve a reference (mirrors for Docker Hub, plain
//! HTTP for insecure registries), credentials from `X-Registry-Auth`, and
//! registry errors translated into dockerd's messages.

use std::net::IpAddr;

use base64::Engine as _;
use berth_common::daemon_config::DaemonConfig;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use super::reference::Reference;
use crate::errdefs::{Error, Kind};

/// One place a reference can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` as the registry client addresses it.
    pub host: String,
    /// Plain HTTP (insecure registries, `http://` mirrors).
    pub plain_http: bool,
    /// Self-signed or otherwise unverifiable TLS is accepted (insecure registries).
    pub skip_verify: bool,
    pub mirror: bool,
}

/// Docker Hub's registry as the registry client names it.
pub const DOCKER_HUB_HOST: &str = "docker.io";

/// Endpoints to try in order. Docker Hub references go to each mirror first,
/// then to Docker Hub itself; everything else goes to its own registry.
pub fn endpoints(reference: &Reference, config: &DaemonConfig) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if reference.is_docker_hub() {
        for m in &config.registry_mirrors {
            if let Some((scheme, host)) = m.trim_end_matches('/').split_once("://") {
                let host = host.split('/').next().unwrap_or(host).to_string();
                let insecure = is_insecure(&host, config);
                out.push(Endpoint {
                    plain_http: scheme == "http",
                    skip_verify: insecure,
                    host,
                    mirror: true,
                });
            }
        }
        out.push(Endpoint {
            host: DOCKER_HUB_HOST.into(),
            plain_http: false,
            skip_verify: false,
            mirror: false,
        });
    } else {
        let host = reference.domain().to_string();
        let insecure = is_insecure(&host, config);
        out.push(Endpoint {
            plain_http: insecure,
            skip_verify: insecure,
            host,
            mirror: false,
        });
    }
    out
}

/// dockerd's rule: listed hosts, hosts inside listed CIDRs, and loopback
/// registries are insecure (HTTP or unverified TLS allowed).
pub fn is_insecure(host: &str, config: &DaemonConfig) -> bool {
    if config.insecure_registries.iter().any(|r| r == host) {
        return true;
    }
    let bare = host_without_port(host);
    let ip = if bare == "localhost" {
        Some(IpAddr::from([127, 0, 0, 1]))
    } else {
        bare.trim_matches(['[', ']']).parse::<IpAddr>().ok()
    };
    let Some(ip) = ip else { return false };
    if ip.is_loopback() {
        return true;
    }
    config
        .insecure_registries
        .iter()
        .filter_map(|r| r.split_once('/'))
        .any(|(net, bits)| cidr_contains(net, bits, ip))
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn cidr_contains(net: &str, bits: &str, ip: IpAddr) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// A registry client for one endpoint.
pub fn client(endpoint: &Endpoint, max_concurrent_downloads: usize) -> oci_client::Client {
    let protocol = if endpoint.plain_http {
        ClientProtocol::HttpsExcept(vec![endpoint.host.clone()])
    } else {
        ClientProtocol::Https
    };
    oci_client::Client::new(ClientConfig {
        protocol,
        accept_invalid_certificates: endpoint.skip_verify,
        max_concurrent_download: max_concurrent_downloads.max(1),
        user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
        connect_timeout: Some(std::time::Duration::from_secs(15)),
        ..Default::default()
    })
}

/// The `X-Registry-Auth` header: base64url JSON of the CLI's AuthConfig.
#[derive(Debug, Default, Deserialize)]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "identitytoken")]
    identity_token: String,
    #[serde(default, rename = "registrytoken")]
    registry_token: String,
}

pub fn decode_auth_header(header: Option<&str>) -> Result<RegistryAuth, Error> {
    let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(h)
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h.trim_end_matches('='))
        })
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(h))
        .map_err(|_| Error::invalid("invalid X-Registry-Auth header: not base64"))?;
    let cfg: AuthConfig = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("invalid X-Registry-Auth header: {e}")))?;
    Ok(if !cfg.registry_token.is_empty() {
        RegistryAuth::Bearer(cfg.registry_token)
    } else if !cfg.username.is_empty() {
        RegistryAuth::Basic(cfg.username, cfg.password)
    } else if !cfg.identity_token.is_empty() {
        RegistryAuth::Bearer(cfg.identity_token)
    } else {
        RegistryAuth::Anonymous
    })
}

/// Translates a registry client error for `what` (e.g. "127.0.0.1:5000/nope:latest").
pub fn map_error(what: &Reference, e: OciDistributionError) -> Error {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    match &e {
        OciDistributionError::ImageManifestNotFoundError(_) => not_found(what),
        OciDistributionError::AuthenticationFailure(m) => {
            Error::unauthorized(format!("unauthorized: {m}"))
        }
        _ if lower.contains("manifest_unknown")
            || lower.contains("name_unknown")
            || lower.contains("manifest unknown") =>
        {
            not_found(what)
        }
        _ if lower.contains("unauthorized") || lower.contains("denied") => Error::new(
            Kind::Unauthorized,
            format!("pull access denied for {}, repository does not exist or may require 'docker login': {text}", what.familiar_repository()),
        ),
        _ => Error::system(text),
    }
}

pub fn not_found(what: &Reference) -> Error {
    if what.is_docker_hub() {
        Error::not_found(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login'",
            what.familiar_repository()
        ))
    } else {
        Error::not_found(format!(
            "manifest for {} not found: manifest unknown: manifest unknown",
            what.familiar()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mirrors: &[&str], insecure: &[&str]) -> DaemonConfig {
        DaemonConfig {
            registry_mirrors: mirrors.iter().map(|s| s.to_string()).collect(),
            insecure_registries: insecure.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn docker_hub_goes_to_mirrors_first() {
        let r = Reference::parse("busybox").unwrap();
        let e = endpoints(&r, &cfg(&["http://127.0.0.1:5000/"], &[]));
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].host, "127.0.0.1:5000");
        assert!(e[0].plain_http && e[0].mirror);
        assert_eq!(e[1].host, DOCKER_HUB_HOST);
        assert!(!e[1].plain_http);
    }

    #[test]
    fn other_registries_are_used_directly() {
        let r = Reference::parse("myreg.example:5000/a/b:1").unwrap();
        let e = endpoints(
            &r,
            &cfg(&["http://127.0.0.1:5000"], &["myreg.example:5000"]),
        );
        assert_eq!(e.len(), 1);
        assert!(e[0].plain_http && !e[0].mirror);
        let e = endpoints(&r, &cfg(&[], &[]));
        assert!(!e[0].plain_http);
    }

    #[test]
    fn insecure_rules_match_dockerd() {
        let c = cfg(&[], &["10.0.0.0/8", "reg.local:443"]);
        assert!(is_insecure("127.0.0.1:5000", &c));
        assert!(is_insecure("localhost:5000", &c));
        assert!(is_insecure("10.1.2.3:5000", &c));
        assert!(is_insecure("reg.local:443", &c));
        assert!(!is_insecure("reg.local:444", &c));
        assert!(!is_insecure("11.0.0.1", &c));
        assert!(is_insecure("[::1]:5000", &c));
    }

    #[test]
    fn auth_header_decodes_cli_credentials() {
        let json = r#"{"username":"u","password":"p","serveraddress":"r"}"#;
        let h = base64::engine::general_purpose::URL_SAFE.encode(json);
        match decode_auth_header(Some(&h)).unwrap() {
            RegistryAuth::Basic(u, p) => assert_eq!((u.as_str(), p.as_str()), ("u", "p")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_auth_header(None).unwrap(),
            RegistryAuth::Anonymous
        ));
        assert!(matches!(
            decode_auth_header(Some("e30=")).unwrap(),
            RegistryAuth::Anonymous
        ));
        assert!(decode_auth_header(Some("%%%")).is_err());
    }
}
