//! Deadlines: a binary heap with lazy cancellation and lazy re-arming.
//!
//! A park with a deadline needs an entry `(at, task)` with `at` no later
//! than its deadline. A task remembers the entry it counts on, and a park
//! whose deadline is at or after it adds nothing: a server connection that
//! parks with a 60 s idle deadline after every request adds one entry per
//! minute of idleness, not one per request. When an entry comes due, the
//! task is woken only if it is parked and its park's deadline has passed;
//! if it is parked with a later deadline, the entry moves on to it.
//!
//! An unpark does not search the heap. Entries of finished tasks, and ones
//! superseded by an earlier entry for the same task, are skipped when they
//! surface, and dropped whenever the heap has doubled since the last
//! compaction: amortised O(1) per entry.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::Instant;

use super::core::{Core, TaskRef};

pub(crate) enum Action {
    Wake { task: TaskRef },
    Call { f: Box<dyn FnOnce()>, cancelled: Rc<Cell<bool>> },
}

pub(crate) struct Entry {
    at: Instant,
    order: u64,
    action: Action,
}

impl Entry {
    pub(crate) fn fire(self, core: &Core) {
        match self.action {
            Action::Wake { task } => core.fire_timer(task, self.order),
            Action::Call { f, cancelled } => {
                if !cancelled.get() {
                    cancelled.set(true);
                    // Contained like any detached green thread: a panicking
                    // callback must not unwind through the loop itself.
                    let body = move || {
                        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                            if super::core::force_unwinding() {
                                std::panic::resume_unwind(p);
                            }
                            log::error!(target: "greenloop", "call_later callback {}", super::join_error::JoinError::panic(p));
                        }
                    };
                    if let Err(e) = core.spawn_task(None, None, body) {
                        log::error!("greenloop: call_later could not start its green thread: {e}");
                    }
                }
            }
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first;
    // `order` keeps entries with equal deadlines first-in, first-out.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at).then_with(|| other.order.cmp(&self.order))
    }
}

const MIN_COMPACT: usize = 1024;

pub(crate) struct Timers {
    heap: BinaryHeap<Entry>,
    next_order: u64,
    compact_at: usize,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { heap: BinaryHeap::new(), next_order: 0, compact_at: MIN_COMPACT }
    }
}

impl Timers {
    /// Adds an entry; returns its `order`, unique among entries.
    fn push(&mut self, at: Instant, action: Action) -> u64 {
        let order = self.next_order;
        self.next_order += 1;
        self.heap.push(Entry { at, order, action });
        order
    }

    /// An entry to look at `task` at `at`; returns its `order`.
    pub(crate) fn add_wake(&mut self, at: Instant, task: TaskRef) -> u64 {
        self.push(at, Action::Wake { task })
    }

    pub(crate) fn add_call(&mut self, at: Instant, f: Box<dyn FnOnce()>, cancelled: Rc<Cell<bool>>) {
        self.push(at, Action::Call { f, cancelled });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The earliest deadline, stale or not (a stale one only causes an early poll return).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        if self.heap.peek()?.at <= now { self.heap.pop() } else { None }
    }

    pub(crate) fn needs_compaction(&self) -> bool {
        self.heap.len() >= self.compact_at
    }

    /// Drops wake entries no task counts on any more, and cancelled calls.
    pub(crate) fn compact(&mut self, live: impl Fn(TaskRef, u64) -> bool) {
        self.heap.retain(|e| match &e.action {
            Action::Wake { task } => live(*task, e.order),
            Action::Call { cancelled, .. } => !cancelled.get(),
        });
        self.compact_at = (self.heap.len() * 2).max(MIN_COMPACT);
    }
}
