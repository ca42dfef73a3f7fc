//! The watchdog thread and what each loop shares with it.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::capture::{Capture, RawStack};
use super::label::TaskLabel;

/// The watchdog thread, once started: loops wake it when they stop sleeping.
static WATCHDOG: OnceLock<std::thread::Thread> = OnceLock::new();
/// True while the watchdog thread is parked because every loop sleeps.
static PARKED: AtomicBool = AtomicBool::new(false);

/// Default blocking threshold.
pub const DEFAULT_THRESHOLD: Duration = Duration::from_millis(20);

/// Finds a task's label from the task's address. The loop supplies it: the
/// watchdog does not know the task type, and the loop's switch stores the
/// task's address as it has it, with no arithmetic.
///
/// # Safety
/// `task` must point at a live task of the loop that supplied the function.
pub(crate) type LabelOf = unsafe fn(task: *const ()) -> *const TaskLabel;

/// What one loop shares with the watchdog thread.
pub(crate) struct WatchState {
    /// 2n+1 while the n-th switch's green thread runs, 2n+2 after it yields.
    epoch: AtomicU64,
    /// The running task (opaque: read through `label_of`).
    task: AtomicPtr<()>,
    label_of: LabelOf,
    threshold_ns: u64,
    thread_name: String,
    /// Held while the watchdog reads a task's label, and by the runtime
    /// before it frees task boxes at shutdown.
    pub(crate) read_lock: Mutex<bool>,
    pub(crate) incidents: AtomicU64,
    pub(crate) blocked_ns: AtomicU64,
    closed: AtomicBool,
    /// True while the loop waits for I/O with nothing to run (in `epoll_wait`).
    sleeping: AtomicBool,
    /// Where the loop thread's stack is captured.
    capture: Capture,
    /// A shorter threshold set by `assert_no_blocking` while it runs (0: none).
    pub(crate) assert_ns: AtomicU64,
    /// The last stack captured, with the epoch it was captured in.
    pub(crate) captured: Mutex<Option<(u64, RawStack)>>,
}

impl WatchState {
    pub(crate) fn new(threshold: Duration, label_of: LabelOf) -> Arc<WatchState> {
        let w = Arc::new(WatchState {
            epoch: AtomicU64::new(0),
            task: AtomicPtr::new(std::ptr::null_mut()),
            label_of,
            threshold_ns: threshold.as_nanos().min(u64::MAX as u128) as u64,
            thread_name: std::thread::current().name().unwrap_or("<unnamed>").to_owned(),
            read_lock: Mutex::new(false),
            incidents: AtomicU64::new(0),
            blocked_ns: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            capture: Capture::for_current_thread(),
            assert_ns: AtomicU64::new(0),
            captured: Mutex::new(None),
        });
        register(&w);
        w
    }

    /// A green thread starts running (switch number `n`).
    #[inline]
    pub(crate) fn enter(&self, n: u64, task: *const ()) {
        self.task.store(task.cast_mut(), Ordering::Relaxed);
        self.epoch.store(2 * n + 1, Ordering::Release);
    }

    /// Runs `free` while no label read is in progress, passing it the task
    /// last published by [`enter`](Self::enter): the one box a later read
    /// may still reach, which `free` must keep. Reads load the published
    /// task under the same lock, so any other finished task's box may be
    /// freed inside `free`.
    pub(crate) fn free_tasks<R>(&self, free: impl FnOnce(*const ()) -> R) -> R {
        let _no_reader = self.read_lock.lock().unwrap_or_else(|e| e.into_inner());
        free(self.task.load(Ordering::Acquire))
    }

    /// The current switch epoch (odd while a green thread runs).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// It stopped running.
    #[inline]
    pub(crate) fn leave(&self, n: u64) {
        self.epoch.store(2 * n + 2, Ordering::Release);
    }

    /// The loop is about to wait for I/O with nothing to run: the watchdog
    /// may sleep too (one store, on the way into a blocking syscall).
    #[inline]
    pub(crate) fn idle(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
    }

    /// The loop woke up: make sure the watchdog watches it again.
    #[inline]
    pub(crate) fn busy(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
        // SeqCst on both sides: either the watchdog's re-check (after it set
        // PARKED) sees this loop awake, or this load sees PARKED and wakes it.
        if PARKED.load(Ordering::SeqCst)
            && PARKED.swap(false, Ordering::SeqCst)
            && let Some(t) = WATCHDOG.get()
        {
            t.unpark();
        }
    }

    /// Captures the loop thread's stack if the green thread of `epoch` is
    /// still the one running when it is taken.
    fn capture_stack(&self, epoch: u64) -> Option<RawStack> {
        let stack = super::capture::capture(&self.capture, |kill| {
            let closed = self.read_lock.lock().unwrap_or_else(|e| e.into_inner());
            !*closed && self.epoch.load(Ordering::Acquire) == epoch && kill()
        })?;
        (self.epoch.load(Ordering::Acquire) == epoch).then_some(stack)
    }

    /// The runtime is going away: stop reading its tasks.
    pub(crate) fn close(&self) {
        let mut closed = self.read_lock.lock().unwrap_or_else(|e| e.into_inner());
        *closed = true;
        self.closed.store(true, Ordering::Release);
    }

    /// The running task's label, if the task is still the one of `epoch`.
    fn label_of(&self, epoch: u64) -> Option<String> {
        let closed = self.read_lock.lock().unwrap_or_else(|e| e.into_inner());
        if *closed {
            return None;
        }
        let task = self.task.load(Ordering::Acquire);
        if task.is_null() {
            return None;
        }
        // SAFETY: the runtime frees task boxes only while holding `read_lock`
        // (`free_tasks`, and at shutdown), never the published one, which is
        // what was loaded above under that lock; so `task` is live and
        // `label_of` may be called on it; the
        // label is a Mutex, safe to read from here. A reused box may hold
        // another task's label: the epoch re-check below catches it.
        let label = unsafe { (*(self.label_of)(task)).lock().unwrap_or_else(|e| e.into_inner()).clone() };
        let (id, label) = label?;
        let text = label.text();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return None;
        }
        Some(quoted_label(id, &text))
    }
}

/// `#id 'text'`, the text escaped: a label often holds a request target,
/// which the client chose, and must not reach the terminal raw (an ESC or
/// U+009B drives it, a U+202E reverses what follows). Done here, on the
/// watchdog thread when it reports, so setting a label costs nothing more.
fn quoted_label(id: u64, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 24);
    let _ = std::fmt::Write::write_fmt(&mut out, format_args!("#{id} '"));
    crate::runtime::log_text::push_escaped(&mut out, text, '\'');
    out.push('\'');
    out
}

/// Per-loop state of an incident in progress, kept by the watchdog thread.
struct Watched {
    state: Weak<WatchState>,
    last_epoch: u64,
    since: Instant,
    reported: bool,
    /// A stack was captured in this epoch (or could not be).
    captured: bool,
    label: Option<String>,
    /// The incident's number in `recent_incidents`.
    seq: u64,
}

fn register(state: &Arc<WatchState>) {
    static LOOPS: OnceLock<Mutex<Vec<Watched>>> = OnceLock::new();
    static THREAD: std::sync::Once = std::sync::Once::new();
    // The list exists before the thread that reads it starts (spawning from
    // inside `get_or_init` let the thread look before initialisation ended).
    let loops = LOOPS.get_or_init(|| Mutex::new(Vec::new()));
    loops.lock().unwrap_or_else(|e| e.into_inner()).push(Watched {
        state: Arc::downgrade(state),
        last_epoch: 0,
        since: Instant::now(),
        reported: false,
        captured: false,
        label: None,
        seq: 0,
    });
    THREAD.call_once(|| {
        let spawned = std::thread::Builder::new().name("greenloop-watchdog".into()).spawn(move || watch(loops));
        match spawned {
            Ok(t) => {
                let _ = WATCHDOG.set(t.thread().clone());
            }
            Err(e) => log::error!(target: "greenloop::watchdog", "cannot start the watchdog thread: {e}"),
        }
    });
    // A parked watchdog must look at the new loop.
    if let Some(t) = WATCHDOG.get() {
        t.unpark();
    }
}

/// The threshold at which a stack is captured: the watchdog's, or a
/// shorter one an `assert_no_blocking` is watching for.
fn capture_ns(state: &WatchState) -> u64 {
    match state.assert_ns.load(Ordering::Relaxed) {
        0 => state.threshold_ns,
        a => a.min(state.threshold_ns),
    }
}

fn watch(loops: &Mutex<Vec<Watched>>) {
    loop {
        let mut interval = Duration::from_millis(5);
        let mut all_asleep = true;
        {
            let mut loops = loops.lock().unwrap_or_else(|e| e.into_inner());
            loops.retain(|w| w.state.strong_count() > 0);
            let now = Instant::now();
            for w in loops.iter_mut() {
                let Some(state) = w.state.upgrade() else { continue };
                if state.closed.load(Ordering::Acquire) {
                    continue;
                }
                interval = interval.min(Duration::from_nanos(capture_ns(&state) / 4).max(Duration::from_millis(1)));
                if !state.sleeping.load(Ordering::SeqCst) {
                    all_asleep = false;
                }
                check(w, &state, now);
            }
        }
        if all_asleep {
            // Every loop waits in epoll: nothing can block until one wakes,
            // and a waking loop unparks this thread (`WatchState::busy`). An
            // idle server costs no wake-ups here.
            PARKED.store(true, Ordering::SeqCst);
            if all_sleeping(loops) {
                std::thread::park();
            }
            PARKED.store(false, Ordering::SeqCst);
            continue;
        }
        std::thread::sleep(interval);
    }
}

/// Whether every open loop is sleeping (re-checked after PARKED is set).
fn all_sleeping(loops: &Mutex<Vec<Watched>>) -> bool {
    let loops = loops.lock().unwrap_or_else(|e| e.into_inner());
    loops.iter().all(|w| {
        w.state.upgrade().is_none_or(|s| s.closed.load(Ordering::Acquire) || s.sleeping.load(Ordering::SeqCst))
    })
}

fn check(w: &mut Watched, state: &WatchState, now: Instant) {
    let epoch = state.epoch.load(Ordering::Acquire);
    if epoch != w.last_epoch {
        if w.reported {
            let held = now - w.since;
            state.blocked_ns.fetch_add(held.as_nanos() as u64, Ordering::Relaxed);
            super::incidents::update(w.seq, |i| i.held = Some(held));
            log::warn!(
                target: "greenloop::watchdog",
                "green thread {} on '{}' released the loop after blocking it for {:.1} ms",
                w.label.as_deref().unwrap_or("<unnamed>"),
                crate::runtime::log_text::escape(&state.thread_name),
                held.as_secs_f64() * 1000.0
            );
        }
        w.last_epoch = epoch;
        w.since = now;
        w.reported = false;
        w.captured = false;
        w.label = None;
        return;
    }
    // Same epoch: an odd one means one green thread has been running all along.
    if epoch.is_multiple_of(2) {
        return;
    }
    let running = (now - w.since).as_nanos() as u64;
    let report = !w.reported && running >= state.threshold_ns;
    let mut stack = None;
    if !w.captured && running >= capture_ns(state) {
        // Nothing is captured unless something blocks: this is the only
        // place a capture starts.
        w.captured = true;
        stack = state.capture_stack(epoch);
        if let Some(s) = &stack {
            *state.captured.lock().unwrap_or_else(|e| e.into_inner()) = Some((epoch, s.clone()));
        }
    }
    if report {
        w.reported = true;
        let label = state.label_of(epoch).unwrap_or_else(|| "<unnamed>".into());
        let thread = crate::runtime::log_text::escape(&state.thread_name).into_owned();
        state.incidents.fetch_add(1, Ordering::Relaxed);
        w.seq = super::incidents::record(&thread, &label);
        log::warn!(
            target: "greenloop::watchdog",
            "green thread {label} on '{thread}' has held the loop for {:.0} ms without yielding (threshold {:.0} ms): \
             every other green thread on this loop is waiting. Move blocking code (std::thread::sleep, \
             blocking I/O, C calls, long computations) into greenloop::offload(|| ...)",
            (now - w.since).as_secs_f64() * 1000.0,
            state.threshold_ns as f64 / 1e6
        );
        let stack = stack.or_else(|| {
            let captured = state.captured.lock().unwrap_or_else(|e| e.into_inner());
            captured.as_ref().filter(|(e, _)| *e == epoch).map(|(_, s)| s.clone())
        });
        if let Some(stack) = stack {
            super::report::symbolise_later(w.seq, label.clone(), thread, stack);
        }
        w.label = Some(label);
    }
}
