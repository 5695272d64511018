//! A runner that simulates the tables well enough to test rule generation
//! without root.

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;

use super::{Outcome, Runner};

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
    /// Replays the script as the single commands it stands for, stopping at
    /// the first failure like iptables-restore (which would apply nothing).
    fn restore(&self, script: &str) -> io::Result<Outcome> {
        let mut table = String::new();
        for line in script.lines().map(str::trim) {
            let argv: Vec<String> = if let Some(t) = line.strip_prefix('*') {
                table = t.to_string();
                continue;
            } else if let Some(decl) = line.strip_prefix(':') {
                let chain = decl.split_whitespace().next().unwrap_or_default();
                ["-t", &table, "-N", chain].map(String::from).to_vec()
            } else if line.starts_with('-') {
                let mut v = vec!["-t".to_string(), table.clone()];
                v.extend(line.split_whitespace().map(String::from));
                v
            } else {
                continue; // COMMIT, comments, blank lines
            };
            let out = self.iptables(&argv)?;
            if out.code != 0 {
                return Ok(out);
            }
        }
        Ok(Outcome::default())
    }

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
