//! The per-worker request and loop counters behind [`crate::http::metrics`]:
//! written by the worker's own thread only, summed by whoever renders them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;

/// Upper bounds (seconds) of the request-latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// [`LATENCY_BUCKETS`] in nanoseconds: a request's bucket is found by
/// integer compares.
const LATENCY_BUCKETS_NS: [u64; LATENCY_BUCKETS.len()] = {
    let mut ns = [0; LATENCY_BUCKETS.len()];
    let mut i = 0;
    while i < ns.len() {
        // Rounded: 0.001 * 1e9 is 999 999.99... in floating point.
        ns[i] = (LATENCY_BUCKETS[i] * 1e9 + 0.5) as u64;
        i += 1;
    }
    ns
};

/// A counter one thread writes and any thread reads.
///
/// Updated with a relaxed load and a relaxed store instead of a
/// read-modify-write: on x86 a `lock`ed add costs about 20 cycles and
/// stalls the pipeline, and a request made five of them. This is exact
/// only because a worker's counters are written by that worker's thread
/// alone; readers on other threads see some recent value, as with any
/// relaxed counter.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub(crate) fn sub(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_sub(n), Relaxed);
    }

    #[inline]
    pub(crate) fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// One worker's counters: written only on its own loop thread (see [`Counter`]).
#[derive(Default)]
pub(crate) struct WorkerMetrics {
    pub(crate) connections_open: Counter,
    /// Connections answered 503 at a full cap (`refuse.rs`).
    pub(crate) connections_refused: Counter,
    pub(crate) in_flight: Counter,
    pub(crate) requests: [Counter; 5],
    pub(crate) latency: [Counter; LATENCY_BUCKETS.len() + 1],
    pub(crate) latency_sum_ns: Counter,
    pub(crate) green_threads: Counter,
    pub(crate) run_queue: Counter,
    pub(crate) iterations: Counter,
    pub(crate) switches: Counter,
    pub(crate) blocking_incidents: Counter,
    pub(crate) blocked_ns: Counter,
    pub(crate) idle_ns: Counter,
    /// The worker's loop, asked to publish its loop counters when someone
    /// reads them (nothing is published while nobody looks).
    pub(crate) handle: Option<crate::Handle>,
}

impl WorkerMetrics {
    /// Counts one answered request, made in `elapsed_ns` nanoseconds.
    pub(crate) fn observe(&self, status: StatusCode, elapsed_ns: u64) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.requests[class].add(1);
        let bucket = LATENCY_BUCKETS_NS.iter().position(|&b| elapsed_ns <= b).unwrap_or(LATENCY_BUCKETS.len());
        self.latency[bucket].add(1);
        self.latency_sum_ns.add(elapsed_ns);
    }

    /// Copies the loop's own counters (called on the worker's loop).
    pub(crate) fn publish_loop_stats(&self) {
        if let Some(s) = crate::inspect::loop_stats() {
            self.green_threads.set(s.green_threads);
            self.run_queue.set(s.run_queue as u64);
            self.iterations.set(s.iterations);
            self.switches.set(s.switches);
            self.idle_ns.set(s.idle.as_nanos() as u64);
        }
        if let Some(b) = crate::watchdog::blocking_stats() {
            self.blocking_incidents.set(b.incidents);
            self.blocked_ns.set(b.blocked.as_nanos() as u64);
        }
    }
}

/// All workers of one server.
#[derive(Default)]
pub(crate) struct ServerMetrics {
    pub(crate) workers: Mutex<Vec<Arc<WorkerMetrics>>>,
}

impl ServerMetrics {
    /// Called on the new worker's loop.
    pub(crate) fn add_worker(&self) -> Arc<WorkerMetrics> {
        let handle = crate::park::in_green_thread().then(crate::Handle::current);
        let w = Arc::new(WorkerMetrics { handle, ..WorkerMetrics::default() });
        self.workers.lock().unwrap_or_else(|e| e.into_inner()).push(w.clone());
        w
    }

    /// Has every worker copy its loop's counters into its metrics now: the
    /// caller's own worker directly, the others on their loops (a worker that
    /// does not answer within 200 ms, because something holds its loop,
    /// keeps the figures it published last).
    pub(crate) fn refresh(&self) {
        let workers: Vec<Arc<WorkerMetrics>> = self.workers.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let here = crate::park::in_green_thread().then(crate::Handle::current);
        let mut waits = Vec::new();
        for w in workers {
            match &w.handle {
                Some(h) if !here.as_ref().is_some_and(|me| h.same_loop(me)) => {
                    let (tx, rx) = crate::sync::oneshot::channel();
                    let target = w.clone();
                    drop(h.spawn(move || {
                        target.publish_loop_stats();
                        let _ = tx.send(());
                    }));
                    waits.push(rx);
                }
                _ => w.publish_loop_stats(),
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_millis(200);
        for rx in waits {
            let _ = rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()));
        }
    }

    pub(crate) fn sum(&self, f: impl Fn(&WorkerMetrics) -> u64) -> u64 {
        self.workers.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|w| f(w)).sum()
    }
}
