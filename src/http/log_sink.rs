//! [`LineSink`]: a bounded queue of text lines and the background thread that
//! writes them, so that logging never blocks an event loop.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender, TrySendError};

/// A bounded queue of lines drained by one background thread.
///
/// [`send`](Self::send) never waits: when the queue is full (the writer
/// cannot keep up) the line is dropped and counted ([`dropped`](Self::dropped)),
/// so a slow log destination costs lines, never latency. The access log
/// ([`AccessLog`](crate::http::middleware::AccessLog)) hands its lines to the
/// `log` backend through one; a `log` backend can write to stderr through
/// another.
///
/// ```
/// use greenloop::http::LineSink;
///
/// let sink = LineSink::start("my-log", 1024, |line| eprint!("{line}"), || {}).unwrap();
/// sink.send("hello\n".to_owned());
/// sink.flush();
/// assert_eq!(sink.dropped(), 0);
/// ```
#[derive(Debug)]
pub struct LineSink {
    tx: Sender<Msg>,
    dropped: AtomicU64,
    /// Whether a thread drains the queue (else `flush` must not wait).
    draining: bool,
    /// Keeps the queue open when no thread drains it.
    _rx: Option<Receiver<Msg>>,
}

/// What the writer thread receives.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A line to write.
    Line(String),
    /// Answered once every earlier line has been written (and `flush` run).
    Flush(mpsc::SyncSender<()>),
}

impl LineSink {
    /// A queue of `capacity` lines and its writer thread, named `name`: the
    /// thread calls `write` with each line in order, and `flush` when a
    /// [`flush`](Self::flush) reaches it. Fails only if the thread cannot be
    /// started.
    pub fn start(
        name: &str,
        capacity: usize,
        mut write: impl FnMut(String) + Send + 'static,
        mut flush: impl FnMut() + Send + 'static,
    ) -> io::Result<LineSink> {
        let (tx, rx) = channel::bounded(capacity);
        std::thread::Builder::new().name(name.into()).spawn(move || {
            for msg in rx {
                match msg {
                    Msg::Line(line) => write(line),
                    Msg::Flush(done) => {
                        flush();
                        let _ = done.send(());
                    }
                }
            }
        })?;
        Ok(LineSink { tx, dropped: AtomicU64::new(0), draining: true, _rx: None })
    }

    /// A queue of `capacity` lines that nothing drains: lines are queued,
    /// then dropped and counted. For when [`start`](Self::start) failed.
    pub(crate) fn undrained(capacity: usize) -> (LineSink, Receiver<Msg>) {
        let (tx, rx) = channel::bounded(capacity);
        (LineSink { tx, dropped: AtomicU64::new(0), draining: false, _rx: Some(rx.clone()) }, rx)
    }

    /// A sink whose queue is closed: every line is dropped and counted.
    #[cfg(test)]
    pub(crate) fn closed() -> LineSink {
        LineSink { tx: channel::bounded(2).0, dropped: AtomicU64::new(0), draining: false, _rx: None }
    }

    /// Queues a line, or drops and counts it: never waits.
    pub fn send(&self, line: String) {
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped so far because the queue was full (or closed).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every line queued so far is written and the writer's
    /// `flush` ran. Blocks the calling OS thread: for `main`, shutdown and
    /// tests, never a handler.
    pub fn flush(&self) {
        self.flush_until(None);
    }

    /// [`flush`](Self::flush), waiting at most `limit`.
    pub fn flush_within(&self, limit: Duration) {
        self.flush_until(Some(limit));
    }

    fn flush_until(&self, limit: Option<Duration>) {
        if !self.draining {
            return;
        }
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            // An error means the writer thread died (a panicking writer): nothing to wait for.
            match limit {
                Some(limit) => {
                    let _ = done_rx.recv_timeout(limit);
                }
                None => {
                    let _ = done_rx.recv();
                }
            }
        }
    }
}
