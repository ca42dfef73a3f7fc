//! Sleeping, deferred calls, and deadlines over whole blocks of code.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::core::{Scope, core, try_core};
use super::park::{Wake, is_scope_elapsed};
use super::thread_info::WaitReason;

/// Sleeps for `duration`: parks the green thread (other green threads run);
/// on a plain OS thread, sleeps it.
///
/// Inside an expired [`timeout`] scope it returns early.
pub fn sleep(duration: Duration) {
    match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline),
        None => sleep_forever(),
    }
}

fn sleep_forever() {
    match try_core() {
        Some(c) if c.current().is_some() => while c.park_for(None, WaitReason::Timer) != Wake::TimedOut {},
        _ => loop {
            std::thread::park();
        },
    }
}

/// Sleeps until `deadline`.
pub fn sleep_until(deadline: Instant) {
    match try_core() {
        Some(c) if c.current().is_some() => {
            while c.park_for(Some(deadline), WaitReason::Timer) != Wake::TimedOut {
                if Instant::now() >= deadline {
                    return;
                }
            }
        }
        _ => {
            let now = Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            }
        }
    }
}

/// Lets every other ready green thread run, then continues.
pub fn yield_now() {
    match try_core() {
        Some(c) => c.yield_now(),
        None => std::thread::yield_now(),
    }
}

/// Counts one unit of work against the running green thread's cooperative
/// budget, yielding when it is spent.
///
/// Green sockets and channels already count every operation that completes
/// without parking; a loop that works from its own buffer (frames parsed
/// from data read earlier, a queue of its own) calls this once per item so
/// that it yields now and then, like the I/O it stands in for. Cheap: a few
/// instructions until the budget is spent. Outside a green thread it does
/// nothing.
#[inline]
pub fn consume_budget() {
    if let Some(c) = try_core() {
        c.spend();
    }
}

/// A pending [`call_later`]; dropping it does not cancel the call.
#[derive(Debug)]
pub struct CallLater {
    cancelled: Rc<Cell<bool>>,
}

impl CallLater {
    /// Cancels the call if it has not started; returns whether it was cancelled.
    pub fn cancel(&self) -> bool {
        !self.cancelled.replace(true)
    }
}

/// Runs `f` on a new green thread after `delay` (asyncio's `call_later`).
/// Nothing is held while waiting but a timer entry: no green thread, no stack.
///
/// # Panics
/// Outside a runtime.
pub fn call_later(delay: Duration, f: impl FnOnce() + 'static) -> CallLater {
    let c = core();
    let cancelled = Rc::new(Cell::new(false));
    let at =
        Instant::now().checked_add(delay).unwrap_or_else(|| Instant::now() + Duration::from_secs(86400 * 365 * 30));
    c.call_at(at, Box::new(f), cancelled.clone());
    CallLater { cancelled }
}

/// The deadline of a [`timeout`] passed before the code inside finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(_: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, "deadline has elapsed")
    }
}

/// Runs `f` with a deadline `duration` from now over everything inside it.
///
/// Once the deadline passes, every wait inside `f` stops waiting:
/// - calls that return `io::Result` (socket reads, writes, connects, accepts)
///   fail with `io::ErrorKind::TimedOut`;
/// - [`sleep`] returns early;
/// - waits that cannot report an error (`Mutex::lock`, `JoinHandle::join`,
///   `offload`, channel `recv`) unwind back to this call (without running the
///   panic hook).
///
/// Returns `Err(Elapsed)` if the deadline cut any wait short, else `f`'s
/// value. Code that never waits is not interrupted. Scopes nest; the earliest
/// deadline wins.
///
/// ```
/// use std::time::Duration;
/// let r = greenloop::run(|| greenloop::timeout(Duration::from_millis(10), || {
///     greenloop::sleep(Duration::from_secs(10));
/// }));
/// assert!(r.is_err());
/// ```
///
/// # Panics
/// Outside a green thread.
pub fn timeout<T>(duration: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    match Instant::now().checked_add(duration) {
        Some(at) => timeout_at(at, f),
        None => Ok(f()),
    }
}

/// [`timeout`] with an absolute deadline.
pub fn timeout_at<T>(deadline: Instant, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    let c = core();
    let task = c.current_task().expect("greenloop::timeout must be called on a green thread");
    let depth = {
        let mut scopes = task.scopes.borrow_mut();
        scopes.push(Scope { deadline: Some(deadline), expired: false, cancel: false });
        scopes.len()
    };
    let result = catch_unwind(AssertUnwindSafe(f));
    let expired = {
        let mut scopes = task.scopes.borrow_mut();
        let expired = scopes.get(depth - 1).is_some_and(|s| s.expired);
        scopes.truncate(depth - 1);
        expired
    };
    match result {
        Ok(_) if expired => Err(Elapsed(())),
        Ok(v) => Ok(v),
        Err(p) if is_scope_elapsed(&*p) && expired && !super::core::force_unwinding() => Err(Elapsed(())),
        Err(p) => resume_unwind(p),
    }
}
