//! `hosts` entries (`-H`): where berthd listens.

use std::fmt;
use std::path::PathBuf;

/// The Unix socket berthd listens on when `hosts` is empty or says `unix://`.
pub const DEFAULT_UNIX_SOCKET: &str = "/var/run/berth/docker.sock";
/// IANA's Docker ports, as dockerd uses them.
pub const DEFAULT_HTTP_PORT: u16 = 2375;
pub const DEFAULT_TLS_HTTP_PORT: u16 = 2376;
/// dockerd binds `tcp://:PORT` to this host, not to every interface.
pub const DEFAULT_HTTP_HOST: &str = "localhost";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    /// `host` is a name or an IP address, without IPv6 brackets.
    Tcp {
        host: String,
        port: u16,
    },
    /// `cid: None` accepts connections for any CID (VMADDR_CID_ANY).
    Vsock {
        cid: Option<u32>,
        port: u32,
    },
}

impl ListenAddr {
    /// Parses a `hosts` entry the way dockerd does; `tls` picks the default
    /// TCP port (2376 with TLS, 2375 without) and what an empty entry means.
    pub fn parse(s: &str, tls: bool) -> Result<ListenAddr, String> {
        let address = s.trim();
        let default_port = if tls {
            DEFAULT_TLS_HTTP_PORT
        } else {
            DEFAULT_HTTP_PORT
        };
        if address.is_empty() {
            // dockerd's ParseHost: an empty -H means the default for the TLS mode.
            return Ok(if tls {
                ListenAddr::Tcp {
                    host: DEFAULT_HTTP_HOST.into(),
                    port: DEFAULT_TLS_HTTP_PORT,
                }
            } else {
                ListenAddr::Unix(DEFAULT_UNIX_SOCKET.into())
            });
        }
        let bad = |why: &str| format!("invalid bind address ({address}): {why}");
        // Like dockerd, "host:port" without a scheme is TCP.
        let (proto, rest) = address.split_once("://").unwrap_or(("tcp", address));
        match proto {
            "tcp" => parse_tcp(rest, default_port).map_err(|why| bad(&why)),
            "unix" => {
                if rest.contains("://") {
                    return Err(bad(&format!("invalid unix address: {rest}")));
                }
                let path = if rest.is_empty() { DEFAULT_UNIX_SOCKET } else { rest };
                Ok(ListenAddr::Unix(path.into()))
            }
            "vsock" => parse_vsock(rest).map_err(|why| bad(&why)),
            "fd" => Err(bad("systemd socket activation (fd://) is not supported by Berth; use unix://, tcp:// or vsock://")),
            other => Err(bad(&format!("unsupported proto '{other}'"))),
        }
    }
}

fn parse_tcp(rest: &str, default_port: u16) -> Result<ListenAddr, String> {
    if let Some(i) = rest.find(['/', '?', '#']) {
        if rest[i..] != *"/" {
            return Err("should not contain a path element".into());
        }
    }
    let authority = rest.trim_end_matches('/');
    let (host, port) = split_host_port(authority)?;
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => n,
            _ => return Err(format!("invalid port: {p}")),
        },
    };
    if host.contains(|c: char| c.is_whitespace() || c == '@' || c == '[' || c == ']') {
        return Err(format!("invalid host: {host}"));
    }
    let host = if host.is_empty() {
        DEFAULT_HTTP_HOST
    } else {
        host
    };
    Ok(ListenAddr::Tcp {
        host: host.into(),
        port,
    })
}

/// Splits "host:port", "[v6]:port", "host" or ":port"; the port is `None`
/// when absent or empty ("tcp://host:" means the default port, as in Go).
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(after) = authority.strip_prefix('[') {
        let (host, tail) = after
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in host: {authority}"))?;
        return match tail {
            "" => Ok((host, None)),
            t => match t.strip_prefix(':') {
                Some("") => Ok((host, None)),
                Some(p) => Ok((host, Some(p))),
                None => Err(format!("invalid port: {t}")),
            },
        };
    }
    match authority.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => Err(format!(
            "invalid host: {host} (put IPv6 addresses in brackets: [{host}])"
        )),
        Some((host, "")) => Ok((host, None)),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

fn parse_vsock(rest: &str) -> Result<ListenAddr, String> {
    let (cid, port) = rest
        .split_once(':')
        .ok_or_else(|| "vsock addresses need a port: vsock://[CID]:PORT".to_string())?;
    let port = port
        .parse::<u32>()
        .map_err(|_| format!("invalid port: {port}"))?;
    let cid = match cid {
        "" => None,
        c => Some(
            c.parse::<u32>()
                .map_err(|_| format!("invalid vsock CID: {c}"))?,
        ),
    };
    Ok(ListenAddr::Vsock { cid, port })
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Unix(path) => write!(f, "unix://{}", path.display()),
            ListenAddr::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            ListenAddr::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            ListenAddr::Vsock {
                cid: Some(cid),
                port,
            } => write!(f, "vsock://{cid}:{port}"),
            ListenAddr::Vsock { cid: None, port } => write!(f, "vsock://:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ListenAddr::{self, *};

    fn tcp(host: &str, port: u16) -> ListenAddr {
        Tcp {
            host: host.into(),
            port,
        }
    }

    fn ok(s: &str, tls: bool) -> ListenAddr {
        ListenAddr::parse(s, tls).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        ListenAddr::parse(s, false).expect_err(s)
    }

    #[test]
    fn unix() {
        assert_eq!(ok("unix:///run/b.sock", false), Unix("/run/b.sock".into()));
        assert_eq!(
            ok("unix://", false),
            Unix("/var/run/berth/docker.sock".into())
        );
        assert_eq!(ok("  unix:///x  ", true), Unix("/x".into()));
        assert_eq!(
            err("unix://tcp://x"),
            "invalid bind address (unix://tcp://x): invalid unix address: tcp://x"
        );
    }

    #[test]
    fn tcp_forms() {
        assert_eq!(ok("tcp://0.0.0.0:2376", false), tcp("0.0.0.0", 2376));
        assert_eq!(ok("tcp://:2376", false), tcp("localhost", 2376));
        assert_eq!(ok("tcp://[::1]:2376", false), tcp("::1", 2376));
        assert_eq!(ok("tcp://[::]", true), tcp("::", 2376));
        assert_eq!(ok("tcp://host", true), tcp("host", 2376));
        assert_eq!(ok("tcp://host", false), tcp("host", 2375));
        assert_eq!(ok("tcp://host:", false), tcp("host", 2375));
        assert_eq!(ok("tcp://host/", false), tcp("host", 2375));
        assert_eq!(ok("tcp://", false), tcp("localhost", 2375));
        assert_eq!(ok("1.2.3.4:5000", false), tcp("1.2.3.4", 5000));
        assert_eq!(ok("example.com", true), tcp("example.com", 2376));
    }

    #[test]
    fn tcp_errors() {
        assert_eq!(
            err("tcp://h:0"),
            "invalid bind address (tcp://h:0): invalid port: 0"
        );
        assert_eq!(
            err("tcp://h:x"),
            "invalid bind address (tcp://h:x): invalid port: x"
        );
        assert_eq!(
            err("tcp://h:70000"),
            "invalid bind address (tcp://h:70000): invalid port: 70000"
        );
        assert_eq!(
            err("tcp://h:1/path"),
            "invalid bind address (tcp://h:1/path): should not contain a path element"
        );
        assert!(err("tcp://::1:2375").contains("brackets"));
        assert!(err("tcp://[::1:2375").contains("missing ']'"));
    }

    #[test]
    fn vsock() {
        assert_eq!(
            ok("vsock://:2375", false),
            Vsock {
                cid: None,
                port: 2375
            }
        );
        assert_eq!(
            ok("vsock://3:2375", false),
            Vsock {
                cid: Some(3),
                port: 2375
            }
        );
        assert!(err("vsock://3").contains("need a port"));
        assert!(err("vsock://x:1").contains("invalid vsock CID: x"));
        assert!(err("vsock://:x").contains("invalid port: x"));
    }

    #[test]
    fn empty_means_the_default_for_the_tls_mode() {
        assert_eq!(ok("", false), Unix("/var/run/berth/docker.sock".into()));
        assert_eq!(ok(" ", true), tcp("localhost", 2376));
    }

    #[test]
    fn unsupported_protocols() {
        let fd = err("fd://");
        assert!(
            fd.starts_with("invalid bind address (fd://): systemd socket activation"),
            "{fd}"
        );
        assert!(fd.contains("not supported"));
        assert_eq!(
            err("npipe:////./pipe/x"),
            "invalid bind address (npipe:////./pipe/x): unsupported proto 'npipe'"
        );
        assert_eq!(
            err("http://x"),
            "invalid bind address (http://x): unsupported proto 'http'"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "unix:///a/b",
            "tcp://h:1",
            "tcp://[::1]:2",
            "vsock://3:4",
            "vsock://:5",
        ] {
            assert_eq!(ok(s, false).to_string(), s);
        }
    }
}
