//! The default bridge and the address pools.

use super::{bad, Check, Invalid};
use crate::daemon_config::model::DaemonConfig;
use crate::daemon_config::netaddr::{self, Cidr};

pub(super) fn check_bridge(c: &DaemonConfig) -> Check {
    let parse_v4 = |key: &'static str, s: &str| -> Result<Cidr, Invalid> {
        let cidr = Cidr::parse(s).map_err(|m| Invalid {
            key,
            message: format!("parse {key} failed: {m}"),
        })?;
        if !cidr.addr.is_ipv4() {
            return Err(Invalid {
                key,
                message: format!("invalid {key} ({s}): must be an IPv4 subnet"),
            });
        }
        Ok(cidr)
    };
    let bip = c.bip.as_deref().map(|s| parse_v4("bip", s)).transpose()?;
    let fixed = c
        .fixed_cidr
        .as_deref()
        .map(|s| parse_v4("fixed-cidr", s))
        .transpose()?;
    if let (Some(bip), Some(fixed)) = (bip, fixed) {
        if !bip.contains(&fixed) {
            return bad(
                "fixed-cidr",
                format!(
                    "fixed-cidr={} is outside the default bridge's subnet (bip={})",
                    c.fixed_cidr.as_deref().unwrap_or_default(),
                    c.bip.as_deref().unwrap_or_default()
                ),
            );
        }
    }
    if !c.icc && !c.iptables {
        return bad(
            "icc",
            "You specified --iptables=false with --icc=false. ICC=false uses iptables to function. Please set --icc or --iptables to true",
        );
    }
    Ok(())
}

pub(super) fn check_address_pools(c: &DaemonConfig) -> Check {
    for (i, pool) in c.default_address_pools.iter().enumerate() {
        let base = Cidr::parse(&pool.base).map_err(|_| Invalid {
            key: "default-address-pools",
            message: format!(
                "invalid base prefix \"{}\" of the address pool at index {i}",
                pool.base
            ),
        })?;
        if base.prefix > pool.size {
            return bad(
                "default-address-pools",
                format!(
                    "network at index {i} ({}) has a smaller prefix (/{}) than the target size of that pool (/{})",
                    pool.base, base.prefix, pool.size
                ),
            );
        }
        let bits = netaddr::max_prefix(base.addr);
        if pool.size > bits {
            return bad(
                "default-address-pools",
                format!(
                    "network at index {i} ({}) has a target size (/{}) longer than its addresses (/{bits})",
                    pool.base, pool.size
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::super::test_support::{refuse, with};
    use crate::daemon_config::model::AddressPool;

    #[test]
    fn network_values() {
        assert_eq!(
            refuse(&with(
                |c| c.dns = vec!["8.8.8.8".into(), "dns.google".into()]
            )),
            ("dns".into(), "invalid IP address: dns.google".into())
        );
        assert_eq!(
            refuse(&with(|c| c.dns_search = vec!["-a".into()])).1,
            "-a is not a valid domain"
        );
        assert_eq!(
            refuse(&with(|c| c.bip = Some("172.17.0.1".into()))).1,
            "parse bip failed: invalid CIDR address: 172.17.0.1"
        );
        assert_eq!(
            refuse(&with(|c| c.bip = Some("fd00::1/64".into()))).1,
            "invalid bip (fd00::1/64): must be an IPv4 subnet"
        );
        assert_eq!(
            refuse(&with(|c| c.fixed_cidr = Some("x".into()))).1,
            "parse fixed-cidr failed: invalid CIDR address: x"
        );
        let outside = with(|c| {
            c.bip = Some("172.17.0.1/16".into());
            c.fixed_cidr = Some("10.0.0.0/24".into());
        });
        assert_eq!(refuse(&outside).0, "fixed-cidr");
        assert!(check(&with(|c| {
            c.bip = Some("172.17.0.1/16".into());
            c.fixed_cidr = Some("172.17.1.0/24".into());
        }))
        .is_ok());
        assert_eq!(
            refuse(&with(|c| {
                c.icc = false;
                c.iptables = false;
            }))
            .0,
            "icc"
        );
        assert_eq!(refuse(&with(|c| c.hosts = vec!["fd://".into()])).0, "hosts");
    }

    #[test]
    fn pools() {
        let pool = |base: &str, size| {
            with(|c| {
                c.default_address_pools = vec![AddressPool {
                    base: base.into(),
                    size,
                }]
            })
        };
        assert!(check(&pool("10.10.0.0/16", 24)).is_ok());
        assert_eq!(
            refuse(&pool("10.10.0.0/16", 8)).1,
            "network at index 0 (10.10.0.0/16) has a smaller prefix (/16) than the target size of that pool (/8)"
        );
        assert_eq!(
            refuse(&pool("10.10.0.0/16", 33)).1,
            "network at index 0 (10.10.0.0/16) has a target size (/33) longer than its addresses (/32)"
        );
        assert_eq!(
            refuse(&pool("nope", 24)).1,
            "invalid base prefix \"nope\" of the address pool at index 0"
        );
    }
}
