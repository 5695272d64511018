//! The runc-compatible runtime (`berthd runtime`, or a `runtimes` entry in
//! daemon.json): `create` + `start`, `exec --detach`, `delete --force`. Its processes are handed to the shim by the
//! kernel: the shim is a child subreaper, so when the runtime's own process
//! exits, the container's process becomes the shim's child.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio as CmdStdio};

use nix::sys::signal::{signal, SigHandler, Signal};

use berth_shim::stdio::ProcessIo;
use berth_shim::RuntimeBinary;

/// `<runtime> [runtimeArgs] --root R --log L --log-format json <sub> [flags]
/// [--console-socket S] <id>`, with the process's stdio.
fn invoke(
    rt: &RuntimeBinary,
    state_root: &Path,
    log: &Path,
    sub: &str,
    flags: &[OsString],
    id: &str,
    io: ProcessIo,
) -> Result<(), String> {
    let _ = std::fs::remove_file(log);
    let mut cmd = Command::new(&rt.path);
    cmd.args(&rt.args)
        .arg("--root")
        .arg(state_root.join("runc"))
        .arg("--log")
        .arg(log)
        .arg("--log-format")
        .arg("json")
        .arg(sub)
        .args(flags);
    default_signals(&mut cmd);
    match io {
        ProcessIo::Pipes(stdio) => {
            let stdin: CmdStdio = match stdio.stdin {
                Some(fd) => fd.into(),
                None => CmdStdio::null(),
            };
            cmd.stdin(stdin).stdout(stdio.stdout).stderr(stdio.stderr);
        }
        ProcessIo::Console(socket) => {
            // Relative to the bundle, the shim's and the runtime's working
            // directory: a socket address holds 108 bytes.
            let name = socket.file_name().unwrap_or_default().to_owned();
            cmd.arg("--console-socket")
                .arg(name)
                .stdin(CmdStdio::null())
                .stdout(CmdStdio::null())
                .stderr(CmdStdio::null());
        }
    }
    let status = cmd
        .arg(id)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", rt.path.display()))?;
    if status.success() {
        return Ok(());
    }
    Err(last_error(log).unwrap_or_else(|| format!("{} {sub} failed ({status})", rt.path.display())))
}

/// The runtime, and so the container's processes, start with every signal
/// at its default action. An ignored signal stays ignored across exec:
/// under `nohup berthd` the containers would ignore SIGHUP, and a shell
/// could not even trap it (`docker kill -s HUP` would do nothing).
fn default_signals(cmd: &mut Command) {
    // SAFETY: only signal(2), which is async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for sig in Signal::iterator() {
                if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
                    let _ = signal(sig, SigHandler::SigDfl);
                }
            }
            Ok(())
        });
    }
}

/// The last error message in the runtime's JSON log.
fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        if v["level"] != "error" {
            return None;
        }
        v["msg"].as_str().map(String::from)
    })
}

fn read_pid(path: &Path) -> Result<i32, String> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("the runtime wrote no pid to {}", path.display()))
}

fn quiet() -> Result<ProcessIo, String> {
    let null = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|e| e.to_string())
    };
    Ok(ProcessIo::Pipes(berth_shim::stdio::Stdio {
        stdin: None,
        stdout: null()?,
        stderr: null()?,
    }))
}

pub fn create_and_start(
    rt: &RuntimeBinary,
    id: &str,
    bundle: &Path,
    state_root: &Path,
    io: ProcessIo,
) -> Result<i32, String> {
    let log = bundle.join("runtime.log");
    let pid_file = bundle.join("init.pid");
    let flags: Vec<OsString> = vec![
        "--bundle".into(),
        bundle.into(),
        "--pid-file".into(),
        pid_file.clone().into(),
    ];
    invoke(rt, state_root, &log, "create", &flags, id, io)?;
    if let Err(e) = invoke(rt, state_root, &log, "start", &[], id, quiet()?) {
        delete(rt, id, state_root);
        return Err(e);
    }
    read_pid(&pid_file)
}

pub fn exec(
    rt: &RuntimeBinary,
    id: &str,
    state_root: &Path,
    process_json: &Path,
    io: ProcessIo,
) -> Result<i32, String> {
    let log = process_json.with_extension("log");
    let pid_file = process_json.with_extension("pid");
    let flags: Vec<OsString> = vec![
        "--process".into(),
        process_json.into(),
        "--detach".into(),
        "--pid-file".into(),
        pid_file.clone().into(),
    ];
    let pid =
        invoke(rt, state_root, &log, "exec", &flags, id, io).and_then(|()| read_pid(&pid_file));
    let _ = std::fs::remove_file(&pid_file);
    let _ = std::fs::remove_file(&log);
    pid
}

pub fn delete(rt: &RuntimeBinary, id: &str, state_root: &Path) {
    let log = state_root.join(format!("{id}-delete.log"));
    if let Ok(io) = quiet() {
        let _ = invoke(rt, state_root, &log, "delete", &["--force".into()], id, io);
    }
    let _ = std::fs::remove_file(&log);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_starts_with_no_signal_ignored() {
        let dir = std::env::temp_dir().join(format!("berth-shim-runc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("status");
        // The runtime here is a shell that records the ignored-signal mask
        // its command inherits.
        let rt = RuntimeBinary {
            path: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                format!("grep SigIgn /proc/self/status > {}", out.display()),
            ],
        };
        // As under `nohup berthd`.
        // SAFETY: sets a disposition; no handler runs.
        unsafe { signal(Signal::SIGHUP, SigHandler::SigIgn) }.unwrap();
        let ran = invoke(
            &rt,
            &dir,
            &dir.join("log"),
            "create",
            &[],
            "c",
            quiet().unwrap(),
        );
        // SAFETY: as above.
        unsafe { signal(Signal::SIGHUP, SigHandler::SigDfl) }.unwrap();
        ran.unwrap();
        let line = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let mask = line
            .split_whitespace()
            .nth(1)
            .and_then(|m| u64::from_str_radix(m, 16).ok())
            .unwrap_or_else(|| panic!("no mask in {line:?}"));
        // Bit n-1 stands for signal n; the standard signals are 1 to 31.
        assert_eq!(mask & 0x7fff_ffff, 0, "{line}");
    }
}
