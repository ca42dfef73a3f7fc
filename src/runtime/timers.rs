//! Deadlines: a binary heap with lazy cancellation.
//!
//! A park with a deadline pushes `(deadline, task, park_seq)`. An unpark does
//! not search the heap: it bumps the task's `park_seq`, which makes the entry
//! stale, and stale entries are skipped when they surface. So that a server
//! setting a 60 s idle deadline on every read does not grow the heap without
//! bound, the heap is compacted (stale entries dropped) whenever it has
//! doubled since the last compaction: amortised O(1) per entry.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::Instant;

use super::core::{Core, TaskRef};

pub(crate) enum Action {
    Wake { task: TaskRef, seq: u32 },
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
            Action::Wake { task, seq } => core.fire_timer(task, seq),
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
                            log::error!(target: "greenloop", "call_later callback {}", super::task::JoinError::panic(p));
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
    fn push(&mut self, at: Instant, action: Action) {
        let order = self.next_order;
        self.next_order += 1;
        self.heap.push(Entry { at, order, action });
    }

    pub(crate) fn add_wake(&mut self, at: Instant, task: TaskRef, seq: u32) {
        self.push(at, Action::Wake { task, seq });
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

    /// Drops wake entries for parks that already ended, and cancelled calls.
    pub(crate) fn compact(&mut self, live: impl Fn(TaskRef, u32) -> bool) {
        self.heap.retain(|e| match &e.action {
            Action::Wake { task, seq } => live(*task, *seq),
            Action::Call { cancelled, .. } => !cancelled.get(),
        });
        self.compact_at = (self.heap.len() * 2).max(MIN_COMPACT);
    }
}
