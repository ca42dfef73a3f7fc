//! Green threads as the loop holds them: the [`Task`] record, generation-checked
//! [`TaskRef`]s, the [`TaskTable`] of slots they index, and spawning.

use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::io;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, Yielder};

use super::{Core, core};
use crate::runtime::join_error::JoinError;
use crate::runtime::thread_info::WaitReason;
use crate::runtime::watchdog::label::{LabelText, TaskLabel};

/// How a green thread's coroutine ended.
#[derive(Clone, Copy)]
pub(crate) enum Exit {
    /// It returned (its result or panic is already in its join slot).
    Finished,
    /// It overflowed its stack; the trap handler cut it short.
    StackOverflow,
}

pub(crate) type GreenCoroutine = Coroutine<(), (), Exit, DefaultStack>;

/// A generation-checked reference to a task slot: stale references (to a task
/// that finished and whose slot was reused) are recognised and ignored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TaskRef {
    index: u32,
    generation: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State {
    /// In the run queue.
    Queued,
    /// On the CPU now.
    Running,
    /// Suspended until unparked (or its deadline passes).
    Parked,
}

/// Receives the outcome of a task that did not return normally, so the
/// scheduler can fail a typed join slot it cannot name.
pub(crate) trait Completion {
    fn fail(&self, error: JoinError);
}

/// Longest stretch a task ran without parking, for `assert_no_blocking`.
#[derive(Clone, Copy)]
pub(crate) struct Measure {
    pub(crate) stretch_start: Instant,
    pub(crate) longest: Duration,
}

/// A `timeout` (or `Cancel::run`) scope active on a task. A cancel scope
/// has no deadline until it is cancelled, then one that has passed.
pub(crate) struct Scope {
    pub(crate) deadline: Option<Instant>,
    pub(crate) expired: bool,
    /// A `Cancel::run` scope (not a `timeout`).
    pub(crate) cancel: bool,
}

/// The one `Cancel::run` scope a task holds in itself rather than in its
/// `scopes` vector: the first opened while none is (a server's request is
/// one, every time), so entering and leaving it are a store each. Scopes
/// opened inside it go in the vector; scopes are told apart by their own
/// state, never by their order, so the two places need not agree on one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CancelSlot {
    /// No scope in it: the next `Cancel::run` takes it.
    Free,
    /// A scope runs, not cancelled.
    Open,
    /// A scope runs and was cancelled at this loop time, now its deadline
    /// (passed): every wait inside it ends at once.
    Cancelled(Instant),
}

impl CancelSlot {
    /// Its deadline: the time it was cancelled.
    #[inline]
    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            CancelSlot::Cancelled(at) => Some(at),
            _ => None,
        }
    }
}

/// One green thread.
pub(crate) struct Task {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    /// Lowest address of the stack mapping: its guard page starts here.
    pub(crate) stack_limit: usize,
    /// The highest address of the stack, where it starts (it grows down).
    pub(super) stack_base: usize,
    /// Lets the SIGSEGV handler end this coroutine after a stack overflow.
    pub(crate) trap: corosensei::trap::CoroutineTrapHandler<Exit>,
    pub(super) coroutine: UnsafeCell<Option<GreenCoroutine>>,
    pub(super) yielder: Cell<*const Yielder<(), ()>>,
    pub(super) state: Cell<State>,
    pub(super) notified: Cell<bool>,
    pub(super) timed_out: Cell<bool>,
    /// Woken to the front of the run queue (acceptors and other plumbing
    /// that must not wait behind the work it creates).
    pub(crate) urgent: Cell<bool>,
    /// The deadline of the current (or last) park, if it had one.
    pub(super) park_deadline: Cell<Option<Instant>>,
    /// What the current (or last) park waits on, and since when by the
    /// loop's clock: for `inspect::threads`. A byte and a copy per park.
    pub(super) wait: Cell<WaitReason>,
    pub(super) parked_at: Cell<Instant>,
    /// The stack pointer when it last suspended (0 where it cannot be read):
    /// the pages below it are dead while it is suspended (`stack_sweep.rs`).
    pub(super) suspended_sp: Cell<usize>,
    /// Its dead stack pages were discarded since it last ran.
    pub(super) stack_swept: Cell<bool>,
    /// The I/O registration a socket wait parks on (its index).
    pub(super) wait_io: Cell<u32>,
    /// The timer entry this task counts on, `(deadline, order)`: one whose
    /// deadline is at or before the next park's is reused instead of adding
    /// another (see `wait`).
    pub(super) timer: Cell<Option<(Instant, u64)>>,
    pub(crate) scopes: RefCell<Vec<Scope>>,
    /// Its own cancellation scope, outside `scopes` (see `CancelSlot`).
    pub(crate) cancel_slot: Cell<CancelSlot>,
    /// (task id, label) shown by the watchdog; read from its thread, hence a Mutex.
    pub(crate) label: TaskLabel,
    pub(crate) has_label: Cell<bool>,
    /// Set while `assert_no_blocking` watches this task.
    pub(crate) measure: Cell<Option<Measure>>,
    pub(crate) locals: RefCell<Vec<(usize, Rc<dyn Any>)>>,
    pub(super) completion: Option<Rc<dyn Completion>>,
    /// The tracing spans it holds while suspended.
    #[cfg(feature = "tracing")]
    pub(super) spans: super::span_slot::SpanSlot,
}

impl Task {
    fn set_name_label(&mut self) {
        if let Some(name) = &self.name {
            // Locked, not `get_mut`: the watchdog thread may be reading this
            // recycled box's label right now.
            *self.label.lock().unwrap_or_else(|e| e.into_inner()) = Some((self.id, LabelText::Fixed(name.clone())));
            self.has_label.set(true);
        }
    }

    fn with_name_label(mut self: Box<Self>) -> Box<Self> {
        self.set_name_label();
        self
    }

    /// Drops what a finished task owned (outside its coroutine), leaving the
    /// box ready for the next spawn.
    #[inline]
    fn reset(&mut self) {
        self.name = None;
        self.completion = None;
        self.notified.set(false);
        self.timed_out.set(false);
        self.park_deadline.set(None);
        self.timer.set(None);
        self.urgent.set(false);
        self.yielder.set(ptr::null());
        self.scopes.get_mut().clear();
        self.cancel_slot.set(CancelSlot::Free);
        self.measure.set(None);
        if self.has_label.replace(false) {
            // Locked: the watchdog thread may be cloning this label (see set_name_label).
            let old = self.label.lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(old);
        }
        // Green-thread locals may run arbitrary drop code: take them out first.
        let locals = std::mem::take(self.locals.get_mut());
        drop(locals);
        #[cfg(feature = "tracing")]
        self.spans.clear();
    }
}

/// The watchdog's way to a task's label ([`LabelOf`](crate::runtime::watchdog::monitor::LabelOf)).
///
/// # Safety
/// `task` must point at a live `Task`.
pub(super) unsafe fn label_of(task: *const ()) -> *const TaskLabel {
    // SAFETY: the caller guarantees `task` points at a live `Task`; this
    // only computes the address of one of its fields.
    unsafe { &raw const (*task.cast::<Task>()).label }
}

struct Slot<T> {
    generation: u32,
    task: Option<Box<T>>,
}

struct Table<T> {
    slots: Vec<Slot<T>>,
    free_slots: Vec<u32>,
    /// Finished tasks' boxes, reset and kept for the next spawn.
    #[allow(clippy::vec_box)] // boxes move between this list and the slots without moving the task
    free_boxes: Vec<Box<T>>,
}

/// The loop's tasks: boxed, in slots indexed by [`TaskRef`], each slot's
/// generation bumped when its task leaves so that older references miss.
///
/// Generic only so that it can be tested without coroutines; the loop holds
/// `TaskTable<Task>`.
pub(crate) struct TaskTable<T = Task> {
    inner: RefCell<Table<T>>,
}

impl<T> Default for TaskTable<T> {
    fn default() -> Self {
        TaskTable { inner: RefCell::new(Table { slots: Vec::new(), free_slots: Vec::new(), free_boxes: Vec::new() }) }
    }
}

impl<T> TaskTable<T> {
    /// Puts `task` in a free slot and returns its reference.
    #[inline]
    pub(crate) fn insert(&self, task: Box<T>) -> TaskRef {
        let mut t = self.inner.borrow_mut();
        match t.free_slots.pop() {
            Some(index) => {
                let slot = &mut t.slots[index as usize];
                slot.task = Some(task);
                TaskRef { index, generation: slot.generation }
            }
            None => {
                let index = t.slots.len() as u32;
                t.slots.push(Slot { generation: 0, task: Some(task) });
                TaskRef { index, generation: 0 }
            }
        }
    }

    /// The task `r` refers to, unless it has left the table.
    ///
    /// The reference is valid until that task leaves the table through
    /// [`remove`](Self::remove): callers must not hold it across a call that
    /// may finish or cancel that task. The loop only removes tasks between
    /// switches (`finish`, `cancel`), and every caller lets go of its
    /// reference before them.
    #[inline]
    pub(crate) fn get(&self, r: TaskRef) -> Option<&T> {
        let ptr: *const T = {
            let t = self.inner.borrow();
            let slot = t.slots.get(r.index as usize)?;
            if slot.generation != r.generation {
                return None;
            }
            slot.task.as_deref()?
        };
        // SAFETY: the task is boxed, so its address does not change when the
        // slot vector grows, and the box is freed only after `remove` hands
        // it out of the table. By the contract above no reference from `get`
        // is used past that `remove`. Nothing takes `&mut T` while the task
        // is in the table: its mutable state is in cells.
        Some(unsafe { &*ptr })
    }

    /// Takes `r`'s task out of the table; its slot's generation moves on so
    /// that `r` (and copies of it) no longer find anything.
    #[inline]
    pub(crate) fn remove(&self, r: TaskRef) -> Option<Box<T>> {
        let mut t = self.inner.borrow_mut();
        let slot = t.slots.get_mut(r.index as usize)?;
        if slot.generation != r.generation {
            return None;
        }
        let task = slot.task.take();
        slot.generation = slot.generation.wrapping_add(1);
        t.free_slots.push(r.index);
        task
    }

    /// References to every task in the table.
    pub(crate) fn live(&self) -> Vec<TaskRef> {
        let t = self.inner.borrow();
        t.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.task.is_some())
            .map(|(i, s)| TaskRef { index: i as u32, generation: s.generation })
            .collect()
    }

    /// Keeps a finished task's box for [`reuse`](Self::reuse).
    #[inline]
    pub(crate) fn keep(&self, task: Box<T>) {
        self.inner.borrow_mut().free_boxes.push(task);
    }

    /// Takes out the kept boxes beyond the `keep` most recent (at most
    /// `max`), except the one at `except`, for the caller to drop.
    #[allow(clippy::vec_box)] // the boxes are dropped, not moved into the vector's storage
    pub(crate) fn take_spare(&self, keep: usize, max: usize, except: *const ()) -> Vec<Box<T>> {
        let mut t = self.inner.borrow_mut();
        let n = t.free_boxes.len().saturating_sub(keep).min(max);
        let mut spare: Vec<Box<T>> = t.free_boxes.drain(..n).collect();
        if let Some(i) = spare.iter().position(|b| std::ptr::eq(&**b as *const T as *const (), except)) {
            let kept = spare.swap_remove(i);
            t.free_boxes.push(kept);
        }
        spare
    }

    /// How many finished tasks' boxes are kept for reuse.
    pub(crate) fn spare_len(&self) -> usize {
        self.inner.borrow().free_boxes.len()
    }

    /// A box kept by [`keep`](Self::keep), if any.
    #[inline]
    pub(crate) fn reuse(&self) -> Option<Box<T>> {
        self.inner.borrow_mut().free_boxes.pop()
    }
}

impl Core {
    /// Creates a task around `body` and queues it. `body` runs on the green thread.
    pub(crate) fn spawn_task<F: FnOnce() + 'static>(
        &self,
        name: Option<Arc<str>>,
        completion: Option<Rc<dyn Completion>>,
        body: F,
    ) -> io::Result<TaskRef> {
        let stack = self.stacks.borrow_mut().take()?;
        let stack_limit = corosensei::stack::Stack::limit(&stack).get();
        let stack_base = corosensei::stack::Stack::base(&stack).get();
        let coroutine = GreenCoroutine::with_stack(stack, move |yielder: &Yielder<(), ()>, ()| {
            let task = core().current_task.get();
            // SAFETY: the scheduler sets `current_task` to this task before
            // resuming it, and the task outlives its coroutine's execution.
            unsafe { (*task).yielder.set(yielder) };
            body();
            Exit::Finished
        });
        let id = self.next_task_id.get();
        self.next_task_id.set(id + 1);
        let trap = coroutine.trap_handler();
        let task = match self.tasks.reuse() {
            Some(mut t) => {
                t.id = id;
                t.name = name;
                t.stack_limit = stack_limit;
                t.stack_base = stack_base;
                t.trap = trap;
                *t.coroutine.get_mut() = Some(coroutine);
                t.state.set(State::Queued);
                t.completion = completion;
                t.set_name_label();
                t
            }
            None => Box::new(Task {
                id,
                name,
                stack_limit,
                stack_base,
                trap,
                coroutine: UnsafeCell::new(Some(coroutine)),
                yielder: Cell::new(ptr::null()),
                state: Cell::new(State::Queued),
                notified: Cell::new(false),
                timed_out: Cell::new(false),
                urgent: Cell::new(false),
                park_deadline: Cell::new(None),
                wait: Cell::new(WaitReason::Park),
                parked_at: Cell::new(self.now.get()),
                suspended_sp: Cell::new(0),
                stack_swept: Cell::new(false),
                wait_io: Cell::new(0),
                timer: Cell::new(None),
                scopes: RefCell::new(Vec::new()),
                cancel_slot: Cell::new(CancelSlot::Free),
                label: std::sync::Mutex::new(None),
                has_label: Cell::new(false),
                measure: Cell::new(None),
                locals: RefCell::new(Vec::new()),
                completion,
                #[cfg(feature = "tracing")]
                spans: Default::default(),
            })
            .with_name_label(),
        };
        let r = self.tasks.insert(task);
        self.run_queue.borrow_mut().push_back(r);
        self.counters.spawned.set(self.counters.spawned.get() + 1);
        self.counters.alive.set(self.counters.alive.get() + 1);
        Ok(r)
    }

    /// Drops what a finished task owned (outside its coroutine) and keeps the
    /// box for the next spawn.
    #[inline]
    pub(super) fn recycle(&self, mut task: Box<Task>) {
        task.reset();
        // Kept even beyond the stack pool's bound: the watchdog thread may
        // still hold this box's address, so boxes are freed only at shutdown.
        self.tasks.keep(task);
    }

    /// The running green thread, if this code runs on one.
    #[inline]
    pub(crate) fn current(&self) -> Option<TaskRef> {
        self.current.get()
    }

    /// The running task. Only valid while a green thread runs.
    #[inline]
    pub(crate) fn current_task(&self) -> Option<&Task> {
        // SAFETY: `current_task` points at the boxed task being resumed and is
        // reset to null when it suspends or ends; boxes are freed only after that.
        unsafe { self.current_task.get().as_ref() }
    }

    /// Bytes of the running green thread's stack in use at the caller.
    pub(crate) fn stack_used(&self) -> Option<usize> {
        let task = self.current_task()?;
        let probe = 0u8;
        let here = std::hint::black_box(&probe) as *const u8 as usize;
        Some(task.stack_base.saturating_sub(here))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_finds_inserted_tasks() {
        let table = TaskTable::<u32>::default();
        let a = table.insert(Box::new(1));
        let b = table.insert(Box::new(2));
        assert_ne!(a, b);
        assert_eq!(table.get(a), Some(&1));
        assert_eq!(table.get(b), Some(&2));
    }

    #[test]
    fn removed_task_is_not_found_and_its_slot_is_reused_with_a_new_generation() {
        let table = TaskTable::<u32>::default();
        let a = table.insert(Box::new(1));
        assert_eq!(table.remove(a).as_deref(), Some(&1));
        assert_eq!(table.get(a), None);
        assert!(table.remove(a).is_none(), "a second remove by a stale reference finds nothing");
        let b = table.insert(Box::new(2));
        assert_eq!(b.index, a.index, "the free slot is reused");
        assert_ne!(b.generation, a.generation);
        assert_eq!(table.get(a), None, "the stale reference misses the new task");
        assert_eq!(table.get(b), Some(&2));
    }

    #[test]
    fn out_of_range_reference_finds_nothing() {
        let table = TaskTable::<u32>::default();
        let r = TaskRef { index: 7, generation: 0 };
        assert_eq!(table.get(r), None);
        assert!(table.remove(r).is_none());
    }

    #[test]
    fn references_stay_valid_while_the_table_grows() {
        let table = TaskTable::<u64>::default();
        let first = table.insert(Box::new(42));
        let held = table.get(first).unwrap();
        let refs: Vec<TaskRef> = (0..1000).map(|i| table.insert(Box::new(i))).collect();
        assert_eq!(*held, 42);
        for (i, r) in refs.iter().enumerate() {
            assert_eq!(table.get(*r), Some(&(i as u64)));
        }
    }

    #[test]
    fn live_lists_exactly_the_tasks_in_the_table() {
        let table = TaskTable::<u32>::default();
        let refs: Vec<TaskRef> = (0..5).map(|i| table.insert(Box::new(i))).collect();
        table.remove(refs[1]);
        table.remove(refs[3]);
        assert_eq!(table.live(), vec![refs[0], refs[2], refs[4]]);
        let again = table.insert(Box::new(9));
        let live = table.live();
        assert_eq!(live.len(), 4);
        assert!(live.contains(&again));
        assert!(!live.contains(&refs[1]) && !live.contains(&refs[3]));
    }

    #[test]
    fn kept_boxes_are_reused_last_in_first_out() {
        let table = TaskTable::<u32>::default();
        assert!(table.reuse().is_none());
        let a = table.insert(Box::new(1));
        let b = table.insert(Box::new(2));
        let boxed_a = table.remove(a).unwrap();
        let addr_a: *const u32 = &*boxed_a;
        table.keep(boxed_a);
        table.keep(table.remove(b).unwrap());
        assert_eq!(table.reuse().as_deref(), Some(&2));
        let again = table.reuse().unwrap();
        assert_eq!(&*again as *const u32, addr_a, "the same allocation comes back");
        assert!(table.reuse().is_none());
    }

    #[test]
    fn generation_wraps_around() {
        let table = TaskTable::<u32>::default();
        let a = table.insert(Box::new(0));
        table.remove(a).unwrap();
        table.inner.borrow_mut().slots[a.index as usize].generation = u32::MAX;
        let b = table.insert(Box::new(1));
        assert_eq!(b.generation, u32::MAX);
        table.remove(b).unwrap();
        let c = table.insert(Box::new(2));
        assert_eq!(c.generation, 0);
        assert_eq!(table.get(b), None);
        assert_eq!(table.get(c), Some(&2));
    }
}
