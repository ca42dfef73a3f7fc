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
//! Which runtime: the one given to [`Builder::tokio_handle`](crate::Builder::tokio_handle)
//! (or [`Server::tokio_handle`](crate::http::Server::tokio_handle)) for the
//! loop the caller runs on, otherwise one shared by the whole process,
//! created on first use with [`DEFAULT_THREADS`] worker threads named
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

/// The handle `block_on` enters on this thread: the loop's own (set with
/// `Builder::tokio_handle`), else the shared runtime's.
pub(crate) fn current_handle() -> Handle {
    super::core::try_core().and_then(|c| c.config.tokio_handle.clone()).unwrap_or_else(shared_handle)
}
