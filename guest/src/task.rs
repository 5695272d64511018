//! Running blocking work (file I/O, unpacking, hashing) off the async threads.

use crate::errdefs::{Error, Result};

pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::system(format!("internal task failed: {e}")))?
}

/// A request body read from a blocking thread (an archive unpacked as it
/// arrives): the reader, and the future that feeds it, which the caller
/// must await together with the blocking work (`tokio::join!`), so that it
/// runs in the connection's own task. The server hands the body over in
/// pieces of a few KiB (a docker cp's chunks are 16 KiB), and each hand-off
/// to the reading thread wakes it (and wakes this task back when there is
/// room again): while the reader is busy, the pieces that arrive are held
/// and go over together, up to 1 MiB, without being copied. The feeding
/// ends with the body, or when the reader is dropped.
pub fn body_reader<S>(body: S) -> (BodyReader, impl std::future::Future<Output = ()>)
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
{
    use futures_util::StreamExt;
    const BATCH: usize = 1 << 20;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<bytes::Bytes>>>(1);
    let feed = async move {
        let mut body = std::pin::pin!(body);
        let mut held: Vec<bytes::Bytes> = Vec::new();
        let mut size = 0;
        loop {
            // With nothing held, wait for a piece. With some, pass them on as
            // soon as the reader has room (at once when the batch is full),
            // taking more pieces meanwhile.
            let next = if held.is_empty() {
                body.next().await
            } else if size >= BATCH {
                if tx.send(Ok(std::mem::take(&mut held))).await.is_err() {
                    return;
                }
                size = 0;
                continue;
            } else {
                tokio::select! {
                    biased;
                    permit = tx.reserve() => {
                        let Ok(permit) = permit else { return };
                        permit.send(Ok(std::mem::take(&mut held)));
                        size = 0;
                        continue;
                    }
                    next = body.next() => next,
                }
            };
            match next {
                Some(Ok(piece)) => {
                    size += piece.len();
                    held.push(piece);
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
    };
    (reader, feed)
}

/// See [`body_reader`]. Reading blocks: use it on a blocking thread only.
pub struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Vec<bytes::Bytes>>>,
    pieces: std::collections::VecDeque<bytes::Bytes>,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let Some(piece) = self.pieces.front_mut() else {
                if n > 0 {
                    break; // what is here now; wait for more only when empty
                }
                match self.rx.blocking_recv() {
                    Some(Ok(batch)) => {
                        self.pieces.extend(batch);
                        continue;
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Ok(0),
                }
            };
            let k = (buf.len() - n).min(piece.len());
            buf[n..n + k].copy_from_slice(&piece.split_to(k));
            n += k;
            if piece.is_empty() {
                self.pieces.pop_front();
            }
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
