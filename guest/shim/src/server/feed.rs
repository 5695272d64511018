//! The queue between a process's output pump and one attach or exec stream.
//!
//! It is bounded in bytes: a client that reads slowly slows the process
//! down (its pipe fills) instead of filling the shim's memory. Once the
//! process has ended, what is left in its pipe may go past the bound, so
//! the pump reaches the pipe's end at once: the exit is not held up by a
//! slow client, and the output's tail is queued for it, not dropped.

use std::rc::Rc;

use tokio::sync::{mpsc, Semaphore};

pub type Frame = (u8, Vec<u8>);

/// Output queued for one stream at most, while the process runs.
const QUEUE_BYTES: usize = 2 << 20;
/// What may be queued past that once the process has ended: the largest
/// pipe an unprivileged process can ask for (`fs.pipe-max-size`).
const EXIT_ALLOWANCE: usize = 1 << 20;

/// The pump's end.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::UnboundedSender<Frame>,
    room: Rc<Semaphore>,
}

/// The stream's end. Dropping it tells the pump the stream has gone.
pub struct Feed {
    rx: mpsc::UnboundedReceiver<Frame>,
    room: Rc<Semaphore>,
}

pub fn channel() -> (Sink, Feed) {
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Rc::new(Semaphore::new(QUEUE_BYTES));
    (
        Sink {
            tx,
            room: room.clone(),
        },
        Feed { rx, room },
    )
}

impl Sink {
    /// Queues `frame` once there is room for it; false if the stream has
    /// gone. Frames are at most the pump's buffer, far below the bound.
    pub async fn send(&self, frame: Frame) -> bool {
        let Ok(bytes) = u32::try_from(frame.1.len()) else {
            return false;
        };
        match self.room.acquire_many(bytes).await {
            Ok(permit) => permit.forget(),
            Err(_) => return false,
        }
        self.tx.send(frame).is_ok()
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// The process has ended: let the rest of its output in. Called once.
    pub fn widen(&self) {
        self.room.add_permits(EXIT_ALLOWANCE);
    }
}

impl Feed {
    pub async fn recv(&mut self) -> Option<Frame> {
        let frame = self.rx.recv().await?;
        self.room.add_permits(frame.1.len());
        Some(frame)
    }

    pub fn try_recv(&mut self) -> Option<Frame> {
        let frame = self.rx.try_recv().ok()?;
        self.room.add_permits(frame.1.len());
        Some(frame)
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        // Wakes a pump waiting for room that will never come.
        self.room.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    const CHUNK: usize = 32 << 10;

    /// How many chunks the pump gets in before it has to wait.
    async fn fill(sink: &Sink) -> usize {
        let mut sent = 0;
        while tokio::time::timeout(Duration::from_millis(50), sink.send((1, vec![0; CHUNK])))
            .await
            .is_ok()
        {
            sent += 1;
        }
        sent
    }

    #[test]
    fn a_slow_stream_holds_the_pump_back_until_it_reads() {
        run(async {
            let (sink, mut feed) = channel();
            assert_eq!(fill(&sink).await, QUEUE_BYTES / CHUNK);
            // Reading one chunk makes room for exactly one more.
            assert_eq!(feed.recv().await.unwrap().1.len(), CHUNK);
            assert_eq!(fill(&sink).await, 1);
        });
    }

    #[test]
    fn after_the_exit_the_rest_of_the_pipe_gets_in_and_nothing_is_lost() {
        run(async {
            let (sink, mut feed) = channel();
            let before = fill(&sink).await;
            sink.widen();
            let after = fill(&sink).await;
            assert_eq!(after, EXIT_ALLOWANCE / CHUNK);
            let mut got = 0;
            while feed.try_recv().is_some() {
                got += 1;
            }
            assert_eq!(got, before + after);
        });
    }

    #[test]
    fn a_pump_waiting_for_room_learns_that_the_stream_has_gone() {
        run(async {
            let (sink, feed) = channel();
            fill(&sink).await;
            let send = sink.send((1, vec![0; CHUNK]));
            let hang_up = async move {
                tokio::task::yield_now().await;
                drop(feed);
            };
            let (sent, ()) = tokio::join!(send, hang_up);
            assert!(!sent);
            assert!(sink.is_closed());
        });
    }
}
