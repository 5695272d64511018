//! Running blocking work (file I/O, unpacking, hashing) off the async threads.

use crate::errdefs::{Error, Result};

pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::system(format!("internal task failed: {e}")))?
}

/// What goes to the reading thread at a time (the last batch of a body may
/// be smaller).
const BATCH: usize = 512 << 10;

/// A request body read from a blocking thread (an archive unpacked as it
/// arrives): the reader, and the future that feeds it, which the caller
/// must await together with the blocking work (`tokio::join!`), so that it
/// runs in the connection's own task. The server hands the body over in
/// pieces of a few KiB (a docker cp's chunks are 16 KiB); they are held and
/// go over in batches of [`BATCH`], without being copied, so that the
/// reading thread wakes once a batch rather than once a piece (a wake-up
/// is a pair of context switches, dear in an emulated VM). One batch waits
/// while the reader works on the one before. The feeding ends with the
/// body, or when the reader is dropped.
pub fn body_reader<S>(body: S) -> (BodyReader, impl std::future::Future<Output = ()>)
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
{
    use futures_util::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<bytes::Bytes>>>(1);
    let feed = async move {
        let mut body = std::pin::pin!(body);
        let mut held: Vec<bytes::Bytes> = Vec::new();
        let mut size = 0;
        loop {
            match body.next().await {
                Some(Ok(piece)) => {
                    size += piece.len();
                    held.push(piece);
                    if size >= BATCH {
                        if tx.send(Ok(std::mem::take(&mut held))).await.is_err() {
                            return;
                        }
                        size = 0;
                    }
                }
                end => {
                    // The body ended or failed: what came before goes first.
                    if !held.is_empty() && tx.send(Ok(std::mem::take(&mut held))).await.is_err() {
                        return;
                    }
                    if let Some(Err(e)) = end {
                        let _ = tx.send(Err(e)).await;
                    }
                    return;
                }
            }
        }
    };
    let reader = BodyReader {
        rx,
        pieces: std::collections::VecDeque::new(),
        queued: 0,
        read: 0,
    };
    (reader, feed)
}

/// See [`body_reader`]. Reading blocks: use it on a blocking thread only.
pub struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Vec<bytes::Bytes>>>,
    pieces: std::collections::VecDeque<bytes::Bytes>,
    /// Bytes in `pieces`.
    queued: usize,
    /// Bytes taken out of it so far.
    read: u64,
}

/// A body past this size has cycled enough buffers through the allocator
/// that its free pages are worth handing back (see `os::memory`).
const BIG_BODY: u64 = 16 << 20;

impl Drop for BodyReader {
    fn drop(&mut self) {
        if self.read >= BIG_BODY {
            self.pieces.clear();
            crate::os::memory::release_free();
        }
    }
}

impl BodyReader {
    /// Waits for the next batch; false at the body's end.
    fn refill(&mut self) -> std::io::Result<bool> {
        match self.rx.blocking_recv() {
            Some(Ok(batch)) => {
                self.queued += batch.iter().map(|p| p.len()).sum::<usize>();
                self.pieces.extend(batch);
                Ok(true)
            }
            Some(Err(e)) => Err(e),
            None => Ok(false),
        }
    }

    /// Drops the first `n` queued bytes.
    fn consume(&mut self, mut n: usize) {
        self.queued -= n;
        self.read += n as u64;
        while n > 0 {
            let Some(piece) = self.pieces.front_mut() else {
                return;
            };
            if piece.len() > n {
                let _ = piece.split_to(n);
                return;
            }
            n -= piece.len();
            self.pieces.pop_front();
        }
    }

    /// Writes the next `n` bytes of the body to `out` from the received
    /// pieces themselves (no copy of ours), gathered into large writes.
    pub fn write_next(&mut self, n: u64, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut left = n;
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(BATCH);
            while self.queued < want {
                if !self.refill()? {
                    break;
                }
            }
            if self.queued == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let mut slices = Vec::with_capacity(self.pieces.len().min(MAX_SLICES));
            let mut total = 0;
            for piece in self.pieces.iter().take(MAX_SLICES) {
                let k = piece.len().min(want - total);
                slices.push(std::io::IoSlice::new(&piece[..k]));
                total += k;
                if total == want {
                    break;
                }
            }
            let written = match out.write_vectored(&slices) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(e),
            };
            self.consume(written);
            left -= written as u64;
        }
        Ok(())
    }
}

/// Pieces gathered into one write (IOV_MAX is 1024).
const MAX_SLICES: usize = 256;

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let Some(piece) = self.pieces.front() else {
                if n > 0 {
                    break; // what is here now; wait for more only when empty
                }
                if !self.refill()? {
                    return Ok(0);
                }
                continue;
            };
            let k = (buf.len() - n).min(piece.len());
            buf[n..n + k].copy_from_slice(&piece[..k]);
            n += k;
            self.consume(k);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use bytes::Bytes;

    use super::body_reader;

    fn pieces(n: usize, len: usize) -> Vec<std::io::Result<Bytes>> {
        (0..n)
            .map(|i| Ok(Bytes::from(vec![(i % 251) as u8; len])))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reader_gets_every_byte_in_order() {
        let input = pieces(300, 16 * 1024 + 3);
        let want: Vec<u8> = input
            .iter()
            .flat_map(|p| p.as_ref().unwrap().to_vec())
            .collect();
        let (mut reader, feed) = body_reader(futures_util::stream::iter(input));
        let read = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            // Odd-sized reads cross the pieces' boundaries.
            let mut buf = vec![0u8; 100_000];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
            }
        });
        let (_, got) = tokio::join!(feed, read);
        assert!(got.unwrap() == want);
    }

    /// Takes at most 777 bytes a call.
    struct Trickle(Vec<u8>);

    impl std::io::Write for Trickle {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let k = b.len().min(777);
            self.0.extend_from_slice(&b[..k]);
            Ok(k)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn written_ranges_and_reads_take_their_turns_over_the_pieces() {
        let input: Vec<_> = (0..200)
            .map(|i| Ok(Bytes::from(vec![i as u8; 1000 + i * 37])))
            .collect();
        let want: Vec<u8> = input
            .iter()
            .flat_map(|p| p.as_ref().unwrap().to_vec())
            .collect();
        let total = want.len();
        let (mut reader, feed) = body_reader(futures_util::stream::iter(input));
        let work = tokio::task::spawn_blocking(move || {
            let mut head = [0u8; 10];
            reader.read_exact(&mut head).unwrap();
            let mut out = Trickle(Vec::new());
            // Past a batch, across partial writes.
            reader.write_next(700_000, &mut out).unwrap();
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).unwrap();
            let past_end = reader.write_next(1, &mut out).unwrap_err();
            (head, out.0, rest, past_end.kind())
        });
        let (_, got) = tokio::join!(feed, work);
        let (head, written, rest, past_end) = got.unwrap();
        assert_eq!(head, want[..10]);
        assert!(written == want[10..700_010]);
        assert!(rest == want[700_010..]);
        assert_eq!(10 + written.len() + rest.len(), total);
        assert_eq!(past_end, std::io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_error_comes_after_the_data_before_it() {
        let mut input = pieces(3, 10);
        input.push(Err(std::io::Error::other("client went away")));
        let (mut reader, feed) = body_reader(futures_util::stream::iter(input));
        let read = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            let err = reader.read_to_end(&mut got).unwrap_err();
            (got.len(), err.to_string())
        });
        let (_, got) = tokio::join!(feed, read);
        assert_eq!(got.unwrap(), (30, "client went away".to_string()));
    }

    #[tokio::test]
    async fn feeding_stops_when_the_reader_is_gone() {
        // An endless body: the feed must end once nobody reads.
        let endless = futures_util::stream::repeat_with(|| Ok(Bytes::from_static(b"x")));
        let (reader, feed) = body_reader(endless);
        drop(reader);
        tokio::time::timeout(std::time::Duration::from_secs(10), feed)
            .await
            .expect("the feed ended");
    }
}
