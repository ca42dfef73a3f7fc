//! The loop itself: the run queue, the task table, I/O readiness dispatch and
//! the one park/unpark primitive that every blocking-looking call rests on.
//!
//! Everything here is single-threaded. The only door in from other OS threads
//! is [`Shared`]: a lock-free queue plus a `mio::Waker`.

use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::io;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use crossbeam::queue::SegQueue;

use super::config::Config;
use super::join_error::JoinError;
use super::park::Wake;
use super::stack::StackPool;
use super::stats::LoopStats;
use super::timers::Timers;
use super::watchdog::label::{LabelText, TaskLabel};
use super::watchdog::monitor::WatchState;

/// Green-thread switches between two polls for I/O while tasks stay ready
/// (the figure tokio uses for its event interval).
const IO_INTERVAL: usize = 61;
/// Idle stacks beyond the pool's bound unmapped per turn that found nothing
/// to do: a batch takes about 0.1 ms, so an event arriving meanwhile waits
/// little.
const TRIM_BATCH: usize = 16;
/// A busy loop unmaps one excess stack every this many turns: rarely enough
/// not to slow the end of a burst (one per closing connection took a tenth of
/// the loop's time), often enough to give memory back under sustained load.
const BUSY_TRIM_EVERY: u64 = 64;

/// Token of the cross-thread waker; I/O tokens are indexes into the I/O table.
pub(crate) const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

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

/// What a timer entry does when it comes due.
///
/// A park with a deadline needs a timer entry `(at, task)` with `at` no
/// later than its deadline. A task remembers the entry it counts on, and a
/// park whose deadline is at or after it adds nothing: a server connection
/// that parks with a 60 s idle deadline after every request adds one entry
/// per minute of idleness, not one per request. When an entry comes due, the
/// task is woken only if it is parked and its park's deadline has passed;
/// if it is parked with a later deadline, the entry moves on to it.
///
/// An unpark does not search the heap. Entries of finished tasks, and ones
/// superseded by an earlier entry for the same task, are skipped when they
/// surface, and dropped whenever the heap has doubled since the last
/// compaction (`Timers::compact`).
pub(crate) enum TimerAction {
    /// Look at a parked task: wake it if its deadline passed (see `fire_timer`).
    Wake(TaskRef),
    /// Start `f` on a new green thread, unless cancelled (`call_later`).
    Call { f: Box<dyn FnOnce()>, cancelled: Rc<Cell<bool>> },
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

/// A `timeout` scope active on a task.
pub(crate) struct Scope {
    pub(crate) deadline: Instant,
    pub(crate) expired: bool,
}

/// One green thread.
pub(crate) struct Task {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    /// Lowest address of the stack mapping: its guard page starts here.
    pub(crate) stack_limit: usize,
    /// The highest address of the stack, where it starts (it grows down).
    stack_base: usize,
    /// Lets the SIGSEGV handler end this coroutine after a stack overflow.
    pub(crate) trap: corosensei::trap::CoroutineTrapHandler<Exit>,
    coroutine: UnsafeCell<Option<GreenCoroutine>>,
    yielder: Cell<*const Yielder<(), ()>>,
    state: Cell<State>,
    notified: Cell<bool>,
    timed_out: Cell<bool>,
    /// Woken to the front of the run queue (acceptors and other plumbing
    /// that must not wait behind the work it creates).
    pub(crate) urgent: Cell<bool>,
    /// The deadline of the current (or last) park, if it had one.
    park_deadline: Cell<Option<Instant>>,
    /// The timer entry this task counts on, `(deadline, order)`: one whose
    /// deadline is at or before the next park's is reused instead of adding
    /// another (see `timers`).
    timer: Cell<Option<(Instant, u64)>>,
    pub(crate) scopes: RefCell<Vec<Scope>>,
    /// (task id, label) shown by the watchdog; read from its thread, hence a Mutex.
    pub(crate) label: TaskLabel,
    pub(crate) has_label: Cell<bool>,
    /// Set while `assert_no_blocking` watches this task.
    pub(crate) measure: Cell<Option<Measure>>,
    pub(crate) locals: RefCell<Vec<(usize, std::rc::Rc<dyn Any>)>>,
    completion: Option<std::rc::Rc<dyn Completion>>,
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
}

struct Slot {
    generation: u32,
    task: Option<Box<Task>>,
}

/// Waiters on one registered I/O source. Usually one reader and one writer.
#[derive(Default)]
pub(crate) struct IoEntry {
    pub(crate) readers: Vec<TaskRef>,
    pub(crate) writers: Vec<TaskRef>,
    /// Cached readiness: set by an event, cleared when a call finds the
    /// socket drained (`WouldBlock`, or a short read or write). With
    /// edge-triggered polling a new event always follows new data, so a clear
    /// bit means parking is right without trying the syscall first.
    read_ready: bool,
    write_ready: bool,
    /// Registered for writability too. Sockets start read-only: with
    /// edge-triggered polling, write interest would queue an event for every
    /// ACK that frees send-buffer space, which nobody waits for. It is added
    /// the first time a write (or connect) has to wait.
    write_interest: bool,
    fd: std::os::fd::RawFd,
    in_use: bool,
}

/// Messages from other OS threads.
pub(crate) enum Remote {
    Spawn(Box<dyn FnOnce() + Send>),
    Unpark(TaskRef),
}

/// The part of a loop that other OS threads may touch.
pub(crate) struct Shared {
    queue: SegQueue<Remote>,
    waker: mio::Waker,
    /// Set by a producer that has already woken the loop; cleared by the loop
    /// just before it drains the queue. Coalesces wake-ups into one syscall.
    notified: AtomicBool,
    /// False once the runtime is gone: remote messages are dropped.
    pub(crate) alive: AtomicBool,
    /// Unique per runtime in this process (never reused, unlike an address).
    pub(crate) id: u64,
}

impl Shared {
    pub(crate) fn push(&self, msg: Remote) -> bool {
        if !self.alive.load(Ordering::Acquire) {
            return false;
        }
        self.queue.push(msg);
        if !self.alive.load(Ordering::Acquire) {
            // The loop shut down between our check and our push, and may have
            // emptied the queue already: drop what is left here, so that
            // waiters (a RemoteJoinHandle) see their sender go away.
            while self.queue.pop().is_some() {}
            return false;
        }
        if !self.notified.swap(true, Ordering::AcqRel) {
            // A failed wake means the poll is gone; nothing else can be done.
            let _ = self.waker.wake();
        }
        true
    }
}

/// Loop-wide counters, read by metrics and the watchdog.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) switches: Cell<u64>,
    pub(crate) iterations: Cell<u64>,
    pub(crate) spawned: Cell<u64>,
    pub(crate) alive: Cell<u64>,
}

pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: Config,
    poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    run_queue: RefCell<VecDeque<TaskRef>>,
    slots: RefCell<Vec<Slot>>,
    /// Finished tasks' boxes, reset and kept for the next spawn.
    #[allow(clippy::vec_box)] // boxes move between this list and the slots without moving the task
    free_tasks: RefCell<Vec<Box<Task>>>,
    free_slots: RefCell<Vec<u32>>,
    io: RefCell<Vec<IoEntry>>,
    free_io: RefCell<Vec<usize>>,
    timers: RefCell<Timers<TimerAction>>,
    /// When the last poll for I/O returned: the loop's clock, read once per
    /// turn that found I/O or has timers pending.
    now: Cell<Instant>,
    pub(crate) stacks: RefCell<StackPool>,
    current: Cell<Option<TaskRef>>,
    current_task: Cell<*const Task>,
    next_task_id: Cell<u64>,
    pub(crate) counters: Counters,
    pub(crate) watch: Option<Arc<WatchState>>,
}

thread_local! {
    static CORE: Cell<*const Core> = const { Cell::new(ptr::null()) };
    /// Set while the runtime force-unwinds suspended green threads at drop, so
    /// that `catch_unwind` in a task lets the unwind pass.
    static FORCE_UNWINDING: Cell<bool> = const { Cell::new(false) };
}

/// The core of the runtime entered on this OS thread, if any.
#[inline]
pub(crate) fn try_core() -> Option<&'static Core> {
    let p = CORE.with(|c| c.get());
    // SAFETY: CORE is set by `Core::enter` to a `Core` boxed inside a `Runtime`
    // and reset before that box is dropped; callers use the reference only for
    // the duration of one call on this thread, never across the runtime's end.
    unsafe { p.as_ref() }
}

/// The running green thread and its loop's settings, for the SIGSEGV handler.
///
/// # Safety
/// Call only on the thread whose fault is being handled; the returned
/// references are valid while that green thread has not been resumed past
/// the fault.
pub(crate) unsafe fn running_task() -> Option<(&'static Task, &'static Config)> {
    let core = try_core()?;
    // SAFETY: see `current_task`.
    let task = unsafe { core.current_task.get().as_ref()? };
    Some((task, &core.config))
}

/// The core of the runtime on this OS thread; panics with a clear message outside one.
#[inline]
#[track_caller]
pub(crate) fn core() -> &'static Core {
    match try_core() {
        Some(c) => c,
        None => panic!(
            "greenloop: this call needs a running greenloop runtime on this thread \
             (start one with greenloop::run or Runtime::block_on)"
        ),
    }
}

pub(crate) fn force_unwinding() -> bool {
    FORCE_UNWINDING.with(|f| f.get())
}

/// Restores the previously entered core when dropped.
pub(crate) struct EnterGuard {
    prev: *const Core,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CORE.with(|c| c.set(self.prev));
    }
}

impl Core {
    pub(crate) fn new(config: Config) -> io::Result<Core> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        let stacks = StackPool::new(config.stack_size, config.max_pooled_stacks);
        let watch = config.watchdog.map(WatchState::new);
        Ok(Core {
            watch,
            shared: Arc::new(Shared {
                queue: SegQueue::new(),
                waker,
                notified: AtomicBool::new(false),
                alive: AtomicBool::new(true),
                id: {
                    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                    NEXT.fetch_add(1, Ordering::Relaxed)
                },
            }),
            events: RefCell::new(mio::Events::with_capacity(config.event_capacity)),
            config,
            poll: RefCell::new(poll),
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            slots: RefCell::new(Vec::new()),
            free_tasks: RefCell::new(Vec::new()),
            free_slots: RefCell::new(Vec::new()),
            io: RefCell::new(Vec::new()),
            free_io: RefCell::new(Vec::new()),
            timers: RefCell::new(Timers::default()),
            now: Cell::new(Instant::now()),
            stacks: RefCell::new(stacks),
            current: Cell::new(None),
            current_task: Cell::new(ptr::null()),
            next_task_id: Cell::new(1),
            counters: Counters::default(),
        })
    }

    /// Makes this core the current one on this thread.
    pub(crate) fn enter(&self) -> EnterGuard {
        let prev = CORE.with(|c| c.replace(self));
        EnterGuard { prev }
    }

    // ----- tasks -------------------------------------------------------------

    /// Creates a task around `body` and queues it. `body` runs on the green thread.
    pub(crate) fn spawn_task<F: FnOnce() + 'static>(
        &self,
        name: Option<Arc<str>>,
        completion: Option<std::rc::Rc<dyn Completion>>,
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
        let task = match self.free_tasks.borrow_mut().pop() {
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
                timer: Cell::new(None),
                scopes: RefCell::new(Vec::new()),
                label: std::sync::Mutex::new(None),
                has_label: Cell::new(false),
                measure: Cell::new(None),
                locals: RefCell::new(Vec::new()),
                completion,
            })
            .with_name_label(),
        };
        let r = self.insert(task);
        self.run_queue.borrow_mut().push_back(r);
        self.counters.spawned.set(self.counters.spawned.get() + 1);
        self.counters.alive.set(self.counters.alive.get() + 1);
        Ok(r)
    }

    fn insert(&self, task: Box<Task>) -> TaskRef {
        let mut slots = self.slots.borrow_mut();
        match self.free_slots.borrow_mut().pop() {
            Some(index) => {
                let slot = &mut slots[index as usize];
                slot.task = Some(task);
                TaskRef { index, generation: slot.generation }
            }
            None => {
                let index = slots.len() as u32;
                slots.push(Slot { generation: 0, task: Some(task) });
                TaskRef { index, generation: 0 }
            }
        }
    }

    fn task_ptr(&self, r: TaskRef) -> Option<*const Task> {
        let slots = self.slots.borrow();
        let slot = slots.get(r.index as usize)?;
        if slot.generation != r.generation {
            return None;
        }
        slot.task.as_deref().map(|t| t as *const Task)
    }

    fn remove(&self, r: TaskRef) -> Option<Box<Task>> {
        let mut slots = self.slots.borrow_mut();
        let slot = slots.get_mut(r.index as usize)?;
        if slot.generation != r.generation {
            return None;
        }
        let task = slot.task.take();
        slot.generation = slot.generation.wrapping_add(1);
        self.free_slots.borrow_mut().push(r.index);
        task
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

    /// When the last poll for I/O returned.
    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    /// Bytes of the running green thread's stack in use at the caller.
    pub(crate) fn stack_used(&self) -> Option<usize> {
        let task = self.current_task()?;
        let probe = 0u8;
        let here = std::hint::black_box(&probe) as *const u8 as usize;
        Some(task.stack_base.saturating_sub(here))
    }

    /// A snapshot of this loop's counters.
    pub(crate) fn stats(&self) -> LoopStats {
        LoopStats {
            green_threads: self.counters.alive.get(),
            spawned: self.counters.spawned.get(),
            run_queue: self.run_queue.borrow().len(),
            iterations: self.counters.iterations.get(),
            switches: self.counters.switches.get(),
            timers: self.timers.borrow().len(),
            pooled_stacks: self.stacks.borrow().pooled(),
        }
    }

    // ----- park / unpark -----------------------------------------------------

    /// Parks the current green thread until it is unparked or `deadline`
    /// passes (combined with any enclosing `timeout` scope). Like
    /// `std::thread::park`, it may return spuriously: callers re-check their
    /// condition. An unpark that arrives while the thread runs is remembered
    /// and makes the next park return at once.
    pub(crate) fn park(&self, deadline: Option<Instant>) -> Wake {
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
        task.state.set(State::Parked);
        self.suspend(task);
        if task.timed_out.replace(false) {
            if let Some(at) = deadline {
                self.expire_scopes(task, at);
            }
            Wake::TimedOut
        } else {
            Wake::Unparked
        }
    }

    /// Puts the current green thread at the back of the run queue and switches away.
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
        let scopes = task.scopes.borrow();
        let scope = scopes.iter().map(|s| s.deadline).min();
        match (deadline, scope) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn expire_scopes(&self, task: &Task, at: Instant) {
        for s in task.scopes.borrow_mut().iter_mut() {
            if s.deadline <= at {
                s.expired = true;
            }
        }
    }

    /// Makes a parked task runnable (or remembers the unpark if it is running).
    pub(crate) fn unpark(&self, r: TaskRef) {
        let Some(task) = self.task_ptr(r) else { return };
        // SAFETY: task_ptr returned a live boxed task; it is only freed by the
        // scheduler, not during this call.
        let task = unsafe { &*task };
        match task.state.get() {
            State::Parked => {
                task.state.set(State::Queued);
                self.enqueue(task, r);
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

    /// Called when the timer entry `order` for `r` is due: wakes `r` if its
    /// park's deadline has passed, or moves the entry on to that deadline.
    fn fire_timer(&self, r: TaskRef, order: u64) {
        let Some(task) = self.task_ptr(r) else { return };
        // SAFETY: as in `unpark`.
        let task = unsafe { &*task };
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
        match self.task_ptr(r) {
            // SAFETY: as in `unpark`.
            Some(t) => unsafe { (*t).timer.get().is_some_and(|(_, o)| o == order) },
            None => false,
        }
    }

    /// Starts a due `call_later` callback on its own green thread.
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

    // ----- I/O registrations -------------------------------------------------

    pub(crate) fn register<S: mio::event::Source + std::os::fd::AsRawFd>(
        &self,
        source: &mut S,
        interest: mio::Interest,
    ) -> io::Result<usize> {
        let index = match self.free_io.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let mut io = self.io.borrow_mut();
                io.push(IoEntry::default());
                io.len() - 1
            }
        };
        {
            let mut io = self.io.borrow_mut();
            let e = &mut io[index];
            e.in_use = true;
            e.read_ready = true;
            e.write_ready = true;
            e.write_interest = interest.is_writable();
            e.fd = source.as_raw_fd();
        }
        let result = self.poll.borrow().registry().register(source, mio::Token(index), interest);
        if let Err(e) = result {
            self.release_io(index);
            return Err(e);
        }
        Ok(index)
    }

    pub(crate) fn deregister(&self, source: &mut impl mio::event::Source, index: usize) {
        let _ = self.poll.borrow().registry().deregister(source);
        self.release_io(index);
    }

    /// Whether this is the loop a registration was made on (by runtime id).
    pub(crate) fn owns(&self, owner: u64) -> bool {
        self.shared.id == owner
    }

    /// Frees a registration whose descriptor is about to be closed (which
    /// removes it from epoll without a syscall of ours).
    pub(crate) fn forget_registration(&self, index: usize) {
        self.release_io(index);
    }

    fn release_io(&self, index: usize) {
        let mut io = self.io.borrow_mut();
        let entry = &mut io[index];
        // Anyone still waiting (another green thread sharing the socket) must
        // not sleep forever: wake them to see the error on retry.
        let waiters: Vec<TaskRef> = entry.readers.drain(..).chain(entry.writers.drain(..)).collect();
        entry.in_use = false;
        drop(io);
        for w in waiters {
            self.unpark(w);
        }
        self.free_io.borrow_mut().push(index);
    }

    /// Records that a call found the source drained in one direction.
    #[inline]
    pub(crate) fn clear_ready(&self, index: usize, write: bool) {
        let mut io = self.io.borrow_mut();
        if write {
            io[index].write_ready = false;
        } else {
            io[index].read_ready = false;
        }
    }

    /// Parks the current task until `token` is readable (or writable), or the
    /// deadline. Returns at once if an event arrived since the last clear.
    pub(crate) fn wait_io(&self, index: usize, write: bool, deadline: Option<Instant>) -> Wake {
        let me = self.current.get().expect("greenloop: socket used outside a green thread");
        {
            let mut io = self.io.borrow_mut();
            let entry = &mut io[index];
            if write && !entry.write_interest {
                let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
                let fd = entry.fd;
                let r = self.poll.borrow().registry().reregister(
                    &mut mio::unix::SourceFd(&fd),
                    mio::Token(index),
                    interest,
                );
                if r.is_ok() {
                    entry.write_interest = true;
                    // The new registration reports current writability as an edge.
                    entry.write_ready = false;
                } else {
                    // Could not listen for writability: let the caller retry.
                    return Wake::Unparked;
                }
            }
            if if write { entry.write_ready } else { entry.read_ready } {
                return Wake::Unparked;
            }
            let list = if write { &mut entry.writers } else { &mut entry.readers };
            if !list.contains(&me) {
                list.push(me);
            }
        }
        let wake = self.park(deadline);
        if wake == Wake::TimedOut {
            let mut io = self.io.borrow_mut();
            let list = if write { &mut io[index].writers } else { &mut io[index].readers };
            list.retain(|t| *t != me);
        }
        wake
    }

    fn dispatch_io(&self, event: &mio::event::Event) {
        let index = event.token().0;
        let mut io = self.io.borrow_mut();
        let Some(entry) = io.get_mut(index) else { return };
        if !entry.in_use {
            return;
        }
        let err = event.is_error();
        let readable = event.is_readable() || event.is_read_closed() || err;
        let writable = event.is_writable() || event.is_write_closed() || err;
        entry.read_ready |= readable;
        entry.write_ready |= writable;
        let mut wake = [None, None];
        if readable && !entry.readers.is_empty() {
            if entry.readers.len() == 1 {
                wake[0] = entry.readers.pop();
            } else {
                let all = std::mem::take(&mut entry.readers);
                drop(io);
                all.into_iter().for_each(|t| self.unpark(t));
                io = self.io.borrow_mut();
            }
        }
        let entry = &mut io[index];
        if writable && !entry.writers.is_empty() {
            if entry.writers.len() == 1 {
                wake[1] = entry.writers.pop();
            } else {
                let all = std::mem::take(&mut entry.writers);
                drop(io);
                all.into_iter().for_each(|t| self.unpark(t));
                io = self.io.borrow_mut();
            }
        }
        drop(io);
        for t in wake.into_iter().flatten() {
            self.unpark(t);
        }
    }

    // ----- the loop ----------------------------------------------------------

    /// Runs the loop until `done()` is true after a round of tasks.
    pub(crate) fn run_until(&self, done: &dyn Fn() -> bool) -> io::Result<()> {
        loop {
            self.counters.iterations.set(self.counters.iterations.get() + 1);
            self.run_ready();
            if done() {
                return Ok(());
            }
            self.turn()?;
        }
    }

    /// Runs ready tasks, including ones they make ready, for at most
    /// `IO_INTERVAL` switches; then the loop polls for I/O (without waiting
    /// while tasks are still ready), so a busy loop cannot starve I/O, and
    /// an idle-I/O loop does not pay a syscall per switch.
    fn run_ready(&self) {
        for _ in 0..IO_INTERVAL {
            let next = self.run_queue.borrow_mut().pop_front();
            match next {
                Some(r) => self.run_task(r),
                None => break,
            }
        }
    }

    /// One poll for I/O, then remote messages and due timers.
    fn turn(&self) -> io::Result<()> {
        let idle = self.run_queue.borrow().is_empty();
        // Idle stacks beyond the pool's bound are unmapped at the end of a
        // turn: a batch when the turn found nothing to do, one every
        // `BUSY_TRIM_EVERY` busy turns (so a loop that never idles still
        // gives them back). Until they are all gone an idle loop polls
        // without blocking, to find idle turns.
        let excess = self.stacks.borrow().has_excess();
        let timeout = if !idle || excess {
            Some(Duration::ZERO)
        } else {
            self.timers.borrow_mut().next_deadline().map(|at| at.saturating_duration_since(Instant::now()))
        };
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        // Read only when something will look at it: I/O arrived (its
        // handlers stamp it) or timers are pending. A loop of pure
        // computation between green threads pays no clock read per turn.
        if !events.is_empty() || !self.timers.borrow().is_empty() {
            self.now.set(Instant::now());
        }
        for event in events.iter() {
            if event.token() != WAKER_TOKEN {
                self.dispatch_io(event);
            }
        }
        drop(events);
        self.drain_remote();
        self.fire_due_timers();
        if excess {
            let quiet = idle && self.run_queue.borrow().is_empty();
            if quiet {
                self.stacks.borrow_mut().trim(TRIM_BATCH);
            } else if self.counters.iterations.get().is_multiple_of(BUSY_TRIM_EVERY) {
                self.stacks.borrow_mut().trim(1);
            }
        }
        Ok(())
    }

    fn drain_remote(&self) {
        // A plain load first: the swap is a locked instruction, and most
        // turns find nothing. A push this load misses found the flag false
        // in its own swap, so it also wakes the poll: its message is drained
        // in the turn that wake-up starts.
        if !self.shared.notified.load(Ordering::Acquire) {
            return;
        }
        // Clear the flag first: anything pushed after this wakes the loop again.
        if !self.shared.notified.swap(false, Ordering::AcqRel) {
            return;
        }
        while let Some(msg) = self.shared.queue.pop() {
            match msg {
                Remote::Unpark(r) => self.unpark(r),
                Remote::Spawn(f) => {
                    if let Err(e) = self.spawn_task(None, None, f) {
                        log::error!("greenloop: could not spawn a remote task: {e}");
                    }
                }
            }
        }
    }

    /// Fires every timer entry due by the loop's clock, then drops stale
    /// entries if the heap has grown enough for that to pay.
    fn fire_due_timers(&self) {
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

    fn run_task(&self, r: TaskRef) {
        let Some(ptr) = self.task_ptr(r) else { return };
        // SAFETY: the box stays alive until `finish` below removes it; no one
        // else frees tasks.
        let task = unsafe { &*ptr };
        if task.state.get() != State::Queued {
            return;
        }
        task.state.set(State::Running);
        self.current.set(Some(r));
        self.current_task.set(ptr);
        let n = self.counters.switches.get() + 1;
        self.counters.switches.set(n);
        if let Some(w) = &self.watch {
            w.enter(n, &task.label);
        }
        // SAFETY: only the scheduler touches the coroutine cell, and it is not
        // re-entered: a task cannot resume another task's coroutine.
        let coroutine = unsafe { (*task.coroutine.get()).as_mut() }.expect("task has a coroutine");
        let result = coroutine.resume(());
        if let Some(w) = &self.watch {
            w.leave(n);
        }
        self.current.set(None);
        self.current_task.set(ptr::null());
        if let CoroutineResult::Return(exit) = result {
            self.finish(r, exit);
        }
    }

    fn finish(&self, r: TaskRef, exit: Exit) {
        let Some(mut task) = self.remove(r) else { return };
        self.counters.alive.set(self.counters.alive.get() - 1);
        if let Some(co) = task.coroutine.get_mut().take() {
            self.stacks.borrow_mut().give_back(co.into_stack());
        }
        if let Exit::StackOverflow = exit {
            let error = JoinError::stack_overflow(task.name.clone(), self.config.stack_size);
            log::error!("{error}");
            if let Some(c) = task.completion.take() {
                c.fail(error);
            }
        }
        self.recycle(task);
    }

    /// Drops what a finished task owned (outside its coroutine) and keeps the
    /// box for the next spawn.
    fn recycle(&self, mut task: Box<Task>) {
        task.name = None;
        task.completion = None;
        task.notified.set(false);
        task.timed_out.set(false);
        task.park_deadline.set(None);
        task.timer.set(None);
        task.urgent.set(false);
        task.yielder.set(ptr::null());
        task.scopes.get_mut().clear();
        task.measure.set(None);
        if task.has_label.replace(false) {
            // Locked: the watchdog thread may be cloning this label (see set_name_label).
            let old = task.label.lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(old);
        }
        // Green-thread locals may run arbitrary drop code: take them out first.
        let locals = std::mem::take(task.locals.get_mut());
        drop(locals);
        // Kept even beyond the stack pool's bound: the watchdog thread may
        // still hold this box's address, so boxes are freed only at shutdown.
        self.free_tasks.borrow_mut().push(task);
    }

    /// Drops every remaining task, unwinding suspended ones. Called at runtime
    /// shutdown with this core entered.
    pub(crate) fn shutdown(&self) {
        self.shared.alive.store(false, Ordering::Release);
        if let Some(w) = &self.watch {
            w.close();
        }
        loop {
            let refs: Vec<TaskRef> = {
                let slots = self.slots.borrow();
                slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.task.is_some())
                    .map(|(i, s)| TaskRef { index: i as u32, generation: s.generation })
                    .collect()
            };
            if refs.is_empty() {
                break;
            }
            for r in refs {
                self.cancel(r);
            }
        }
        self.run_queue.borrow_mut().clear();
        while self.shared.queue.pop().is_some() {}
    }

    fn cancel(&self, r: TaskRef) {
        let Some(mut task) = self.remove(r) else { return };
        self.counters.alive.set(self.counters.alive.get() - 1);
        if let Some(mut co) = task.coroutine.get_mut().take() {
            let ptr: *const Task = &*task;
            task.state.set(State::Running);
            self.current.set(Some(r));
            self.current_task.set(ptr);
            FORCE_UNWINDING.with(|f| f.set(true));
            co.force_unwind();
            FORCE_UNWINDING.with(|f| f.set(false));
            self.current.set(None);
            self.current_task.set(ptr::null());
            if co.done() {
                self.stacks.borrow_mut().give_back(co.into_stack());
            }
        }
        if let Some(c) = task.completion.take() {
            c.fail(JoinError::cancelled());
        }
    }
}
