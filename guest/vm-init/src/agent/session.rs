//! The agent's end of its yamux session with the host (the host opens every
//! stream).

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// Frames the guest sends are at most this big: fewer, larger frames for
/// what it sends (docker cp out, logs), as every frame costs syscalls, and
/// syscalls are dear under emulation.
const SPLIT_SEND: usize = 64 * 1024;
/// yamux reads a frame as a 12-byte header then its body, and writes them
/// the same way: buffered, a read syscall serves many frames and a frame
/// goes out in one write (yamux flushes after each frame, so nothing waits).
const READ_BUF: usize = 256 * 1024;
const WRITE_BUF: usize = SPLIT_SEND + 64;

/// The buffered connection a session runs on.
pub type Io<T> = futures::io::BufReader<futures::io::BufWriter<Compat<T>>>;

/// A server session on `socket` (vsock in the VM, a Unix socket in tests).
/// Polling it for inbound streams is also what moves every open stream's
/// bytes.
pub fn serve<T>(socket: T) -> yamux::Connection<Io<T>>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let io = futures::io::BufReader::with_capacity(
        READ_BUF,
        futures::io::BufWriter::with_capacity(WRITE_BUF, socket.compat()),
    );
    let mut cfg = yamux::Config::default();
    cfg.set_split_send_size(SPLIT_SEND);
    yamux::Connection::new(io, cfg, yamux::Mode::Server)
}
