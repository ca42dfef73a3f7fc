//! The settings of one loop, as a [`Builder`](super::Builder) collects them.

use std::time::Duration;

/// Default green-thread stack: 256 KiB of address space per green thread.
///
/// Only touched pages are resident (a green thread that sleeps uses one or
/// two 4 KiB pages), so the size bounds how deep code may recurse, not memory
/// use. 256 KiB fits ordinary handler code, `format!`/`log` machinery, serde
/// and the panic machinery with room to spare, while 10 000 green threads
/// reserve 2.5 GiB of address space, which 64-bit Linux gives freely. Code
/// that recurses deeply (a recursive-descent parser on untrusted input, say)
/// wants more: `Builder::stack_size` or `GREENLOOP_STACK_SIZE`.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

fn watchdog_from_env() -> Option<Duration> {
    match std::env::var("GREENLOOP_WATCHDOG_MS").ok().and_then(|s| s.trim().parse::<u64>().ok()) {
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms)),
        None => Some(super::watchdog::monitor::DEFAULT_THRESHOLD),
    }
}

/// Settings of one loop.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) stack_size: usize,
    pub(crate) max_pooled_stacks: usize,
    pub(crate) event_capacity: usize,
    pub(crate) page_size: usize,
    pub(crate) abort_on_stack_overflow: bool,
    pub(crate) watchdog: Option<Duration>,
    /// The tokio runtime `block_on` enters on this loop (feature `tokio`);
    /// `None`: the process's shared one.
    #[cfg(feature = "tokio")]
    pub(crate) tokio_handle: Option<tokio::runtime::Handle>,
    /// Whether the loop owns and drives a tokio runtime of its own
    /// (`Builder::tokio_on_loop`, `GREENLOOP_TOKIO_ON_LOOP=1`).
    #[cfg(feature = "tokio")]
    pub(crate) tokio_on_loop: bool,
}

impl Config {
    /// Default settings; the stack size may come from `GREENLOOP_STACK_SIZE`
    /// (bytes), the watchdog threshold from `GREENLOOP_WATCHDOG_MS`.
    pub(crate) fn from_env() -> Config {
        let stack_size = std::env::var("GREENLOOP_STACK_SIZE")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_STACK_SIZE);
        let page_size = crate::sys::page_size();
        Config {
            stack_size,
            max_pooled_stacks: 1024,
            event_capacity: 1024,
            page_size,
            abort_on_stack_overflow: false,
            watchdog: watchdog_from_env(),
            #[cfg(feature = "tokio")]
            tokio_handle: None,
            #[cfg(feature = "tokio")]
            tokio_on_loop: std::env::var("GREENLOOP_TOKIO_ON_LOOP").is_ok_and(|v| v.trim() == "1"),
        }
    }
}
