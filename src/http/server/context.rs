//! What a worker knows while it serves: the shared [`WorkerConfig`], its
//! loop-local [`WorkerCtx`] (reached through a thread-local), the response
//! stamp, and the public accessors [`worker_id`] and [`worker_state`].

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::counters::{ServerMetrics, WorkerMetrics};
use super::limits::Limits;
use super::registry::{ConnShared, Registry};
use super::stream::Stream;
use crate::http::codec::{self, DateCache};
use crate::http::conn::serving;
use crate::park::{self, Unparker};

pub(super) type Hook = Arc<dyn Fn() + Send + Sync>;
pub(super) type StateFactory = Arc<dyn Fn() -> Rc<dyn Any> + Send + Sync>;

/// What every worker shares (read-only).
pub(crate) struct WorkerConfig {
    pub(crate) metrics: Arc<ServerMetrics>,
    pub(crate) limits: Limits,
    pub(crate) server_name: String,
    pub(super) grace: Duration,
    pub(super) on_start: Vec<Hook>,
    pub(super) on_stop: Vec<Hook>,
    pub(super) states: Vec<StateFactory>,
    /// Set when the server speaks TLS (`Server::tls`).
    #[cfg(feature = "tls")]
    pub(super) tls: Option<Arc<rustls::ServerConfig>>,
    /// The tokio runtime `block_on` enters on the workers (`Server::tokio_handle`).
    #[cfg(feature = "tokio")]
    pub(super) tokio_handle: Option<tokio::runtime::Handle>,
}

/// One worker's loop-local bookkeeping.
pub(crate) struct WorkerCtx {
    pub(crate) id: usize,
    pub(crate) metrics: Arc<WorkerMetrics>,
    pub(crate) config: Arc<WorkerConfig>,
    pub(crate) shutting_down: Cell<bool>,
    pub(crate) open: Cell<usize>,
    pub(crate) next_request_id: Cell<u64>,
    pub(super) next_conn_id: Cell<u64>,
    /// Every open connection's green thread, woken at shutdown (a wake is
    /// harmless to one busy with a request: parks may return spuriously),
    /// and the idle ones, the longest idle first, told to close at the cap.
    pub(super) connections: RefCell<Registry>,
    /// The acceptor is at the cap with no connection idle: the next one to
    /// fall idle wakes it.
    pub(crate) idle_wanted: Cell<bool>,
    /// The acceptor (parked at the connection cap or in accept) and the drainer.
    pub(super) acceptor: RefCell<Option<Unparker>>,
    pub(super) date: RefCell<DateCache>,
    pub(super) stamp: RefCell<Stamp>,
    pub(super) states: RefCell<Vec<Rc<dyn Any>>>,
}

/// What every response of a worker says of when and who: refreshed every 100 ms.
pub(crate) struct Stamp {
    /// The `Date` value.
    pub(crate) date: [u8; 29],
    /// `Date: <date>\r\n`, then `Server: <name>\r\n` unless the name is empty.
    pub(crate) fields: Vec<u8>,
    /// The last common `200 OK` head written with these fields (cleared with them).
    pub(crate) ok_head: RefCell<codec::OkHead>,
    /// Until when it may be reused.
    pub(super) until: Option<Instant>,
}

impl WorkerCtx {
    /// The `Date` header value for a response made at `now`, and the
    /// `Date` and `Server` fields ready to copy: the wall clock is read at
    /// most every 100 ms (a Date is approximate by definition; nginx
    /// refreshes its own once per loop iteration).
    #[inline]
    pub(crate) fn stamp_at(&self, now: Instant) -> std::cell::Ref<'_, Stamp> {
        if self.stamp.borrow().until.is_none_or(|until| now >= until) {
            self.restamp(now);
        }
        self.stamp.borrow()
    }

    /// Formats the stamp anew (every 100 ms): out of line, so that the
    /// check above is all a response pays.
    #[cold]
    #[inline(never)]
    fn restamp(&self, now: Instant) {
        let mut stamp = self.stamp.borrow_mut();
        let date = *self.date.borrow_mut().get(std::time::SystemTime::now());
        stamp.date = date;
        stamp.until = now.checked_add(Duration::from_millis(100));
        stamp.fields.clear();
        stamp.ok_head.get_mut().clear();
        codec::write_date_server(&date, self.config.server_name.as_bytes(), &mut stamp.fields);
    }

    /// Registers the calling connection green thread until the guard drops.
    pub(crate) fn register_connection(self: &Rc<Self>, conn: u64) -> ConnectionGuard {
        let shared = self.connections.borrow_mut().insert(conn, park::unparker());
        ConnectionGuard { ctx: self.clone(), conn, shared }
    }

    /// A connection fell idle while the acceptor, at the cap with none
    /// idle, waits for one: it may now make room.
    #[cold]
    #[inline(never)]
    pub(crate) fn idle_wanted_now(&self) {
        self.idle_wanted.set(false);
        self.wake_acceptor();
    }

    /// A connection told to close went on serving (a request had arrived
    /// meanwhile): it frees no slot, so the acceptor looks again.
    #[cold]
    #[inline(never)]
    pub(crate) fn eviction_refused(&self, conn: &ConnShared) {
        self.connections.borrow_mut().eviction_refused(conn);
        self.wake_acceptor();
    }

    fn wake_acceptor(&self) {
        if let Some(a) = self.acceptor.borrow().as_ref() {
            a.unpark();
        }
    }

    pub(crate) fn connection_closed(&self) {
        self.open.set(self.open.get() - 1);
        self.metrics.connections_open.sub(1);
        self.wake_acceptor();
    }
}

/// Unregisters a connection when dropped, whichever way its green thread ends.
pub(crate) struct ConnectionGuard {
    ctx: Rc<WorkerCtx>,
    conn: u64,
    /// What the connection shares with the worker: whether it is idle.
    pub(crate) shared: Rc<ConnShared>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.ctx.connections.borrow_mut().remove(self.conn);
    }
}

thread_local! {
    /// The context of the worker whose loop runs on this thread.
    pub(super) static WORKER: RefCell<Option<Rc<WorkerCtx>>> = const { RefCell::new(None) };
}

/// What the connection layer below asks of the worker running the caller
/// (`metrics`, `debug` and WebSockets use it without importing the server).
pub(super) const SERVING: serving::Hooks = serving::Hooks {
    metrics: || worker_ctx().map(|c| c.config.metrics.clone()),
    shutting_down: || worker_ctx().is_some_and(|c| c.shutting_down.get()),
};

impl Stream {
    /// A TCP connection just accepted: TLS if the server speaks it (its
    /// handshake due within the header timeout), plain otherwise.
    #[inline]
    pub(super) fn accepted_tcp(s: crate::net::TcpStream, _config: &WorkerConfig) -> std::io::Result<Stream> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &_config.tls {
            let deadline = Instant::now().checked_add(_config.limits.header_timeout);
            return Ok(Stream::Tls(Box::new(crate::http::tls::TlsStream::accept(s, tls.clone(), deadline)?)));
        }
        Ok(Stream::Tcp(s))
    }
}

/// The context of the worker running the caller, if any.
pub(crate) fn worker_ctx() -> Option<Rc<WorkerCtx>> {
    WORKER.with(|w| w.borrow().clone())
}

/// The id (0-based) of the server worker running the caller, if any.
pub fn worker_id() -> Option<usize> {
    worker_ctx().map(|w| w.id)
}

/// This worker's value of a state registered with [`Server::with_worker_state`](super::Server::with_worker_state).
pub fn worker_state<T: 'static>() -> Option<Rc<T>> {
    let ctx = worker_ctx()?;
    let states = ctx.states.borrow();
    states.iter().find_map(|s| s.clone().downcast::<T>().ok())
}

pub(crate) fn panic_text(p: &(dyn Any + Send)) -> &str {
    p.downcast_ref::<&str>().copied().or_else(|| p.downcast_ref::<String>().map(|s| s.as_str())).unwrap_or("panic")
}
