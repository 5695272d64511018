//! `berth context`: a `berth` docker context pointing at the forwarded socket.

use anyhow::Context;
use std::process::Command;

pub fn run() -> anyhow::Result<()> {
    let (home, settings) = super::load()?;
    let host = format!("host=unix://{}", settings.socket_path(&home).display());
    let exists = Command::new("docker")
        .args(["context", "inspect", "berth"])
        .output()
        .context("cannot run the docker CLI: is it installed and on PATH?")?
        .status
        .success();
    let verb = if exists { "update" } else { "create" };
    let out = Command::new("docker")
        .args([
            "context",
            verb,
            "berth",
            "--description",
            "Berth",
            "--docker",
            &host,
        ])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker context {verb} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    println!("docker context 'berth' {verb}d ({host}). Use it with: docker context use berth");
    Ok(())
}
