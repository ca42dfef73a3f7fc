//! Cancelling a block of code from outside it: the green-thread form of Go's
//! request context and of a cancellation token.
//!
//! A [`Cancel`] is a handle; [`Cancel::run`] runs code under it. When
//! something calls [`Cancel::cancel`] (another green thread, a callback, the
//! HTTP server seeing the client hang up), every wait inside the scope stops
//! at once, exactly as if a [`timeout`](crate::timeout) had expired there:
//! - calls that return `io::Result` fail with `io::ErrorKind::TimedOut`,
//!   and a [`Pool`](crate::pool::Pool) checkout fails;
//! - [`sleep`](crate::sleep) returns early;
//! - waits that cannot report an error (`block_on`, a lock, a join, a
//!   channel) unwind back to `run`, dropping what they waited on on the way
//!   (a database query future dropped this way sends the server a cancel
//!   request: see [`postgres`](crate::postgres)).
//!
//! `run` then returns `Err(Cancelled)`. Code that does not wait is not
//! interrupted; a long computation can look at [`is_cancelled`].
//!
//! ```
//! use std::time::Duration;
//! use greenloop::cancel::Cancel;
//!
//! greenloop::run(|| {
//!     let cancel = Cancel::new();
//!     let trigger = cancel.clone();
//!     greenloop::call_later(Duration::from_millis(10), move || trigger.cancel());
//!     let r = cancel.run(|| greenloop::sleep(Duration::from_secs(10)));
//!     assert!(r.is_err() && cancel.is_cancelled());
//! });
//! ```
//!
//! A `Cancel` belongs to the loop it was made on (it is not `Send`); to
//! cancel from another OS thread, send a message to a green thread on that
//! loop. Green threads spawned inside a scope are not in it: run their work
//! under a clone of the same `Cancel` (one `Cancel` may have several scopes
//! at once, on different green threads).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;

use super::core::{CancelSlot, Scope, Task, TaskRef, core, force_unwinding, try_core};
use super::park::is_scope_elapsed;

/// A cancellation handle: cloning it gives another handle to the same one.
#[derive(Clone, Default)]
pub struct Cancel {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: Cell<bool>,
    /// The scopes running under this handle: the green thread and the
    /// scope's depth on it (0: the task's own slot). Almost always one (a
    /// server's request), kept apart from the rare others so that entering
    /// and leaving it are two stores, not a vector's push and search.
    scope: Cell<Option<(TaskRef, usize)>>,
    others: RefCell<Vec<(TaskRef, usize)>>,
}

/// The scope's [`Cancel`] was cancelled before its code finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancelled(());

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}

impl From<Cancelled> for std::io::Error {
    fn from(_: Cancelled) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled")
    }
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancel").field("cancelled", &self.inner.cancelled.get()).finish()
    }
}

impl Cancel {
    /// A handle not cancelled yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels: every scope running under this handle stops waiting at
    /// once, and a scope started later is cancelled from its start. Calling
    /// it again does nothing. Must be called on the handle's loop.
    pub fn cancel(&self) {
        if self.inner.cancelled.replace(true) {
            return;
        }
        let Some(c) = try_core() else { return };
        if let Some((task, depth)) = self.inner.scope.get() {
            c.expire_scope_now(task, depth);
        }
        let others = self.inner.others.borrow().clone();
        for (task, depth) in others {
            c.expire_scope_now(task, depth);
        }
    }

    /// Whether [`cancel`](Self::cancel) was called (since the last [`reset`](Self::reset)).
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.get()
    }

    /// Makes the handle uncancelled again, for reuse (a server reuses one
    /// per connection across its requests). Scopes already cut short stay so.
    pub fn reset(&self) {
        self.inner.cancelled.set(false);
    }

    /// Runs `f` under this handle: `Err(Cancelled)` if the handle was
    /// cancelled before `f` returned (what `f` returned is dropped), else
    /// `f`'s value. A panic in `f` passes through.
    ///
    /// # Panics
    /// Outside a green thread.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T, Cancelled> {
        match self.run_catching(f) {
            Ok(v) => Ok(v),
            Err(p) if p.is::<Cancelled>() => Err(Cancelled(())),
            Err(p) => resume_unwind(p),
        }
    }

    /// [`run`](Self::run) that also catches `f`'s panic, in one frame (the
    /// server's, under every handler): `Err` carries the panic's payload, or
    /// a [`Cancelled`] when the scope was cancelled.
    pub(crate) fn run_catching<T>(&self, f: impl FnOnce() -> T) -> Result<T, Box<dyn std::any::Any + Send>> {
        // Opening and closing are inline (their rare cases out of line):
        // they add a few words to this frame, not a frame of their own.
        let scope = self.open();
        let mut result = catch_unwind(AssertUnwindSafe(f));
        scope.close(&mut result);
        result
    }

    /// Opens a scope on the current green thread, for code that catches its
    /// own unwinds and hands the outcome to [`OpenScope::close`]: what
    /// [`run_catching`](Self::run_catching) does, for a caller that keeps
    /// the outcome where it will use it (the HTTP/1 server: the response is
    /// built in place, not copied out of a returned value).
    ///
    /// # Panics
    /// Outside a green thread.
    #[inline]
    pub(crate) fn open(&self) -> OpenScope<'_> {
        let (task, me, depth) = self.enter();
        OpenScope { cancel: self, task, me, depth }
    }

    /// Opens a scope on the current green thread: in its task's own slot
    /// when that is free and this handle tracks no other scope (a server's
    /// request: two stores), else where `enter_elsewhere` puts it. Returns
    /// the task and the scope's place: the green thread and the depth (0
    /// for the slot).
    #[inline]
    fn enter(&self) -> (&'static Task, TaskRef, usize) {
        let c = core();
        let (Some(task), Some(me)) = (c.current_task(), c.current()) else { not_on_a_green_thread() };
        if task.cancel_slot.get() == CancelSlot::Free && self.inner.scope.get().is_none() {
            task.cancel_slot.set(if self.inner.cancelled.get() {
                CancelSlot::Cancelled(c.now())
            } else {
                CancelSlot::Open
            });
            self.inner.scope.set(Some((me, 0)));
            return (task, me, 0);
        }
        self.enter_elsewhere(task, me)
    }

    /// `enter` for the rare cases: a scope inside another on the same green
    /// thread goes on its vector of scopes, like a `timeout`; a handle with
    /// scopes on several green threads tracks all but the first apart.
    #[cold]
    #[inline(never)]
    fn enter_elsewhere(&self, task: &'static Task, me: TaskRef) -> (&'static Task, TaskRef, usize) {
        let cancelled = self.inner.cancelled.get();
        let deadline = if cancelled { Some(crate::runtime::inspect::loop_time()) } else { None };
        let depth = if task.cancel_slot.get() == CancelSlot::Free {
            task.cancel_slot.set(deadline.map_or(CancelSlot::Open, CancelSlot::Cancelled));
            0
        } else {
            let mut scopes = task.scopes.borrow_mut();
            scopes.push(Scope { deadline, expired: cancelled, cancel: true });
            scopes.len()
        };
        if self.inner.scope.get().is_none() {
            self.inner.scope.set(Some((me, depth)));
        } else {
            self.inner.others.borrow_mut().push((me, depth));
        }
        (task, me, depth)
    }

    /// Closes the scope `enter` opened; whether it was cancelled.
    #[inline]
    fn leave(&self, task: &Task, me: TaskRef, depth: usize) -> bool {
        if self.inner.scope.get() == Some((me, depth)) {
            self.inner.scope.set(None);
        } else {
            self.forget_other(me, depth);
        }
        if depth == 0 {
            matches!(task.cancel_slot.replace(CancelSlot::Free), CancelSlot::Cancelled(_))
        } else {
            Self::pop_scope(task, depth)
        }
    }

    /// `leave` for a scope this handle tracks among its others.
    #[cold]
    #[inline(never)]
    fn forget_other(&self, me: TaskRef, depth: usize) {
        let mut others = self.inner.others.borrow_mut();
        if let Some(i) = others.iter().rposition(|&(t, d)| t == me && d == depth) {
            others.swap_remove(i);
        }
    }

    /// `leave` for a scope on the vector: pops it; whether it was cancelled.
    #[cold]
    #[inline(never)]
    fn pop_scope(task: &Task, depth: usize) -> bool {
        let mut scopes = task.scopes.borrow_mut();
        let expired = scopes.get(depth - 1).is_some_and(|s| s.expired);
        scopes.truncate(depth - 1);
        expired
    }

    /// What a cancelled scope or an unwind out of it becomes, in place: a
    /// [`Cancelled`] if the scope was cancelled (a value `f` returned after
    /// all is dropped), the panic's payload otherwise; the runtime's own
    /// unwinds (shutdown, an enclosing `timeout`) go on.
    #[cold]
    #[inline(never)]
    fn settle<T>(result: &mut Result<T, Box<dyn std::any::Any + Send>>, expired: bool) {
        match std::mem::replace(result, Err(Box::new(Cancelled(())))) {
            Ok(_) => {}
            Err(p) if force_unwinding() || (is_scope_elapsed(&*p) && !expired) => resume_unwind(p),
            Err(p) if is_scope_elapsed(&*p) => {}
            Err(p) => *result = Err(p),
        }
    }
}

/// A [`Cancel`] scope opened by [`Cancel::open`]: its waits end when the
/// handle is cancelled, until [`close`](Self::close).
#[must_use = "a scope stays open until it is closed"]
pub(crate) struct OpenScope<'a> {
    cancel: &'a Cancel,
    task: &'static Task,
    me: TaskRef,
    depth: usize,
}

impl OpenScope<'_> {
    /// Closes the scope, with the outcome of the code under it (its value,
    /// or the payload `catch_unwind` caught): made a [`Cancelled`] if the
    /// scope was cancelled, an unwind of the runtime's own resumed, a panic
    /// left as it is. Call it on the green thread that opened the scope,
    /// after everything opened inside it was closed.
    #[inline]
    pub(crate) fn close<T>(self, outcome: &mut Result<T, Box<dyn std::any::Any + Send>>) {
        let expired = self.cancel.leave(self.task, self.me, self.depth);
        if expired || outcome.is_err() {
            Cancel::settle(outcome, expired);
        }
    }
}

/// `Cancel::run`'s panic outside a green thread, out of the way of the
/// inline path.
#[cold]
#[inline(never)]
fn not_on_a_green_thread() -> ! {
    panic!("greenloop: Cancel::run must be called on a green thread")
}

/// Whether the current green thread runs inside a [`Cancel::run`] scope
/// that was cancelled: for code that computes for long without waiting and
/// wants to stop early, and for telling a cancelled wait from one that
/// timed out. `false` outside a green thread.
pub fn is_cancelled() -> bool {
    let Some(task) = try_core().and_then(|c| c.current_task()) else { return false };
    task.cancel_slot.get().deadline().is_some() || task.scopes.borrow().iter().any(|s| s.cancel && s.expired)
}
