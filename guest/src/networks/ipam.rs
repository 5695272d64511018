//! IPv4 subnets and addresses: parsing, overlap, pools for new networks,
//! and handing out container addresses.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::errdefs::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// `a.b.c.d/n`; the address is masked to the network.
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = || Error::invalid(format!("invalid CIDR address: {s}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    pub fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & mask(self.prefix)) == self.first()
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// The first usable address: dockerd's default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() + 1)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

/// dockerd's default pools: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s.
pub fn default_pools() -> Vec<(Subnet, u8)> {
    vec![
        (
            Subnet {
                addr: Ipv4Addr::new(172, 17, 0, 0),
                prefix: 12,
            },
            16,
        ),
        (
            Subnet {
                addr: Ipv4Addr::new(192, 168, 0, 0),
                prefix: 16,
            },
            20,
        ),
    ]
}

/// The first subnet of the pools that overlaps none of `taken`.
pub fn next_subnet(pools: &[(Subnet, u8)], taken: &[Subnet]) -> Option<Subnet> {
    for (base, size) in pools {
        if *size < base.prefix || *size > 30 {
            continue;
        }
        let step = 1u64 << (32 - *size as u32);
        let mut start = base.first() as u64;
        while start + step - 1 <= base.last() as u64 {
            let cand = Subnet {
                addr: Ipv4Addr::from(start as u32),
                prefix: *size,
            };
            if !taken.iter().any(|t| t.overlaps(&cand)) {
                return Some(cand);
            }
            start += step;
        }
    }
    None
}

/// A free address in `range` (within `subnet`), skipping network,
/// broadcast, the gateway and `used`.
pub fn next_address(
    subnet: &Subnet,
    range: Option<&Subnet>,
    gateway: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let r = range.unwrap_or(subnet);
    let lo = r.first().max(subnet.first() + 1);
    let hi = r.last().min(subnet.last().saturating_sub(1));
    (lo..=hi)
        .map(Ipv4Addr::from)
        .find(|ip| *ip != gateway && !used.contains(ip))
}

/// Subnets of the host's routes (from /proc/net/route), to avoid them.
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let m = u32::from_str_radix(f.get(7)?, 16).ok()?;
            if m == 0 {
                return None; // the default route overlaps everything
            }
            Some(Subnet {
                addr: Ipv4Addr::from(u32::from_be(dest)),
                prefix: u32::from_be(m).count_ones() as u8,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_overlap_and_allocate() {
        let s = Subnet::parse("10.1.2.3/24").unwrap();
        assert_eq!(s.to_string(), "10.1.2.0/24");
        assert!(s.contains(Ipv4Addr::new(10, 1, 2, 200)));
        assert!(s.overlaps(&Subnet::parse("10.1.0.0/16").unwrap()));
        assert!(!s.overlaps(&Subnet::parse("10.1.3.0/24").unwrap()));
        assert!(Subnet::parse("10.1.2.3").is_err() && Subnet::parse("10.1.2.3/33").is_err());
        let taken = vec![
            Subnet::parse("172.17.0.0/16").unwrap(),
            Subnet::parse("172.18.5.0/24").unwrap(),
        ];
        assert_eq!(
            next_subnet(&default_pools(), &taken).unwrap().to_string(),
            "172.19.0.0/16"
        );
        let mut used = BTreeSet::new();
        let gw = s.gateway();
        assert_eq!(gw, Ipv4Addr::new(10, 1, 2, 1));
        let a = next_address(&s, None, gw, &used).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 1, 2, 2));
        used.insert(a);
        assert_eq!(
            next_address(&s, None, gw, &used).unwrap(),
            Ipv4Addr::new(10, 1, 2, 3)
        );
        let range = Subnet::parse("10.1.2.128/25").unwrap();
        assert_eq!(
            next_address(&s, Some(&range), gw, &used).unwrap(),
            Ipv4Addr::new(10, 1, 2, 128)
        );
        let tiny = Subnet::parse("10.9.9.0/30").unwrap();
        let one = next_address(&tiny, None, tiny.gateway(), &BTreeSet::new()).unwrap();
        assert_eq!(one, Ipv4Addr::new(10, 9, 9, 2));
        assert_eq!(
            next_address(&tiny, None, tiny.gateway(), &[one].into()),
            None
        );
    }
}
