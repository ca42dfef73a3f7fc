//! What a connection holds that must outlive its stack: its
//! `max_connections` slot, its registration with the worker, a share of its
//! socket. A stack overflow discards a green thread's stack without running
//! its frames' destructors, so these live in a green-thread local instead,
//! which is dropped however the green thread ends.

use std::rc::Rc;

use super::context::{ConnectionGuard, WorkerCtx};
use super::registry::ConnShared;
use super::stream::Stream;

/// What a connection holds that must be given back however its green thread
/// ends: its `max_connections` slot, its registration with the worker, and
/// (a share of) its socket.
///
/// Kept in a green-thread-local, not on the green thread's stack: a stack
/// overflow discards the stack without running the destructors of its
/// frames, but green-thread locals are dropped whichever way their green
/// thread ends. Without this, an overflow leaked the slot for good (a worker
/// at its cap then never accepted again) and a graceful shutdown waited out
/// its whole grace period for the connection.
pub(super) struct Holdings {
    /// Released (and the acceptor woken) when dropped.
    _slot: OpenSlot,
    /// Unregistered when dropped.
    _registered: ConnectionGuard,
    stream: Rc<Stream>,
    /// The connection's own frames ended (returned or unwound) and dropped
    /// their shares of the socket; otherwise they were discarded.
    ended: std::cell::Cell<bool>,
}

impl Drop for Holdings {
    fn drop(&mut self) {
        if !self.ended.get() {
            // The frames were discarded with their shares of the socket, so
            // it will never be dropped: shut it down, so the client sees the
            // connection end now. (Its descriptor stays open.)
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

static HOLDINGS: crate::LocalKey<Holdings> = crate::LocalKey::new();

/// Gives the holdings back at the normal end of [`serve`]. (Not a drop
/// guard: its landing pad would cost stack under every handler. Frames
/// that unwind drop their shares of the socket as they go; the holdings,
/// dropped when the green thread ends, then shut down a socket that is
/// closing anyway.)
#[inline(never)]
pub(super) fn release() {
    if let Some(h) = HOLDINGS.take() {
        h.ended.set(true);
    }
}

/// Takes the holdings out of the current green thread, for a connection
/// that goes on without it (asleep between requests).
pub(super) fn take() -> Option<Holdings> {
    HOLDINGS.take()
}

/// Gives a connection's holdings to the green thread that takes it up.
pub(super) fn restore(held: Holdings) {
    HOLDINGS.set(held);
}

/// Puts the connection's holdings in their green-thread local; returns what
/// the connection shares with its worker. Out of line: the holdings pass
/// through this frame, not through `serve`'s, which stays on the stack
/// under every handler.
#[inline(never)]
pub(super) fn hold(slot: OpenSlot, registered: ConnectionGuard, stream: &Rc<Stream>) -> Rc<ConnShared> {
    let shared = registered.shared.clone();
    HOLDINGS.set(Holdings { _slot: slot, _registered: registered, stream: stream.clone(), ended: Default::default() });
    shared
}

/// Counts a connection as closed when dropped, even if its green thread
/// unwinds or overflows its stack: a leaked slot would shrink
/// `max_connections` for good.
pub(super) struct OpenSlot(Rc<WorkerCtx>);

impl OpenSlot {
    /// Takes one of `ctx`'s slots (the caller checked there is one).
    pub(super) fn new(ctx: Rc<WorkerCtx>) -> OpenSlot {
        OpenSlot(ctx)
    }

    /// The worker whose slot this is.
    pub(super) fn ctx(&self) -> &Rc<WorkerCtx> {
        &self.0
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}
