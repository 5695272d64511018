//! Who may talk to the dashboard: only pages it served itself.
//!
//! Three checks, because a local web page from elsewhere can reach a loopback port:
//! the per-run token (the printed URL carries it; a `SameSite=Strict` cookie keeps it),
//! the `Host` header (DNS rebinding: a foreign name resolving to 127.0.0.1), and the
//! `Origin` header when a browser sends one (cross-site requests).

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap};

/// A random per-run token, hex.
pub fn new_token() -> std::io::Result<String> {
    let mut buf = [0u8; 24];
    getrandom::getrandom(&mut buf).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(hex::encode(buf))
}

#[derive(Debug, Clone)]
pub struct Guard {
    pub token: String,
    pub listen: SocketAddr,
}

/// Why a request was refused (the status is always 403).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Host(String),
    Origin(String),
    Token,
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::Host(h) => format!(
                "refused: Host {h:?} is not this dashboard's address (open the URL `berth dashboard` printed)"
            ),
            Refusal::Origin(o) => format!("refused: requests from {o:?} are not allowed"),
            Refusal::Token => {
                "refused: missing or wrong token; open the URL `berth dashboard` printed (it carries ?token=...)"
                    .into()
            }
        }
    }
}

impl Guard {
    pub fn cookie_name(&self) -> String {
        // Cookies ignore ports: one name per port keeps two dashboards apart.
        format!("berth_token_{}", self.listen.port())
    }

    /// Names under which this server may be addressed.
    fn host_allowed(&self, host: &str) -> bool {
        let port = self.listen.port();
        let (name, rest) = match host.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((n, r)) => (n, r),
                None => return false,
            },
            None => match host.split_once(':') {
                Some((n, _)) => (n, &host[n.len()..]),
                None => (host, ""),
            },
        };
        let host_port = match rest.strip_prefix(':') {
            Some(p) => p.parse::<u16>().ok(),
            None if rest.is_empty() => Some(80),
            None => None,
        };
        if host_port != Some(port) || name.is_empty() {
            return false;
        }
        let listen = self.listen.ip();
        if name.eq_ignore_ascii_case("localhost") {
            return listen.is_loopback() || listen.is_unspecified();
        }
        match name.parse::<IpAddr>() {
            // Listening everywhere: any address of this machine is fine; names are not.
            Ok(_) if listen.is_unspecified() => true,
            Ok(ip) => ip == listen || (ip.is_loopback() && listen.is_loopback()),
            Err(_) => false,
        }
    }

    /// `token` is what the query string carries (`?token=`), if anything.
    pub fn check(&self, headers: &HeaderMap, query_token: Option<&str>) -> Result<(), Refusal> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !self.host_allowed(host) {
            return Err(Refusal::Host(host.to_string()));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let same = origin
                .strip_prefix("http://")
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
            if !same {
                return Err(Refusal::Origin(origin.to_string()));
            }
        }
        let presented = query_token
            .map(str::to_string)
            .or_else(|| {
                headers
                    .get("x-berth-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            })
            .or_else(|| self.cookie_token(headers));
        match presented {
            Some(t) if constant_time_eq(t.as_bytes(), self.token.as_bytes()) => Ok(()),
            _ => Err(Refusal::Token),
        }
    }

    fn cookie_token(&self, headers: &HeaderMap) -> Option<String> {
        let name = self.cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    pub fn set_cookie(&self) -> String {
        format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            self.cookie_name(),
            self.token
        )
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn guard(listen: &str) -> Guard {
        Guard {
            token: "t0k".into(),
            listen: listen.parse().unwrap(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn token_from_query_header_or_cookie() {
        let g = guard("127.0.0.1:8123");
        let host = ("host", "127.0.0.1:8123");
        assert_eq!(g.check(&headers(&[host]), None), Err(Refusal::Token));
        assert_eq!(g.check(&headers(&[host]), Some("t0k")), Ok(()));
        assert_eq!(g.check(&headers(&[host]), Some("t0x")), Err(Refusal::Token));
        assert_eq!(
            g.check(&headers(&[host, ("x-berth-token", "t0k")]), None),
            Ok(())
        );
        let cookie = ("cookie", "a=b; berth_token_8123=t0k");
        assert_eq!(g.check(&headers(&[host, cookie]), None), Ok(()));
        let other_port = ("cookie", "berth_token_9999=t0k");
        assert_eq!(
            g.check(&headers(&[host, other_port]), None),
            Err(Refusal::Token)
        );
    }

    #[test]
    fn foreign_hosts_and_origins_are_refused() {
        let g = guard("127.0.0.1:8123");
        let ok = |h: &str| g.check(&headers(&[("host", h)]), Some("t0k")).is_ok();
        assert!(ok("127.0.0.1:8123"));
        assert!(ok("localhost:8123"));
        assert!(!ok("evil.example:8123"));
        assert!(!ok("127.0.0.1:8124"));
        assert!(!ok("10.0.0.1:8123"));
        assert!(!ok(""));
        let cross = headers(&[
            ("host", "127.0.0.1:8123"),
            ("origin", "http://evil.example"),
        ]);
        assert!(matches!(
            g.check(&cross, Some("t0k")),
            Err(Refusal::Origin(_))
        ));
        let same = headers(&[
            ("host", "127.0.0.1:8123"),
            ("origin", "http://127.0.0.1:8123"),
        ]);
        assert_eq!(g.check(&same, Some("t0k")), Ok(()));
    }

    #[test]
    fn listening_everywhere_accepts_addresses_not_names() {
        let g = guard("0.0.0.0:8123");
        let ok = |h: &str| g.check(&headers(&[("host", h)]), Some("t0k")).is_ok();
        assert!(ok("192.168.1.5:8123"));
        assert!(ok("localhost:8123"));
        assert!(!ok("rebind.example:8123"));
    }

    #[test]
    fn tokens_are_random() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 48);
    }
}
