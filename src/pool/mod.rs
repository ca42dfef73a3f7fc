//! A green connection pool, generic over what it pools (database
//! connections, cache connections, anything costly to open).
//!
//! Every wait in here *parks*: a request waiting for a free connection lets
//! the loop serve everyone else. A pool built on a std `Mutex` and `Condvar`
//! (r2d2) would instead stop the whole worker until a connection came back,
//! and the connection could only come back from a request that is itself
//! stuck behind the stopped loop.
//!
//! A pool belongs to one loop (it is not `Send`): make one per worker with
//! [`Server::with_worker_state`](crate::http::Server::with_worker_state), as the
//! workers share nothing.
//!
//! ```no_run
//! # #[cfg(feature = "postgres")] {
//! use greenloop::http::{Request, Router, Server, StatusCode, get, worker_state};
//! use greenloop::pool::Pool;
//! use greenloop::postgres::PostgresManager;
//!
//! fn count(_req: Request) -> Result<String, (StatusCode, String)> {
//!     let db = worker_state::<Pool<PostgresManager>>().expect("one pool per worker");
//!     let row = db.get()?.query_one("SELECT count(*) FROM pg_class", &[])?;
//!     Ok(format!("{} relations\n", row.get::<_, i64>(0)))
//! }
//!
//! Server::bind("127.0.0.1:8000")
//!     .with_worker_state(|| greenloop::pool::builder().max_size(64).build(PostgresManager::new("postgres://postgres@127.0.0.1/test")))
//!     .serve(Router::new().route("/count", get(count)))
//!     .unwrap();
//! # }
//! ```
//!
//! Each pool publishes its in-use, idle and waiting counts; the
//! [`metrics`](crate::http::metrics) page sums them per pool name.

mod builder;
mod error;
mod manager;
mod metrics;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

pub use builder::{Builder, builder};
pub use error::PoolError;
pub use manager::Manager;
pub(crate) use metrics::write_metrics;

use crate::park::{self, Unparker, Wake};
use metrics::{Gauges, registry};

impl Builder {
    /// Makes the pool; opens `min_idle` connections in the background when
    /// called on a runtime.
    pub fn build<M: Manager>(self, manager: M) -> Pool<M> {
        let gauges = Arc::new(Gauges {
            name: self.name.clone(),
            max: self.max_size as u64,
            in_use: AtomicU64::new(0),
            idle: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        });
        registry().lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(&gauges));
        let pool = Pool {
            inner: Rc::new(Inner {
                manager,
                config: Builder { min_idle: self.min_idle.min(self.max_size), ..self },
                state: RefCell::new(State { idle: VecDeque::new(), open: 0, waiters: VecDeque::new() }),
                filling: Cell::new(false),
                gauges,
            }),
        };
        pool.fill();
        pool
    }
}

/// A pool of connections made by `M`, for one loop. Cloning it gives
/// another handle to the same pool.
pub struct Pool<M: Manager> {
    inner: Rc<Inner<M>>,
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Pool");
        d.field("name", &self.inner.config.name).field("max_size", &self.inner.config.max_size);
        if let Ok(st) = self.inner.state.try_borrow() {
            d.field("in_use", &(st.open - st.idle.len()))
                .field("idle", &st.idle.len())
                .field("waiting", &st.waiters.len());
        }
        d.finish()
    }
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool { inner: self.inner.clone() }
    }
}

struct Inner<M: Manager> {
    manager: M,
    config: Builder,
    // Borrowed only for bookkeeping, never across a park.
    state: RefCell<State<M::Connection>>,
    filling: Cell<bool>,
    gauges: Arc<Gauges>,
}

struct State<C> {
    /// Most recently returned last: checkouts take from the back (the
    /// warmest connection), so surplus ones age at the front.
    idle: VecDeque<Idle<C>>,
    /// Connections open or being opened, idle ones included.
    open: usize,
    waiters: VecDeque<Rc<Waiter<C>>>,
}

struct Idle<C> {
    conn: C,
    since: Instant,
}

/// A green thread waiting for a connection: whoever frees one hands it
/// over here directly, so a newcomer cannot take it first.
struct Waiter<C> {
    handed: RefCell<Option<Handoff<C>>>,
    unparker: Unparker,
}

enum Handoff<C> {
    /// An idle connection.
    Conn(Idle<C>),
    /// Room to open a connection (one was discarded); `open` already counts it.
    Room,
}

impl<M: Manager> Pool<M> {
    /// A pool with the default settings.
    pub fn new(manager: M) -> Pool<M> {
        Builder::default().build(manager)
    }

    /// The manager, e.g. to read its connection settings.
    pub fn manager(&self) -> &M {
        &self.inner.manager
    }

    /// Checks out a connection: an idle one (checked first if it sat idle
    /// long), a new one if the pool is below its maximum, or the next one
    /// returned, parking until then, for at most the acquire timeout.
    /// The connection comes back to the pool when the guard is dropped.
    pub fn get(&self) -> Result<Pooled<M>, PoolError<M::Error>> {
        let started = Instant::now();
        let deadline = started.checked_add(self.inner.config.acquire_timeout);
        loop {
            let next = {
                let mut st = self.inner.state.borrow_mut();
                if let Some(idle) = st.idle.pop_back() {
                    Handoff::Conn(idle)
                } else if st.open < self.inner.config.max_size {
                    st.open += 1;
                    Handoff::Room
                } else {
                    drop(st);
                    self.wait(deadline, started)?
                }
            };
            self.publish();
            match next {
                Handoff::Conn(idle) => {
                    if let Some(conn) = self.vet(idle, deadline) {
                        return Ok(self.guard(conn));
                    }
                }
                Handoff::Room => return self.open(deadline).map(|c| self.guard(c)),
            }
        }
    }

    /// Connections checked out now.
    pub fn in_use(&self) -> usize {
        let st = self.inner.state.borrow();
        st.open - st.idle.len()
    }

    /// Connections idle in the pool now.
    pub fn idle(&self) -> usize {
        self.inner.state.borrow().idle.len()
    }

    /// Green threads waiting for a connection now.
    pub fn waiting(&self) -> usize {
        self.inner.state.borrow().waiters.len()
    }

    /// Parks until a connection is handed over (or room to open one), or
    /// the deadline passes.
    fn wait(&self, deadline: Option<Instant>, started: Instant) -> Result<Handoff<M::Connection>, PoolError<M::Error>> {
        let me = Rc::new(Waiter { handed: RefCell::new(None), unparker: park::unparker() });
        self.inner.state.borrow_mut().waiters.push_back(me.clone());
        self.publish();
        // Leaves the queue however this ends (a timeout, or an unwind that
        // cancels the green thread); hands on anything given too late.
        let guard = WaitGuard { pool: self, me };
        loop {
            if let Some(h) = guard.me.handed.borrow_mut().take() {
                return Ok(h);
            }
            if park::park_deadline(deadline) == Wake::TimedOut {
                if let Some(h) = guard.me.handed.borrow_mut().take() {
                    return Ok(h);
                }
                if crate::cancel::is_cancelled() {
                    return Err(PoolError::Cancelled { pool: self.inner.config.name.clone() });
                }
                self.inner.gauges.timeouts.fetch_add(1, Relaxed);
                return Err(PoolError::Timeout {
                    pool: self.inner.config.name.clone(),
                    waited: started.elapsed(),
                    max_size: self.inner.config.max_size,
                });
            }
        }
    }

    /// Opens a connection in a slot already counted in `open`.
    fn open(&self, deadline: Option<Instant>) -> Result<M::Connection, PoolError<M::Error>> {
        let started = Instant::now();
        // A wait cut short by an enclosing scope (a cancelled request, an
        // outer `timeout`) unwinds through here: the slot must not leak.
        let slot = SlotGuard { pool: self };
        let attempt = match deadline {
            Some(at) => crate::timeout_at(at, || self.inner.manager.connect()),
            None => Ok(self.inner.manager.connect()),
        };
        std::mem::forget(slot);
        match attempt {
            Ok(Ok(conn)) => {
                self.inner.gauges.opened.fetch_add(1, Relaxed);
                Ok(conn)
            }
            Ok(Err(error)) => {
                self.free_slot();
                Err(PoolError::Connect { pool: self.inner.config.name.clone(), error })
            }
            Err(_) => {
                self.free_slot();
                self.inner.gauges.timeouts.fetch_add(1, Relaxed);
                Err(PoolError::Timeout {
                    pool: self.inner.config.name.clone(),
                    waited: started.elapsed(),
                    max_size: self.inner.config.max_size,
                })
            }
        }
    }

    /// The checkout health check: a connection known broken, or one that
    /// sat idle long and fails a round trip, is discarded (`None`).
    fn vet(&self, mut idle: Idle<M::Connection>, deadline: Option<Instant>) -> Option<M::Connection> {
        let m = &self.inner.manager;
        let mut good = !m.is_broken(&mut idle.conn);
        if good && idle.since.elapsed() >= self.inner.config.check_after_idle {
            // As in `open`: a check cut short by an enclosing scope unwinds
            // and drops the connection; its slot goes with it.
            let slot = SlotGuard { pool: self };
            let checked = match deadline {
                Some(at) => crate::timeout_at(at, || m.check(&mut idle.conn)),
                None => Ok(m.check(&mut idle.conn)),
            };
            std::mem::forget(slot);
            if let Ok(Err(e)) = &checked {
                log::debug!("{} pool: an idle connection failed its check and was closed: {e}", self.inner.config.name);
            }
            good = matches!(checked, Ok(Ok(())));
        }
        if good {
            Some(idle.conn)
        } else {
            drop(idle);
            self.inner.gauges.discarded.fetch_add(1, Relaxed);
            self.free_slot();
            None
        }
    }

    fn guard(&self, conn: M::Connection) -> Pooled<M> {
        Pooled { pool: self.clone(), conn: Some(conn), broken: false }
    }

    /// A connection is gone: give its room to the first waiter, or keep
    /// the minimum open.
    fn free_slot(&self) {
        let waiter = {
            let mut st = self.inner.state.borrow_mut();
            match st.waiters.pop_front() {
                Some(w) => Some(w),
                None => {
                    st.open -= 1;
                    None
                }
            }
        };
        if let Some(w) = waiter {
            *w.handed.borrow_mut() = Some(Handoff::Room);
            w.unparker.unpark();
        }
        self.publish();
        self.fill();
    }

    /// Takes back a connection: to the first waiter, else into the idle list.
    fn put_back(&self, conn: M::Connection) {
        let idle = Idle { conn, since: Instant::now() };
        let mut st = self.inner.state.borrow_mut();
        match st.waiters.pop_front() {
            Some(w) => {
                drop(st);
                *w.handed.borrow_mut() = Some(Handoff::Conn(idle));
                w.unparker.unpark();
            }
            None => {
                st.idle.push_back(idle);
                drop(st);
            }
        }
        self.publish();
    }

    /// Opens connections in the background up to `min_idle`.
    fn fill(&self) {
        let min = self.inner.config.min_idle;
        if min == 0
            || self.inner.filling.get()
            || self.inner.state.borrow().open >= min
            || crate::inspect::loop_stats().is_none()
        {
            return;
        }
        self.inner.filling.set(true);
        let pool = self.clone();
        crate::spawn_detached(move || {
            loop {
                {
                    let mut st = pool.inner.state.borrow_mut();
                    if st.open >= pool.inner.config.min_idle {
                        break;
                    }
                    st.open += 1;
                }
                match pool.open(Instant::now().checked_add(pool.inner.config.acquire_timeout)) {
                    Ok(conn) => pool.put_back(conn),
                    Err(e) => {
                        log::warn!("{e} (while keeping {} connections open)", pool.inner.config.min_idle);
                        break;
                    }
                }
            }
            pool.inner.filling.set(false);
        });
    }

    fn publish(&self) {
        let st = self.inner.state.borrow();
        let g = &self.inner.gauges;
        g.idle.store(st.idle.len() as u64, Relaxed);
        g.in_use.store((st.open - st.idle.len()) as u64, Relaxed);
        g.waiting.store(st.waiters.len() as u64, Relaxed);
    }
}

/// Frees a slot counted in `open` when opening its connection unwinds.
struct SlotGuard<'a, M: Manager> {
    pool: &'a Pool<M>,
}

impl<M: Manager> Drop for SlotGuard<'_, M> {
    fn drop(&mut self) {
        self.pool.free_slot();
    }
}

struct WaitGuard<'a, M: Manager> {
    pool: &'a Pool<M>,
    me: Rc<Waiter<M::Connection>>,
}

impl<M: Manager> Drop for WaitGuard<'_, M> {
    fn drop(&mut self) {
        self.pool.inner.state.borrow_mut().waiters.retain(|w| !Rc::ptr_eq(w, &self.me));
        // Handed over after we stopped looking (timed out, or unwinding):
        // pass it on rather than lose it.
        match self.me.handed.borrow_mut().take() {
            Some(Handoff::Conn(idle)) => self.pool.put_back(idle.conn),
            Some(Handoff::Room) => self.pool.free_slot(),
            None => self.pool.publish(),
        }
    }
}

/// A checked-out connection; dereferences to it, and goes back to the pool
/// when dropped (or is closed, if broken).
pub struct Pooled<M: Manager> {
    pool: Pool<M>,
    conn: Option<M::Connection>,
    broken: bool,
}

impl<M: Manager> Pooled<M> {
    /// Marks the connection broken: dropping the guard closes it instead of
    /// pooling it. For errors the manager cannot see (a protocol error, a
    /// timeout in the middle of a reply).
    pub fn discard(mut self) {
        self.broken = true;
    }

    /// Marks the connection broken without giving up the guard yet.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl<M: Manager> Deref for Pooled<M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl<M: Manager> DerefMut for Pooled<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl<M: Manager> fmt::Debug for Pooled<M>
where
    M::Connection: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pooled").field(&self.conn).finish()
    }
}

impl<M: Manager> Drop for Pooled<M> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        // A panic (or a timeout unwinding) may have left a reply half read.
        let broken = self.broken || std::thread::panicking() || self.pool.inner.manager.is_broken(&mut conn);
        if broken {
            drop(conn);
            self.pool.inner.gauges.discarded.fetch_add(1, Relaxed);
            self.pool.free_slot();
        } else {
            self.pool.put_back(conn);
        }
    }
}
