//! [`LineSink`]: a bounded queue of text lines and the background thread that
//! writes them, so that logging never blocks an event loop.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender, TrySendError};

/// Shortest time between two reports of dropped lines from one sink.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// A bounded queue of lines drained by one background thread.
///
/// [`send`](Self::send) never waits: when the queue is full (the writer
/// cannot keep up) the line is dropped and counted ([`dropped`](Self::dropped)),
/// so a slow log destination costs lines, never latency. Drops are not
/// silent: the writer thread reports them, at most once per 10 s, as
/// `NAME: dropped N lines in the last S s ...` (see
/// [`start_with_report`](Self::start_with_report)), and every sink's count
/// is in [`metrics::render`](crate::http::metrics::render) as
/// `greenloop_log_lines_dropped_total{sink="NAME"}`. The access log
/// ([`AccessLog`](crate::http::middleware::AccessLog)) hands its lines to the
/// `log` backend through one; a `log` backend can write to stderr through
/// another.
///
/// ```
/// use greenloop::http::middleware::LineSink;
///
/// let sink = LineSink::start("my-log", 1024, |line| eprint!("{line}"), || {}).unwrap();
/// sink.send("hello\n".to_owned());
/// sink.flush();
/// assert_eq!(sink.dropped(), 0);
/// ```
#[derive(Debug)]
pub struct LineSink {
    tx: Sender<Msg>,
    /// Shared with the writer thread (which reports drops) and the registry
    /// read by the metrics.
    dropped: Arc<AtomicU64>,
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
    /// [`flush`](Self::flush) reaches it. Dropped lines are reported through
    /// the `log` facade (a warning, target `greenloop::log`); a sink that
    /// feeds the `log` backend itself should use
    /// [`start_with_report`](Self::start_with_report) instead, so that the
    /// report does not queue behind the lines that were dropped. Fails only
    /// if the thread cannot be started.
    pub fn start(
        name: &str,
        capacity: usize,
        write: impl FnMut(String) + Send + 'static,
        flush: impl FnMut() + Send + 'static,
    ) -> io::Result<LineSink> {
        LineSink::start_with_report(name, capacity, write, flush, |summary| {
            log::warn!(target: "greenloop::log", "{summary}");
        })
    }

    /// [`start`](Self::start), with `report` called on the writer thread with
    /// a one-line summary when lines were dropped: `NAME: dropped N lines in
    /// the last S s because the writer could not keep up`, at most once per
    /// 10 s, after the drops (and never while nothing is dropped).
    pub fn start_with_report(
        name: &str,
        capacity: usize,
        write: impl FnMut(String) + Send + 'static,
        flush: impl FnMut() + Send + 'static,
        report: impl FnMut(&str) + Send + 'static,
    ) -> io::Result<LineSink> {
        LineSink::spawn(name, capacity, REPORT_EVERY, write, flush, report)
    }

    fn spawn(
        name: &str,
        capacity: usize,
        every: Duration,
        mut write: impl FnMut(String) + Send + 'static,
        mut flush: impl FnMut() + Send + 'static,
        report: impl FnMut(&str) + Send + 'static,
    ) -> io::Result<LineSink> {
        let (tx, rx) = channel::bounded(capacity);
        let dropped = register(name);
        let mut drops = DropReport::new(name, dropped.clone(), every, report);
        std::thread::Builder::new().name(name.into()).spawn(move || {
            loop {
                match rx.recv_timeout(every) {
                    Ok(Msg::Line(line)) => write(line),
                    Ok(Msg::Flush(done)) => {
                        flush();
                        let _ = done.send(());
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                drops.check(Instant::now());
            }
        })?;
        Ok(LineSink { tx, dropped, draining: true, _rx: None })
    }

    /// A queue of `capacity` lines that nothing drains: lines are queued,
    /// then dropped and counted. For when [`start`](Self::start) failed.
    pub(crate) fn undrained(capacity: usize) -> (LineSink, Receiver<Msg>) {
        let (tx, rx) = channel::bounded(capacity);
        let dropped = register("undrained");
        (LineSink { tx, dropped, draining: false, _rx: Some(rx.clone()) }, rx)
    }

    /// A sink whose queue is closed: every line is dropped and counted.
    #[cfg(test)]
    pub(crate) fn closed() -> LineSink {
        LineSink { tx: channel::bounded(2).0, dropped: Arc::default(), draining: false, _rx: None }
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

/// Every sink's name and drop counter, for the metrics. A sink's entry goes
/// when the sink does (and its writer thread has ended).
static SINKS: Mutex<Vec<(String, Weak<AtomicU64>)>> = Mutex::new(Vec::new());

/// A new drop counter for the sink `name`, listed for [`dropped_by_sink`].
fn register(name: &str) -> Arc<AtomicU64> {
    let counter = Arc::new(AtomicU64::new(0));
    let mut sinks = SINKS.lock().unwrap_or_else(|e| e.into_inner());
    sinks.retain(|(_, c)| c.strong_count() > 0);
    sinks.push((name.to_owned(), Arc::downgrade(&counter)));
    counter
}

/// Lines dropped so far by each live sink, by name (sinks sharing a name are
/// summed), in the order the names were first seen.
pub(crate) fn dropped_by_sink() -> Vec<(String, u64)> {
    let sinks = SINKS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<(String, u64)> = Vec::new();
    for (name, counter) in sinks.iter() {
        let Some(counter) = counter.upgrade() else { continue };
        let n = counter.load(Ordering::Relaxed);
        match out.iter_mut().find(|(seen, _)| seen == name) {
            Some((_, sum)) => *sum += n,
            None => out.push((name.clone(), n)),
        }
    }
    out
}

/// The writer thread's bookkeeping of drops: what it has reported, and
/// since when the current count of unreported drops has been growing.
struct DropReport<R> {
    name: String,
    dropped: Arc<AtomicU64>,
    every: Duration,
    report: R,
    /// Drops already reported.
    reported: u64,
    /// Start of the window the next report covers: the last report, or the
    /// last check that found nothing new.
    since: Instant,
}

impl<R: FnMut(&str)> DropReport<R> {
    fn new(name: &str, dropped: Arc<AtomicU64>, every: Duration, report: R) -> Self {
        DropReport { name: name.to_owned(), dropped, every, report, reported: 0, since: Instant::now() }
    }

    /// Reports the drops since the last report once the window is `every` long.
    fn check(&mut self, now: Instant) {
        let total = self.dropped.load(Ordering::Relaxed);
        if total == self.reported {
            self.since = now;
            return;
        }
        let window = now.saturating_duration_since(self.since);
        if window < self.every {
            return;
        }
        let n = total - self.reported;
        let summary = format!(
            "{}: dropped {n} line{} in the last {:.0} s because the writer could not keep up",
            self.name,
            if n == 1 { "" } else { "s" },
            window.as_secs_f64()
        );
        (self.report)(&summary);
        self.reported = total;
        self.since = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink whose writer waits on `gate` before each line, and whose
    /// reports go to the returned channel.
    fn gated(name: &str, capacity: usize, every: Duration) -> (LineSink, Sender<()>, Receiver<String>) {
        let (gate_tx, gate_rx) = channel::unbounded::<()>();
        let (report_tx, report_rx) = channel::unbounded();
        let sink = LineSink::spawn(
            name,
            capacity,
            every,
            move |_line| {
                let _ = gate_rx.recv();
            },
            || {},
            move |summary| {
                let _ = report_tx.send(summary.to_owned());
            },
        )
        .unwrap();
        (sink, gate_tx, report_rx)
    }

    /// Sends `n` lines to a sink of capacity 2 whose writer is idle at a
    /// closed gate: the first is taken by the writer, two are queued, the
    /// rest dropped.
    fn overflow(sink: &LineSink, n: usize) {
        for i in 0..n {
            sink.send(format!("line {i}\n"));
            if i == 0 {
                while !sink.tx.is_empty() {
                    std::thread::yield_now();
                }
            }
        }
    }

    #[test]
    fn drops_are_counted_listed_and_reported_once_per_window() {
        let start = Instant::now();
        let (sink, gate, reports) = gated("test-gated-sink", 2, Duration::from_millis(300));
        overflow(&sink, 10);
        assert_eq!(sink.dropped(), 7);
        assert!(dropped_by_sink().contains(&("test-gated-sink".to_owned(), 7)), "{:?}", dropped_by_sink());
        for _ in 0..3 {
            gate.send(()).unwrap();
        }
        let summary = reports.recv_timeout(Duration::from_secs(10)).expect("a report of the drops");
        assert!(start.elapsed() >= Duration::from_millis(300), "not before the window is over");
        assert!(summary.starts_with("test-gated-sink: dropped 7 lines in the last "), "{summary}");
        assert!(summary.ends_with(" s because the writer could not keep up"), "{summary}");
        // Nothing new dropped: no second report.
        assert!(reports.recv_timeout(Duration::from_millis(800)).is_err());
        // New drops: one more report, counting only them.
        overflow(&sink, 4);
        assert_eq!(sink.dropped(), 8);
        for _ in 0..3 {
            gate.send(()).unwrap();
        }
        let next = reports.recv_timeout(Duration::from_secs(10)).expect("a second report");
        assert!(next.starts_with("test-gated-sink: dropped 1 line in the last "), "{next}");
    }

    #[test]
    fn a_sink_that_keeps_up_reports_nothing() {
        let (sink, gate, reports) = gated("test-quiet-sink", 64, Duration::from_millis(50));
        for _ in 0..20 {
            gate.send(()).unwrap();
            sink.send("fine\n".into());
        }
        sink.flush();
        assert_eq!(sink.dropped(), 0);
        assert!(reports.recv_timeout(Duration::from_millis(300)).is_err());
    }
}
