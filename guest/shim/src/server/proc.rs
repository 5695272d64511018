//! One process the shim runs (the container's init, or an exec): its stdio,
//! the pumps that copy its output to the log and to attached clients, and
//! its exit status.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::fcntl::OFlag;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::feed::{self, Feed, Sink};
use super::io::{nonblocking, read, recv_fd, set_winsize, write_all};
use berth_shim::logs::{LogWriter, Stream};
use berth_shim::protocol::{STDERR, STDOUT};
use berth_shim::stdio::{ProcessIo, Stdio};

struct Subscriber {
    sink: Sink,
    stdout: bool,
    stderr: bool,
}

pub struct Proc {
    pub pid: Cell<i32>,
    /// The init process writes the container log; execs do not.
    logs: bool,
    pub stdin_once: bool,
    stdin: RefCell<Option<Rc<AsyncFd<OwnedFd>>>>,
    /// The pty master, kept for resizes.
    pty: RefCell<Option<OwnedFd>>,
    console: RefCell<Option<(UnixListener, std::path::PathBuf)>>,
    outputs: RefCell<Vec<(u8, OwnedFd)>>,
    subscribers: RefCell<Vec<Subscriber>>,
    status: watch::Sender<Option<i32>>,
    pumps: Cell<usize>,
    drained: watch::Sender<bool>,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

impl Proc {
    pub fn new(logs: bool, stdin_once: bool) -> Proc {
        Proc {
            pid: Cell::new(0),
            logs,
            stdin_once,
            stdin: RefCell::default(),
            pty: RefCell::default(),
            console: RefCell::default(),
            outputs: RefCell::default(),
            subscribers: RefCell::default(),
            status: watch::Sender::new(None),
            pumps: Cell::new(0),
            drained: watch::Sender::new(true),
        }
    }

    /// Creates the process's stdio: a console socket to receive a pty on,
    /// or pipes (stdin only when it is kept open).
    pub fn prepare_io(&self, tty: bool, open_stdin: bool, dir: &Path) -> io::Result<ProcessIo> {
        if tty {
            // Unique among this shim's consoles (the init's and each exec's).
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!("console-{}.sock", NEXT.fetch_add(1, Ordering::Relaxed));
            let path = dir.join(&name);
            let _ = std::fs::remove_file(&path);
            // Bound by its name in the working directory (the bundle): the
            // full path can exceed a socket address's 108 bytes.
            let listener = UnixListener::bind(&name)?;
            *self.console.borrow_mut() = Some((listener, path.clone()));
            return Ok(ProcessIo::Console(path));
        }
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let stdin = if open_stdin {
            let (r, w) = pipe()?;
            *self.stdin.borrow_mut() = Some(Rc::new(nonblocking(w)?));
            Some(r)
        } else {
            None
        };
        *self.outputs.borrow_mut() = vec![(STDOUT, out_r), (STDERR, err_r)];
        Ok(ProcessIo::Pipes(Stdio {
            stdin,
            stdout: out_w,
            stderr: err_w,
        }))
    }

    /// The runtime failed: drop what `prepare_io` made.
    pub fn abandon_io(&self) {
        self.stdin.borrow_mut().take();
        self.outputs.borrow_mut().clear();
        if let Some((_, path)) = self.console.borrow_mut().take() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Once the process runs: receive its pty (if any) and copy its output.
    pub fn start_pumps(self: &Rc<Self>, log: Rc<RefCell<Option<LogWriter>>>) -> Result<(), String> {
        let mut outputs = std::mem::take(&mut *self.outputs.borrow_mut());
        if let Some((listener, path)) = self.console.borrow_mut().take() {
            let _ = std::fs::remove_file(&path);
            let master = listener
                .accept()
                .and_then(|(sock, _)| recv_fd(sock.as_raw_fd()))
                .map_err(|e| format!("cannot receive the terminal: {e}"))?;
            let writer = master.try_clone().map_err(|e| e.to_string())?;
            *self.stdin.borrow_mut() =
                Some(Rc::new(nonblocking(writer).map_err(|e| e.to_string())?));
            *self.pty.borrow_mut() = Some(master.try_clone().map_err(|e| e.to_string())?);
            outputs.push((STDOUT, master));
        }
        self.pumps.set(outputs.len());
        self.drained.send_replace(outputs.is_empty());
        for (stream, fd) in outputs {
            let fd = nonblocking(fd).map_err(|e| e.to_string())?;
            tokio::task::spawn_local(self.clone().pump(stream, fd, log.clone()));
        }
        Ok(())
    }

    async fn pump(
        self: Rc<Self>,
        stream: u8,
        fd: AsyncFd<OwnedFd>,
        log: Rc<RefCell<Option<LogWriter>>>,
    ) {
        let log_stream = if stream == STDERR {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match read(&fd, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let data = &buf[..n];
            if self.logs {
                if let Some(w) = log.borrow_mut().as_mut() {
                    if let Err(e) = w.write(log_stream, data) {
                        eprintln!("berth-shim: cannot write the log: {e}");
                    }
                }
            }
            let targets: Vec<Sink> = self
                .subscribers
                .borrow()
                .iter()
                .filter(|s| if stream == STDERR { s.stderr } else { s.stdout })
                .map(|s| s.sink.clone())
                .collect();
            for sink in targets {
                sink.send((stream, data.to_vec())).await;
            }
            self.subscribers
                .borrow_mut()
                .retain(|s| !s.sink.is_closed());
        }
        if self.logs {
            if let Some(w) = log.borrow_mut().as_mut() {
                let _ = w.flush_partial(log_stream);
            }
        }
        let left = self.pumps.get().saturating_sub(1);
        self.pumps.set(left);
        if left == 0 {
            self.drained.send_replace(true);
        }
    }

    pub fn subscribe(&self, stdout: bool, stderr: bool) -> Feed {
        let (sink, feed) = feed::channel();
        self.subscribers.borrow_mut().push(Subscriber {
            sink,
            stdout,
            stderr,
        });
        feed
    }

    pub async fn write_stdin(&self, data: &[u8]) -> io::Result<()> {
        let fd = self.stdin.borrow().clone();
        match fd {
            Some(fd) => write_all(&fd, data).await,
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    pub fn close_stdin(&self) {
        // A pty has no separate input to close: the terminal stays.
        if self.pty.borrow().is_none() {
            self.stdin.borrow_mut().take();
        }
    }

    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        match self.pty.borrow().as_ref() {
            Some(fd) => set_winsize(fd.as_raw_fd(), rows, cols),
            None => Err(io::Error::other("the process has no terminal")),
        }
    }

    pub fn set_exited(&self, code: i32) {
        self.stdin.borrow_mut().take();
        for s in self.subscribers.borrow().iter() {
            s.sink.widen();
        }
        self.status.send_replace(Some(code));
    }

    pub fn exited(&self) -> bool {
        self.status.borrow().is_some()
    }

    /// Waits until the output pipes reach their end, or until they have
    /// been silent for `OUTPUT_GRACE`: a process outside the container holds
    /// them open (only possible outside a private pid namespace).
    pub async fn drain_output(&self) {
        let mut drained = self.drained.subscribe();
        let _ = tokio::time::timeout(super::OUTPUT_GRACE, drained.wait_for(|d| *d)).await;
    }

    /// The exit code, once the process ended and its output was copied.
    pub async fn finished(&self) -> i32 {
        let mut rx = self.status.subscribe();
        let code = match rx.wait_for(|s| s.is_some()).await {
            Ok(c) => c.unwrap_or(-1),
            Err(_) => -1,
        };
        self.drain_output().await;
        code
    }
}
