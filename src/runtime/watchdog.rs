//! The watchdog: names the green thread that blocks the loop.
//!
//! Code that blocks the OS thread (`std::thread::sleep`, a blocking std
//! socket or file read, a C library call, a long computation) stalls every
//! other request on that loop. The watchdog catches it by default and says
//! who did it.
//!
//! How: at every switch into a green thread the loop stores its switch count
//! (odd while a green thread runs) and the task's address: two relaxed stores,
//! no lock, no syscall. One process-wide watchdog thread samples every loop a
//! few times per threshold. A loop whose odd count has not moved for longer
//! than the threshold is blocked by the task it points at: the watchdog logs
//! a warning naming it (its name, or the label the HTTP server gives each
//! request: method, route and request id), then, when it finally yields, the
//! total. Reports go through the `log` facade (target `greenloop::watchdog`).
//!
//! The threshold defaults to 20 ms (gevent's monitor: 100 ms, off by default;
//! Go preempts at 10 ms); set it with `Builder::watchdog` or
//! `GREENLOOP_WATCHDOG_MS` (0 turns it off).

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::core::{Task, try_core};

/// Default blocking threshold.
pub const DEFAULT_THRESHOLD: Duration = Duration::from_millis(20);

/// What one loop shares with the watchdog thread.
pub(crate) struct WatchState {
    /// 2n+1 while the n-th switch's green thread runs, 2n+2 after it yields.
    epoch: AtomicU64,
    task: AtomicPtr<Task>,
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
    pub(crate) fn new(threshold: Duration) -> Arc<WatchState> {
        let w = Arc::new(WatchState {
            epoch: AtomicU64::new(0),
            task: AtomicPtr::new(std::ptr::null_mut()),
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
    pub(crate) fn enter(&self, n: u64, task: *const Task) {
        self.task.store(task as *mut Task, Ordering::Relaxed);
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
        // shutdown; `label` is a Mutex, safe to read from here. A reused box
        // may hold another task's label: the epoch re-check below catches it.
        let label = unsafe { (*task).label.lock().unwrap_or_else(|e| e.into_inner()).clone() };
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
    super::log_text::push_escaped(&mut out, text, '\'');
    out.push('\'');
    out
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

/// What the watchdog calls a green thread in its reports.
#[derive(Clone)]
pub(crate) enum LabelText {
    Fixed(Arc<str>),
    Shared(Label),
}

impl LabelText {
    fn text(&self) -> String {
        match self {
            LabelText::Fixed(s) => s.to_string(),
            LabelText::Shared(l) => l.get(),
        }
    }
}

/// Labels the current green thread in watchdog reports. No effect outside
/// a green thread.
pub fn set_label(label: impl Into<Arc<str>>) {
    set(LabelText::Fixed(label.into()));
}

fn set(label: LabelText) {
    if let Some(task) = try_core().and_then(|c| c.current_task()) {
        *task.label.lock().unwrap_or_else(|e| e.into_inner()) = Some((task.id, label));
        task.has_label.set(true);
    }
}

/// A reusable label whose text changes without allocating: attach it to a
/// green thread once, then [`set`](Label::set) it per unit of work (the HTTP
/// server does this per request: method, path and request id).
#[derive(Clone, Default)]
pub struct Label {
    inner: Arc<LabelInner>,
}

#[derive(Default)]
struct LabelInner {
    text: Mutex<String>,
    /// The HTTP request the label's green thread is answering (0: none),
    /// shown after the text. Apart from it so that a connection answering
    /// the same method and path again updates only this: one plain store,
    /// where rewriting the text takes a lock and several copies.
    request: AtomicU64,
}

impl Label {
    /// An empty label.
    pub fn new() -> Label {
        Label::default()
    }

    /// Makes this the current green thread's label.
    pub fn attach(&self) {
        set(LabelText::Shared(self.clone()));
    }

    /// Replaces the text (reusing the buffer).
    pub fn set(&self, args: std::fmt::Arguments<'_>) {
        use std::fmt::Write;
        self.set_with(|t| {
            let _ = t.write_fmt(args);
        });
    }

    /// Replaces the text by writing into the (cleared) buffer: the cheapest
    /// form, for labels set on every request.
    pub fn set_with(&self, write: impl FnOnce(&mut String)) {
        self.replace(None, write);
    }

    /// Replaces the text and the HTTP request id shown after it together,
    /// so that a reader never pairs the new text with the old id.
    pub(crate) fn set_with_request(&self, id: u64, write: impl FnOnce(&mut String)) {
        self.replace(Some(id), write);
    }

    /// Rewrites the text, and the request id if given, under the text's lock.
    fn replace(&self, request: Option<u64>, write: impl FnOnce(&mut String)) {
        let mut t = self.inner.text.lock().unwrap_or_else(|e| e.into_inner());
        t.clear();
        write(&mut t);
        if let Some(id) = request {
            self.inner.request.store(id, Ordering::Relaxed);
        }
    }

    /// Sets the HTTP request id shown after the (unchanged) text: one store,
    /// no lock. A reader racing with it sees the previous or the new id,
    /// both of requests with this text.
    pub(crate) fn set_request(&self, id: u64) {
        self.inner.request.store(id, Ordering::Relaxed);
    }

    /// The current text.
    pub fn get(&self) -> String {
        let text = self.inner.text.lock().unwrap_or_else(|e| e.into_inner());
        match self.inner.request.load(Ordering::Relaxed) {
            0 => text.clone(),
            id => format!("{text} (request {id})"),
        }
    }
}

impl std::fmt::Debug for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Label").field(&self.get()).finish()
    }
}

/// Blocking incidents seen on the current loop: how many, and for how long in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockingStats {
    /// Incidents reported (a green thread held the loop past the threshold).
    pub incidents: u64,
    /// Total time the loop was held in finished incidents.
    pub blocked: Duration,
}

/// The current loop's blocking incidents (`None` outside a runtime or with the watchdog off).
pub fn blocking_stats() -> Option<BlockingStats> {
    let w = try_core()?.watch.clone()?;
    Some(BlockingStats {
        incidents: w.incidents.load(Ordering::Relaxed),
        blocked: Duration::from_nanos(w.blocked_ns.load(Ordering::Relaxed)),
    })
}

/// Runs `f` and panics if it held the loop longer than `threshold` at any
/// one stretch without parking (gevent's `assert_switches` idea): for tests
/// that code meant to be green really is.
///
/// ```
/// use std::time::Duration;
/// greenloop::run(|| {
///     // Parks often: fine.
///     greenloop::watchdog::assert_no_blocking(Duration::from_millis(50), || {
///         for _ in 0..5 { greenloop::sleep(Duration::from_millis(20)); }
///     });
///     // Blocks the OS thread: caught.
///     let caught = std::panic::catch_unwind(|| {
///         greenloop::watchdog::assert_no_blocking(Duration::from_millis(50), || {
///             std::thread::sleep(Duration::from_millis(120));
///         })
///     });
///     assert!(caught.is_err());
/// });
/// ```
///
/// # Panics
/// Outside a green thread, or when `f` blocked.
pub fn assert_no_blocking<T>(threshold: Duration, f: impl FnOnce() -> T) -> T {
    let core = try_core().expect("assert_no_blocking needs a running greenloop runtime");
    let task = core.current_task().expect("assert_no_blocking must run on a green thread");
    let outer =
        task.measure.replace(Some(super::core::Measure { stretch_start: Instant::now(), longest: Duration::ZERO }));
    let value = f();
    let m = task.measure.replace(outer).expect("measurement in place");
    let longest = m.longest.max(m.stretch_start.elapsed());
    assert!(
        longest <= threshold,
        "greenloop: code held the loop for {:.1} ms without yielding (allowed: {:.1} ms); \
         move blocking work into greenloop::offload",
        longest.as_secs_f64() * 1000.0,
        threshold.as_secs_f64() * 1000.0
    );
    value
}
