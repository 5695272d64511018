//! PID 1 of containers run with `--init`. dockerd bind-mounts tini at
//! `/sbin/docker-init` and runs `docker-init -- cmd args...`; Berth mounts this
//! in its place, so it behaves like tini's default mode: the command runs as
//! its child, every signal the init can catch is passed on to it, every
//! process that ends up as the init's child (the kernel hands orphans to PID 1)
//! is reaped, and the init exits the way the command did.
//!
//! Only std and libc: the binary is linked statically to run in any image.

use std::ffi::{c_char, c_int, CStr, CString, OsString};
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStringExt;
use std::ptr;

use libc::{pid_t, sigset_t};

/// Messages start like tini's, which is what people and scripts look for.
const TAG: &str = "tini";

/// Never blocked: faults a process raises against itself cannot wait in a
/// queue, and the terminal stops are ignored instead, so the init never stops.
const NOT_WAITED: [c_int; 9] = [
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

const USAGE: &str = "\
Usage: docker-init [-h | --version] [--] COMMAND [ARG...]

Runs COMMAND as its child, forwards the signals it receives to it, reaps
zombie processes and exits with COMMAND's exit status (128+N when signal N
killed it).
";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// The command and its arguments.
    Run(Vec<CString>),
    Help,
    Version,
    /// Bad arguments; the message goes out with the usage, status 1.
    Usage(String),
}

/// One option at most; `--` before the command is optional, so that
/// `docker-init -- sh -c x` and `docker-init sh -c x` run the same command.
pub fn parse_args<I: IntoIterator<Item = OsString>>(args: I) -> Invocation {
    let mut args = args.into_iter().skip(1).peekable();
    match args.peek().and_then(|a| a.to_str()) {
        Some("--") => {
            args.next();
        }
        Some("-h" | "--help") => return Invocation::Help,
        Some("--version") => return Invocation::Version,
        Some(opt) if opt.len() > 1 && opt.starts_with('-') => {
            return Invocation::Usage(format!("unknown option {opt}"));
        }
        _ => {}
    }
    let cmd: Option<Vec<CString>> = args.map(|a| CString::new(a.into_vec()).ok()).collect();
    match cmd {
        None => Invocation::Usage("an argument contains a NUL byte".into()),
        Some(cmd) if cmd.is_empty() => Invocation::Usage("no command given".into()),
        Some(cmd) => Invocation::Run(cmd),
    }
}

/// The whole program: returns the status to exit with.
pub fn main<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    match parse_args(args) {
        Invocation::Run(cmd) => run(&cmd).unwrap_or_else(|e| {
            fatal(&e.to_string());
            1
        }),
        Invocation::Help => {
            let _ = io::stdout().write_all(USAGE.as_bytes());
            0
        }
        Invocation::Version => {
            let _ = writeln!(
                io::stdout(),
                "berth-container-init {}",
                env!("CARGO_PKG_VERSION")
            );
            0
        }
        Invocation::Usage(msg) => {
            let _ = write!(io::stderr(), "{msg}\n{USAGE}");
            1
        }
    }
}

/// Runs `cmd` under this process and returns its exit status once it has
/// ended. Processes it leaves behind are reaped until then.
pub fn run(cmd: &[CString]) -> io::Result<i32> {
    let signals = Signals::take_over()?;
    become_reaper()?;
    let child = spawn(cmd, &signals)?;
    supervise(child, &signals.waited)
}

/// The shell's convention, which docker reports as the container's exit code.
pub fn exit_code(status: c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// The signal state the init changed, kept to give the command the state
/// the init itself was started with.
struct Signals {
    /// Every catchable signal: blocked, so that it queues until the loop
    /// takes it, which is also what lets PID 1 of a namespace receive signals
    /// it has no handler for.
    waited: sigset_t,
    original_mask: sigset_t,
    original_ttin: libc::sigaction,
    original_ttou: libc::sigaction,
}

impl Signals {
    fn take_over() -> io::Result<Signals> {
        // SAFETY: plain libc calls on values owned here; the process is single-threaded.
        unsafe {
            let mut waited = empty_set();
            check(libc::sigfillset(&mut waited))?;
            for sig in NOT_WAITED {
                check(libc::sigdelset(&mut waited, sig))?;
            }
            let mut original_mask = empty_set();
            check(libc::sigprocmask(
                libc::SIG_SETMASK,
                &waited,
                &mut original_mask,
            ))?;
            let mut ignore: libc::sigaction = std::mem::zeroed();
            ignore.sa_sigaction = libc::SIG_IGN;
            let mut original_ttin = std::mem::zeroed();
            let mut original_ttou = std::mem::zeroed();
            check(libc::sigaction(libc::SIGTTIN, &ignore, &mut original_ttin))?;
            check(libc::sigaction(libc::SIGTTOU, &ignore, &mut original_ttou))?;
            Ok(Signals {
                waited,
                original_mask,
                original_ttin,
                original_ttou,
            })
        }
    }
}

/// As PID 1 the init gets every orphan of its namespace from the kernel
/// anyway; anywhere else it asks for its descendants' orphans, so that they
/// are still reaped (tini's `-s`).
fn become_reaper() -> io::Result<()> {
    if std::process::id() == 1 {
        return Ok(());
    }
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
}

fn spawn(cmd: &[CString], signals: &Signals) -> io::Result<pid_t> {
    let mut argv: Vec<*const c_char> = cmd.iter().map(|a| a.as_ptr()).collect();
    argv.push(ptr::null());
    // SAFETY: the process is single-threaded, so the child may do anything
    // the parent could; it never returns from exec_child.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => unsafe { exec_child(&argv, signals) },
        pid => Ok(pid),
    }
}

/// # Safety
/// Only in the child of `fork`; `argv` is a NULL-terminated array of C strings.
unsafe fn exec_child(argv: &[*const c_char], signals: &Signals) -> ! {
    // A process group of its own that takes over the terminal, if there is
    // one, so that ^C and ^Z reach the command and not the init. From a
    // background group tcsetpgrp raises SIGTTOU, which is still ignored
    // here. Without a terminal it fails (ENOTTY), with nothing to hand over.
    libc::setpgid(0, 0);
    libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp());
    libc::sigaction(libc::SIGTTIN, &signals.original_ttin, ptr::null_mut());
    libc::sigaction(libc::SIGTTOU, &signals.original_ttou, ptr::null_mut());
    // The Rust runtime ignores SIGPIPE before main, and an ignored signal
    // stays ignored across exec; commands expect the default.
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    libc::sigprocmask(libc::SIG_SETMASK, &signals.original_mask, ptr::null_mut());

    libc::execvp(argv[0], argv.as_ptr());

    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // The statuses a shell gives for a command it cannot run.
    let status = match errno {
        libc::ENOENT => 127,
        libc::EACCES => 126,
        _ => 1,
    };
    let cmd = CStr::from_ptr(argv[0]).to_string_lossy();
    let reason = CStr::from_ptr(libc::strerror(errno)).to_string_lossy();
    fatal(&format!("exec {cmd} failed: {reason}"));
    libc::_exit(status)
}

/// Waits for signals: passes each on to the command, and reaps on each
/// SIGCHLD, until the command itself has been reaped.
fn supervise(child: pid_t, waited: &sigset_t) -> io::Result<i32> {
    loop {
        // SAFETY: `waited` is a valid set; no siginfo is asked for.
        let sig = unsafe { libc::sigwaitinfo(waited, ptr::null_mut()) };
        if sig == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        } else if sig != libc::SIGCHLD {
            // An error means the command has just exited: reaped below.
            // SAFETY: a plain kill(2) of our own child.
            unsafe { libc::kill(child, sig) };
        }
        if let Some(code) = reap(child) {
            return Ok(code);
        }
    }
}

/// Collects every child that has exited; the command's status if it was one.
/// Signals coalesce, so one SIGCHLD may stand for many exits.
fn reap(child: pid_t) -> Option<i32> {
    let mut exit = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        match unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } {
            0 => break,
            -1 if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => continue,
            // ECHILD: no children left.
            -1 => break,
            pid if pid == child => exit = Some(exit_code(status)),
            _ => {}
        }
    }
    exit
}

/// tini's `[FATAL tini (pid)] ...` line, written with one write(2) so that it
/// also works in a freshly forked child.
fn fatal(msg: &str) {
    let line = format!("[FATAL {TAG} ({})] {msg}\n", std::process::id());
    // SAFETY: writes a valid buffer to fd 2; a failure has nowhere to go.
    unsafe { libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), line.len()) };
}

fn empty_set() -> sigset_t {
    let mut set = MaybeUninit::<sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    }
}

fn check(ret: c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
