//! The init runs in a forked copy of the test process (its own process, as
//! in a container), supervising real commands; the test is its parent and
//! signals it from outside, as the runtime does.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn cstrings(args: &[&str]) -> Vec<CString> {
    args.iter().map(|a| CString::new(*a).unwrap()).collect()
}

#[test]
fn arguments_are_read_like_tini() {
    let run = |a: &[&str]| Invocation::Run(cstrings(a));
    assert_eq!(
        parse_args(os(&["init", "--", "sh", "-c", "x"])),
        run(&["sh", "-c", "x"])
    );
    assert_eq!(
        parse_args(os(&["init", "sh", "-c", "x"])),
        run(&["sh", "-c", "x"])
    );
    assert_eq!(
        parse_args(os(&["init", "--", "--", "x"])),
        run(&["--", "x"])
    );
    assert_eq!(parse_args(os(&["init", "-h"])), Invocation::Help);
    assert_eq!(parse_args(os(&["init", "--version"])), Invocation::Version);
    assert!(matches!(parse_args(os(&["init"])), Invocation::Usage(_)));
    assert!(matches!(
        parse_args(os(&["init", "--"])),
        Invocation::Usage(_)
    ));
    assert_eq!(
        parse_args(os(&["init", "-x", "sh"])),
        Invocation::Usage("unknown option -x".into())
    );
}

#[test]
fn wait_statuses_become_shell_exit_codes() {
    assert_eq!(exit_code(0), 0);
    assert_eq!(exit_code(3 << 8), 3);
    assert_eq!(exit_code(libc::SIGTERM), 143);
    // A core dump sets a flag next to the signal number.
    assert_eq!(exit_code(libc::SIGSEGV | 0x80), 139);
}

struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "berth-init-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Forks, and runs the init over `cmd` in the child, with stdin from
/// /dev/null (a terminal would be handed to the command) and stderr into
/// `stderr`, and every signal at its default action, as the shim starts a
/// container (a test runner under `nohup` ignores SIGHUP, and a shell that
/// starts with a signal ignored cannot trap it). Never returns into the
/// test harness in the child.
fn start_init(cmd: &[&str], stderr: &str) -> pid_t {
    let cmd = cstrings(cmd);
    let devnull = CString::new("/dev/null").unwrap();
    let stderr = CString::new(stderr).unwrap();
    // SAFETY: the child only redirects fds, runs the init and exits.
    unsafe {
        match libc::fork() {
            -1 => panic!("fork: {}", io::Error::last_os_error()),
            0 => {
                for sig in 1..32 {
                    libc::signal(sig, libc::SIG_DFL);
                }
                let null = libc::open(devnull.as_ptr(), libc::O_RDONLY);
                libc::dup2(null, 0);
                let err = libc::open(
                    stderr.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                    0o644,
                );
                libc::dup2(err, 2);
                let code = run(&cmd).unwrap_or(200);
                libc::_exit(code)
            }
            pid => pid,
        }
    }
}

/// The init's exit status, or a failure (and the init killed) after `limit`.
fn wait_exit(pid: pid_t, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: waitpid of this test's own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert_ne!(r, -1, "waitpid: {}", io::Error::last_os_error());
        if r == pid {
            assert!(
                libc::WIFEXITED(status),
                "the init did not exit normally: status {status:#x}"
            );
            return libc::WEXITSTATUS(status);
        }
        if Instant::now() > deadline {
            // SAFETY: kills this test's own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the init did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills an init and its command when a test fails while they run: they
/// would otherwise outlive the test run.
struct KillOnPanic(pid_t);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        // SAFETY: plain libc calls on this test's own child, which is only
        // signalled while it is still unreaped (so its pid is still its own).
        unsafe {
            if !std::thread::panicking()
                || libc::waitpid(self.0, std::ptr::null_mut(), libc::WNOHANG) != 0
            {
                return;
            }
            for (pid, _, _) in children_of(self.0) {
                libc::kill(pid, libc::SIGKILL);
            }
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(pid: pid_t, sig: c_int) {
    // SAFETY: signals this test's own child.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

/// (pid, comm, state) of every process whose parent is `parent`.
fn children_of(parent: pid_t) -> Vec<(pid_t, String, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<pid_t>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: pid_t = rest.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == parent {
            out.push((pid, stat[open + 1..close].to_string(), state));
        }
    }
    out
}

#[test]
fn the_exit_code_is_the_command_s() {
    let s = Scratch::new();
    let init = start_init(&["sh", "-c", "exit 7"], &s.path("err"));
    assert_eq!(wait_exit(init, Duration::from_secs(10)), 7);
    assert_eq!(s.read("err"), "");
}

#[test]
fn catchable_signals_are_forwarded_to_the_command() {
    let s = Scratch::new();
    let log = s.path("log");
    let script = format!(
        "for sig in HUP INT QUIT USR1 USR2 WINCH; do trap \"echo $sig >> {log}\" $sig; done; \
         trap 'exit 42' TERM; touch {ready}; while :; do sleep 0.02; done",
        ready = s.path("ready")
    );
    let init = start_init(&["sh", "-c", &script], &s.path("err"));
    let _guard = KillOnPanic(init);
    wait_until("the command to start", || {
        Path::new(&s.path("ready")).exists()
    });
    let sigs = [
        (libc::SIGHUP, "HUP"),
        (libc::SIGINT, "INT"),
        (libc::SIGQUIT, "QUIT"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
        (libc::SIGWINCH, "WINCH"),
    ];
    let mut expected = String::new();
    for (sig, name) in sigs {
        signal(init, sig);
        expected.push_str(name);
        expected.push('\n');
        wait_until(name, || s.read("log") == expected);
    }
    signal(init, libc::SIGTERM);
    assert_eq!(wait_exit(init, Duration::from_secs(10)), 42);
}

#[test]
fn a_command_killed_by_a_signal_exits_128_plus_its_number() {
    let s = Scratch::new();
    let script = format!("touch {}; exec sleep 5", s.path("ready"));
    let init = start_init(&["sh", "-c", &script], &s.path("err"));
    wait_until("the command to start", || {
        Path::new(&s.path("ready")).exists()
    });
    // Unlike PID 1, the command has the default action for SIGTERM: it dies.
    signal(init, libc::SIGTERM);
    assert_eq!(wait_exit(init, Duration::from_secs(10)), 143);
}

#[test]
fn commands_that_cannot_run_fail_like_tini() {
    let s = Scratch::new();
    let init = start_init(&["/nonexistent/cmd", "arg"], &s.path("err"));
    assert_eq!(wait_exit(init, Duration::from_secs(10)), 127);
    let err = s.read("err");
    assert!(err.starts_with("[FATAL tini ("), "{err}");
    assert!(
        err.ends_with("] exec /nonexistent/cmd failed: No such file or directory\n"),
        "{err}"
    );

    // Not executable: refused even to root.
    let plain = s.path("plain");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let init = start_init(&[&plain], &s.path("err"));
    assert_eq!(wait_exit(init, Duration::from_secs(10)), 126);
    assert!(
        s.read("err")
            .ends_with(&format!("] exec {plain} failed: Permission denied\n")),
        "{}",
        s.read("err")
    );
}

#[test]
fn orphans_are_reaped() {
    let s = Scratch::new();
    // The subshell exits at once: its background sleep is orphaned, and
    // handed to the init (a subreaper here, PID 1 in a container).
    let orphan_pid = s.path("orphan");
    let script = format!(
        "(sleep 600 & echo $! > {orphan_pid}); touch {}; while :; do sleep 0.05; done",
        s.path("ready")
    );
    let init = start_init(&["sh", "-c", &script], &s.path("err"));
    let _guard = KillOnPanic(init);
    wait_until("the command to start", || {
        Path::new(&s.path("ready")).exists()
    });
    let orphan: pid_t = s.read("orphan").trim().parse().unwrap();
    let kids = children_of(init);
    assert!(
        kids.iter().any(|&(pid, _, _)| pid == orphan),
        "the orphan {orphan} was not handed to the init: {kids:?}"
    );
    signal(orphan, libc::SIGKILL);
    // Once it has exited, nothing but the command is left: no zombie.
    wait_until("the orphan to be reaped", || {
        let kids = children_of(init);
        kids.len() == 1 && kids[0].1 == "sh" && kids[0].2 != 'Z'
    });
    signal(init, libc::SIGTERM);
    assert_eq!(wait_exit(init, Duration::from_secs(10)), 143);
}
