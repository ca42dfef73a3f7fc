//! `block_on`: run a future to completion from blocking-style code.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use super::park::{self, Unparker};

/// Runs `future` to completion on the caller and returns its output.
///
/// This is the bridge from blocking-style code to async libraries (what
/// asgiref's `async_to_sync` is to Django, without a thread): on a green
/// thread, the future is polled right here, and while it is pending the
/// green thread *parks*, so the loop runs every other green thread. The
/// future's [`Waker`] unparks it from any thread: another green thread,
/// an offload thread, a foreign thread pool. [`offload`](crate::offload)
/// is the other direction.
///
/// Async code that waits on sockets must do so on greenloop's own sockets
/// (with the `tokio-io` feature they implement tokio's `AsyncRead` and
/// `AsyncWrite`): there is no tokio reactor here, so a future that needs
/// one (`tokio::net`, `tokio::time::sleep`) is never woken and stays
/// pending. Bound such mistakes with [`timeout`](crate::timeout) around the
/// call, which also bounds any other wait: when its deadline passes, the
/// future is dropped and `timeout` returns `Err(Elapsed)`.
///
/// Outside a green thread (a plain OS thread, a test's main thread) the
/// same happens with the OS thread: it parks with `std::thread::park` until
/// the waker is called. Futures woken by other threads (channels, offloaded
/// work) complete there too; futures that wait on green sockets cannot, as
/// those exist only inside a runtime.
///
/// ```
/// let n = greenloop::run(|| greenloop::block_on(async { 6 * 7 }));
/// assert_eq!(n, 42);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let signal = Arc::new(Signal { woken: AtomicBool::new(false), unparker: park::unparker() });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        if signal.woken.swap(false, Ordering::Acquire) {
            // Woken during its own poll (a future that yields by waking
            // itself): let the other green threads run before polling again,
            // or such a future would hold the loop.
            if park::in_green_thread() {
                super::time::yield_now();
            }
            continue;
        }
        // Parks may return spuriously (an unpark meant for an earlier wait
        // on this green thread): poll again only once the waker was called.
        while !signal.woken.swap(false, Ordering::Acquire) {
            park::park();
        }
    }
}

/// What a `block_on` waker does: note the wake-up, then unpark the waiter.
struct Signal {
    woken: AtomicBool,
    unparker: Unparker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Only the first wake-up since the last poll needs to unpark.
        if !self.woken.swap(true, Ordering::Release) {
            self.unparker.unpark();
        }
    }
}
