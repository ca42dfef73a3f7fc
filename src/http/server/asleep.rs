//! A keep-alive connection between requests, waiting without a green thread.
//!
//! After `Limits::idle_stackless_after` with no request, a connection's
//! green thread ends and gives its stack back; what is left is the little
//! the connection needs to be built again ([`Dormant`]: its socket, its
//! registration, its clock) in one allocation, held by a readiness callback
//! on its socket (as [`call_later`](crate::call_later) holds no stack while
//! it waits). Its buffers, input state, cancellation and label are freed.
//! The first bytes of the next request, a hang-up, the idle timeout, an
//! eviction at the connection cap or the worker's shutdown start a new
//! green thread that takes the connection up where it stopped.
//!
//! Ten thousand idle keep-alive connections then cost their sockets and
//! under 700 bytes of live heap each, instead of a green thread and its touched stack
//! each (see docs/PERFORMANCE.md, "Idle connections").

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::conn::{Conn, Dormant, drive};
use super::holdings::{self, Holdings};
use super::registry::ConnWaker;
use crate::http::upgrade::unbox;

/// A sleeping connection: taken out once, by whichever wake comes first.
/// Held by the socket's readiness callback; the worker's registry and the
/// idle timer hold it weakly.
pub(super) struct Sleeper {
    conn: RefCell<Option<(Dormant, Holdings)>>,
    /// Wakes it at its idle timeout (to close it).
    timer: Cell<Option<crate::CallLater>>,
}

impl Sleeper {
    /// Starts a green thread that takes the connection up; later wakes find
    /// it gone and do nothing.
    pub(super) fn wake(&self) {
        let Some((conn, held)) = self.conn.borrow_mut().take() else { return };
        if let Some(timer) = self.timer.take() {
            timer.cancel();
        }
        // A wake other than the socket's own drops the socket's callback
        // (which holds this sleeper) now.
        conn.stream().forget_when_readable();
        // Boxed: the new green thread's entry frame then holds a pointer.
        let state = Box::new((conn, held));
        crate::spawn_detached(move || {
            let (conn, held) = unbox(state);
            holdings::restore(held);
            conn.shared().set_waker(ConnWaker::Thread(crate::park::unparker()));
            drive(conn.revive());
        });
    }
}

/// Puts `conn`, idle between requests, to sleep without its green thread
/// (which should end right after). Gives it back when bytes may already be
/// readable: the caller reads them instead.
#[inline(never)]
pub(super) fn sleep(conn: Box<Conn>) -> Result<(), Box<Conn>> {
    let sleeper = Rc::new(Sleeper { conn: RefCell::new(None), timer: Cell::new(None) });
    let on_readable = {
        let sleeper = sleeper.clone();
        Box::new(move || sleeper.wake()) as Box<dyn FnOnce()>
    };
    if conn.stream().call_when_readable(on_readable).is_err() {
        return Err(conn);
    }
    let Some(held) = holdings::take() else {
        // Not on a connection's green thread: nothing to sleep from.
        conn.stream().forget_when_readable();
        return Err(conn);
    };
    let conn = conn.doze();
    // Held weakly: the socket's callback alone keeps the sleeper.
    let weak: Weak<Sleeper> = Rc::downgrade(&sleeper);
    conn.shared().set_waker(ConnWaker::Asleep(weak.clone()));
    let left = conn.idle_deadline().saturating_duration_since(crate::inspect::loop_time());
    let timer = crate::call_later(left, move || {
        if let Some(s) = weak.upgrade() {
            s.wake();
        }
    });
    sleeper.timer.set(Some(timer));
    *sleeper.conn.borrow_mut() = Some((conn, held));
    Ok(())
}
