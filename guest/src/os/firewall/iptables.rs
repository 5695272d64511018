//! The two runners: the real `iptables` binary (optionally inside a named
//! network namespace, which is how tests keep off the host's tables) and a
//! recorder that simulates the tables well enough to test rule generation
//! without root.

use std::collections::BTreeMap;
use std::io;
use std::process::Command;
use std::sync::Mutex;

use super::{Outcome, Runner};

/// The host's iptables, or the one of `ip netns` namespace `netns`.
#[derive(Debug, Clone, Default)]
pub struct Iptables {
    netns: Option<String>,
}

impl Iptables {
    pub fn new() -> Iptables {
        Iptables { netns: None }
    }

    /// Runs every command as `ip netns exec NAME iptables …`.
    pub fn in_netns(name: &str) -> Iptables {
        Iptables {
            netns: Some(name.to_string()),
        }
    }

    /// `iptables --version` ("iptables v1.8.9 (nf_tables)"), or an error
    /// when the binary is missing.
    pub fn version(&self) -> io::Result<String> {
        let out = self.command(&["--version".to_string()]).output()?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn command(&self, args: &[String]) -> Command {
        // berthd may run with a PATH lacking the sbin directories.
        let bin = ["/usr/sbin/iptables", "/sbin/iptables"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("iptables");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin]);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args);
        cmd
    }
}

impl Runner for Iptables {
    fn iptables(&self, args: &[String]) -> io::Result<Outcome> {
        // -w: wait for the xtables lock instead of failing when another
        // program (dockerd, firewalld) is changing rules at the same time.
        let mut all = vec!["-w".to_string()];
        all.extend(args.iter().cloned());
        let out = self.command(&all).output()?;
        Ok(Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Records every argv and answers like iptables would on tables that start
/// with only the built-in chains: -N/-X/-F/-A/-I/-D/-C/-S/-P with their exit
/// statuses (1 for a missing rule or chain, 4 for deleting a chain in use).
#[derive(Debug, Default)]
pub struct Recorder {
    state: Mutex<Sim>,
}

#[derive(Debug, Default)]
struct Sim {
    calls: Vec<Vec<String>>,
    /// (table, chain) → rules, each the words after the chain name.
    /// Built-in chains appear once used.
    chains: BTreeMap<(String, String), Vec<Vec<String>>>,
}

/// Position among the table's built-in chains, in the order iptables lists
/// them; None for a user chain.
fn builtin_rank(table: &str, chain: &str) -> Option<usize> {
    let builtin: &[&str] = match table {
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "filter" => &["INPUT", "FORWARD", "OUTPUT"],
        _ => &[],
    };
    builtin.iter().position(|c| *c == chain)
}

fn is_builtin(table: &str, chain: &str) -> bool {
    builtin_rank(table, chain).is_some()
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Every argv run so far (what follows `iptables -w`), and forgets them.
    pub fn take_calls(&self) -> Vec<Vec<String>> {
        std::mem::take(&mut self.lock().calls)
    }

    /// Like `iptables -t TABLE -S` without the policies: user chains, then
    /// the rules of built-in chains, then those of user chains.
    pub fn dump(&self, table: &str) -> Vec<String> {
        self.lock().dump(table)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sim> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sim {
    fn dump(&self, table: &str) -> Vec<String> {
        let mine = || self.chains.iter().filter(move |((t, _), _)| t == table);
        let user = |c: &str| !is_builtin(table, c);
        let mut out: Vec<String> = mine()
            .filter(|((_, c), _)| user(c))
            .map(|((_, c), _)| format!("-N {c}"))
            .collect();
        let mut chains: Vec<_> = mine().collect();
        // Built-in chains first in iptables' order, then user chains by name.
        chains.sort_by_key(|((_, c), _)| builtin_rank(table, c).unwrap_or(usize::MAX));
        for ((_, c), rules) in chains {
            out.extend(rules.iter().map(|r| format!("-A {c} {}", r.join(" "))));
        }
        out
    }

    fn rules(&mut self, table: &str, chain: &str) -> Option<&mut Vec<Vec<String>>> {
        let key = (table.to_string(), chain.to_string());
        if is_builtin(table, chain) {
            return Some(self.chains.entry(key).or_default());
        }
        self.chains.get_mut(&key)
    }

    fn in_use(&self, table: &str, chain: &str) -> bool {
        let jump = ["-j".to_string(), chain.to_string()];
        let rules = self.chains.iter().filter(|((t, _), _)| t == table);
        rules.flat_map(|(_, r)| r).any(|r| r.ends_with(&jump))
    }

    fn exec(&mut self, args: &[String]) -> (i32, String) {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (table, op, chain, spec) = match a.as_slice() {
            ["-t", t, "-S"] => return (0, self.dump(t).join("\n")),
            ["-t", t, op, chain, spec @ ..] => (*t, *op, *chain, spec),
            _ => return (2, String::new()),
        };
        let spec: Vec<String> = spec.iter().map(|s| s.to_string()).collect();
        let key = (table.to_string(), chain.to_string());
        let code = match op {
            "-P" => 0,
            "-N" if self.rules(table, chain).is_some() => 1,
            "-N" => {
                self.chains.insert(key, Vec::new());
                0
            }
            "-X" if is_builtin(table, chain) => 2,
            "-X" if !self.chains.contains_key(&key) => 1,
            "-X" if !self.chains[&key].is_empty() || self.in_use(table, chain) => 4,
            "-X" => {
                self.chains.remove(&key);
                0
            }
            _ => match (op, self.rules(table, chain)) {
                (_, None) => 1,
                ("-F", Some(rules)) => {
                    rules.clear();
                    0
                }
                ("-A", Some(rules)) => {
                    rules.push(spec);
                    0
                }
                ("-I", Some(rules)) => {
                    // The position is optional: "-I CHAIN [N] RULE".
                    let (pos, rule) = match spec.first().and_then(|p| p.parse::<usize>().ok()) {
                        Some(n) => (n.saturating_sub(1), spec[1..].to_vec()),
                        None => (0, spec),
                    };
                    rules.insert(pos.min(rules.len()), rule);
                    0
                }
                ("-C", Some(rules)) => i32::from(!rules.contains(&spec)),
                ("-D", Some(rules)) => match rules.iter().position(|r| *r == spec) {
                    Some(i) => {
                        rules.remove(i);
                        0
                    }
                    None => 1,
                },
                _ => 2,
            },
        };
        (code, String::new())
    }
}

impl Runner for Recorder {
    fn iptables(&self, args: &[String]) -> io::Result<Outcome> {
        let mut sim = self.lock();
        sim.calls.push(args.to_vec());
        let (code, stdout) = sim.exec(args);
        Ok(Outcome {
            code,
            stdout,
            stderr: if code == 0 {
                String::new()
            } else {
                "iptables: simulated failure".into()
            },
        })
    }
}
