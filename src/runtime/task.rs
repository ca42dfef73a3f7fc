//! Spawning green threads and joining them.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::rc::Rc;
use std::sync::Arc;

use super::core::{Completion, TaskRef, core, force_unwinding};
use super::join_error::JoinError;
use super::park::wait_infallible;

pub(crate) struct JoinSlot<T> {
    result: RefCell<Option<Result<T, JoinError>>>,
    finished: Cell<bool>,
    waiter: Cell<Option<TaskRef>>,
}

impl<T> JoinSlot<T> {
    fn complete(&self, r: Result<T, JoinError>) {
        if self.finished.replace(true) {
            return;
        }
        *self.result.borrow_mut() = Some(r);
        if let Some(w) = self.waiter.take() {
            core().unpark(w);
        }
    }
}

impl<T> Completion for JoinSlot<T> {
    fn fail(&self, error: JoinError) {
        self.complete(Err(error));
    }
}

/// An owned permission to wait for a green thread's result.
///
/// Dropping it detaches the green thread, which keeps running. A
/// `JoinHandle` belongs to the loop that spawned the green thread (it is not
/// `Send`); use a [`Handle`](crate::Handle) and its
/// [`RemoteJoinHandle`](crate::RemoteJoinHandle) across OS threads.
pub struct JoinHandle<T> {
    slot: Rc<JoinSlot<T>>,
}

impl<T> JoinHandle<T> {
    /// Waits (parking this green thread) for the green thread to finish.
    ///
    /// `Err` when it panicked (the panic is contained: the loop and other
    /// green threads carry on), overflowed its stack, or was cancelled.
    pub fn join(self) -> Result<T, JoinError> {
        loop {
            if let Some(r) = self.try_take() {
                return r;
            }
            let c = core();
            self.slot.waiter.set(c.current());
            wait_infallible(c, crate::runtime::thread_info::WaitReason::Join);
        }
    }

    /// Whether the green thread has finished (its result is ready).
    pub fn is_finished(&self) -> bool {
        self.slot.finished.get()
    }

    pub(crate) fn try_take(&self) -> Option<Result<T, JoinError>> {
        self.slot.result.borrow_mut().take()
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("finished", &self.is_finished()).finish()
    }
}

/// Runs `f` on a new green thread of the current loop.
///
/// A panic in `f` is caught and returned by [`JoinHandle::join`]; it never
/// takes down the loop or other green threads.
///
/// # Panics
/// Outside a runtime.
pub fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
    spawn_inner(None, f)
}

/// Like [`spawn`], with a name shown in watchdog reports, stack-overflow
/// messages and [`park::current_name`](crate::park::current_name).
pub fn spawn_named<T: 'static>(name: impl Into<Arc<str>>, f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
    spawn_inner(Some(name.into()), f)
}

fn spawn_inner<T: 'static>(name: Option<Arc<str>>, f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
    let slot = Rc::new(JoinSlot { result: RefCell::new(None), finished: Cell::new(false), waiter: Cell::new(None) });
    let mine = slot.clone();
    let completion: Rc<dyn Completion> = slot.clone();
    let spawned = core().spawn_task(name, Some(completion), move || {
        let result = std::panic::catch_unwind(AssertUnwindSafe(f));
        match result {
            Ok(v) => mine.complete(Ok(v)),
            // The runtime is unwinding this green thread to drop it: let it pass.
            Err(p) if force_unwinding() => resume_unwind(p),
            Err(p) => mine.complete(Err(JoinError::panic(p))),
        }
    });
    if let Err(e) = spawned {
        slot.complete(Err(JoinError::spawn(e)));
    }
    JoinHandle { slot }
}

/// Runs `f` on a new green thread that nobody will join: no join slot is
/// allocated, and a panic is logged (target `greenloop`) instead of kept.
/// For servers that start a green thread per connection.
///
/// # Panics
/// Outside a runtime.
pub fn spawn_detached(f: impl FnOnce() + 'static) {
    let spawned = core().spawn_task(None, None, move || {
        if let Err(p) = std::panic::catch_unwind(AssertUnwindSafe(f)) {
            detached_panicked(p);
        }
    });
    if let Err(e) = spawned {
        log::error!(target: "greenloop", "could not start a detached green thread: {e}");
    }
}

// Out of line: the message formatting would otherwise widen the entry frame
// of every detached green thread, stack each one keeps for its whole life.
#[cold]
#[inline(never)]
fn detached_panicked(p: Box<dyn Any + Send + 'static>) {
    if force_unwinding() {
        resume_unwind(p);
    }
    let msg = JoinError::panic(p);
    log::error!(target: "greenloop", "detached {msg}");
}

/// `std::panic::catch_unwind` for code on green threads: catches panics, but
/// lets the runtime's own unwinds pass (a green thread being cancelled at
/// shutdown, or a wait cut short by an expired [`timeout`](crate::timeout)).
/// Use it wherever you would catch panics, so cancellation still works.
pub fn catch_unwind<T>(f: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send + 'static>> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Err(p) if force_unwinding() || super::park::is_scope_elapsed(&*p) => resume_unwind(p),
        r => r,
    }
}

/// Runs every closure on its own green thread and waits for all of them;
/// results come back in input order (asyncio's `gather`).
///
/// If one panics, the others still run to completion, then the first panic
/// (in input order) is resumed on the caller.
///
/// ```
/// let doubled = greenloop::run(|| greenloop::join_all((1..=3).map(|i| move || i * 2)));
/// assert_eq!(doubled, vec![2, 4, 6]);
/// ```
pub fn join_all<T: 'static, F: FnOnce() -> T + 'static>(closures: impl IntoIterator<Item = F>) -> Vec<T> {
    let handles: Vec<JoinHandle<T>> = closures.into_iter().map(spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(v) => out.push(v),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        None => out,
        Some(e) => match e.into_panic() {
            Ok(p) => resume_unwind(p),
            Err(e) => panic!("greenloop::join_all: {e}"),
        },
    }
}
