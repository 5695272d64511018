//! `{"open":"exec"}`: a debug process in the guest (`berth shell`), with a
//! pseudo-terminal when asked, its output (stdout and stderr merged) relayed
//! until it exits: as raw bytes, or framed (`vmlink::ExecFrame`), which also
//! carries terminal resizes and the exit code.

use super::refuse;
use berth_common::vmlink::{self, ExecFrame, Reply};
use std::io;
use std::os::fd::AsRawFd;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;

pub async fn serve<S>(
    stream: S,
    argv: Vec<String>,
    tty: bool,
    rows: Option<u16>,
    cols: Option<u16>,
    framed: bool,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if argv.is_empty() {
        return refuse(stream, "exec needs a command (argv is empty)".into()).await;
    }
    let spawned = if tty {
        spawn_tty(&argv, rows.unwrap_or(24), cols.unwrap_or(80))
    } else {
        spawn_pipes(&argv)
    };
    let (mut child, mut output, mut input, pty) = match spawned {
        Ok(parts) => parts,
        Err(e) => return refuse(stream, format!("cannot run {:?}: {e}", argv[0])).await,
    };
    let mut stream = stream;
    vmlink::write_json_line(&mut stream, &Reply::ok()).await?;
    if framed {
        return serve_framed(stream, child, output, input, pty, &argv).await;
    }
    let (mut sr, mut sw) = tokio::io::split(stream);
    let result = until_output_ends(
        super::relay::copy_then_close(&mut sr, &mut input),
        super::relay::copy_then_close(&mut output, &mut sw),
    )
    .await;
    finish(&mut child, &argv).await;
    result
}

/// Runs both directions until the process's output ends: that ends the
/// stream, whatever the host still sends. The input ending, or failing,
/// ends only the input.
async fn until_output_ends<I, O, T, U>(to_process: I, from_process: O) -> io::Result<()>
where
    I: std::future::Future<Output = io::Result<T>>,
    O: std::future::Future<Output = io::Result<U>>,
{
    tokio::pin!(to_process);
    tokio::pin!(from_process);
    let mut input_done = false;
    loop {
        tokio::select! {
            r = &mut to_process, if !input_done => {
                input_done = true;
                if let Err(e) = r { tracing::debug!("exec input: {e}"); }
            }
            r = &mut from_process => return r.map(drop),
        }
    }
}

/// Collects the process once its output has ended (killing it if it does not
/// exit within 5 s); returns its exit code as a shell gives it.
async fn finish(child: &mut tokio::process::Child, argv: &[String]) -> i32 {
    match tokio::time::timeout(std::time::Duration::from_secs(5), child.wait()).await {
        Ok(Ok(status)) => {
            tracing::info!(?argv, ?status, "exec finished");
            exit_code(status)
        }
        _ => {
            let _ = child.kill().await;
            137
        }
    }
}

/// The framed protocol: input, resizes and EOF in; output, then the exit
/// code, out.
async fn serve_framed<S>(
    stream: S,
    mut child: tokio::process::Child,
    mut output: Box<dyn AsyncRead + Unpin + Send>,
    mut input: Box<dyn AsyncWrite + Unpin + Send>,
    pty: Option<OwnedFd>,
    argv: &[String],
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut sr, mut sw) = tokio::io::split(stream);
    let to_process = async {
        while let Some(frame) = ExecFrame::read(&mut sr).await? {
            match frame {
                ExecFrame::Data(d) => input.write_all(&d).await?,
                ExecFrame::Resize { rows, cols } => {
                    if let Some(pty) = &pty {
                        set_winsize(pty, rows, cols);
                    }
                }
                ExecFrame::Eof => break,
                ExecFrame::Exit(_) => {}
            }
        }
        input.shutdown().await
    };
    let from_process = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = output.read(&mut buf).await?;
            if n == 0 {
                return io::Result::Ok(());
            }
            ExecFrame::Data(buf[..n].to_vec()).write(&mut sw).await?;
        }
    };
    let result = until_output_ends(to_process, from_process).await;
    let code = finish(&mut child, argv).await;
    ExecFrame::Exit(code).write(&mut sw).await?;
    sw.shutdown().await?;
    result
}

/// A shell's way: the code, or 128 + the signal that ended the process.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

fn set_winsize(pty: &OwnedFd, rows: u16, cols: u16) {
    let size = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    nix::ioctl_write_ptr_bad!(tiocswinsz, nix::libc::TIOCSWINSZ, nix::pty::Winsize);
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer; the fd is our pty master.
    if let Err(e) = unsafe { tiocswinsz(pty.as_raw_fd(), &size) } {
        tracing::debug!("cannot resize the exec's terminal: {e}");
    }
}

type Spawned = (
    tokio::process::Child,
    Box<dyn AsyncRead + Unpin + Send>,
    Box<dyn AsyncWrite + Unpin + Send>,
    // The pty master, for resizes.
    Option<OwnedFd>,
);

fn spawn_pipes(argv: &[String]) -> io::Result<Spawned> {
    let (out_r, out_w) = nix::unistd::pipe()?;
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(out_w.try_clone()?))
        .stderr(Stdio::from(out_w))
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    // Our copies of the write end are gone with `cmd`: EOF comes when the
    // process (and its children) close theirs.
    drop(cmd);
    let stdin = child.stdin.take().expect("stdin is piped");
    let output = pipe::Receiver::from_owned_fd(out_r)?;
    Ok((
        child,
        Box::new(output),
        Box::new(CloseOnShutdown(Some(stdin))),
        None,
    ))
}

fn spawn_tty(argv: &[String], rows: u16, cols: u16) -> io::Result<Spawned> {
    let size = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None)?;
    let slave: OwnedFd = pty.slave;
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave))
        .env("TERM", "xterm")
        .kill_on_drop(true);
    // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()?;
            // The terminal on stdin becomes the session's controlling tty, so
            // that ^C and job control work in the shell.
            if libc_ioctl_tiocsctty(0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(cmd);
    let master = pty.master;
    let resizer = master.try_clone()?;
    let reader = pipe::Receiver::from_owned_fd_unchecked(master.try_clone()?)?;
    let writer = pipe::Sender::from_owned_fd_unchecked(master)?;
    Ok((
        child,
        Box::new(PtyReader(reader)),
        Box::new(EofOnShutdown(writer)),
        Some(resizer),
    ))
}

fn libc_ioctl_tiocsctty(fd: i32) -> i32 {
    nix::ioctl_write_int_bad!(tiocsctty, nix::libc::TIOCSCTTY);
    // SAFETY: a plain ioctl on our own stdin.
    match unsafe { tiocsctty(fd, 0) } {
        Ok(_) => 0,
        Err(_) => -1,
    }
}

/// A pty master reads EIO once the last slave fd closes: that is the end.
struct PtyReader(pipe::Receiver);

impl AsyncRead for PtyReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.0).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.raw_os_error() == Some(nix::libc::EIO) => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

/// A pipe whose shutdown closes it, so the process reads EOF.
struct CloseOnShutdown<W>(Option<W>);

impl<W: AsyncWrite + Unpin> AsyncWrite for CloseOnShutdown<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.as_mut() {
            Some(w) => Pin::new(w).poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.as_mut() {
            Some(w) => Pin::new(w).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0 = None;
        Poll::Ready(Ok(()))
    }
}

/// A terminal has no half-close: the host's EOF becomes the EOF character
/// (^D), which ends a shell or `cat` reading the terminal.
struct EofOnShutdown(pipe::Sender);

impl AsyncWrite for EofOnShutdown {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.0).poll_write(cx, &[0x04]) {
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) if e.raw_os_error() == Some(nix::libc::EIO) => Poll::Ready(Ok(())),
            other => other.map(|r| r.map(|_| ())),
        }
    }
}
