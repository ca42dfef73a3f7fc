//! Running truly blocking or CPU-heavy code off the loop.
//!
//! `offload(f)` sends `f` to a process-wide pool of OS threads and parks the
//! green thread until it is done, so a C library call, file I/O, DNS or a long
//! computation stalls only the caller, not the loop (asgiref's
//! `sync_to_async`). `offload_serial(f)` runs `f` on one dedicated thread, in
//! submission order, for code that must always run on the same thread
//! (asgiref's `thread_sensitive=True`).
//!
//! The pool's queue is bounded (`GREENLOOP_OFFLOAD_QUEUE` jobs waiting for a
//! thread, default 1024). When it is full, `offload` parks the caller until
//! there is room, first come first served: back-pressure, the way a green
//! thread waits for anything else, rather than an error every caller would
//! have to handle, or a queue that grows without bound while the pool is
//! stuck. Nothing deadlocks on it: room is made by pool threads starting
//! jobs, never by the waiting green threads, and the wait ends early when
//! an enclosing [`timeout`](crate::timeout) expires. [`offload_stats`] shows
//! the queue, its bound and the waiters (the HTTP metrics export them). Host-name
//! lookups do not use this pool (see [`net::resolve`](crate::net::resolve)).

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};

use super::core::core;
use super::park::{in_green_thread, unparker, wait_infallible};
use super::sync::{Semaphore, SemaphorePermit};

type Job = Box<dyn FnOnce() + Send>;

/// Pool threads beyond the first exit after this long without work.
const IDLE_EXIT: Duration = Duration::from_secs(10);

/// Default cap on pool threads; `GREENLOOP_OFFLOAD_THREADS` overrides it.
const DEFAULT_MAX_THREADS: usize = 64;

/// Default cap on jobs waiting for a pool thread; `GREENLOOP_OFFLOAD_QUEUE`
/// overrides it.
const DEFAULT_QUEUE: usize = 1024;

struct Pool {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    max: usize,
    threads: AtomicUsize,
    idle: AtomicUsize,
    busy: AtomicUsize,
    queued: AtomicUsize,
    /// Room in the queue: a job holds a permit from submission until a
    /// thread starts it.
    room: Semaphore,
    capacity: usize,
    /// Green threads parked for room now, and how many ever had to.
    waiting: AtomicUsize,
    waits: AtomicU64,
}

/// A positive whole number from the environment variable `name`.
fn env_count(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|s| s.trim().parse::<usize>().ok()).filter(|n| *n > 0)
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = channel::unbounded();
        let max = env_count("GREENLOOP_OFFLOAD_THREADS").unwrap_or(DEFAULT_MAX_THREADS);
        let capacity = env_count("GREENLOOP_OFFLOAD_QUEUE").unwrap_or(DEFAULT_QUEUE);
        Pool {
            tx,
            rx,
            max,
            threads: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            room: Semaphore::new(capacity),
            capacity,
            waiting: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
        }
    })
}

impl Pool {
    /// A place in the queue: at once if there is room and nobody waits for
    /// it, else after parking in line (unwinding to an expired `timeout`).
    fn reserve(&'static self) -> SemaphorePermit<'static> {
        if let Some(permit) = self.room.try_acquire() {
            return permit;
        }
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.waiting.fetch_add(1, Ordering::AcqRel);
        struct Waiting(&'static AtomicUsize);
        impl Drop for Waiting {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _waiting = Waiting(&self.waiting);
        self.room.acquire()
    }

    fn submit(&'static self, job: Job) {
        let queued = self.queued.fetch_add(1, Ordering::AcqRel) + 1;
        // The receiver lives in the static pool, so the channel never disconnects.
        let _ = self.tx.send(job);
        // More jobs waiting than threads waiting for jobs: add a thread. (A
        // check of "no idle thread" alone would let a burst queue behind one
        // idle worker that has not woken up yet.)
        if queued > self.idle.load(Ordering::Acquire) {
            self.grow();
        }
    }

    fn grow(&'static self) {
        let mut n = self.threads.load(Ordering::Acquire);
        while n < self.max {
            match self.threads.compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    let spawned = thread::Builder::new().name("greenloop-offload".into()).spawn(move || self.work());
                    if spawned.is_err() {
                        self.threads.fetch_sub(1, Ordering::AcqRel);
                        log::warn!("greenloop: could not start an offload thread; queueing");
                    }
                    return;
                }
                Err(current) => n = current,
            }
        }
    }

    fn work(&'static self) {
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            let next = self.rx.recv_timeout(IDLE_EXIT);
            self.idle.fetch_sub(1, Ordering::AcqRel);
            match next {
                Ok(job) => {
                    self.queued.fetch_sub(1, Ordering::AcqRel);
                    self.busy.fetch_add(1, Ordering::AcqRel);
                    job();
                    self.busy.fetch_sub(1, Ordering::AcqRel);
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Keep one thread warm; let the others go.
                    let n = self.threads.load(Ordering::Acquire);
                    if n > 1 && self.threads.compare_exchange(n, n - 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

fn serial_lane() -> &'static Sender<Job> {
    static LANE: OnceLock<Sender<Job>> = OnceLock::new();
    LANE.get_or_init(|| {
        let (tx, rx) = channel::unbounded::<Job>();
        thread::Builder::new()
            .name("greenloop-serial".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("greenloop: cannot start the serial offload thread");
        tx
    })
}

/// Occupancy of the offload pool (process-wide).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffloadStats {
    /// Pool threads alive.
    pub threads: usize,
    /// Threads running a job now.
    pub busy: usize,
    /// Jobs submitted and not yet started.
    pub queued: usize,
    /// The most jobs that may wait for a thread (`GREENLOOP_OFFLOAD_QUEUE`).
    pub capacity: usize,
    /// Green threads parked in `offload` because the queue is full.
    pub waiting: usize,
    /// Times, since the start, that an `offload` had to wait for room.
    pub waits: u64,
}

/// Current occupancy of the offload pool.
pub fn offload_stats() -> OffloadStats {
    let p = pool();
    OffloadStats {
        threads: p.threads.load(Ordering::Relaxed),
        busy: p.busy.load(Ordering::Relaxed),
        queued: p.queued.load(Ordering::Relaxed),
        capacity: p.capacity,
        waiting: p.waiting.load(Ordering::Relaxed),
        waits: p.waits.load(Ordering::Relaxed),
    }
}

/// Runs `f` on the offload thread pool; the green thread parks until it
/// returns. A panic in `f` is resumed on the caller. Outside a green thread,
/// `f` simply runs on the caller.
///
/// The jobs waiting for a pool thread are bounded (`GREENLOOP_OFFLOAD_QUEUE`,
/// default 1024). When the queue is full, the green thread first parks until
/// there is room, in arrival order: back-pressure, as for any other wait,
/// rather than an error for every caller to handle or a queue that grows
/// while the pool is stuck. Room is made by pool threads starting jobs, so
/// the wait cannot deadlock; inside a [`timeout`](crate::timeout) that
/// expires meanwhile it unwinds to that `timeout`, and `f` never runs.
/// [`offload_stats`] shows the queue, its bound and the waiters.
///
/// ```
/// let n = greenloop::run(|| greenloop::offload(|| {
///     std::thread::sleep(std::time::Duration::from_millis(5)); // blocks a pool thread, not the loop
///     7
/// }));
/// assert_eq!(n, 7);
/// ```
pub fn offload<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if !in_green_thread() {
        return f();
    }
    let pool = pool();
    let permit = pool.reserve();
    run_elsewhere(f, move |job| {
        pool.submit(Box::new(move || {
            drop(permit); // Started: its place in the queue is free.
            job();
        }))
    })
}

/// Runs `f` on the one serial offload thread, after everything submitted
/// there before it. For code that is not thread-safe or keeps per-thread state.
pub fn offload_serial<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if !in_green_thread() {
        return f();
    }
    run_elsewhere(f, |job| {
        let _ = serial_lane().send(job);
    })
}

fn run_elsewhere<T, F>(f: F, submit: impl FnOnce(Job)) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot: Arc<Mutex<Option<thread::Result<T>>>> = Arc::new(Mutex::new(None));
    let (result, waker) = (slot.clone(), unparker());
    submit(Box::new(move || {
        let r = catch_unwind(AssertUnwindSafe(f));
        *result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        waker.unpark();
    }));
    let c = core();
    loop {
        if let Some(r) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return r.unwrap_or_else(|p| resume_unwind(p));
        }
        wait_infallible(c, crate::runtime::thread_info::WaitReason::Offload);
    }
}
