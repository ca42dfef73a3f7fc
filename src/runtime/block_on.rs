//! `block_on`: run a future to completion from blocking-style code.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use super::park;
use super::thread_info::WaitReason;
use super::wake_signal::WakeSignal;

/// Runs `future` to completion on the caller and returns its output.
///
/// This is the bridge from blocking-style code to async libraries (what
/// asgiref's `async_to_sync` is to Django, without a thread): on a green
/// thread, the future is polled right here, and while it is pending the
/// green thread *parks*, so the loop runs every other green thread. The
/// future's [`Waker`](std::task::Waker) unparks it from any thread: another green thread,
/// an offload thread, a foreign thread pool. [`offload`](crate::offload)
/// is the other direction.
///
/// Async libraries built on tokio (reqwest, sqlx, redis, lapin, async-nats,
/// rumqttc, `tokio::time::sleep`, `tokio::spawn`) need tokio's context: its
/// reactor, its timers, a runtime to spawn onto. With the **`tokio`** feature,
/// `block_on` enters a tokio runtime's context around each poll (its guard
/// is never held across a park, as green threads on one OS thread interleave),
/// while that runtime's own threads drive tokio's I/O and timer drivers and
/// run the tasks the library spawns. The future itself is still polled here,
/// on the green thread, so it needs neither `Send` nor `'static`. The runtime
/// is the loop's own (`Builder::tokio_handle`,
/// `Server::tokio_handle`) or one shared
/// by the process, created when a loop first runs. See `docs/ECOSYSTEM.md`.
///
/// On a green thread the context is there all along, not only during polls:
/// the loop keeps it entered on its OS thread while it runs. So futures whose
/// constructor looks for it when *called* can be made anywhere in a
/// handler, `block_on(tokio::time::sleep(d))` included, and `tokio::spawn`
/// works without `block_on` (its `JoinHandle` is a future to `block_on`
/// later). Outside a green thread (a plain OS thread, an
/// [`offload`](crate::offload) closure) the context exists only while
/// `block_on` polls: make such futures inside the async block there,
/// `block_on(async { tokio::time::sleep(d).await })`. `async fn`s are lazy
/// and may be called either way.
///
/// **Without the `tokio` feature** there is no tokio context: a future that
/// needs one (`tokio::net`, `tokio::time::sleep`, `tokio::spawn`) panics on
/// its first poll with tokio's own message, "there is no reactor running,
/// must be called from the context of a Tokio 1.x runtime"; turn the feature
/// on. Futures that wait only on greenloop's own sockets (with the
/// `tokio-io` feature they implement tokio's `AsyncRead` and `AsyncWrite`),
/// channels or other threads need no tokio context at all.
///
/// Bound any call with [`timeout`](crate::timeout): when its deadline
/// passes, the future is dropped (inside the tokio context, with the
/// feature) and `timeout` returns `Err(Elapsed)`. A future that panics
/// unwinds to the caller (a server's handler answers 500 and its worker
/// lives on). While it waits, [`inspect::threads`](crate::inspect::threads)
/// shows the green thread as waiting on a `future`.
///
/// A future must not park the green thread from inside its `poll` (calling
/// [`sleep`](crate::sleep) or a green socket's blocking `read` there): the
/// tokio context is entered during the poll, and another green thread would
/// enter and leave its own meanwhile, out of order, which tokio refuses with
/// a panic. Await async operations inside the future instead.
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
///
/// With the `tokio` feature:
///
/// ```
/// # #[cfg(feature = "tokio")] {
/// use std::time::Duration;
/// let n = greenloop::run(|| {
///     greenloop::block_on(tokio::time::sleep(Duration::from_millis(1)));
///     let task = tokio::spawn(async { 6 * 7 });
///     greenloop::block_on(async {
///         tokio::time::sleep(Duration::from_millis(1)).await;
///         task.await.unwrap()
///     })
/// });
/// assert_eq!(n, 42);
/// # }
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(feature = "tokio")]
    let tokio = super::tokio_bridge::current_handle();
    let mut slot = Slot {
        future: pin!(Some(future)),
        #[cfg(feature = "tokio")]
        tokio: &tokio,
    };
    let (signal, waker) = WakeSignal::new();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = slot.poll(&mut cx) {
            return out;
        }
        if signal.take() {
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
        while !signal.take() {
            park::park_as(WaitReason::Future);
        }
    }
}

/// The future being run, pinned in `block_on`'s frame, with the tokio
/// context it is polled and dropped in (feature `tokio`).
struct Slot<'a, F> {
    /// `None` once dropped.
    future: Pin<&'a mut Option<F>>,
    #[cfg(feature = "tokio")]
    tokio: &'a tokio::runtime::Handle,
}

impl<F: Future> Slot<'_, F> {
    /// One poll, inside the tokio context (feature `tokio`): the guard is
    /// dropped when this returns, before the caller can park, so guards of
    /// green threads sharing the OS thread are always dropped in the order
    /// tokio requires (last entered, first left).
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        #[cfg(feature = "tokio")]
        let _entered = self.tokio.enter();
        match self.future.as_mut().as_pin_mut() {
            Some(future) => future.poll(cx),
            None => unreachable!("block_on polled its future after dropping it"),
        }
    }
}

impl<F> Drop for Slot<'_, F> {
    /// Drops the future in place, inside the tokio context (feature `tokio`):
    /// whether it finished, panicked or was cancelled by a `timeout` scope,
    /// a library's destructor may deregister a socket or spawn a clean-up task.
    fn drop(&mut self) {
        #[cfg(feature = "tokio")]
        let _entered = self.tokio.enter();
        self.future.set(None);
    }
}
