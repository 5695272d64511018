//! dockerd's bridge-network firewall (NAT for published ports and outgoing
//! traffic, forwarding, isolation between networks), through the
//! `iptables` binary so it works on both the legacy and the nf_tables
//! backends. Berth keeps its rules in its own chains (see [`rules`]) and
//! tags the few jumps it adds to the built-in chains, so everything it did
//! can be listed and undone, even after a crash.
//!
//! Every call runs `iptables` synchronously: call from `spawn_blocking`.

mod iptables;
#[cfg(test)]
mod recorder;
pub mod rules;

#[cfg(test)]
mod tests_fake;

/// A published port, for the tests.
#[cfg(test)]
fn published(
    proto: &str,
    hip: std::net::IpAddr,
    hport: u16,
    cip: std::net::IpAddr,
    cport: u16,
    br: &str,
) -> Port {
    Port {
        proto: proto.into(),
        host_ip: hip,
        host_port: hport,
        container_ip: cip,
        container_port: cport,
        bridge: br.into(),
    }
}

/// A masquerading bridge, for the tests.
#[cfg(test)]
fn bridge(name: &str, subnet: &str, internal: bool, icc: bool) -> Bridge {
    Bridge {
        name: name.into(),
        subnet: subnet.into(),
        internal,
        icc,
        masquerade: true,
    }
}
#[cfg(test)]
mod tests_netns;

use std::io;
use std::path::Path;

pub use iptables::Iptables;
#[cfg(test)]
pub use recorder::Recorder;
use rules::Rule;
pub use rules::{Bridge, Port};

/// What running `iptables -w ARGS…` gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs iptables: the real binary ([`Iptables`]) or the recording fake
/// ([`Recorder`]). Everything else in this module is rule generation on top.
pub trait Runner: Send + Sync {
    /// `args` are what follows `iptables -w`.
    fn iptables(&self, args: &[String]) -> io::Result<Outcome>;
    /// `iptables-restore -w --noflush` fed `script`: many changes in one
    /// call (and one transaction), which matters where each exec is slow,
    /// as in a VM under software emulation.
    fn restore(&self, script: &str) -> io::Result<Outcome>;
}

pub trait Firewall: Send + Sync {
    /// Creates Berth's chains and the jumps to them, once (idempotent): the
    /// step-by-step reference that [`Firewall::rebuild`]'s one-call script
    /// is tested against.
    #[cfg(test)]
    fn setup(&self) -> io::Result<()>;
    /// A bridge network's rules (idempotent).
    fn add_network(&self, bridge: &Bridge) -> io::Result<()>;
    /// Takes out what `add_network` with the same arguments added.
    fn remove_network(&self, bridge: &Bridge) -> io::Result<()>;
    /// One published port. Not idempotent on purpose: two bindings to the
    /// same container port each own one copy of the ACCEPT rule, so removing
    /// one binding leaves the other working.
    fn add_port(&self, port: &Port) -> io::Result<()>;
    /// Takes out one copy of what `add_port` with the same arguments added.
    fn remove_port(&self, port: &Port) -> io::Result<()>;
    /// Removes every Berth jump and chain, whatever they hold.
    fn teardown(&self) -> io::Result<()>;
    /// Daemon start: what an earlier run left is removed, then the chains,
    /// jumps and `bridges`' rules are put in with one `iptables-restore`.
    /// Returns how many leftover lines were found.
    fn rebuild(&self, bridges: &[Bridge]) -> io::Result<usize>;
    /// `iptables -P FORWARD VERDICT`: DROP when forwarding is turned on
    /// (see [`enable_ip_forward`]), ACCEPT when it is given back.
    fn forward_policy(&self, verdict: &str) -> io::Result<()>;
    /// Berth's rules and chains still present, as `-t TABLE <iptables -S
    /// line>`: non-empty at start means a previous run didn't clean up.
    fn leftover_rules(&self) -> io::Result<Vec<String>>;
}

/// Turns on IPv4 forwarding (daemon.json `ip-forward`). True when it was
/// off, in which case dockerd also sets the FORWARD policy to DROP
/// ([`forward_policy`]) so the host doesn't start routing for anyone.
pub fn enable_ip_forward() -> io::Result<bool> {
    enable_sysctl(Path::new("/proc/sys/net/ipv4/ip_forward"))
}

/// Turns IPv4 forwarding off again (what [`enable_ip_forward`] turned on).
pub fn disable_ip_forward() -> io::Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "0\n")
}

fn enable_sysctl(path: &Path) -> io::Result<bool> {
    if std::fs::read_to_string(path)?.trim() == "1" {
        return Ok(false);
    }
    std::fs::write(path, "1\n")?;
    Ok(true)
}

/// `iptables -P FORWARD VERDICT`.
pub fn forward_policy<R: Runner + ?Sized>(r: &R, verdict: &str) -> io::Result<()> {
    run(
        r,
        &["-t", "filter", "-P", "FORWARD", verdict].map(String::from),
    )
}

fn failure(argv: &[String], out: &Outcome) -> io::Error {
    io::Error::other(format!(
        "iptables {}: {} (exit status {})",
        argv.join(" "),
        out.stderr.trim(),
        out.code
    ))
}

fn run<R: Runner + ?Sized>(r: &R, argv: &[String]) -> io::Result<()> {
    let out = r.iptables(argv)?;
    match out.code {
        0 => Ok(()),
        _ => Err(failure(argv, &out)),
    }
}

fn run_restore<R: Runner + ?Sized>(r: &R, script: &str) -> io::Result<()> {
    let out = r.restore(script)?;
    match out.code {
        0 => Ok(()),
        code => Err(io::Error::other(format!(
            "iptables-restore: {} (exit status {code})",
            out.stderr.trim()
        ))),
    }
}

/// Exit status 1 is iptables' "no such rule/chain" (or "chain exists"):
/// false. Anything else (2: bad arguments, 4: resources or the lock) is an
/// error.
fn run_tolerant<R: Runner + ?Sized>(r: &R, argv: &[String]) -> io::Result<bool> {
    let out = r.iptables(argv)?;
    match out.code {
        0 => Ok(true),
        1 => Ok(false),
        _ => Err(failure(argv, &out)),
    }
}

fn ensure<R: Runner + ?Sized>(r: &R, rule: &Rule) -> io::Result<()> {
    if !run_tolerant(r, &rule.argv("-C"))? {
        run(r, &rule.argv("-A"))?;
    }
    Ok(())
}

fn delete<R: Runner + ?Sized>(r: &R, rule: &Rule) -> io::Result<()> {
    run_tolerant(r, &rule.argv("-D")).map(drop)
}

/// `iptables -t TABLE -S` lines that are Berth's: its chains, their rules,
/// and jumps to them from elsewhere.
fn listing<R: Runner + ?Sized>(r: &R, table: &str) -> io::Result<Vec<String>> {
    let argv = ["-t", table, "-S"].map(String::from);
    let out = r.iptables(&argv)?;
    if out.code != 0 {
        return Err(failure(&argv, &out));
    }
    let is_berths = |line: &&str| {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        let in_chain = words.get(1).is_some_and(|c| c.starts_with("BERTH"));
        matches!(words.first().map(String::as_str), Some("-N" | "-A"))
            && (in_chain || is_berth_jump(&words))
    };
    Ok(out
        .stdout
        .lines()
        .filter(is_berths)
        .map(String::from)
        .collect())
}

/// A rule of a built-in chain whose target is one of Berth's chains.
fn is_berth_jump(words: &[String]) -> bool {
    let builtin = words.get(1).is_some_and(|c| !c.starts_with("BERTH"));
    let target = words
        .iter()
        .position(|w| w == "-j")
        .and_then(|i| words.get(i + 1));
    builtin && target.is_some_and(|t| t.starts_with("BERTH"))
}

impl<R: Runner> Firewall for R {
    #[cfg(test)]
    fn setup(&self) -> io::Result<()> {
        for (table, chain) in rules::CHAINS {
            // "Chain already exists" is success here.
            run_tolerant(self, &["-t", table, "-N", chain].map(String::from))?;
        }
        for jump in rules::nat_jumps() {
            ensure(self, &jump)?;
        }
        // Both FORWARD jumps must sit at the top, isolation first; if either
        // is missing, put both back in order rather than patch one in.
        let jumps = rules::forward_jumps();
        let mut present = true;
        for j in &jumps {
            present &= run_tolerant(self, &j.argv("-C"))?;
        }
        if !present {
            for j in &jumps {
                delete(self, j)?;
            }
            for j in jumps.iter().rev() {
                run(self, &j.insert_first())?;
            }
        }
        Ok(())
    }

    fn add_network(&self, bridge: &Bridge) -> io::Result<()> {
        rules::network(bridge)
            .iter()
            .try_for_each(|r| ensure(self, r))
    }

    fn remove_network(&self, bridge: &Bridge) -> io::Result<()> {
        rules::network(bridge)
            .iter()
            .try_for_each(|r| delete(self, r))
    }

    fn add_port(&self, port: &Port) -> io::Result<()> {
        let rules = rules::port(port);
        if rules.is_empty() {
            return Ok(());
        }
        // One exec for both tables: this is on the path of every `docker run -p`.
        let added = run_restore(self, &rules::append_script(&rules));
        if added.is_err() {
            // Don't leave half a port behind (a table may have committed).
            rules.iter().for_each(|r| drop(delete(self, r)));
        }
        added
    }

    fn remove_port(&self, port: &Port) -> io::Result<()> {
        rules::port(port).iter().try_for_each(|r| delete(self, r))
    }

    fn teardown(&self) -> io::Result<()> {
        // Jumps found by listing, so those of an older Berth go too.
        for table in ["nat", "filter"] {
            let mut chains = Vec::new();
            for line in listing(self, table)? {
                let words: Vec<String> = line.split_whitespace().map(String::from).collect();
                match words.first().map(String::as_str) {
                    Some("-N") => chains.extend(words.get(1).cloned()),
                    Some("-A") if is_berth_jump(&words) => {
                        let mut argv = vec!["-t".into(), table.into(), "-D".into()];
                        argv.extend(words[1..].iter().cloned());
                        run_tolerant(self, &argv)?;
                    }
                    _ => {}
                }
            }
            // Flush all before deleting any: the chains jump to each other.
            for op in ["-F", "-X"] {
                for c in &chains {
                    run_tolerant(self, &["-t", table, op, c].map(String::from))?;
                }
            }
        }
        Ok(())
    }

    fn forward_policy(&self, verdict: &str) -> io::Result<()> {
        forward_policy(self, verdict)
    }

    fn rebuild(&self, bridges: &[Bridge]) -> io::Result<usize> {
        let left = self.leftover_rules()?.len();
        if left > 0 {
            self.teardown()?;
        }
        run_restore(self, &rules::restore_script(bridges))?;
        Ok(left)
    }

    fn leftover_rules(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for table in ["nat", "filter"] {
            out.extend(
                listing(self, table)?
                    .into_iter()
                    .map(|l| format!("-t {table} {l}")),
            );
        }
        Ok(out)
    }
}
