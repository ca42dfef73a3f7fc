//! The watchdog thread and what each loop shares with it.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::label::TaskLabel;

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

    /// It stopped running.
    #[inline]
    pub(crate) fn leave(&self, n: u64) {
        self.epoch.store(2 * n + 2, Ordering::Release);
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
        // SAFETY: task boxes are never freed while the runtime lives (they are
        // recycled), and the runtime takes `read_lock` before freeing them at
        // shutdown, so `task` is live and `label_of` may be called on it; the
        // label is a Mutex, safe to read from here. A reused box may hold
        // another task's label: the epoch re-check below catches it.
        let label = unsafe { (*(self.label_of)(task)).lock().unwrap_or_else(|e| e.into_inner()).clone() };
        let (id, label) = label?;
        let text = label.text();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return None;
        }
        Some(format!("#{id} '{text}'"))
    }
}

/// Per-loop state of an incident in progress, kept by the watchdog thread.
struct Watched {
    state: Weak<WatchState>,
    last_epoch: u64,
    since: Instant,
    reported: bool,
    label: Option<String>,
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
        label: None,
    });
    THREAD.call_once(|| {
        let spawned = std::thread::Builder::new().name("greenloop-watchdog".into()).spawn(move || watch(loops));
        if let Err(e) = spawned {
            log::error!(target: "greenloop::watchdog", "cannot start the watchdog thread: {e}");
        }
    });
}

fn watch(loops: &Mutex<Vec<Watched>>) {
    loop {
        let mut interval = Duration::from_millis(5);
        {
            let mut loops = loops.lock().unwrap_or_else(|e| e.into_inner());
            loops.retain(|w| w.state.strong_count() > 0);
            let now = Instant::now();
            for w in loops.iter_mut() {
                let Some(state) = w.state.upgrade() else { continue };
                if state.closed.load(Ordering::Acquire) {
                    continue;
                }
                interval = interval.min(Duration::from_nanos(state.threshold_ns / 4).max(Duration::from_millis(1)));
                check(w, &state, now);
            }
        }
        std::thread::sleep(interval);
    }
}

fn check(w: &mut Watched, state: &WatchState, now: Instant) {
    let epoch = state.epoch.load(Ordering::Acquire);
    if epoch != w.last_epoch {
        if w.reported {
            let held = now - w.since;
            state.blocked_ns.fetch_add(held.as_nanos() as u64, Ordering::Relaxed);
            log::warn!(
                target: "greenloop::watchdog",
                "green thread {} on '{}' released the loop after blocking it for {:.1} ms",
                w.label.as_deref().unwrap_or("<unnamed>"),
                state.thread_name,
                held.as_secs_f64() * 1000.0
            );
        }
        w.last_epoch = epoch;
        w.since = now;
        w.reported = false;
        w.label = None;
        return;
    }
    // Same epoch: an odd one means one green thread has been running all along.
    if epoch % 2 == 1 && !w.reported && (now - w.since).as_nanos() as u64 >= state.threshold_ns {
        w.reported = true;
        w.label = Some(state.label_of(epoch).unwrap_or_else(|| "<unnamed>".into()));
        state.incidents.fetch_add(1, Ordering::Relaxed);
        log::warn!(
            target: "greenloop::watchdog",
            "green thread {} on '{}' has held the loop for {:.0} ms without yielding (threshold {:.0} ms): \
             every other green thread on this loop is waiting. Move blocking code (std::thread::sleep, \
             blocking I/O, C calls, long computations) into greenloop::offload(|| ...)",
            w.label.as_deref().unwrap_or("<unnamed>"),
            state.thread_name,
            (now - w.since).as_secs_f64() * 1000.0,
            state.threshold_ns as f64 / 1e6
        );
    }
}
