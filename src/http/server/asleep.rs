//! A keep-alive connection between requests, waiting without a green thread.
//!
//! After `Limits::idle_stackless_after` with no request, a connection's
//! green thread ends and gives its stack back; what is left is the
//! connection's state in a box, held by a readiness callback on its socket
//! (as [`call_later`](crate::call_later) holds no stack while it waits).
//! The first bytes of the next request, a hang-up, the idle timeout, an
//! eviction at the connection cap or the worker's shutdown start a new
//! green thread that takes the connection up where it stopped.
//!
//! Ten thousand idle keep-alive connections then cost their sockets and
//! about a kilobyte each, instead of a green thread and its touched stack
//! each (see docs/PERFORMANCE.md, "Idle connections").

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::conn::{Conn, drive};
use super::holdings::{self, Holdings};
use super::registry::ConnWaker;

/// A sleeping connection: taken out once, by whichever wake comes first.
struct Sleeper {
    conn: RefCell<Option<(Box<Conn>, Holdings)>>,
    /// Wakes it at its idle timeout (to close it).
    timer: Cell<Option<crate::CallLater>>,
}

impl Sleeper {
    /// Starts a green thread that takes the connection up; later wakes find
    /// it gone and do nothing.
    fn wake(&self) {
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
            let (mut conn, held) = *state;
            holdings::restore(held);
            conn.shared().set_waker(ConnWaker::Thread(crate::park::unparker()));
            conn.wake_up();
            drive(conn);
        });
    }
}

/// Puts `conn`, idle between requests, to sleep without its green thread
/// (which should end right after). Gives it back when bytes may already be
/// readable: the caller reads them instead.
#[inline(never)]
pub(super) fn sleep(mut conn: Box<Conn>) -> Result<(), Box<Conn>> {
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
    conn.shed();
    // Held weakly: the socket's callback alone keeps the sleeper.
    let weak: Weak<Sleeper> = Rc::downgrade(&sleeper);
    let wake: Rc<dyn Fn()> = Rc::new(move || {
        if let Some(s) = weak.upgrade() {
            s.wake();
        }
    });
    conn.shared().set_waker(ConnWaker::Asleep(wake.clone()));
    let left = conn.idle_deadline().saturating_duration_since(crate::inspect::loop_time());
    let timer = crate::call_later(left, move || wake());
    sleeper.timer.set(Some(timer));
    *sleeper.conn.borrow_mut() = Some((conn, held));
    Ok(())
}
