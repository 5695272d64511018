//! Address syntax checks with the messages dockerd's validators give:
//! IPs, CIDRs, DNS search domains, registry host[:port] and mirror URLs.

use std::net::IpAddr;

/// A CIDR as Go's net.ParseCIDR reads it: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let invalid = || format!("invalid CIDR address: {s}");
        let (addr, prefix) = s.split_once('/').ok_or_else(invalid)?;
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        // Go refuses signs and leading zeros in the prefix length.
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        if prefix.len() > 1 && prefix.starts_with('0') {
            return Err(invalid());
        }
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        if prefix > max_prefix(addr) {
            return Err(invalid());
        }
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && same_prefix(self.addr, other.addr, self.prefix)
    }
}

pub fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn same_prefix(a: IpAddr, b: IpAddr, bits: u8) -> bool {
    let (a, b, width) = match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= 128 || (a >> shift) == (b >> shift)
}

/// `dns-search` entries (dockerd's ValidateDNSSearch): "." or a domain name.
pub fn validate_dns_search(value: &str) -> Result<(), String> {
    let trimmed = value.trim_matches(' ');
    if trimmed == "." {
        return Ok(());
    }
    let invalid = || format!("{trimmed} is not a valid domain");
    let name = trimmed.trim_end();
    let name = name.strip_suffix('.').unwrap_or(name);
    if !name.bytes().any(|b| b.is_ascii_alphabetic()) || name.len() >= 255 {
        return Err(invalid());
    }
    if name.split('.').all(is_domain_component) {
        Ok(())
    } else {
        Err(invalid())
    }
}

fn is_domain_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !c.starts_with('-')
        && !c.ends_with('-')
}

/// The distribution reference grammar's domain: a host name or a bracketed
/// IPv6 address, with an optional numeric port.
fn is_registry_domain(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail))
                if !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') =>
            {
                (None, tail)
            }
            _ => return false,
        }
    } else {
        match s.split_once(':') {
            Some((h, _)) => (Some(h), &s[h.len()..]),
            None => (Some(s), ""),
        }
    };
    let port_ok = port.is_empty()
        || (port.len() > 1
            && port.starts_with(':')
            && port[1..].bytes().all(|b| b.is_ascii_digit()));
    port_ok && host.is_none_or(|h| h.split('.').all(is_domain_component))
}

/// One `insecure-registries` entry (dockerd's ValidateIndexName and
/// loadInsecureRegistries): host[:port] or a CIDR, an http(s):// prefix
/// tolerated.
pub fn validate_insecure_registry(entry: &str) -> Result<(), String> {
    let name = if entry == "index.docker.io" {
        "docker.io"
    } else {
        entry
    };
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "invalid index name ({name}). Cannot begin or end with a hyphen"
        ));
    }
    let lower = entry.to_ascii_lowercase();
    let r = if lower.starts_with("http://") {
        &entry[7..]
    } else if lower.starts_with("https://") {
        &entry[8..]
    } else if entry.contains("://") {
        return Err(format!(
            "insecure registry {entry} should not contain '://'"
        ));
    } else {
        entry
    };
    if Cidr::parse(r).is_ok() {
        return Ok(());
    }
    let (host, port) = split_host_port(r);
    if !is_registry_domain(r) && host.parse::<IpAddr>().is_err() {
        return Err(format!(
            "insecure registry {r} is not valid: invalid host \"{host}\""
        ));
    }
    if let Some(port) = port {
        match port.parse::<i64>() {
            Ok(p) if (0..=65535).contains(&p) => {}
            Ok(_) => return Err(format!("insecure registry {r} is not valid: invalid port \"{port}\"")),
            Err(_) => {
                return Err(format!(
                    "insecure registry {r} is not valid: strconv.Atoi: parsing \"{port}\": invalid syntax"
                ))
            }
        }
    }
    Ok(())
}

/// Go's net.SplitHostPort, falling back to "all host" as dockerd does.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            if let Some(port) = tail.strip_prefix(':') {
                return (host, Some(port));
            }
        }
        return (s, None);
    }
    match s.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, Some(port)),
        _ => (s, None),
    }
}

/// One `registry-mirrors` entry (dockerd's ValidateMirror).
pub fn validate_mirror(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://").filter(|(s, _)| !s.is_empty()) else {
        return Err(format!(
            "invalid mirror: no scheme specified for \"{url}\": must use either 'https://' or 'http://'"
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "invalid mirror: unsupported scheme \"{scheme}\" in \"{url}\": must use either 'https://' or 'http://'"
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "invalid mirror: query or fragment at end of the URI \"{url}\""
        ));
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if let Some((userinfo, host)) = authority.rsplit_once('@') {
        let user = userinfo.split(':').next().unwrap_or_default();
        return Err(format!(
            "invalid mirror: username/password not allowed in URI \"{scheme}://{user}:xxxxx@{host}{path}\""
        ));
    }
    if authority.is_empty() {
        return Err(format!("invalid mirror: \"{url}\" has no host"));
    }
    Ok(())
}

/// Masks the password of a URL for messages (dockerd's MaskCredentials).
pub fn mask_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://xxxxx:xxxxx@{host}{tail}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        let c = Cidr::parse("172.17.0.1/16").unwrap();
        assert_eq!((c.addr.to_string().as_str(), c.prefix), ("172.17.0.1", 16));
        assert!(Cidr::parse("fd00::/8").is_ok());
        for bad in [
            "172.17.0.1",
            "x/8",
            "10.0.0.0/33",
            "10.0.0.0/-1",
            "10.0.0.0/08",
            "10.0.0.0/",
            "::/129",
        ] {
            assert_eq!(
                Cidr::parse(bad),
                Err(format!("invalid CIDR address: {bad}"))
            );
        }
    }

    #[test]
    fn cidr_contains() {
        let net = Cidr::parse("172.17.0.1/16").unwrap();
        assert!(net.contains(&Cidr::parse("172.17.5.0/24").unwrap()));
        assert!(!net.contains(&Cidr::parse("172.18.0.0/24").unwrap()));
        assert!(!net.contains(&Cidr::parse("172.0.0.0/8").unwrap()));
        assert!(!net.contains(&Cidr::parse("::/0").unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(&net));
    }

    #[test]
    fn dns_search() {
        for ok in [
            ".",
            "example.com",
            "example.com.",
            " corp.internal ",
            "a-b.c",
        ] {
            assert_eq!(validate_dns_search(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            validate_dns_search("-x.com"),
            Err("-x.com is not a valid domain".into())
        );
        assert_eq!(
            validate_dns_search("123"),
            Err("123 is not a valid domain".into())
        );
        assert_eq!(
            validate_dns_search("a..b"),
            Err("a..b is not a valid domain".into())
        );
        assert_eq!(
            validate_dns_search("a_b.com"),
            Err("a_b.com is not a valid domain".into())
        );
    }

    #[test]
    fn insecure_registries() {
        for ok in [
            "myreg:5000",
            "10.0.0.0/8",
            "localhost",
            "http://r.local:5000",
            "[::1]:5000",
            "::1",
            "192.168.1.1:80",
        ] {
            assert_eq!(validate_insecure_registry(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            validate_insecure_registry("-reg"),
            Err("invalid index name (-reg). Cannot begin or end with a hyphen".into())
        );
        assert_eq!(
            validate_insecure_registry("ftp://reg"),
            Err("insecure registry ftp://reg should not contain '://'".into())
        );
        assert_eq!(
            validate_insecure_registry("my_reg:5000"),
            Err("insecure registry my_reg:5000 is not valid: invalid host \"my_reg\"".into())
        );
        assert_eq!(
            validate_insecure_registry("[::1]:70000"),
            Err("insecure registry [::1]:70000 is not valid: invalid port \"70000\"".into())
        );
    }

    #[test]
    fn mirrors() {
        assert_eq!(validate_mirror("https://mirror.gcr.io"), Ok(()));
        assert_eq!(validate_mirror("http://10.0.0.1:5000/"), Ok(()));
        assert_eq!(
            validate_mirror("mirror.local"),
            Err("invalid mirror: no scheme specified for \"mirror.local\": must use either 'https://' or 'http://'".into())
        );
        assert_eq!(
            validate_mirror("ftp://m"),
            Err("invalid mirror: unsupported scheme \"ftp\" in \"ftp://m\": must use either 'https://' or 'http://'".into())
        );
        assert_eq!(
            validate_mirror("https://m/?x=1"),
            Err("invalid mirror: query or fragment at end of the URI \"https://m/?x=1\"".into())
        );
        assert_eq!(
            validate_mirror("https://bob:secret@m/v2"),
            Err(
                "invalid mirror: username/password not allowed in URI \"https://bob:xxxxx@m/v2\""
                    .into()
            )
        );
        assert_eq!(
            validate_mirror("https://"),
            Err("invalid mirror: \"https://\" has no host".into())
        );
    }

    #[test]
    fn masking() {
        assert_eq!(
            mask_credentials("http://u:p@proxy:3128"),
            "http://xxxxx:xxxxx@proxy:3128"
        );
        assert_eq!(mask_credentials("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(mask_credentials("proxy"), "proxy");
    }
}
