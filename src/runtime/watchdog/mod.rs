//! The watchdog: names the green thread that blocks the loop.
//!
//! Code that blocks the OS thread (`std::thread::sleep`, a blocking std
//! socket or file read, a C library call, a long computation) stalls every
//! other request on that loop. The watchdog catches it by default and says
//! who did it.
//!
//! How: at every switch into a green thread the loop stores its switch count
//! (odd while a green thread runs) and the address of the task's label: two
//! relaxed stores, no lock, no syscall. One process-wide watchdog thread
//! samples every loop a few times per threshold. A loop whose odd count has
//! not moved for longer than the threshold is blocked by that task: the
//! watchdog logs a warning naming it (its name, or the label the HTTP server
//! gives each request: method, route and request id), then, when it finally
//! yields, the total. Reports go through the `log` facade (target
//! `greenloop::watchdog`).
//!
//! The threshold defaults to 20 ms (gevent's monitor: 100 ms, off by default;
//! Go preempts at 10 ms); set it with `Builder::watchdog` or
//! `GREENLOOP_WATCHDOG_MS` (0 turns it off).
//!
//! The line that blocks: when it reports, the watchdog also captures the
//! blocked thread's stack (a signal to that thread, whose handler records
//! return addresses; see `capture.rs` for why that is safe enough), and a
//! helper thread symbolises it and logs the frames that matter, user code
//! first: `green thread #3 'GET /block?ms=120 (request 1)' on
//! 'greenloop-worker-0' blocked the loop in std::thread::sleep <-
//! app::routes::block (src/routes.rs:140) <- ...`. Nothing is captured
//! while nothing blocks. [`recent_incidents`] keeps the last few, stacks
//! included, for status pages. When a frame of that stack belongs to a
//! crate known to block (`reqwest::blocking`, the sync `postgres` and
//! `redis` clients, `rumqttc::Client`, ...), the report adds a hint line
//! naming what parks instead (`hints.rs`).
//!
//! An idle process costs nothing here: a loop marks itself asleep before it
//! waits for I/O, and while every loop sleeps the watchdog thread parks
//! until one wakes.

pub(crate) mod capture;
mod hints;
mod incidents;
pub(crate) mod label;
pub(crate) mod monitor;
mod report;
pub(crate) mod symbols;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use self::incidents::{Incident, recent_incidents};
pub use self::label::Label;
use self::label::LabelText;
pub use self::monitor::DEFAULT_THRESHOLD;
use super::core::{Measure, try_core};
pub use crate::runtime::log_text::escape;

/// Labels the current green thread in watchdog reports. No effect outside
/// a green thread.
pub fn set_label(label: impl Into<Arc<str>>) {
    set(LabelText::Fixed(label.into()));
}

impl Label {
    /// Makes this the current green thread's label.
    pub fn attach(&self) {
        set(LabelText::Shared(self.clone()));
    }
}

fn set(label: LabelText) {
    if let Some(task) = try_core().and_then(|c| c.current_task()) {
        *task.label.lock().unwrap_or_else(|e| e.into_inner()) = Some((task.id, label));
        task.has_label.set(true);
    }
}

/// Blocking incidents seen on the current loop: how many, and for how long in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockingStats {
    /// Incidents reported (a green thread held the loop past the threshold).
    pub incidents: u64,
    /// Total time the loop was held in finished incidents.
    pub blocked: Duration,
}

/// The current loop's blocking incidents (`None` outside a runtime or with the watchdog off).
pub fn blocking_stats() -> Option<BlockingStats> {
    let w = try_core()?.watch.clone()?;
    Some(BlockingStats {
        incidents: w.incidents.load(Ordering::Relaxed),
        blocked: Duration::from_nanos(w.blocked_ns.load(Ordering::Relaxed)),
    })
}

/// Runs `f` and panics if it held the loop longer than `threshold` at any
/// one stretch without parking (gevent's `assert_switches` idea): for tests
/// that code meant to be green really is.
///
/// ```
/// use std::time::Duration;
/// greenloop::run(|| {
///     // Parks often: fine.
///     greenloop::watchdog::assert_no_blocking(Duration::from_millis(50), || {
///         for _ in 0..5 { greenloop::sleep(Duration::from_millis(20)); }
///     });
///     // Blocks the OS thread: caught.
///     let caught = std::panic::catch_unwind(|| {
///         greenloop::watchdog::assert_no_blocking(Duration::from_millis(50), || {
///             std::thread::sleep(Duration::from_millis(120));
///         })
///     });
///     assert!(caught.is_err());
/// });
/// ```
///
/// When the loop's watchdog is on (the default), the panic message carries
/// the stack of the code that held the loop, as the watchdog's reports do.
///
/// # Panics
/// Outside a green thread, or when `f` blocked.
pub fn assert_no_blocking<T>(threshold: Duration, f: impl FnOnce() -> T) -> T {
    let core = try_core().expect("assert_no_blocking needs a running greenloop runtime");
    let task = core.current_task().expect("assert_no_blocking must run on a green thread");
    let outer = task.measure.replace(Some(Measure { stretch_start: Instant::now(), longest: Duration::ZERO }));
    // Ask the watchdog to capture a stack at this threshold too.
    let watch = core.watch.clone();
    let watched = watch.as_ref().map(|w| {
        let ns = threshold.as_nanos().clamp(1, u64::MAX as u128) as u64;
        (w.assert_ns.swap(ns, Ordering::Relaxed), w.epoch())
    });
    let value = f();
    if let (Some(w), Some((old, _))) = (&watch, watched) {
        w.assert_ns.store(old, Ordering::Relaxed);
    }
    let m = task.measure.replace(outer).expect("measurement in place");
    let longest = m.longest.max(m.stretch_start.elapsed());
    if longest > threshold {
        let stack = watch.as_ref().zip(watched).and_then(|(w, (_, start))| {
            let captured = w.captured.lock().unwrap_or_else(|e| e.into_inner());
            captured.as_ref().filter(|(e, _)| *e >= start).map(|(_, s)| s.clone())
        });
        let at = stack
            .map(|s| {
                let frames = symbols::frames(&s);
                format!(" at {}\n{}", symbols::summary(&frames), symbols::full(&frames))
            })
            .unwrap_or_default();
        panic!(
            "greenloop: code held the loop for {:.1} ms without yielding (allowed: {:.1} ms); \
             move blocking work into greenloop::offload{at}",
            longest.as_secs_f64() * 1000.0,
            threshold.as_secs_f64() * 1000.0
        );
    }
    value
}
