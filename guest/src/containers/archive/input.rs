//! The archive `untar` reads, shared between the tar parser and the file
//! writer, so that a regular file's bytes can go from the request body's
//! buffers straight to the file, without first being copied into a buffer
//! of ours (one copy of every byte fewer: the bulk of a docker cp's CPU in
//! an emulated VM is copying).
//!
//! The tar crate owns the reader it parses and skips an entry's unread data
//! by seeking (`entries_with_seek`). The writer takes a file's bytes behind
//! the parser's back and counts them as *unseen*; the parser's next seek
//! moves over the unseen bytes first, so the two agree on the position.

use std::cell::RefCell;
use std::io::{self, Read, Seek, SeekFrom, Write};

use super::write::copy_through;

/// A tar stream that can write its next bytes to a file itself.
pub trait Input: Read {
    /// Writes the next `n` bytes to `out`. The default copies them through `buf`.
    fn write_next(&mut self, n: u64, out: &mut dyn Write, buf: &mut [u8]) -> io::Result<()> {
        let mut part = self.take(n);
        copy_through(&mut part, out, buf)?;
        match part.limit() {
            0 => Ok(()),
            _ => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

impl<I: Input + ?Sized> Input for &mut I {
    fn write_next(&mut self, n: u64, out: &mut dyn Write, buf: &mut [u8]) -> io::Result<()> {
        (**self).write_next(n, out, buf)
    }
}

impl Input for &[u8] {}
impl Input for Box<dyn Read + '_> {}
impl Input for std::fs::File {}

/// A request body: its pieces are written as they are, gathered (writev).
impl Input for crate::task::BodyReader {
    fn write_next(&mut self, n: u64, out: &mut dyn Write, _buf: &mut [u8]) -> io::Result<()> {
        crate::task::BodyReader::write_next(self, n, out)
    }
}

/// The bytes read ahead to tell a compressed stream from a plain one, then
/// the stream.
impl<I: Input> Input for io::Chain<io::Cursor<Vec<u8>>, I> {
    fn write_next(&mut self, n: u64, out: &mut dyn Write, buf: &mut [u8]) -> io::Result<()> {
        let (head, rest) = self.get_mut();
        let from_head = io::copy(&mut head.take(n), out)?;
        if from_head < n {
            rest.write_next(n - from_head, out, buf)?;
        }
        Ok(())
    }
}

/// The input and what the tar parser has not seen of it.
pub struct Shared<I> {
    inner: RefCell<Tracked<I>>,
}

struct Tracked<I> {
    input: I,
    /// Bytes consumed from `input` so far, by either side.
    pos: u64,
    /// Bytes the writer took that the parser has not moved over yet.
    unseen: u64,
}

impl<I: Input> Shared<I> {
    pub fn new(input: I) -> Self {
        Shared {
            inner: RefCell::new(Tracked {
                input,
                pos: 0,
                unseen: 0,
            }),
        }
    }

    /// The reader to give the tar parser.
    pub fn parser(&self) -> Parser<'_, I> {
        Parser(self)
    }

    /// Writes the current entry's next `n` data bytes to `out`, unseen by the parser.
    pub fn write_next(&self, n: u64, out: &mut dyn Write, buf: &mut [u8]) -> io::Result<()> {
        let mut t = self.inner.borrow_mut();
        t.input.write_next(n, out, buf)?;
        t.pos += n;
        t.unseen += n;
        Ok(())
    }
}

/// The parser's side of a [`Shared`] input.
pub struct Parser<'a, I>(&'a Shared<I>);

impl<I: Input> Read for Parser<'_, I> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut t = self.0.inner.borrow_mut();
        if t.unseen > 0 {
            // The parser moves over an entry's data by seeking: reading here
            // would hand it bytes from beyond what the writer took.
            return Err(io::Error::other(
                "internal error: the tar parser read past a file written directly",
            ));
        }
        let n = t.input.read(buf)?;
        t.pos += n as u64;
        Ok(n)
    }
}

impl<I: Input> Seek for Parser<'_, I> {
    /// Only forward from the current position: the parser skipping the rest
    /// of an entry (the unseen bytes first, then the stream's own).
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let mut delta = match to {
            SeekFrom::Current(d) if d >= 0 => d as u64,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a streamed archive can only be skipped forward",
                ))
            }
        };
        let mut t = self.0.inner.borrow_mut();
        let seen = t.unseen.min(delta);
        t.unseen -= seen;
        delta -= seen;
        if t.unseen > 0 {
            return Err(io::Error::other(
                "internal error: the tar parser skipped less than a file written directly",
            ));
        }
        let skipped = io::copy(&mut (&mut t.input).take(delta), &mut io::sink())?;
        t.pos += skipped;
        if skipped < delta {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        // The parser's position: everything consumed, its skip included.
        Ok(t.pos)
    }
}
