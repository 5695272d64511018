//! One Engine API connection over one vsock connection, with its half-closes.
//!
//! The VM's vsock transport (vhost-device-vsock's hybrid socket) loses a
//! `shutdown(SHUT_WR)`: it is dropped, or it ends the whole connection. The
//! docker CLI needs it (attach and exec send their stdin's end that way), so
//! each direction carries its bytes in frames, and its end as a frame of its
//! own: a 4-byte big-endian length, then that many bytes; length 0 is the
//! end of that direction. Nothing else: vsock already orders, checks and
//! paces the bytes, so this costs four bytes a frame and no copy: a frame's
//! bytes are read straight into the reader's buffer and written straight
//! from the writer's.
//!
//! The host wraps its end of a berthd connection in [`Framed`] and relays it
//! to the docker client; berthd wraps each accepted vsock connection and
//! serves HTTP over it.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest frame either side sends or accepts: a bound on what a
/// confused peer can announce, well above any single write (256 KiB).
pub const MAX_FRAME: usize = 1 << 20;

const HEADER: usize = 4;

/// See the module documentation.
#[derive(Debug)]
pub struct Framed<T> {
    inner: T,
    /// Reading: the header being read, how much of it has arrived, and the
    /// bytes left in the current frame.
    in_header: [u8; HEADER],
    in_header_read: usize,
    in_left: usize,
    in_ended: bool,
    /// Writing: the header being sent, how much of it is out, and the bytes
    /// the current frame still owes.
    out_header: [u8; HEADER],
    out_header_sent: usize,
    out_left: usize,
    out_ended: bool,
}

impl<T> Framed<T> {
    pub fn new(inner: T) -> Framed<T> {
        Framed {
            inner,
            in_header: [0; HEADER],
            in_header_read: 0,
            in_left: 0,
            in_ended: false,
            out_header: [0; HEADER],
            out_header_sent: HEADER,
            out_left: 0,
            out_ended: false,
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl<T: AsyncRead + Unpin> AsyncRead for Framed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.in_ended || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        while this.in_left == 0 {
            let mut head = ReadBuf::new(&mut this.in_header[this.in_header_read..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut head))?;
            let n = head.filled().len();
            if n == 0 {
                if this.in_header_read == 0 {
                    // The peer closed without an end frame: that ends it too.
                    this.in_ended = true;
                    return Poll::Ready(Ok(()));
                }
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            this.in_header_read += n;
            if this.in_header_read < HEADER {
                continue;
            }
            this.in_header_read = 0;
            let len = u32::from_be_bytes(this.in_header) as usize;
            if len == 0 {
                this.in_ended = true;
                return Poll::Ready(Ok(()));
            }
            if len > MAX_FRAME {
                return Poll::Ready(Err(invalid(format!(
                    "a frame of {len} bytes (at most {MAX_FRAME})"
                ))));
            }
            this.in_left = len;
        }
        // Straight into the caller's buffer, no further than the frame goes.
        let want = this.in_left.min(buf.remaining());
        let mut part = buf.take(want);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
        let n = part.filled().len();
        if n == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection ended inside a frame",
            )));
        }
        // SAFETY: `take` lent the caller's own unfilled memory, and the read
        // initialized its first `n` bytes. (Zeroing it first, the safe way,
        // would cost a pass over every byte.)
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        this.in_left -= n;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> Framed<T> {
    /// Sends what is left of the current header, with `data` (of the
    /// frame) in the same write; returns how many of `data` went out.
    fn poll_send(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        while self.out_header_sent < HEADER {
            let head = &self.out_header[self.out_header_sent..];
            let n = ready!(Pin::new(&mut self.inner)
                .poll_write_vectored(cx, &[io::IoSlice::new(head), io::IoSlice::new(data)]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let of_head = n.min(head.len());
            self.out_header_sent += of_head;
            if n > of_head {
                return Poll::Ready(Ok(n - of_head));
            }
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Framed<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.out_ended {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.out_left == 0 {
            // A new frame for this buffer. It may go out over several calls
            // (a caller retries with the rest, as AsyncWrite asks).
            let len = buf.len().min(MAX_FRAME);
            this.out_header = (len as u32).to_be_bytes();
            this.out_header_sent = 0;
            this.out_left = len;
        }
        let data = &buf[..buf.len().min(this.out_left)];
        let n = ready!(this.poll_send(cx, data))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        this.out_left -= n;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Sends the end frame; the connection itself stays open for the other
    /// direction (a real shutdown would not survive the transport).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.out_ended {
            if this.out_left > 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "shutdown inside a frame: the writer gave up on bytes it had offered",
                )));
            }
            if this.out_header_sent == HEADER {
                this.out_header = [0; HEADER];
                this.out_header_sent = 0;
            }
            ready!(this.poll_send(cx, &[]))?;
            this.out_ended = true;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A pipe whose writes take at most `max` bytes: frames and headers are
    /// cut anywhere.
    struct Narrow<T> {
        inner: T,
        max: usize,
    }

    impl<T: AsyncRead + Unpin> AsyncRead for Narrow<T> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let max = self.max.min(buf.remaining());
            let mut part = buf.take(max);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut part))?;
            let n = part.filled().len();
            // SAFETY: as in Framed::poll_read.
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
    }

    impl<T: AsyncWrite + Unpin> AsyncWrite for Narrow<T> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let max = self.max.min(buf.len());
            Pin::new(&mut self.inner).poll_write(cx, &buf[..max])
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Each side's end arrives as an EOF on the other while the other
    /// direction goes on: the half-close the transport itself loses. The
    /// pipe cuts every write to 3 bytes, so headers arrive in pieces.
    #[tokio::test]
    async fn each_direction_ends_on_its_own() {
        let (a, b) = tokio::io::duplex(64);
        let mut a = Framed::new(Narrow { inner: a, max: 3 });
        let mut b = Framed::new(Narrow { inner: b, max: 3 });
        let sent = pattern(10_000);
        let expect = sent.clone();
        let left = async move {
            a.write_all(&sent).await.unwrap();
            a.shutdown().await.unwrap();
            // b's answer still comes after a has ended its side.
            let mut answer = Vec::new();
            a.read_to_end(&mut answer).await.unwrap();
            answer
        };
        let right = async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            b.write_all(b"got it").await.unwrap();
            b.shutdown().await.unwrap();
            got
        };
        let (answer, got) = tokio::join!(left, right);
        assert!(got == expect);
        assert_eq!(answer, b"got it");
    }

    /// Bytes cross unchanged in sizes that cut across frames, and a read
    /// never runs past the frame it is in.
    #[tokio::test]
    async fn big_writes_cross_in_frames_and_small_reads_gather_them() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (mut a, mut b) = (Framed::new(a), Framed::new(b));
        let sent = pattern(3 * MAX_FRAME + 12_345);
        let expect = sent.clone();
        let writer = async move {
            a.write_all(&sent).await.unwrap();
            a.shutdown().await.unwrap();
            a
        };
        let reader = async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 1000];
            loop {
                let n = b.read(&mut buf).await.unwrap();
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
            }
        };
        let (_a, got) = tokio::join!(writer, reader);
        assert_eq!(got.len(), expect.len());
        assert!(got == expect);
    }

    #[tokio::test]
    async fn what_the_peer_sends_is_checked() {
        // A frame longer than allowed.
        let mut wire = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        wire.extend_from_slice(b"xx");
        let mut r = Framed::new(&wire[..]);
        let err = r.read(&mut [0u8; 16]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        // The connection ends inside a frame: not a clean end.
        let mut wire = 10u32.to_be_bytes().to_vec();
        wire.extend_from_slice(b"abc");
        let mut r = Framed::new(&wire[..]);
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(got, b"abc");

        // Inside a header, too.
        let mut r = Framed::new(&[0u8, 0][..]);
        let err = r.read(&mut [0u8; 16]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);

        // Closed between frames without an end frame: an end all the same.
        let mut wire = 3u32.to_be_bytes().to_vec();
        wire.extend_from_slice(b"abc");
        let mut r = Framed::new(&wire[..]);
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"abc");
    }

    #[tokio::test]
    async fn the_wire_format_is_length_then_bytes_then_zero() {
        let mut w = Framed::new(Vec::new());
        w.write_all(b"hello").await.unwrap();
        w.shutdown().await.unwrap();
        assert_eq!(w.inner, b"\0\0\0\x05hello\0\0\0\0");
        assert_eq!(
            w.write(b"more").await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
