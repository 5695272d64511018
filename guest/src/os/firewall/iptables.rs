//! The real `iptables` binary (optionally inside a named network namespace,
//! which is how tests keep off the host's tables).

use std::io;
use std::process::Command;

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
    #[cfg(test)]
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
        self.command_of("iptables", args)
    }

    fn command_of(&self, program: &str, args: &[String]) -> Command {
        // berthd may run with a PATH lacking the sbin directories.
        let bin = ["/usr/sbin", "/sbin"]
            .into_iter()
            .map(|d| format!("{d}/{program}"))
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| program.to_string());
        let bin = bin.as_str();
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
        Ok(outcome(out))
    }

    fn restore(&self, script: &str) -> io::Result<Outcome> {
        use std::io::Write;
        let args = ["-w", "--noflush"].map(String::from);
        let mut child = self
            .command_of("iptables-restore", &args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes())?;
        }
        Ok(outcome(child.wait_with_output()?))
    }
}

fn outcome(out: std::process::Output) -> Outcome {
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
