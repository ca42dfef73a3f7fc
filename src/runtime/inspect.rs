//! What the runtime can tell about itself: the loop's clock, its counters,
//! the offload pool's, and how deep the current green thread's stack is.
//!
//! These are for metrics, diagnostics and tests, not for everyday handler
//! code; they live apart from the crate root so the root stays the
//! vocabulary a handler is written in.

pub use super::offload::{OffloadStats, offload_stats};
pub use super::stats::LoopStats;
pub use super::threads::{GreenThread, ThreadState, WaitReason, json_str as json_string, threads, threads_timeout};

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
    super::core::try_core().map_or_else(std::time::Instant::now, |c| c.now())
}

/// [`loop_time`] and the same moment on the raw monotonic clock, in
/// nanoseconds ([`sys::monotonic_ns`](crate::sys::monotonic_ns)): for a
/// server that measures its requests' latency as integers.
pub(crate) fn loop_time_ns() -> (std::time::Instant, u64) {
    super::core::try_core().map_or_else(|| (std::time::Instant::now(), crate::sys::monotonic_ns()), |c| c.now_both())
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
    super::core::try_core().and_then(|c| c.stack_used())
}

/// Counters of the loop running on this OS thread (`None` outside a runtime).
pub fn loop_stats() -> Option<LoopStats> {
    super::core::try_core().map(|c| c.stats())
}
