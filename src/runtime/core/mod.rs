//! The loop itself: the run queue, the task table, I/O readiness dispatch and
//! the one park/unpark primitive that every blocking-looking call rests on.
//!
//! Everything here is single-threaded. The only door in from other OS threads
//! is [`Shared`]: a lock-free queue plus a `mio::Waker`.
//!
//! - [`tasks`]: the task record, task references and the table of slots; spawning.
//! - [`wait`]: park and unpark, deadlines and the timers that enforce them.
//! - [`io`]: registrations of sockets, their readiness and waiters.
//! - [`turn`]: one turn of the loop, and the ends of green threads.
//! - `span_slot` (feature `tracing`): the spans a green thread holds, exited
//!   when it suspends and entered again when it resumes.

mod budget;
mod dump;
mod io;
#[cfg(feature = "tracing")]
mod span_slot;
mod stack_sweep;
mod tasks;
#[cfg(feature = "tokio")]
mod tokio_local;
mod turn;
mod wait;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossbeam::queue::SegQueue;

pub(crate) use self::dump::known_loops;
use self::io::IoEntry;
use self::tasks::TaskTable;
pub(crate) use self::tasks::{CancelSlot, Completion, Exit, Measure, Scope, Task, TaskRef};
use self::wait::TimerAction;
pub use self::wait::Wake;
use super::config::Config;
use super::stack::StackPool;
use super::stats::LoopStats;
use super::timers::Timers;
use super::watchdog::monitor::WatchState;

/// Token of the cross-thread waker; I/O tokens are indexes into the I/O table.
const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

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
    /// Nanoseconds spent waiting for I/O with nothing to run.
    pub(crate) idle_ns: Cell<u64>,
}

pub(crate) struct Core {
    /// The loop's own tokio runtime (`Builder::tokio_on_loop`). First, so
    /// that it is dropped first: it has the loop's epoll fd registered.
    #[cfg(feature = "tokio")]
    pub(crate) tokio: Option<tokio_local::LocalTokio>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: Config,
    poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    run_queue: RefCell<VecDeque<TaskRef>>,
    tasks: TaskTable,
    io: RefCell<Vec<IoEntry>>,
    free_io: RefCell<Vec<usize>>,
    timers: RefCell<Timers<TimerAction>>,
    /// When the last poll for I/O returned: the loop's clock, read once per
    /// turn that found I/O or has timers pending.
    now: Cell<Instant>,
    /// The same moment on the raw monotonic clock ([`crate::sys::monotonic_ns`]),
    /// for durations measured as integers (request latency).
    now_ns: Cell<u64>,
    pub(crate) stacks: RefCell<StackPool>,
    current: Cell<Option<TaskRef>>,
    current_task: Cell<*const Task>,
    next_task_id: Cell<u64>,
    pub(crate) counters: Counters,
    pub(crate) watch: Option<Arc<WatchState>>,
    /// Operations the running green thread completed without parking since
    /// it was resumed (`budget.rs`).
    budget: Cell<u32>,
    /// When the next stack sweep is due (`stack_sweep.rs`), if one is.
    next_sweep: Cell<Option<Instant>>,
    /// `counters.switches` at the last sweep: none is scheduled unless green threads ran since.
    swept_at_switches: Cell<u64>,
    /// The tracing span current when the loop started (`span_slot`).
    #[cfg(feature = "tracing")]
    span_base: RefCell<Option<tracing::span::Id>>,
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
    pub(crate) fn new(config: Config) -> std::io::Result<Core> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        let stacks = StackPool::new(config.stack_size, config.max_pooled_stacks);
        #[cfg(feature = "tokio")]
        let tokio = if config.tokio_on_loop { Some(tokio_local::LocalTokio::new()?) } else { None };
        let watch = config.watchdog.map(|threshold| WatchState::new(threshold, tasks::label_of));
        let shared = Arc::new(Shared {
            queue: SegQueue::new(),
            waker,
            notified: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            id: {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                NEXT.fetch_add(1, Ordering::Relaxed)
            },
        });
        dump::register(&shared);
        Ok(Core {
            #[cfg(feature = "tokio")]
            tokio,
            watch,
            shared,
            events: RefCell::new(mio::Events::with_capacity(config.event_capacity)),
            config,
            poll: RefCell::new(poll),
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            tasks: TaskTable::default(),
            io: RefCell::new(Vec::new()),
            free_io: RefCell::new(Vec::new()),
            timers: RefCell::new(Timers::default()),
            now: Cell::new(Instant::now()),
            now_ns: Cell::new(crate::sys::monotonic_ns()),
            stacks: RefCell::new(stacks),
            current: Cell::new(None),
            current_task: Cell::new(ptr::null()),
            next_task_id: Cell::new(1),
            counters: Counters::default(),
            budget: Cell::new(0),
            next_sweep: Cell::new(None),
            swept_at_switches: Cell::new(0),
            #[cfg(feature = "tracing")]
            span_base: RefCell::new(None),
        })
    }

    /// Makes this core the current one on this thread.
    pub(crate) fn enter(&self) -> EnterGuard {
        let prev = CORE.with(|c| c.replace(self));
        EnterGuard { prev }
    }

    /// Whether green threads wait in the run queue (tokio on the loop asks
    /// before it sleeps).
    #[cfg(feature = "tokio")]
    pub(crate) fn has_ready_tasks(&self) -> bool {
        !self.run_queue.borrow().is_empty()
    }

    /// When the last poll for I/O returned.
    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    /// [`now`](Self::now) and the same moment in raw nanoseconds.
    pub(crate) fn now_both(&self) -> (Instant, u64) {
        (self.now.get(), self.now_ns.get())
    }

    /// Reads the clock into the loop's `now` (both forms).
    #[inline]
    fn stamp_now(&self) -> Instant {
        let now = Instant::now();
        self.now.set(now);
        self.now_ns.set(crate::sys::monotonic_ns());
        now
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
            idle: std::time::Duration::from_nanos(self.counters.idle_ns.get()),
        }
    }
}
