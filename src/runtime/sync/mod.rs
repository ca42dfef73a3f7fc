//! Green-aware synchronisation: waiting parks the green thread, never the
//! OS thread.
//!
//! Every type here is `Send + Sync` where std's is, and works between green
//! threads of one loop, between loops, and with plain OS threads (which
//! block as usual). Internally each holds a std mutex only for a few
//! instructions, never across a park.

pub mod channel;
mod lock;
mod mutex;
pub mod oneshot;
mod semaphore;

pub use mutex::{Mutex, MutexGuard};
pub use semaphore::{Semaphore, SemaphorePermit};

// The channel's names live in their module, as the oneshot's do
// (`sync::channel::Sender` beside `sync::oneshot::Sender`); these are the
// former shortcuts, one path too many for one type.

/// The former path of [`channel::Sender`].
#[deprecated(since = "0.2.0", note = "use `greenloop::sync::channel::Sender`")]
pub type Sender<T> = channel::Sender<T>;

/// The former path of [`channel::Receiver`].
#[deprecated(since = "0.2.0", note = "use `greenloop::sync::channel::Receiver`")]
pub type Receiver<T> = channel::Receiver<T>;

/// The former path of [`channel::bounded`].
#[deprecated(since = "0.2.0", note = "use `greenloop::sync::channel::bounded`")]
pub fn bounded<T>(capacity: usize) -> (channel::Sender<T>, channel::Receiver<T>) {
    channel::bounded(capacity)
}

/// The former path of [`channel::unbounded`].
#[deprecated(since = "0.2.0", note = "use `greenloop::sync::channel::unbounded`")]
pub fn unbounded<T>() -> (channel::Sender<T>, channel::Receiver<T>) {
    channel::unbounded()
}
