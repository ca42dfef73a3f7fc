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

pub use channel::{Receiver, Sender, bounded, unbounded};
pub use mutex::{Mutex, MutexGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
