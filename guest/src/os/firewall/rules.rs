//! The rules themselves, as data: which table, chain and match for each
//! piece of dockerd's bridge behaviour, in Berth's own chains so that every
//! rule can be found (and removed) by chain name.

use std::net::IpAddr;

/// nat: DNAT of published ports (reached for local destinations).
pub const NAT: &str = "BERTH";
/// nat: MASQUERADE of each network's subnet.
pub const NAT_POST: &str = "BERTH-POSTROUTING";
/// filter: ACCEPT of forwarded traffic to published container ports.
pub const PORTS: &str = "BERTH";
/// filter: forwarding to, from and within the bridges.
pub const FORWARD: &str = "BERTH-FORWARD";
/// filter: first stage of isolation, and `--internal` drops.
pub const ISOLATION: &str = "BERTH-ISOLATION";
/// filter: second stage: what left one Berth bridge may not enter another.
pub const ISOLATION2: &str = "BERTH-ISOLATION-2";

/// Every chain Berth owns, by table, in the order they are created.
pub const CHAINS: &[(&str, &str)] = &[
    ("nat", NAT),
    ("nat", NAT_POST),
    ("filter", PORTS),
    ("filter", FORWARD),
    ("filter", ISOLATION),
    ("filter", ISOLATION2),
];

/// Marks the jumps Berth adds to the built-in chains: the only rules it
/// places outside its own chains.
pub const TAG: &str = "berth";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: &'static str,
    pub chain: &'static str,
    pub args: Vec<String>,
}

/// A rule from its words. Splitting on whitespace is safe: interface names
/// can't contain any, and the other values are addresses and numbers.
fn rule(table: &'static str, chain: &'static str, words: &str) -> Rule {
    Rule {
        table,
        chain,
        args: words.split_whitespace().map(String::from).collect(),
    }
}

impl Rule {
    /// `-t TABLE OP CHAIN ARGS…` (OP: -A, -C, -D).
    pub fn argv(&self, op: &str) -> Vec<String> {
        let mut v = vec!["-t".into(), self.table.into(), op.into(), self.chain.into()];
        v.extend(self.args.iter().cloned());
        v
    }

    /// `-t TABLE -I CHAIN 1 ARGS…`.
    #[cfg(test)]
    pub fn insert_first(&self) -> Vec<String> {
        let mut v = self.argv("-I");
        v.insert(4, "1".into());
        v
    }
}

/// The nat jumps, appended like dockerd's: PREROUTING for traffic arriving
/// for a host address; OUTPUT for the host's own connections, except to
/// loopback, which the userland proxy serves (DNAT from 127.0.0.1 would need
/// route_localnet). POSTROUTING reaches the per-network MASQUERADE.
pub fn nat_jumps() -> Vec<Rule> {
    let tag = format!("-m comment --comment {TAG}");
    let local = "-m addrtype --dst-type LOCAL";
    vec![
        rule("nat", "PREROUTING", &format!("{local} {tag} -j {NAT}")),
        rule(
            "nat",
            "OUTPUT",
            &format!("! -d 127.0.0.0/8 {local} {tag} -j {NAT}"),
        ),
        rule("nat", "POSTROUTING", &format!("{tag} -j {NAT_POST}")),
    ]
}

/// The FORWARD jumps, in the order they must end up at the top of FORWARD:
/// isolation before the ACCEPTs of BERTH-FORWARD.
pub fn forward_jumps() -> Vec<Rule> {
    [ISOLATION, FORWARD]
        .iter()
        .map(|c| {
            rule(
                "filter",
                "FORWARD",
                &format!("-m comment --comment {TAG} -j {c}"),
            )
        })
        .collect()
}

/// What the firewall needs to know of one bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The bridge device.
    pub name: String,
    /// Its IPv4 subnet, `A.B.C.D/N`.
    pub subnet: String,
    /// `--internal`: no traffic in or out of the subnet.
    pub internal: bool,
    /// Containers of the bridge may talk to each other (`icc`).
    pub icc: bool,
    /// Outgoing traffic takes the host's address (`ip-masq`).
    pub masquerade: bool,
}

/// One bridge network's rules (same list to add and to remove). Matches are
/// written in the order `iptables -S` prints them (addresses before
/// interfaces), so listings compare equal to what was added.
pub fn network(br: &Bridge) -> Vec<Rule> {
    let (b, subnet, internal, icc) = (br.name.as_str(), br.subnet.as_str(), br.internal, br.icc);
    let mut v = Vec::new();
    if !internal && br.masquerade {
        // Outgoing traffic takes the host's address, except between
        // containers of the same bridge.
        v.push(rule(
            "nat",
            NAT_POST,
            &format!("-s {subnet} ! -o {b} -j MASQUERADE"),
        ));
    }
    // Leaving this bridge for another bridge: dropped in stage 2 by the
    // destination bridge's rule.
    v.push(rule(
        "filter",
        ISOLATION,
        &format!("-i {b} ! -o {b} -j {ISOLATION2}"),
    ));
    v.push(rule("filter", ISOLATION2, &format!("-o {b} -j DROP")));
    if internal {
        // --internal: nothing leaves the subnet, nothing from outside enters.
        v.push(rule(
            "filter",
            ISOLATION,
            &format!("! -d {subnet} -i {b} -j DROP"),
        ));
        v.push(rule(
            "filter",
            ISOLATION,
            &format!("! -s {subnet} -o {b} -j DROP"),
        ));
    } else {
        // Replies come back in; new connections in only to published ports.
        let ct = "-m conntrack --ctstate RELATED,ESTABLISHED";
        v.push(rule("filter", FORWARD, &format!("-o {b} {ct} -j ACCEPT")));
        v.push(rule("filter", FORWARD, &format!("-o {b} -j {PORTS}")));
        v.push(rule(
            "filter",
            FORWARD,
            &format!("-i {b} ! -o {b} -j ACCEPT"),
        ));
    }
    // icc=false: containers of the bridge can't reach each other (this
    // needs br_netfilter for traffic that stays on the bridge).
    let verdict = if icc { "ACCEPT" } else { "DROP" };
    v.push(rule(
        "filter",
        FORWARD,
        &format!("-i {b} -o {b} -j {verdict}"),
    ));
    v
}

/// `IP/32` or `IP/128`, as `iptables -S` prints an address.
fn host(ip: IpAddr) -> String {
    format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 })
}

/// One published port, as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// `tcp`, `udp` or `sctp`.
    pub proto: String,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
    /// The bridge the container is on.
    pub bridge: String,
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}/{} -> {}:{}",
            self.host_ip, self.host_port, self.proto, self.container_ip, self.container_port
        )
    }
}

/// The rules of one published port: DNAT on the host side, ACCEPT in FORWARD. Traffic
/// coming from the bridge itself is left alone (`! -i BRIDGE`): containers
/// reach published ports through the userland proxy, like with dockerd's
/// default. Empty for IPv6 addresses, which this IPv4 firewall leaves to
/// the proxy.
pub fn port(p: &Port) -> Vec<Rule> {
    let Port {
        proto,
        host_ip,
        host_port,
        container_ip,
        container_port,
        bridge,
    } = p;
    if host_ip.is_ipv6() || container_ip.is_ipv6() {
        return Vec::new();
    }
    let dest = match host_ip.is_unspecified() {
        true => String::new(),
        false => format!("-d {} ", host(*host_ip)),
    };
    let m = format!("-p {proto} -m {proto}");
    let (cip, b) = (host(*container_ip), bridge);
    vec![
        rule(
            "nat",
            NAT,
            &format!("{dest}! -i {b} {m} --dport {host_port} -j DNAT --to-destination {container_ip}:{container_port}"),
        ),
        rule(
            "filter",
            PORTS,
            &format!("-d {cip} ! -i {b} -o {b} {m} --dport {container_port} -j ACCEPT"),
        ),
    ]
}

/// The `iptables-restore --noflush` input that creates Berth's chains, the
/// jumps to them (FORWARD's at the top, isolation first) and every bridge's
/// rules, on tables that hold none of them.
pub fn restore_script(bridges: &[Bridge]) -> String {
    let mut rules: Vec<Rule> = nat_jumps();
    rules.extend(bridges.iter().flat_map(network));
    let mut out = String::new();
    for table in ["nat", "filter"] {
        out.push_str(&format!("*{table}\n"));
        for (t, chain) in CHAINS {
            if *t == table {
                out.push_str(&format!(":{chain} - [0:0]\n"));
            }
        }
        if table == "filter" {
            // Inserted at 1 in reverse: ISOLATION ends up first.
            for j in forward_jumps().iter().rev() {
                out.push_str(&format!("-I {} 1 {}\n", j.chain, j.args.join(" ")));
            }
        }
        for r in rules.iter().filter(|r| r.table == table) {
            out.push_str(&format!("-A {} {}\n", r.chain, r.args.join(" ")));
        }
        out.push_str("COMMIT\n");
    }
    out
}

/// `iptables-restore --noflush` input that appends `rules`, table by table.
pub fn append_script(rules: &[Rule]) -> String {
    let mut out = String::new();
    for table in ["nat", "filter"] {
        let mine: Vec<&Rule> = rules.iter().filter(|r| r.table == table).collect();
        if mine.is_empty() {
            continue;
        }
        out.push_str(&format!("*{table}\n"));
        for r in mine {
            out.push_str(&format!("-A {} {}\n", r.chain, r.args.join(" ")));
        }
        out.push_str("COMMIT\n");
    }
    out
}
