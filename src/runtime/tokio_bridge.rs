//! The tokio runtime behind [`block_on`](crate::block_on) (feature `tokio`).
//!
//! Async libraries built on tokio (reqwest, sqlx, redis, lapin, async-nats,
//! rumqttc...) open tokio sockets, arm tokio timers and call `tokio::spawn`,
//! all of which look for tokio's context in a thread-local. `block_on` enters
//! that context around each poll of the future, on the green thread, and
//! leaves it before parking (see `block_on.rs`). The context belongs to a
//! tokio runtime whose own threads drive the I/O and timer drivers and run
//! the tasks libraries spawn, the way smol's `async-compat` does: when a
//! socket becomes ready, tokio's driver calls the future's waker on its
//! thread, which unparks the green thread through the loop's remote queue.
//!
//! The loop also keeps the context entered on its OS thread for as long as
//! [`Runtime::run`](crate::Runtime::run) drives it, so that a future *made*
//! on a green thread (`tokio::time::sleep(d)`, which wants the timer when
//! called, not when polled) or a direct `tokio::spawn` finds it too. Why
//! that is sound: tokio keeps its current context in a thread-local and
//! requires guards to be dropped last-entered-first-left. The loop's guard
//! is taken on the OS thread's own stack before the first green thread
//! runs, and dropped after the loop returns, outside every green thread.
//! Green threads switch stacks, not threads, so they all see it; the guards
//! `block_on` takes around each poll nest inside it and are dropped before
//! the green thread can park, so none is outstanding when the loop's is
//! dropped. A parked green thread holds no guard; one cancelled while
//! parked drops its future inside a guard of its own. Entering a handle is
//! not *running* a runtime: `Runtime::block_on` of another runtime (the
//! sync `postgres` crate does that) still works on a green thread.
//!
//! Which runtime a constructor finds: the loop's handle, or the shared
//! runtime, which with the feature is created when a loop first runs (a
//! constructor gives no other chance to create it: tokio looks in the
//! thread-local and panics when it is empty).
//!
//! Which runtime: the one given to [`Builder::tokio_handle`](crate::Builder::tokio_handle)
//! (or [`Server::tokio_handle`](crate::http::Server::tokio_handle)) for the
//! loop the caller runs on, otherwise one shared by the whole process,
//! created when a loop first runs (or at the first `block_on` on a plain
//! thread) with [`DEFAULT_THREADS`] worker threads named
//! `greenloop-tokio`.

use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime};

/// Worker threads of the runtime `block_on` creates when given none: they
/// drive tokio's I/O and timer drivers and run spawned tasks, while the
/// futures themselves are polled on the green threads. Overridden by
/// `GREENLOOP_TOKIO_THREADS`.
pub(crate) const DEFAULT_THREADS: usize = 1;

/// The process's shared bridge runtime, made on first use and never shut
/// down (a `static` is never dropped), so its handle stays valid.
static SHARED: OnceLock<Runtime> = OnceLock::new();

fn threads_from_env() -> usize {
    std::env::var("GREENLOOP_TOKIO_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_THREADS)
}

/// The shared runtime's handle, creating the runtime on first use.
///
/// # Panics
/// If the runtime cannot be created (the OS refuses a thread or an epoll
/// instance): there is then no way to run the future.
pub(crate) fn shared_handle() -> Handle {
    SHARED
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads_from_env())
                .thread_name("greenloop-tokio")
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("greenloop: cannot start the tokio runtime that block_on uses: {e}"))
        })
        .handle()
        .clone()
}

/// The handle `block_on` enters on this thread: the runtime the loop
/// drives (`Builder::tokio_on_loop`), the loop's own (set with
/// `Builder::tokio_handle`), else the shared runtime's.
pub(crate) fn current_handle() -> Handle {
    match super::core::try_core() {
        Some(c) => match (&c.tokio, &c.config.tokio_handle) {
            (Some(local), _) => local.handle().clone(),
            (None, Some(h)) => h.clone(),
            (None, None) => shared_handle(),
        },
        None => shared_handle(),
    }
}
