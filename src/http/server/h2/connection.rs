//! One HTTP/2 connection: the handshake, then accepting streams (each on
//! its own green thread) until the peer leaves, the connection idles out,
//! or the worker shuts down (GOAWAY, and the streams in flight finish).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::SendResponse;

use super::super::context::WorkerCtx;
use super::super::registry::ConnShared;
use super::super::stream::Stream;
use super::io::{Io, Waiter, Wants};
use crate::cancel::Cancel;
use crate::http::handler::App;

/// How long a connection that sent GOAWAY with no stream left waits for
/// the peer to acknowledge it before closing anyway.
const GOAWAY_LINGER: Duration = Duration::from_secs(2);

/// What a connection's streams share with it.
pub(super) struct Shared {
    pub(super) ctx: Rc<WorkerCtx>,
    pub(super) app: Arc<App>,
    pub(super) peer: Option<SocketAddr>,
    /// Stream green threads alive (handler running or response being written).
    pub(super) active: Cell<usize>,
    /// Most stream green threads at once: twice the streams the peer may
    /// open, as reset streams leave h2's count before their green thread ends.
    pub(super) max_active: usize,
    /// When the last stream green thread ended.
    pub(super) idle_since: Cell<Instant>,
    /// The streams whose handler is running: checked for a peer's reset
    /// after each poll, which cancels the handler.
    pub(super) running: RefCell<Vec<Running>>,
    next_running: Cell<u64>,
}

/// A handler running for a stream, as the connection watches it.
pub(super) struct Running {
    key: u64,
    respond: Rc<RefCell<SendResponse<Bytes>>>,
    cancel: Cancel,
}

impl Shared {
    /// Watches `respond` for a reset while its handler runs under `cancel`;
    /// returns the key that [`unwatch`](Self::unwatch) takes.
    pub(super) fn watch(&self, respond: &Rc<RefCell<SendResponse<Bytes>>>, cancel: &Cancel) -> u64 {
        let key = self.next_running.get();
        self.next_running.set(key + 1);
        self.running.borrow_mut().push(Running { key, respond: respond.clone(), cancel: cancel.clone() });
        key
    }

    /// Stops watching (before the response is sent: from then on the
    /// response's writer is the one that learns of a reset).
    pub(super) fn unwatch(&self, key: u64) {
        self.running.borrow_mut().retain(|r| r.key != key);
    }

    /// Cancels the handlers of streams the peer reset (or that the
    /// connection's end reset). A reset stream's handler stops at its next wait.
    fn cancel_reset(&self, cx: &mut Context<'_>) {
        let reset: Vec<Cancel> = self
            .running
            .borrow()
            .iter()
            .filter(|r| !r.cancel.is_cancelled() && r.respond.borrow_mut().poll_reset(cx).is_ready())
            .map(|r| r.cancel.clone())
            .collect();
        for c in reset {
            c.cancel();
        }
    }

    /// At the connection's end: every handler still running stops at its next wait.
    fn cancel_all(&self) {
        let all: Vec<Cancel> = self.running.borrow().iter().map(|r| r.cancel.clone()).collect();
        for c in all {
            c.cancel();
        }
    }
}

/// Serves one HTTP/2 connection on the caller's green thread; `early` is
/// what was already read from the socket (the start of the preface).
///
/// With no stream open, the connection counts as idle for the worker
/// (`conn_shared`): at the `max_connections` cap, the one idle the longest
/// is told to make room, and an HTTP/2 one then ends with GOAWAY at once.
pub(crate) fn serve(
    ctx: &Rc<WorkerCtx>,
    app: &Arc<App>,
    stream: &Rc<Stream>,
    conn_shared: &ConnShared,
    peer: Option<SocketAddr>,
    early: Vec<u8>,
) -> io::Result<()> {
    let limits = &ctx.config.limits;
    let wants = Rc::new(Wants::default());
    let waiter = Waiter::new(stream.clone(), wants.clone(), limits.write_timeout);
    let io = Io::new(stream.clone(), early, wants);
    let mut handshake = super::settings::builder(limits).handshake::<_, Bytes>(io);
    // The preface and the client's SETTINGS must come within the header timeout.
    let preface_by = Instant::now() + limits.header_timeout;
    let mut conn = loop {
        let mut cx = Context::from_waker(waiter.poll_start());
        match Pin::new(&mut handshake).poll(&mut cx) {
            Poll::Ready(Ok(conn)) => break conn,
            Poll::Ready(Err(e)) => return Err(h2_error(e, "handshake")),
            Poll::Pending => {
                if !waiter.wait(Some(preface_by))? {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "HTTP/2: no preface within the header timeout",
                    ));
                }
            }
        }
    };
    let shared = Rc::new(Shared {
        ctx: ctx.clone(),
        app: app.clone(),
        peer,
        active: Cell::new(0),
        max_active: 2 * limits.max_concurrent_streams.max(1) as usize,
        idle_since: Cell::new(Instant::now()),
        running: RefCell::new(Vec::new()),
        next_running: Cell::new(0),
    });
    let mut goaway_at: Option<Instant> = None;
    let ended = loop {
        if goaway_at.is_none() && ctx.shutting_down.get() {
            // In-flight streams finish; no new one is accepted.
            conn.graceful_shutdown();
            goaway_at = Some(Instant::now());
        }
        let mut cx = Context::from_waker(waiter.poll_start());
        match conn.poll_accept(&mut cx) {
            Poll::Ready(Some(Ok((req, respond)))) => {
                super::stream::start(&shared, req, respond);
                continue;
            }
            Poll::Ready(Some(Err(e))) => break Err(h2_error(e, "connection")),
            Poll::Ready(None) => break Ok(()),
            Poll::Pending => {}
        }
        shared.cancel_reset(&mut cx);
        let idle = shared.active.get() == 0;
        let deadline = match goaway_at {
            Some(at) if idle => Some(at.max(shared.idle_since.get()) + GOAWAY_LINGER),
            Some(_) => None,
            None if idle => Some(shared.idle_since.get() + limits.idle_timeout),
            None => None,
        };
        let idle_between_streams = idle && goaway_at.is_none();
        if idle_between_streams {
            conn_shared.idle_since.set(Some(shared.idle_since.get()));
            if ctx.idle_wanted.get() {
                ctx.idle_wanted_now();
            }
        }
        let waited = waiter.wait(deadline);
        if idle_between_streams {
            conn_shared.idle_since.set(None);
            if conn_shared.evicted.get() {
                // Told to make room for a new connection: GOAWAY, and close
                // once it is written.
                conn.abrupt_shutdown(h2::Reason::NO_ERROR);
                goaway_at = Some(Instant::now() - GOAWAY_LINGER);
                continue;
            }
        }
        match waited {
            Ok(true) => {}
            // Idle too long: say GOAWAY (the peer may have a stream on its way).
            Ok(false) if goaway_at.is_none() => {
                conn.graceful_shutdown();
                goaway_at = Some(Instant::now());
            }
            Ok(false) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    shared.cancel_all();
    ended
}

/// An h2 error as an `io::Error` saying what it happened in.
pub(super) fn h2_error(e: h2::Error, during: &str) -> io::Error {
    if e.is_io() {
        match e.into_io() {
            Some(io) => return io,
            None => return io::Error::other(format!("HTTP/2 {during}: I/O error")),
        }
    }
    io::Error::new(io::ErrorKind::InvalidData, format!("HTTP/2 {during}: {e}"))
}
