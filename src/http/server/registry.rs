//! A worker's open connections: each one's green thread (woken at
//! shutdown), and which of them are idle since when, so that at the
//! connection cap the one idle the longest can be told to close and give its
//! slot to a newcomer (nginx reuses its idle keep-alive connections the same
//! way). Without that, idle keep-alive clients would hold every slot for the
//! whole idle timeout and lock everyone else out.
//!
//! The hot path pays two stores per request: a connection falling idle
//! writes when into its own [`ConnShared`], and clears it when a request
//! arrives. The ordering is paid for only at the cap, and lazily: a scan
//! sorts the idle connections once, the longest idle first, and later
//! evictions take from that list, skipping any that have served a request
//! since (they fell idle again later than every one still listed, so the
//! list stays in least-recently-used order). A new scan happens only when
//! the list runs dry.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Instant;

use crate::park::Unparker;

/// What a connection shares with its worker.
pub(crate) struct ConnShared {
    /// How to get the connection's attention.
    waker: RefCell<ConnWaker>,
    /// Since when it has been between requests with nothing buffered;
    /// `None`: busy (reading or answering a request) or closed.
    pub(crate) idle_since: Cell<Option<Instant>>,
    /// It was told to close, to give its slot to a new connection.
    pub(crate) evicted: Cell<bool>,
}

/// How a connection is woken: its green thread is unparked, or, while it
/// waits between requests without one, a green thread is started for it.
pub(crate) enum ConnWaker {
    /// The connection's green thread.
    Thread(Unparker),
    /// A connection asleep between requests (held weakly: its socket's
    /// readiness callback owns it); waking it starts a green thread.
    Asleep(std::rc::Weak<super::asleep::Sleeper>),
}

impl ConnShared {
    /// Wakes the connection: it looks at why (shutdown, eviction, bytes to read).
    pub(crate) fn wake(&self) {
        let asleep = match &*self.waker.borrow() {
            ConnWaker::Thread(u) => {
                u.unpark();
                return;
            }
            ConnWaker::Asleep(sleeper) => sleeper.upgrade(),
        };
        // Outside the borrow: starting the green thread replaces the waker.
        if let Some(sleeper) = asleep {
            sleeper.wake();
        }
    }

    /// The connection is now reached this way.
    pub(crate) fn set_waker(&self, waker: ConnWaker) {
        let old = self.waker.replace(waker);
        drop(old);
    }
}

/// What [`Registry::evict_longest_idle`] did.
pub(crate) enum Eviction {
    /// This connection was told to close: wake it.
    Told(Rc<ConnShared>),
    /// Enough were told already; they have not closed yet.
    Pending,
    /// None is idle.
    NoneIdle,
}

/// A worker's open connections, by connection id.
pub(crate) struct Registry {
    conns: HashMap<u64, Rc<ConnShared>>,
    /// Idle connections as the last scan found them, the longest idle
    /// first, each with when it fell idle then.
    candidates: VecDeque<(Rc<ConnShared>, Instant)>,
    /// Connections told to close that have not closed (or gone on) yet:
    /// the acceptor counts them as gone, so a spurious wake evicts no more.
    pub(crate) evicting: usize,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry { conns: HashMap::new(), candidates: VecDeque::new(), evicting: 0 }
    }

    /// Adds connection `id`, whose green thread is `unparker`.
    pub(crate) fn insert(&mut self, id: u64, unparker: Unparker) -> Rc<ConnShared> {
        let shared = Rc::new(ConnShared {
            waker: RefCell::new(ConnWaker::Thread(unparker)),
            idle_since: Cell::new(None),
            evicted: Cell::new(false),
        });
        self.conns.insert(id, shared.clone());
        shared
    }

    /// Removes connection `id` (it is closing).
    pub(crate) fn remove(&mut self, id: u64) {
        if let Some(c) = self.conns.remove(&id) {
            c.idle_since.set(None);
            if c.evicted.replace(false) {
                self.evicting -= 1;
            }
        }
    }

    /// An evicted connection went on serving instead (a request had arrived).
    pub(crate) fn eviction_refused(&mut self, c: &ConnShared) {
        if c.evicted.replace(false) {
            self.evicting -= 1;
        }
    }

    /// At the connection cap with `open` connections: marks the connection
    /// idle the longest as told to close, unless enough were told already.
    /// The caller wakes the one returned, once this registry is no longer
    /// borrowed: waking a connection asleep between requests starts a green
    /// thread, or closes it (unregistering it) when none can start.
    pub(crate) fn evict_longest_idle(&mut self, open: usize, max: usize) -> Eviction {
        if open.saturating_sub(self.evicting) < max {
            return Eviction::Pending;
        }
        let mut scanned = false;
        loop {
            let Some((c, since)) = self.candidates.pop_front() else {
                if scanned {
                    return Eviction::NoneIdle;
                }
                self.scan();
                scanned = true;
                continue;
            };
            if c.idle_since.get() == Some(since) && !c.evicted.get() {
                c.evicted.set(true);
                self.evicting += 1;
                return Eviction::Told(c);
            }
        }
    }

    /// Lists the idle connections, the longest idle first.
    fn scan(&mut self) {
        let mut idle: Vec<_> = self.conns.values().filter_map(|c| c.idle_since.get().map(|t| (c.clone(), t))).collect();
        idle.sort_unstable_by_key(|&(_, t)| t);
        self.candidates = idle.into();
    }

    /// Every open connection.
    pub(crate) fn all(&self) -> Vec<Rc<ConnShared>> {
        self.conns.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_longest_idle_goes_first_and_a_connection_that_served_since_waits_its_turn_again() {
        let mut r = Registry::new();
        let t = Instant::now();
        let at = |s| Some(t + Duration::from_secs(s));
        let a = r.insert(1, crate::park::unparker());
        let b = r.insert(2, crate::park::unparker());
        let c = r.insert(3, crate::park::unparker());
        a.idle_since.set(at(2));
        b.idle_since.set(at(1));
        assert!(matches!(r.evict_longest_idle(3, 3), Eviction::Told(t) if Rc::ptr_eq(&t, &b)));
        assert!(b.evicted.get() && !a.evicted.get() && !c.evicted.get());
        // Until b has closed, it counts as gone: nobody else is told.
        assert!(matches!(r.evict_longest_idle(3, 3), Eviction::Pending));
        assert!(!a.evicted.get());
        r.remove(2);
        // a served a request and fell idle again, after c did.
        c.idle_since.set(at(3));
        a.idle_since.set(at(4));
        assert!(matches!(r.evict_longest_idle(2, 2), Eviction::Told(t) if Rc::ptr_eq(&t, &c)));
        assert!(c.evicted.get() && !a.evicted.get());
        // c went on serving instead (a request had arrived): a is next.
        c.idle_since.set(None);
        r.eviction_refused(&c);
        assert!(matches!(r.evict_longest_idle(2, 2), Eviction::Told(t) if Rc::ptr_eq(&t, &a)));
        assert!(a.evicted.get());
        r.remove(1);
        // Nobody idle: the caller is told.
        assert!(matches!(r.evict_longest_idle(2, 1), Eviction::NoneIdle));
        assert!(!c.evicted.get());
    }
}
