//! A one-chunk pipe from a green thread that produces bytes by blocking-style
//! reads (a request body, a streamed response) to a poll-based consumer
//! (an `http_body::Body`).
//!
//! Why a green thread at all: a future must never park its green thread
//! from inside `poll` (with the `tokio` feature the tokio context is entered
//! during each poll, and guards of interleaved green threads would be
//! dropped out of order). So the blocking reads happen on a producer green
//! thread, and `poll_frame` only takes what it left.
//!
//! It is demand-driven: the producer reads only after the consumer asked
//! (a pending poll), one chunk at a time, so nothing is read ahead that the
//! consumer may never want, and memory is one chunk per pipe. When the
//! consumer goes away the producer is unparked and ends.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::park::{self, Unparker};

#[derive(Default)]
struct State {
    chunk: Option<io::Result<Bytes>>,
    /// The consumer polled and found nothing: the producer may read.
    wanted: bool,
    /// The producer finished the stream.
    done: bool,
    /// The producer went away without finishing (it panicked, or its loop
    /// shut down).
    producer_gone: bool,
    consumer_gone: bool,
    consumer: Option<Waker>,
    producer: Option<Unparker>,
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new pipe's two ends.
pub(super) fn pipe() -> (Producer, Consumer) {
    let state = Arc::new(Mutex::new(State::default()));
    (Producer { state: state.clone() }, Consumer { state })
}

/// The green thread's end.
pub(super) struct Producer {
    state: Arc<Mutex<State>>,
}

impl Producer {
    /// Parks until the consumer wants a chunk (true) or has gone away (false).
    pub(super) fn wait_demand(&self) -> bool {
        loop {
            {
                let mut s = lock(&self.state);
                if s.consumer_gone {
                    return false;
                }
                if s.wanted && s.chunk.is_none() {
                    s.wanted = false;
                    return true;
                }
                s.producer = Some(park::unparker());
            }
            park::park();
        }
    }

    /// Hands over a chunk (or an error, which ends the stream for the consumer).
    pub(super) fn send(&self, chunk: io::Result<Bytes>) {
        let mut s = lock(&self.state);
        s.chunk = Some(chunk);
        if let Some(w) = s.consumer.take() {
            drop(s);
            w.wake();
        }
    }

    /// Ends the stream.
    pub(super) fn finish(self) {
        lock(&self.state).done = true;
        // The wake happens in drop.
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        let mut s = lock(&self.state);
        if !s.done {
            s.producer_gone = true;
        }
        if let Some(w) = s.consumer.take() {
            drop(s);
            w.wake();
        }
    }
}

/// The poll-based end; `Send`, like the bodies tower services take.
pub(super) struct Consumer {
    state: Arc<Mutex<State>>,
}

impl Consumer {
    /// The next chunk, `None` at the end.
    pub(super) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let mut s = lock(&self.state);
        if let Some(c) = s.chunk.take() {
            return Poll::Ready(Some(c));
        }
        if s.done {
            return Poll::Ready(None);
        }
        if s.producer_gone {
            s.done = true;
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the green thread producing this body ended before the body did",
            ))));
        }
        s.wanted = true;
        s.consumer = Some(cx.waker().clone());
        let producer = s.producer.take();
        drop(s);
        if let Some(p) = producer {
            p.unpark();
        }
        Poll::Pending
    }

    /// Whether the stream has ended (nothing more will come).
    pub(super) fn is_end(&self) -> bool {
        let s = lock(&self.state);
        s.chunk.is_none() && s.done
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let mut s = lock(&self.state);
        s.consumer_gone = true;
        let producer = s.producer.take();
        drop(s);
        if let Some(p) = producer {
            p.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::future::poll_fn;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_producer_reads_only_on_demand_and_ends_when_the_consumer_goes() {
        crate::run(|| {
            let (p, c) = pipe();
            let reads = Rc::new(Cell::new(0));
            let r = reads.clone();
            let producer = crate::spawn(move || {
                while p.wait_demand() {
                    r.set(r.get() + 1);
                    p.send(Ok(Bytes::from_static(b"chunk")));
                }
            });
            crate::sleep(Duration::from_millis(20));
            assert_eq!(reads.get(), 0, "nothing is read before the consumer asks");
            let got = crate::block_on(poll_fn(|cx| c.poll_next(cx))).unwrap().unwrap();
            assert_eq!(&got[..], b"chunk");
            crate::sleep(Duration::from_millis(20));
            assert_eq!(reads.get(), 1, "one chunk per demand, none ahead");
            drop(c);
            crate::timeout(Duration::from_secs(5), || producer.join().unwrap()).expect("the producer ended");
        });
    }

    #[test]
    fn a_producer_gone_before_the_end_is_an_error_not_a_clean_end() {
        crate::run(|| {
            let (p, c) = pipe();
            crate::spawn(move || {
                assert!(p.wait_demand());
                p.send(Ok(Bytes::from_static(b"half")));
                // Dropped without `finish`.
            });
            let first = crate::block_on(poll_fn(|cx| c.poll_next(cx))).unwrap().unwrap();
            assert_eq!(&first[..], b"half");
            let second = crate::block_on(poll_fn(|cx| c.poll_next(cx))).unwrap();
            assert_eq!(second.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
            assert!(crate::block_on(poll_fn(|cx| c.poll_next(cx))).is_none());
        });
    }

    #[test]
    fn finish_ends_the_stream() {
        crate::run(|| {
            let (p, c) = pipe();
            crate::spawn(move || {
                assert!(p.wait_demand());
                p.finish();
            });
            assert!(crate::block_on(poll_fn(|cx| c.poll_next(cx))).is_none());
            assert!(c.is_end());
        });
    }
}
