//! Creating and running a loop.

use std::io;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Duration;

use super::config::Config;
use super::core::Core;
use super::handle::Handle;
use super::overflow;
use super::task::{self, JoinHandle};

/// Settings for a [`Runtime`].
///
/// ```
/// let rt = greenloop::Builder::new().stack_size(512 * 1024).build().unwrap();
/// assert_eq!(rt.run(|| 6 * 7), 42);
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Default settings; the stack size may come from `GREENLOOP_STACK_SIZE` (bytes).
    pub fn new() -> Builder {
        Builder { config: Config::from_env() }
    }

    /// Usable stack bytes per green thread (rounded up to whole pages; at least 16 KiB).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        let page = self.config.page_size;
        self.config.stack_size = bytes.max(16 * 1024).div_ceil(page) * page;
        self
    }

    /// How many idle stacks the loop keeps for reuse (default 1024). Stacks
    /// returned beyond this are unmapped, giving their memory back, a few at
    /// a time whenever the loop is idle.
    pub fn max_pooled_stacks(mut self, n: usize) -> Builder {
        self.config.max_pooled_stacks = n;
        self
    }

    /// Readiness events taken from the OS per poll (default 1024).
    pub fn event_capacity(mut self, n: usize) -> Builder {
        self.config.event_capacity = n.max(16);
        self
    }

    /// Abort the process when a green thread overflows its stack, instead of
    /// failing only that green thread (default: fail only that green thread;
    /// see the crate docs for what that leaks).
    pub fn abort_on_stack_overflow(mut self, abort: bool) -> Builder {
        self.config.abort_on_stack_overflow = abort;
        self
    }

    /// Report green threads that hold the loop longer than `threshold`
    /// without parking (`None`: no watchdog). Default 20 ms, or
    /// `GREENLOOP_WATCHDOG_MS` (0 turns it off). See [`crate::watchdog`].
    pub fn watchdog(mut self, threshold: Option<Duration>) -> Builder {
        self.config.watchdog = threshold.filter(|t| !t.is_zero());
        self
    }

    /// The tokio runtime whose context [`block_on`](crate::block_on) enters
    /// on this loop, and the loop keeps entered while it runs (feature
    /// `tokio`), instead of the one greenloop creates when a loop first runs
    /// and shares across the process: for an application that
    /// already runs tokio and wants one set of tokio threads, or to size
    /// and name them itself.
    ///
    /// The runtime must drive itself: a multi-thread runtime, or a
    /// current-thread runtime running `block_on` on a thread of its own.
    /// The future is polled on the green thread; only tokio's drivers and
    /// the tasks the library spawns run on that runtime's threads. When that
    /// runtime is shut down, bridged calls fail (tokio's "being shutdown"
    /// panic, or the library's error) instead of waiting forever.
    ///
    /// ```
    /// let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    /// let rt = greenloop::Builder::new().tokio_handle(tokio.handle().clone()).build().unwrap();
    /// let n = rt.run(|| {
    ///     greenloop::block_on(async {
    ///         tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    ///         42
    ///     })
    /// });
    /// assert_eq!(n, 42);
    /// ```
    #[cfg(feature = "tokio")]
    pub fn tokio_handle(mut self, handle: tokio::runtime::Handle) -> Builder {
        self.config.tokio_handle = Some(handle);
        self
    }

    /// Gives this loop a tokio runtime of its own, driven by the loop on its
    /// thread (feature `tokio`; default off, or `GREENLOOP_TOKIO_ON_LOOP=1`),
    /// instead of tokio's threads: bridged futures' wakes and the tasks
    /// libraries spawn then stay on the worker's thread, which saves the
    /// thread crossings a latency-bound loop of queries pays (figures in
    /// docs/ECOSYSTEM.md). The loop sleeps in one `epoll_wait` for its own
    /// sockets and tokio's, and gives tokio a non-blocking tick each turn
    /// while busy. Spawned tasks then share the worker's CPU, and a task
    /// that blocks holds the loop. Takes precedence over
    /// [`tokio_handle`](Self::tokio_handle).
    ///
    /// ```
    /// let rt = greenloop::Builder::new().tokio_on_loop(true).build().unwrap();
    /// let name = rt.run(|| {
    ///     greenloop::block_on(async { tokio::spawn(async { std::thread::current().name().map(str::to_owned) }).await })
    /// });
    /// assert_eq!(name.unwrap(), std::thread::current().name().map(str::to_owned));
    /// ```
    #[cfg(feature = "tokio")]
    pub fn tokio_on_loop(mut self, on: bool) -> Builder {
        self.config.tokio_on_loop = on;
        self
    }

    /// Creates the runtime on the current OS thread.
    pub fn build(self) -> io::Result<Runtime> {
        overflow::install();
        Ok(Runtime { core: Box::new(Core::new(self.config)?), _not_send: PhantomData })
    }
}

/// One event loop and its green threads, bound to the OS thread that made it.
///
/// Most programs call [`run`] instead. A `Runtime` is neither `Send` nor
/// `Sync`: its green threads never migrate. Other threads reach it through a
/// [`Handle`].
pub struct Runtime {
    core: Box<Core>,
    _not_send: PhantomData<Rc<()>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime with default settings.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Runs `f` on a green thread and drives the loop until it returns. Other
    /// green threads still alive then stay parked until the next `run`,
    /// or are cancelled (unwound) when the runtime is dropped.
    ///
    /// A panic in `f` is resumed on the caller.
    ///
    /// # Panics
    /// When called from inside a green thread (a runtime is already running on
    /// this OS thread), or if the OS refuses the poll syscall.
    ///
    /// Named like [`greenloop::run`](crate::run), which does the same on a
    /// runtime of its own; [`greenloop::block_on`](crate::block_on) is the
    /// other thing (a future, on the calling green thread).
    pub fn run<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> T {
        if super::core::try_core().is_some_and(|c| c.current().is_some()) {
            panic!("greenloop: Runtime::run called from inside a green thread; use spawn or join_all");
        }
        let _enter = self.core.enter();
        // Feature `tokio`: tokio's context stays entered on this OS thread
        // while the loop runs, outside every green thread (why that is
        // sound: `tokio_bridge.rs`); declared after `_enter`, left first.
        #[cfg(feature = "tokio")]
        let tokio = super::tokio_bridge::current_handle();
        #[cfg(feature = "tokio")]
        let _tokio_context = tokio.enter();
        let handle: JoinHandle<T> = task::spawn(f);
        let done = || handle.is_finished();
        // Between two `run`s the loop runs nothing: the watchdog may sleep.
        let watch = self.core.watch.as_deref();
        watch.inspect(|w| w.busy());
        let ran = self.core.run_until(&done);
        watch.inspect(|w| w.idle());
        if let Err(e) = ran {
            panic!("greenloop: the event loop failed: {e}");
        }
        match handle.try_take() {
            Some(Ok(v)) => v,
            Some(Err(e)) => match e.into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(e) => panic!("{e}"),
            },
            None => unreachable!("Runtime::run returned before its green thread finished"),
        }
    }

    /// The former name of [`Runtime::run`]: it takes a closure, not a future,
    /// and read like [`greenloop::block_on`](crate::block_on), which does.
    #[deprecated(since = "0.2.0", note = "renamed to `Runtime::run`")]
    pub fn block_on<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> T {
        self.run(f)
    }

    /// A handle other OS threads can use to spawn onto, or wake, this loop.
    pub fn handle(&self) -> Handle {
        Handle::from_shared(self.core.shared.clone())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _enter = self.core.enter();
        self.core.shutdown();
    }
}

/// Starts a runtime on the current OS thread, runs `f` on a green thread and
/// drives the loop until `f` returns; returns its result.
///
/// ```
/// let n = greenloop::run(|| {
///     greenloop::sleep(std::time::Duration::from_millis(1));
///     42
/// });
/// assert_eq!(n, 42);
/// ```
///
/// # Panics
/// If the runtime cannot be created (the OS refuses an epoll instance), if
/// called from inside a green thread, or if `f` panics (the panic is resumed).
pub fn run<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("greenloop: cannot start a runtime: {e}"));
    rt.run(f)
}
