//! The `Waker` of a green thread that polls a future and parks between polls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};

use crate::park::Unparker;

/// Notes a wake-up and unparks the green thread that made it; only the first
/// wake-up since the last [`take`](Self::take) unparks. Used by `block_on`
/// and by the HTTP/2 connection driver.
pub(crate) struct WakeSignal {
    woken: AtomicBool,
    unparker: Unparker,
}

impl WakeSignal {
    /// A signal for the current green thread, and a `Waker` that sets it.
    pub(crate) fn new() -> (Arc<WakeSignal>, Waker) {
        let signal = Arc::new(WakeSignal { woken: AtomicBool::new(false), unparker: crate::park::unparker() });
        let waker = Waker::from(signal.clone());
        (signal, waker)
    }

    /// Whether a wake-up came since the last call (and clears it).
    pub(crate) fn take(&self) -> bool {
        self.woken.swap(false, Ordering::Acquire)
    }

    /// Whether a wake-up came since the last `take` or `clear`.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn is_set(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    /// Forgets a wake-up (before a poll that will see its cause anyway).
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn clear(&self) {
        self.woken.store(false, Ordering::Release);
    }
}

impl Wake for WakeSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            self.unparker.unpark();
        }
    }
}
