//! `proxy-variants MODE LISTEN BACKEND`: relays every TCP connection accepted on
//! LISTEN to BACKEND like berthd's userland proxy
//! (guest/src/networks/ports/proxy.rs: `relay_tcp` and `pipe`), with the data
//! path chosen by MODE:
//!
//! - `copy:KIB`: `BufReader::with_capacity(KIB * 1024)` + `copy_buf`, then a
//!   half-close: berthd's code; `copy:64` is what it ships.
//! - `splice:KIB`: zero-copy through a pipe per direction (socket → pipe →
//!   socket with splice(2), tokio readiness on both sockets), the pipe resized
//!   to KIB with F_SETPIPE_SZ (0: the default 64 KiB). What docker-proxy gets
//!   from Go's `io.Copy` between two TCP connections.
//!
//! Prints `ready` on stderr once listening. Runs until killed.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, Interest};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy)]
enum Mode {
    Copy(usize),
    Splice(usize),
}

fn parse(mode: &str) -> Option<Mode> {
    let (kind, kib) = mode.split_once(':')?;
    let bytes = kib.parse::<usize>().ok()? * 1024;
    match kind {
        "copy" if bytes > 0 => Some(Mode::Copy(bytes)),
        "splice" => Some(Mode::Splice(bytes)),
        _ => None,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: proxy-variants copy:KIB|splice:KIB LISTEN_ADDR BACKEND_ADDR";
    let (Some(mode), Some(Ok(listen)), Some(Ok(backend))) = (
        args.get(1).and_then(|m| parse(m)),
        args.get(2).map(|a| a.parse::<SocketAddr>()),
        args.get(3).map(|a| a.parse::<SocketAddr>()),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(listen).await.expect("bind");
    eprintln!("ready");
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(relay(client, backend, mode));
    }
}

async fn relay(client: TcpStream, backend: SocketAddr, mode: Mode) {
    let Ok(server) = TcpStream::connect(backend).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    match mode {
        Mode::Copy(buf) => {
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let _ = tokio::join!(copy(cr, sw, buf), copy(sr, cw, buf));
        }
        Mode::Splice(size) => {
            let _ = tokio::join!(
                splice(&client, &server, size),
                splice(&server, &client, size)
            );
        }
    }
}

/// berthd's `pipe`.
async fn copy(
    from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    buf: usize,
) -> io::Result<()> {
    let mut from = BufReader::with_capacity(buf, from);
    tokio::io::copy_buf(&mut from, &mut to).await?;
    to.shutdown().await
}

struct Pipe {
    read: i32,
    write: i32,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        unsafe {
            libc::close(self.read);
            libc::close(self.write);
        }
    }
}

/// No offset: splice(2) from/to the current position of a socket or pipe.
const NULL: *mut libc::loff_t = std::ptr::null_mut();

fn cvt(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Socket to socket through a pipe with splice(2): the data never enters user
/// space. End of stream is forwarded as a half-close.
async fn splice(from: &TcpStream, to: &TcpStream, size: usize) -> io::Result<()> {
    let mut fds = [0i32; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let pipe = Pipe {
        read: fds[0],
        write: fds[1],
    };
    if size > 0 {
        // May fail (pipe-max-size, the per-user pipe budget): the default size still works.
        unsafe { libc::fcntl(pipe.write, libc::F_SETPIPE_SZ, size as libc::c_int) };
    }
    let cap = unsafe { libc::fcntl(pipe.write, libc::F_GETPIPE_SZ) }.max(4096) as usize;
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    loop {
        let n = loop {
            from.readable().await?;
            match from.try_io(Interest::READABLE, || {
                cvt(unsafe { libc::splice(from.as_raw_fd(), NULL, pipe.write, NULL, cap, flags) })
            }) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            unsafe { libc::shutdown(to.as_raw_fd(), libc::SHUT_WR) };
            return Ok(());
        }
        let mut left = n;
        while left > 0 {
            to.writable().await?;
            match to.try_io(Interest::WRITABLE, || {
                cvt(unsafe { libc::splice(pipe.read, NULL, to.as_raw_fd(), NULL, left, flags) })
            }) {
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}
