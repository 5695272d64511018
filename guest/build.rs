//! Stamps the build with what `docker version` shows: commit, compiler, time.

use std::process::Command;

fn main() {
    let out = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    if let Some(commit) = out("git", &["rev-parse", "--short=7", "HEAD"]) {
        println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(v) = out(&rustc, &["--version"]) {
        // "rustc 1.95.0 (59807616e 2026-04-14)" -> "rustc 1.95.0"
        let short: Vec<&str> = v.split_whitespace().take(2).collect();
        println!("cargo:rustc-env=BERTH_RUSTC_VERSION={}", short.join(" "));
    }
    // SOURCE_DATE_EPOCH keeps reproducible builds reproducible.
    let time = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => out(
            "date",
            &["-u", "-d", &format!("@{epoch}"), "+%a %b %e %T %Y"],
        ),
        Err(_) => out("date", &["-u", "+%a %b %e %T %Y"]),
    };
    if let Some(t) = time {
        println!("cargo:rustc-env=BERTH_BUILD_TIME={t}");
    }
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
