//! The green-thread runtime: one `mio` event loop per OS thread, green threads
//! on pooled guarded stacks, and one park/unpark primitive under everything.
//!
//! Nothing in here knows about HTTP.

mod builder;
mod config;
mod core;
mod handle;
mod join_error;
mod local;
pub(crate) mod log_text;
mod offload;
mod overflow;
mod stack;
mod stats;
mod task;
mod time;
mod timers;

pub mod net;
pub mod park;
pub mod sync;
pub mod watchdog;

pub use builder::{Builder, Runtime, run};
pub use handle::{Handle, RemoteJoinHandle};
pub use join_error::JoinError;
pub use local::LocalKey;
pub use offload::{OffloadStats, offload, offload_serial, offload_stats};
pub use stats::LoopStats;
pub use task::{JoinHandle, catch_unwind, join_all, spawn, spawn_detached, spawn_named};
pub use time::{CallLater, Elapsed, call_later, sleep, sleep_until, timeout, timeout_at, yield_now};

/// The time this loop last returned from polling for I/O: a clock reading
/// taken once per turn of the loop, as nginx caches its time, for
/// timestamps that need not be finer than one turn (when bytes arrived,
/// when a request started). Outside a runtime, `Instant::now()`.
///
/// A turn that found no I/O while no timer was pending skips the reading,
/// so in a loop doing nothing but switching between green threads it stays
/// where it was.
///
/// It lags the true time by however long the code since the last poll
/// has run; a handler that blocked the loop for a second makes it a second
/// stale, so time a piece of work with `Instant::now()`.
pub fn loop_time() -> std::time::Instant {
    self::core::try_core().map_or_else(std::time::Instant::now, |c| c.now())
}

/// How many bytes of the current green thread's stack are in use at this
/// call, frames of the caller's callers included (`None` outside a green
/// thread).
///
/// A parked green thread keeps resident every stack page it has touched,
/// so this is what a deep call chain costs per connection: 4 KiB pages,
/// each one more per parked handler. The HTTP server keeps its own frames
/// under a handler to about 2.8 KiB in an optimised build.
pub fn stack_used() -> Option<usize> {
    self::core::try_core().and_then(|c| c.stack_used())
}

/// Counters of the loop running on this OS thread (`None` outside a runtime).
pub fn loop_stats() -> Option<LoopStats> {
    self::core::try_core().map(|c| c.stats())
}
