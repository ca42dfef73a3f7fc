//! # greenloop
//!
//! Blocking-style Rust, served concurrently on green threads over one `mio`
//! event loop per OS thread.
//!
//! A green thread is a stackful coroutine. When code running on one would
//! wait (a [`sleep`], a socket read, a [`sync::Mutex`], an [`offload`]ed call)
//! it *parks*, and the loop runs whichever green thread is ready. Code stays
//! sequential: no `async`, no `await`, no coloured functions.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let elapsed = greenloop::run(|| {
//!     let start = Instant::now();
//!     // Ten "requests" that each wait 100 ms finish together, not one by one.
//!     let tasks: Vec<_> = (0..10)
//!         .map(|i| move || { greenloop::sleep(Duration::from_millis(100)); i })
//!         .collect();
//!     let results = greenloop::join_all(tasks);
//!     assert_eq!(results, (0..10).collect::<Vec<_>>());
//!     start.elapsed()
//! });
//! assert!(elapsed < Duration::from_millis(900));
//! ```
//!
//! The layers: [`runtime`](crate::Runtime) (green threads, timers, sockets,
//! sync, offload) knows nothing of HTTP; [`http`] is an HTTP/1.1 server built
//! only on the runtime's public API.

pub mod http;
pub mod pool;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
mod runtime;
mod sys;

pub use runtime::block_on;
#[cfg(feature = "tracing")]
pub use runtime::trace;
pub use runtime::{
    Builder, CallLater, Elapsed, Handle, JoinError, JoinHandle, LocalKey, RemoteJoinHandle, Runtime, call_later,
    catch_unwind, consume_budget, join_all, offload, offload_serial, run, sleep, sleep_until, spawn, spawn_detached,
    spawn_named, timeout, timeout_at, yield_now,
};
pub use runtime::{cancel, inspect, net, park, sync, watchdog};
