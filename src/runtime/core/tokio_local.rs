//! A tokio runtime driven by the loop itself (feature `tokio`, opt-in with
//! `Builder::tokio_on_loop` or `GREENLOOP_TOKIO_ON_LOOP=1`).
//!
//! By default bridged futures wait on tokio's I/O driver on a thread of its
//! own, and every wake crosses threads (docs/ECOSYSTEM.md counts them).
//! Here each loop owns a current-thread tokio runtime instead, and drives it
//! from its own thread: when the loop has nothing to run it sleeps in
//! tokio's `block_on`, with the loop's own epoll instance registered in
//! tokio's (an epoll fd is readable while it has events), so one
//! `epoll_wait` covers greenloop's sockets, tokio's sockets and tokio's
//! timers; when the loop is busy it gives tokio one non-blocking tick per
//! turn. Tasks libraries spawn then run on the worker's thread, between
//! green threads, and a wake from tokio's driver reaches the green thread
//! without leaving the thread.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::runtime::{Handle, Runtime};

use super::Core;

/// The loop's epoll fd, as tokio registers it (not owned: the loop's
/// `mio::Poll` closes it).
struct EpollFd(RawFd);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A loop's own tokio runtime.
pub(crate) struct LocalTokio {
    /// Registered on first use, inside the runtime; dropped before it.
    epoll: RefCell<Option<AsyncFd<EpollFd>>>,
    rt: Runtime,
    /// The waker of the idle wait, while the loop sleeps in tokio: a green
    /// thread made runnable by a tokio waker on this thread ends the wait.
    pub(super) idle_waker: Cell<Option<Waker>>,
}

impl LocalTokio {
    pub(crate) fn new() -> std::io::Result<LocalTokio> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(LocalTokio { epoll: RefCell::new(None), rt, idle_waker: Cell::new(None) })
    }

    /// The handle bridged futures use on this loop.
    pub(crate) fn handle(&self) -> &Handle {
        self.rt.handle()
    }

    /// One non-blocking tick: runs the tasks that are ready and polls
    /// tokio's driver once without waiting.
    pub(super) fn tick(&self) {
        self.rt.block_on(tokio::task::yield_now());
    }

    /// Sleeps in tokio until the loop has work: an event on its epoll fd
    /// (its sockets, a remote message), a green thread made runnable here,
    /// or `timeout` (the loop's next timer).
    pub(super) fn wait(&self, core: &Core, fd: RawFd, timeout: Option<Duration>) {
        self.rt.block_on(async {
            if self.epoll.borrow().is_none() {
                // SAFETY: `fd` is the loop's epoll fd, open for the Core's
                // whole life; the Core drops this `LocalTokio` (its first
                // field) before its `mio::Poll` closes the fd.
                let registered = unsafe { AsyncFd::register_with_interest(EpollFd(fd), Interest::READABLE) };
                match registered {
                    Ok(a) => *self.epoll.borrow_mut() = Some(a),
                    Err(e) => {
                        log::error!("greenloop: cannot register the loop in its tokio runtime: {e}");
                        return;
                    }
                }
            }
            let ready = poll_fn(|cx| {
                if core.has_ready_tasks() || core.shared.notified.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                self.idle_waker.set(Some(cx.waker().clone()));
                let epoll = self.epoll.borrow();
                let Some(a) = epoll.as_ref() else { return Poll::Ready(()) };
                match a.poll_read_ready(cx) {
                    Poll::Ready(Ok(mut guard)) => {
                        // The loop polls its epoll next: what made it
                        // readable is read there, and a later event is a
                        // new edge that sets readiness again.
                        guard.clear_ready();
                        Poll::Ready(())
                    }
                    Poll::Ready(Err(_)) => Poll::Ready(()),
                    Poll::Pending => Poll::Pending,
                }
            });
            match timeout {
                Some(t) => {
                    let _ = tokio::time::timeout(t, ready).await;
                }
                None => ready.await,
            }
        });
        self.idle_waker.set(None);
    }
}

impl Drop for LocalTokio {
    fn drop(&mut self) {
        // Deregistered while the runtime's driver is still there.
        let _entered = self.rt.enter();
        self.epoll.borrow_mut().take();
    }
}
