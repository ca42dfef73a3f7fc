//! The one primitive: park the current green thread, unpark it from anywhere.
//!
//! Sockets, timers, channels, locks, offload completions and joins are all
//! built on this. The semantics are those of `std::thread::park`: an unpark
//! that arrives before the park is remembered (the park then returns at
//! once), and a park may return spuriously, so callers loop on a condition:
//!
//! ```
//! use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
//! use greenloop::park;
//!
//! greenloop::run(|| {
//!     let ready = Arc::new(AtomicBool::new(false));
//!     let (flag, me) = (ready.clone(), park::unparker());
//!     std::thread::spawn(move || {
//!         flag.store(true, Ordering::Release);
//!         me.unpark(); // from another OS thread
//!     });
//!     while !ready.load(Ordering::Acquire) {
//!         park::park(); // only this green thread waits; the loop runs others
//!     }
//! });
//! ```
//!
//! Outside a green thread the same calls park the OS thread, so primitives
//! built on them also work between plain threads and the loop.

use std::panic::resume_unwind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::core::{Core, Remote, Shared, TaskRef, force_unwinding, try_core};
use super::thread_info::WaitReason;

// Defined beside the loop's park, which returns it; `park` re-exports it, so
// the loop never imports this module.
pub use super::core::Wake;

/// Wakes one parked green thread (or OS thread). `Send + Sync + Clone`: hand
/// it to a callback, another green thread, or another OS thread.
#[derive(Clone)]
pub struct Unparker {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Green { task: TaskRef, shared: Arc<Shared> },
    Thread(std::thread::Thread),
}

impl Unparker {
    /// Makes the parked thread runnable; if it is not parked yet, its next park returns at once.
    pub fn unpark(&self) {
        match &self.inner {
            Inner::Green { task, shared } => match try_core() {
                Some(c) if Arc::ptr_eq(&c.shared, shared) => c.unpark(*task),
                _ => {
                    shared.push(Remote::Unpark(*task));
                }
            },
            Inner::Thread(t) => t.unpark(),
        }
    }
}

impl std::fmt::Debug for Unparker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Green { task, .. } => write!(f, "Unparker(green {task:?})"),
            Inner::Thread(t) => write!(f, "Unparker(thread {:?})", t.id()),
        }
    }
}

/// An [`Unparker`] for the caller: the current green thread, or the current
/// OS thread when not on one.
pub fn unparker() -> Unparker {
    match try_core().and_then(|c| c.current().map(|t| (c, t))) {
        Some((c, task)) => Unparker { inner: Inner::Green { task, shared: c.shared.clone() } },
        None => Unparker { inner: Inner::Thread(std::thread::current()) },
    }
}

/// Whether the caller runs on a green thread.
pub fn in_green_thread() -> bool {
    try_core().is_some_and(|c| c.current().is_some())
}

/// The current green thread's id (unique per loop), if on one.
pub fn current_id() -> Option<u64> {
    try_core().and_then(|c| c.current_task()).map(|t| t.id)
}

/// The current green thread's name, if on a named one.
pub fn current_name() -> Option<Arc<str>> {
    try_core().and_then(|c| c.current_task()).and_then(|t| t.name.clone())
}

/// Marks the current green thread as urgent: whenever it becomes ready it
/// runs before the green threads already waiting. For plumbing that creates
/// work for others, such as an accept loop: behind the connections it just
/// accepted, it would leave the next burst to overflow the listen backlog.
/// No effect outside a green thread.
pub fn set_urgent(urgent: bool) {
    if let Some(task) = try_core().and_then(|c| c.current_task()) {
        task.urgent.set(urgent);
    }
}

/// Parks until unparked (possibly spuriously).
///
/// Inside a [`timeout`](crate::timeout) whose deadline has passed, this
/// unwinds to that `timeout`, which returns `Err(Elapsed)`.
pub fn park() {
    match try_core() {
        Some(c) if c.current().is_some() => wait_infallible(c, WaitReason::Park),
        _ => std::thread::park(),
    }
}

/// [`park`], recording what the green thread waits on (for
/// [`inspect::threads`](crate::inspect::threads)).
pub(crate) fn park_as(why: WaitReason) {
    match try_core() {
        Some(c) if c.current().is_some() => wait_infallible(c, why),
        _ => std::thread::park(),
    }
}

/// Parks until unparked or until `deadline` passes (or an enclosing
/// [`timeout`](crate::timeout) scope's deadline, whichever is first).
pub fn park_deadline(deadline: Option<Instant>) -> Wake {
    park_deadline_for(deadline, WaitReason::Park)
}

/// [`park_deadline`], recording what the green thread waits on (for
/// [`inspect::threads`](crate::inspect::threads)).
pub(crate) fn park_deadline_for(deadline: Option<Instant>, why: WaitReason) -> Wake {
    match try_core() {
        Some(c) if c.current().is_some() => c.park_for(deadline, why),
        _ => match deadline {
            None => {
                std::thread::park();
                Wake::Unparked
            }
            Some(at) => {
                let now = Instant::now();
                if at <= now {
                    return Wake::TimedOut;
                }
                std::thread::park_timeout(at - now);
                if Instant::now() >= at { Wake::TimedOut } else { Wake::Unparked }
            }
        },
    }
}

/// Parks until unparked or `timeout` passes.
pub fn park_timeout(timeout: Duration) -> Wake {
    park_deadline(Instant::now().checked_add(timeout))
}

/// A wait that cannot report a timeout (a lock, a join): if an enclosing
/// `timeout` scope expires, unwind to it.
pub(crate) fn wait_infallible(c: &Core, why: WaitReason) {
    if c.park_for(None, why) == Wake::TimedOut {
        raise_elapsed();
    }
}

/// The payload a wait that cannot fail unwinds with when its scope expired.
struct ScopeElapsed;

pub(crate) fn is_scope_elapsed(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<ScopeElapsed>()
}

/// Unwinds to the expired `timeout` scope. (While a green thread unwinds
/// from a panic, parks ignore `timeout` scopes, so a destructor that waits
/// never gets here.) A destructor that must wait while the runtime cancels
/// its green thread at shutdown cannot: that ends in a clear panic.
pub(crate) fn raise_elapsed() -> ! {
    if force_unwinding() {
        panic!(
            "greenloop: a destructor waited (a lock, a join, a channel) while the runtime was cancelling \
             its green thread at shutdown; nothing can wake it any more"
        );
    }
    resume_unwind(Box::new(ScopeElapsed))
}
