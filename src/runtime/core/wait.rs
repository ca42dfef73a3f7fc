//! Park and unpark, and the deadlines that bound a park.
//!
//! A park with a deadline needs a timer entry `(at, task)` with `at` no
//! later than its deadline. A task remembers the entry it counts on, and a
//! park whose deadline is at or after it adds nothing: a server connection
//! that parks with a 60 s idle deadline after every request adds one entry
//! per minute of idleness, not one per request. When an entry comes due, the
//! task is woken only if it is parked and its park's deadline has passed;
//! if it is parked with a later deadline, the entry moves on to it.
//!
//! An unpark does not search the heap. Entries of finished tasks, and ones
//! superseded by an earlier entry for the same task, are skipped when they
//! surface, and dropped whenever the heap has doubled since the last
//! compaction (`Timers::compact`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use super::tasks::{CancelSlot, State, Task, TaskRef};
use super::{Core, force_unwinding};
use crate::runtime::join_error::JoinError;
use crate::runtime::thread_info::WaitReason;

/// Why a park returned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wake {
    /// Unparked (or spuriously woken): re-check the condition.
    Unparked,
    /// The deadline (or an enclosing `timeout` scope's) passed.
    TimedOut,
}

/// What a timer entry does when it comes due.
pub(crate) enum TimerAction {
    /// Look at a parked task: wake it if its deadline passed (see `fire_timer`).
    Wake(TaskRef),
    /// Start `f` on a new green thread, unless cancelled (`call_later`).
    Call { f: Box<dyn FnOnce()>, cancelled: Rc<Cell<bool>> },
}

impl Core {
    /// Parks the current green thread until it is unparked or `deadline`
    /// passes (combined with any enclosing `timeout` scope). Like
    /// `std::thread::park`, it may return spuriously: callers re-check their
    /// condition. An unpark that arrives while the thread runs is remembered
    /// and makes the next park return at once.
    ///
    /// `why` records what the green thread waits on, for
    /// `inspect::threads` (a byte store).
    pub(crate) fn park_for(&self, deadline: Option<Instant>, why: WaitReason) -> Wake {
        let task = self.current_task().expect("greenloop: park called outside a green thread");
        if task.notified.replace(false) {
            return Wake::Unparked;
        }
        if force_unwinding() {
            // A destructor running while the runtime unwinds this green thread
            // must not suspend (corosensei would abort): its waits time out.
            return Wake::TimedOut;
        }
        let deadline = self.effective_deadline(task, deadline);
        if let Some(at) = deadline {
            // The loop's clock, not a fresh reading: a deadline that passed
            // since the last turn is found by the timer on the next one.
            if at <= self.now.get() {
                self.expire_scopes(task, at);
                return Wake::TimedOut;
            }
            // A connection parks with an idle deadline after every request,
            // each a little later than the last: the entry made for the
            // first still fires in time, and is moved on when it does.
            self.cover_deadline(task, self.current.get().unwrap(), at);
        }
        task.park_deadline.set(deadline);
        task.wait.set(why);
        task.parked_at.set(self.now.get());
        task.state.set(State::Parked);
        self.suspend(task);
        if task.timed_out.replace(false) {
            // By the loop's clock, not this park's deadline: a scope
            // cancelled while it waited ends it early, and a later deadline
            // must not count as passed.
            self.expire_scopes(task, self.now.get());
            Wake::TimedOut
        } else {
            Wake::Unparked
        }
    }

    /// Puts the current green thread at the back of the run queue and switches away.
    #[inline]
    pub(crate) fn yield_now(&self) {
        let Some(task) = self.current_task() else {
            std::thread::yield_now();
            return;
        };
        task.state.set(State::Queued);
        self.run_queue.borrow_mut().push_back(self.current.get().unwrap());
        self.suspend(task);
    }

    #[inline]
    fn suspend(&self, task: &Task) {
        if let Some(mut m) = task.measure.get() {
            m.longest = m.longest.max(m.stretch_start.elapsed());
            task.measure.set(Some(m));
            self.suspend_raw(task);
            m.stretch_start = Instant::now();
            task.measure.set(Some(m));
            return;
        }
        self.suspend_raw(task);
    }

    #[inline]
    fn suspend_raw(&self, task: &Task) {
        task.suspended_sp.set(crate::sys::stack_pointer());
        task.stack_swept.set(false);
        let yielder = task.yielder.get();
        // SAFETY: the yielder lives on this task's coroutine stack for as long
        // as the coroutine runs, and we are running on that coroutine now.
        unsafe { (*yielder).suspend(()) };
    }

    fn effective_deadline(&self, task: &Task, deadline: Option<Instant>) -> Option<Instant> {
        if std::thread::panicking() {
            // A destructor waiting during a panic's unwind: an expired scope
            // must not start a second unwind (that aborts the process).
            return deadline;
        }
        let mut at = deadline;
        let mut bound = |d: Instant| at = Some(at.map_or(d, |a| a.min(d)));
        if let Some(d) = task.cancel_slot.get().deadline() {
            bound(d);
        }
        for d in task.scopes.borrow().iter().filter_map(|s| s.deadline) {
            bound(d);
        }
        at
    }

    /// Marks the scopes whose deadline is `at` or earlier expired. (The
    /// task's `cancel_slot` has a deadline only once it is cancelled, and is
    /// expired from then on.)
    fn expire_scopes(&self, task: &Task, at: Instant) {
        for s in task.scopes.borrow_mut().iter_mut() {
            if s.deadline.is_some_and(|d| d <= at) {
                s.expired = true;
            }
        }
    }

    /// Ends scope `depth` (1-based; 0 is the task's `cancel_slot`) of task
    /// `r` now, as if its deadline had passed: its waits stop at once (a
    /// parked task is woken), and so does every later wait inside it. What
    /// `Cancel::cancel` does.
    pub(crate) fn expire_scope_now(&self, r: TaskRef, depth: usize) {
        let Some(task) = self.tasks.get(r) else { return };
        if depth == 0 {
            if task.cancel_slot.get() == CancelSlot::Free {
                return;
            }
            task.cancel_slot.set(CancelSlot::Cancelled(self.now.get()));
        } else {
            let mut scopes = task.scopes.borrow_mut();
            let Some(s) = scopes.get_mut(depth - 1) else { return };
            s.deadline = Some(self.now.get());
            s.expired = true;
        }
        if task.state.get() == State::Parked {
            task.timed_out.set(true);
            task.state.set(State::Queued);
            self.enqueue(task, r);
        }
    }

    /// Makes a parked task runnable (or remembers the unpark if it is running).
    pub(crate) fn unpark(&self, r: TaskRef) {
        let Some(task) = self.tasks.get(r) else { return };
        match task.state.get() {
            State::Parked => {
                task.state.set(State::Queued);
                self.enqueue(task, r);
                // Woken by the loop's own tokio runtime while the loop
                // sleeps in it: end that sleep.
                #[cfg(feature = "tokio")]
                if let Some(t) = &self.tokio
                    && let Some(w) = t.idle_waker.take()
                {
                    w.wake();
                }
            }
            State::Running => task.notified.set(true),
            State::Queued => {}
        }
    }

    #[inline]
    fn enqueue(&self, task: &Task, r: TaskRef) {
        if task.urgent.get() {
            self.run_queue.borrow_mut().push_front(r);
        } else {
            self.run_queue.borrow_mut().push_back(r);
        }
    }

    /// Makes sure a timer entry due at or before `at` is pending for `task`
    /// (`r`): the one it counts on, or a new one.
    fn cover_deadline(&self, task: &Task, r: TaskRef, at: Instant) {
        if task.timer.get().is_none_or(|(t, _)| t > at) {
            let order = self.timers.borrow_mut().push(at, TimerAction::Wake(r));
            task.timer.set(Some((at, order)));
        }
    }

    /// Runs `f` on a new green thread at `at`, unless `cancelled` is set by then.
    pub(crate) fn call_at(&self, at: Instant, f: Box<dyn FnOnce()>, cancelled: Rc<Cell<bool>>) {
        self.timers.borrow_mut().push(at, TimerAction::Call { f, cancelled });
    }

    /// Fires every timer entry due by the loop's clock, then drops stale
    /// entries if the heap has grown enough for that to pay.
    pub(super) fn fire_due_timers(&self) {
        if self.timers.borrow().is_empty() {
            return;
        }
        let now = self.now.get();
        loop {
            let due = self.timers.borrow_mut().pop_due(now);
            match due {
                Some(entry) => match entry.item {
                    TimerAction::Wake(r) => self.fire_timer(r, entry.order),
                    TimerAction::Call { f, cancelled } => self.fire_call(f, &cancelled),
                },
                None => break,
            }
        }
        let mut timers = self.timers.borrow_mut();
        if timers.needs_compaction() {
            timers.compact(|order, item| match item {
                TimerAction::Wake(r) => self.timer_is_live(*r, order),
                TimerAction::Call { cancelled, .. } => !cancelled.get(),
            });
        }
    }

    /// Called when the timer entry `order` for `r` is due: wakes `r` if its
    /// park's deadline has passed, or moves the entry on to that deadline.
    fn fire_timer(&self, r: TaskRef, order: u64) {
        let Some(task) = self.tasks.get(r) else { return };
        if task.timer.get().is_some_and(|(_, o)| o == order) {
            task.timer.set(None);
        }
        if task.state.get() != State::Parked {
            return;
        }
        let Some(deadline) = task.park_deadline.get() else { return };
        if deadline <= self.now.get() {
            task.timed_out.set(true);
            task.state.set(State::Queued);
            self.enqueue(task, r);
        } else {
            self.cover_deadline(task, r, deadline);
        }
    }

    /// Whether timer entry `order` is the one `r` counts on (compaction
    /// drops the others: superseded by an earlier one, or of a finished task).
    fn timer_is_live(&self, r: TaskRef, order: u64) -> bool {
        self.tasks.get(r).is_some_and(|t| t.timer.get().is_some_and(|(_, o)| o == order))
    }

    /// Starts a due `call_later` callback on its own green thread.
    // Out of line: inlined, its spawn would swell the loop's turn, and with
    // it the switch path that shares the function.
    #[inline(never)]
    fn fire_call(&self, f: Box<dyn FnOnce()>, cancelled: &Cell<bool>) {
        if cancelled.replace(true) {
            return;
        }
        // Contained like any detached green thread: a panicking callback
        // must not unwind through the loop itself.
        let body = move || {
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                if force_unwinding() {
                    std::panic::resume_unwind(p);
                }
                log::error!(target: "greenloop", "call_later callback {}", JoinError::panic(p));
            }
        };
        if let Err(e) = self.spawn_task(None, None, body) {
            log::error!("greenloop: call_later could not start its green thread: {e}");
        }
    }
}
