//! Reaching a loop from other OS threads.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::core::{Remote, Shared, core};
use super::join_error::JoinError;
use super::sync::oneshot;

/// A `Send + Sync + Clone` handle to a loop, for other OS threads: spawn
/// green threads onto it, or wake it. Unparking a specific green thread goes
/// through its [`Unparker`](crate::park::Unparker), which carries a handle.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handle")
    }
}

impl Handle {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The handle of the loop running on this OS thread.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn current() -> Handle {
        Handle::from_shared(core().shared.clone())
    }

    /// Runs `f` on a new green thread of this loop. Callable from any thread.
    /// If the loop has shut down, the returned handle reports cancellation.
    pub fn spawn<T, F>(&self, f: F) -> RemoteJoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = move || {
            let result = catch_unwind(AssertUnwindSafe(f));
            match result {
                Err(p) if super::core::force_unwinding() => std::panic::resume_unwind(p),
                r => {
                    let _ = tx.send(r.map_err(JoinError::panic));
                }
            }
        };
        self.shared.push(Remote::Spawn(Box::new(job)));
        RemoteJoinHandle { rx }
    }

    /// Whether `self` and `other` reach the same loop.
    pub fn same_loop(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Whether the loop is still running (accepting remote work).
    pub fn is_alive(&self) -> bool {
        self.shared.alive.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Waits for a green thread spawned through a [`Handle`]. `Send`; `join` works
/// on any thread, green or not.
#[derive(Debug)]
pub struct RemoteJoinHandle<T> {
    rx: oneshot::Receiver<Result<T, JoinError>>,
}

impl<T> RemoteJoinHandle<T> {
    /// Waits for the result (parks a green thread, blocks an OS thread).
    pub fn join(self) -> Result<T, JoinError> {
        match self.rx.recv() {
            Ok(r) => r,
            Err(_) => Err(JoinError::cancelled()),
        }
    }
}
