//! The green-thread runtime: one `mio` event loop per OS thread, green threads
//! on pooled guarded stacks, and one park/unpark primitive under everything.
//!
//! Nothing in here knows about HTTP.

mod block_on;
pub(crate) mod blocks;
mod builder;
pub mod cancel;
mod config;
mod core;
mod handle;
pub mod inspect;
mod join_error;
mod local;
pub(crate) mod log_text;
mod offload;
mod overflow;
mod stack;
mod stats;
mod task;
mod thread_info;
mod threads;
mod time;
mod timers;
#[cfg(feature = "tokio")]
mod tokio_bridge;
#[cfg(feature = "tracing")]
pub mod trace;
pub(crate) mod wake_signal;

pub mod net;
pub mod park;
pub mod sync;
pub mod watchdog;

pub use block_on::block_on;
pub use builder::{Builder, Runtime, run};
pub use handle::{Handle, RemoteJoinHandle};
pub use join_error::JoinError;
pub use local::LocalKey;
pub use offload::{offload, offload_serial};
pub use task::{JoinHandle, catch_unwind, join_all, spawn, spawn_detached, spawn_named};
pub use time::{CallLater, Elapsed, call_later, consume_budget, sleep, sleep_until, timeout, timeout_at, yield_now};
