//! One connection = one green thread: read, parse, run the app, write, keep alive.
//!
//! Requests already in the buffer (pipelining) are answered in order and
//! their responses collected in one output buffer, written with one `write`
//! when the input runs dry (or the buffer grows large). Reads never park
//! while there is buffered work to do.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, StatusCode, Version};

use super::context::{WorkerCtx, panic_text};
use super::holdings::{OpenSlot, hold, release};
use super::inbound::Inbound;
use super::registry::ConnShared;
use super::stream::Stream;
use crate::http::codec::words::same_bytes;
use crate::http::codec::{
    BodyDecoder, BodyFraming, CONTINUE_100, OutgoingBody, ParseError, RequestHead, ResponseOptions, parse_request,
    write_response_head_stamped,
};
use crate::http::conn::write::Output;
use crate::http::handler::App;
use crate::http::read_buf::ReadBuf;
use crate::http::request_ext::ConnInfo;
use crate::http::response::{IntoResponse, Kind, Written};
use crate::http::{Body, Request, Response};

/// How long, and how much, a closing connection reads and discards so that
/// its last response is not destroyed by a reset.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Output beyond this is written before more requests are handled.
const FLUSH_AT: usize = 64 * 1024;
/// Fixed bodies larger than this are written from their own buffer, not copied.
const COPY_LIMIT: usize = 16 * 1024;
/// A request that took longer than this (1 ms) reads the clock when it is
/// answered, instead of taking the loop's (which is as old as the request).
const LOOP_CLOCK_STALE_NS: u64 = 1_000_000;

/// A connection's state, boxed: it moves whole between the green thread
/// serving it and, between requests, the readiness callback it sleeps in
/// (`asleep.rs`).
pub(super) struct Conn {
    ctx: Rc<WorkerCtx>,
    app: Arc<App>,
    id: u64,
    peer: Option<SocketAddr>,
    stream: Rc<Stream>,
    inbound: Rc<RefCell<Inbound>>,
    /// Responses not yet written (pipelined answers go out together).
    out: Output,
    codec_limits: crate::http::codec::CodecLimits,
    /// What the watchdog calls this connection's green thread: the current
    /// request's method and target, then its id.
    label: crate::watchdog::Label,
    /// The method and target the label says now: a request repeating them
    /// only changes the label's request id.
    label_text: String,
    /// The loop's clock when bytes last arrived or a response was made:
    /// what deadlines and the Date stamp count from.
    clock: Instant,
    /// The raw clock ([`sys::monotonic_ns`](crate::sys::monotonic_ns)) at
    /// the same moments: what a request's latency counts from. Pipelined
    /// requests start when the previous one ended.
    tick: u64,
    /// This connection's facts, seen by `RequestExt::conn_info` on its green thread.
    info: Rc<std::cell::Cell<ConnInfo>>,
    /// What it shares with its worker: whether it is idle, since when, and
    /// whether it was told to close to make room for a new connection.
    shared: Rc<ConnShared>,
    /// Cancelled when the client hangs up; each handler runs under it.
    cancel: crate::cancel::Cancel,
    /// A try to sleep without a green thread found bytes (maybe) readable:
    /// this wait between requests keeps its green thread.
    stay_awake: bool,
    /// After a `101`: what runs the connection next, on a fresh green thread.
    upgrade: Option<(crate::http::upgrade::Pending, crate::http::upgrade::Upgraded)>,
}

/// What `Conn::respond` needs to know of a request the app is answering.
struct Begun {
    version: Version,
    is_head: bool,
    keep_alive: bool,
    has_body: bool,
    request_id: u64,
    /// When the request started (its bytes arrived, or the previous answer
    /// was made), in [`sys::monotonic_ns`](crate::sys::monotonic_ns).
    started: u64,
}

/// How `Conn::run` returned.
enum End {
    Closed,
    Error(io::Error),
    /// Idle long enough between requests to give back its green thread.
    Asleep,
    /// The client speaks HTTP/2 (feature `http2`): with the bytes read so far.
    #[cfg(feature = "http2")]
    Http2(Vec<u8>),
}

/// How a wait between requests ended.
enum Idle {
    Read(io::Result<usize>),
    /// Nothing came for `Limits::idle_stackless_after`: sleep without a green thread.
    Sleep,
}

/// Serves one connection; `slot` is its place among the worker's
/// `max_connections` (held by `ctx`'s worker).
pub(crate) fn serve(
    ctx: &Rc<WorkerCtx>,
    slot: OpenSlot,
    app: &Arc<App>,
    stream: Stream,
    peer: Option<SocketAddr>,
    id: u64,
) {
    drive(open(ctx, slot, app, stream, peer, id));
}

/// Sets a new connection up. Out of line: the connection's state is built
/// in this frame, gone before the first request, not in one that stays on
/// the stack under every handler.
#[inline(never)]
fn open(
    ctx: &Rc<WorkerCtx>,
    slot: OpenSlot,
    app: &Arc<App>,
    mut stream: Stream,
    peer: Option<SocketAddr>,
    id: u64,
) -> Box<Conn> {
    let _ = stream.set_write_timeout(Some(ctx.config.limits.write_timeout));
    let stream = Rc::new(stream);
    let shared = hold(slot, ctx.register_connection(id), &stream);
    let info = ConnInfo { peer, worker: ctx.id, request_id: 0 };
    Dormant { ctx: ctx.clone(), app: app.clone(), id, stream, clock: Instant::now(), shared, request_seq: 0, info }
        .revive()
}

/// What a connection asleep between requests keeps (`asleep.rs`): enough
/// to build the rest again when it wakes. Its input state, cancellation,
/// watchdog label and connection-facts cell are freed meanwhile: a
/// sleeping connection is this, its socket and its registration, not a
/// dozen allocations spread over the heap (see docs/PERFORMANCE.md, "Idle
/// connections").
pub(super) struct Dormant {
    ctx: Rc<WorkerCtx>,
    app: Arc<App>,
    id: u64,
    stream: Rc<Stream>,
    /// When bytes last arrived or a response was made.
    clock: Instant,
    shared: Rc<ConnShared>,
    /// How many requests it has begun (0: none yet, the header timeout applies).
    request_seq: u64,
    /// Its peer, worker and last request id.
    info: ConnInfo,
}

impl Dormant {
    /// What the connection shares with its worker.
    pub(super) fn shared(&self) -> &Rc<ConnShared> {
        &self.shared
    }

    pub(super) fn stream(&self) -> &Stream {
        &self.stream
    }

    /// How long it may sleep: until its idle timeout.
    pub(super) fn idle_deadline(&self) -> Instant {
        self.clock + self.ctx.config.limits.idle_timeout
    }

    /// Builds the connection's state around what was kept, on the current
    /// green thread (whose label and connection facts it sets). Out of
    /// line, like `open`.
    #[inline(never)]
    pub(super) fn revive(self) -> Box<Conn> {
        let Dormant { ctx, app, id, stream, clock, shared, request_seq, info } = self;
        let limits = &ctx.config.limits;
        let inbound = Rc::new(RefCell::new(Inbound {
            stream: stream.clone(),
            buf: request_buf(),
            body: BodyDecoder::done(),
            expect_continue: false,
            broken: None,
            request_seq,
            body_timeout: limits.body_timeout,
        }));
        let info = Rc::new(std::cell::Cell::new(info));
        crate::http::request_ext::set_connection_info(info.clone());
        let label = crate::watchdog::Label::new();
        label.attach();
        // The socket cancels the running request's work when its client goes away.
        let cancel = crate::cancel::Cancel::new();
        stream.cancel_on_hangup(Some(&cancel));
        Box::new(Conn {
            codec_limits: limits.codec(),
            ctx,
            app,
            id,
            peer: info.get().peer,
            out: Output::new(stream.clone()),
            stream,
            inbound,
            label,
            label_text: String::new(),
            clock,
            // Set when its first bytes are read (a revived connection has none yet).
            tick: 0,
            info,
            shared,
            cancel,
            stay_awake: false,
            upgrade: None,
        })
    }
}

/// A connection's read buffer: most request heads fit in 1 KiB (a block of
/// the thread's pool); it grows when one does not.
fn request_buf() -> ReadBuf {
    ReadBuf::new(1024, 4096)
}

/// Serves `conn` on the current green thread until it closes, or falls
/// asleep between requests (then this green thread ends, and the
/// connection's next bytes start another).
pub(super) fn drive(mut conn: Box<Conn>) {
    loop {
        match conn.run() {
            End::Error(e) => log::debug!("greenloop: connection {} from {:?}: {e}", conn.id, conn.peer),
            End::Closed => conn.linger_if_unread(),
            End::Asleep => match super::asleep::sleep(conn) {
                Ok(()) => return,
                Err(awake) => {
                    // Bytes may have come meanwhile: read them on this green thread.
                    conn = awake;
                    conn.stay_awake = true;
                    continue;
                }
            },
            #[cfg(feature = "http2")]
            End::Http2(early) => {
                let served = super::h2::serve(&conn.ctx, &conn.app, &conn.stream, &conn.shared, conn.peer, early);
                match served {
                    Ok(()) => conn.linger_if_unread(),
                    Err(e) => log::debug!("greenloop: HTTP/2 connection {} from {:?}: {e}", conn.id, conn.peer),
                }
            }
        }
        break;
    }
    if let Some((then, upgraded)) = conn.upgrade.take() {
        return run_upgraded(conn, then, upgraded);
    }
    // The connection closes when `conn` drops its share of the stream, in
    // this same turn (nothing parks in between).
    release();
    drop(conn);
}

/// Runs the protocol a `101` switched to on a fresh green thread, which
/// takes over the connection's holdings; this one ends, and the HTTP
/// state (buffers, cached head) is freed. The fresh stack holds only the
/// protocol's own frames while it waits (an idle WebSocket: one page).
#[cold]
#[inline(never)]
fn run_upgraded(conn: Box<Conn>, then: crate::http::upgrade::Pending, upgraded: crate::http::upgrade::Upgraded) {
    let Some(held) = super::holdings::take() else {
        then.run(upgraded);
        release();
        return;
    };
    // The HTTP request's cancellation ends here.
    conn.stream.cancel_on_hangup(None);
    let handover = Box::new((held, conn.shared.clone(), conn.label.clone(), conn.info.clone(), then, upgraded));
    drop(conn);
    crate::spawn_detached(move || {
        // Out of its box first: the box is freed now, not when the protocol ends.
        let (held, shared, label, info, then, upgraded) = crate::http::upgrade::unbox(handover);
        super::holdings::restore(held);
        shared.set_waker(super::registry::ConnWaker::Thread(crate::park::unparker()));
        drop(shared);
        crate::http::request_ext::set_connection_info(info);
        label.attach();
        then.run(upgraded);
        release();
    });
}

impl Conn {
    pub(super) fn stream(&self) -> &Stream {
        &self.stream
    }

    /// How long it may wait between requests: until its idle timeout.
    fn idle_deadline(&self) -> Instant {
        self.clock + self.ctx.config.limits.idle_timeout
    }

    /// Keeps only what a connection asleep between requests needs (see
    /// [`Dormant`]); the rest (buffers, cached head, input state,
    /// cancellation, label) is freed.
    #[inline(never)]
    pub(super) fn doze(self: Box<Self>) -> Dormant {
        // The socket's hang-up no longer cancels anything: no request runs.
        self.stream.cancel_on_hangup(None);
        let request_seq = self.inbound.borrow().request_seq;
        let conn = *self;
        Dormant {
            info: conn.info.get(),
            ctx: conn.ctx,
            app: conn.app,
            id: conn.id,
            stream: conn.stream,
            clock: conn.clock,
            shared: conn.shared,
            request_seq,
        }
    }

    fn run(&mut self) -> End {
        // When the time allowed for the head being received started: when
        // its first bytes arrived, or, for a connection's first request, at
        // accept (a client that connects and says nothing gets the header
        // timeout, not the idle timeout that only a kept-alive one earns).
        // (A connection taken up after sleeping between requests has
        // answered one: its wait is the idle one.)
        let fresh = self.inbound.borrow().request_seq == 0;
        let mut head_started: Option<Instant> = if fresh { Some(self.clock) } else { None };
        #[cfg(feature = "http2")]
        if fresh {
            let by = self.clock + self.ctx.config.limits.header_timeout;
            match super::h2::negotiated(&self.stream, by, &self.ctx.shutting_down) {
                Ok(true) => return End::Http2(Vec::new()),
                Ok(false) => {}
                Err(e) => return End::Error(e),
            }
        }
        loop {
            let parsed = {
                let inb = self.inbound.borrow();
                if inb.buf.is_empty() {
                    // Every answered request ends here: no parse of nothing.
                    Ok(None)
                } else {
                    parse_request(inb.buf.unread(), &self.codec_limits)
                }
            };
            match parsed {
                Ok(Some((head, consumed))) => {
                    self.inbound.borrow_mut().buf.consume(consumed);
                    head_started = None;
                    self.stay_awake = false;
                    match self.handle(head) {
                        Ok(true) => {}
                        Ok(false) => return self.finish(),
                        Err(e) => return End::Error(e),
                    }
                    if self.out.len() >= FLUSH_AT
                        && let Err(e) = self.flush()
                    {
                        return End::Error(e);
                    }
                }
                Ok(None) => {
                    if let Err(e) = self.flush() {
                        return End::Error(e);
                    }
                    let buffered = !self.inbound.borrow().buf.is_empty();
                    // Deadlines count from the last clock reading (the last
                    // response, or the last bytes in): no clock read here.
                    let limits = &self.ctx.config.limits;
                    let deadline = match head_started {
                        Some(started) => started + limits.header_timeout,
                        None if buffered => self.clock + limits.header_timeout,
                        None => self.idle_deadline(),
                    };
                    // Between requests with nothing buffered, the connection
                    // is idle: at the cap, the one idle the longest is closed.
                    let idle = !buffered;
                    if idle {
                        self.shared.idle_since.set(Some(self.clock));
                        if self.ctx.idle_wanted.get() {
                            self.ctx.idle_wanted_now();
                        }
                    }
                    let read = if idle && head_started.is_none() && !self.stay_awake {
                        match self.read_idle(deadline) {
                            Idle::Read(r) => r,
                            Idle::Sleep => return End::Asleep,
                        }
                    } else {
                        self.read_more(deadline)
                    };
                    if idle {
                        self.shared.idle_since.set(None);
                        if self.shared.evicted.get() && matches!(read, Ok(n) if n > 0) {
                            self.ctx.eviction_refused(&self.shared);
                        }
                    }
                    match read {
                        Ok(0) => return End::Closed,
                        Ok(_) => {
                            // When the loop last polled: these bytes were read in that turn.
                            (self.clock, self.tick) = crate::inspect::loop_time_ns();
                            if head_started.is_none() {
                                // The first bytes of a new head: its clock starts now.
                                head_started = Some(self.clock);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::TimedOut && buffered => {
                            let err = ParseError::new(StatusCode::REQUEST_TIMEOUT, "request head not received in time");
                            return self.reject(err);
                        }
                        Err(e) if e.kind() == io::ErrorKind::TimedOut => return End::Closed,
                        Err(e) => return End::Error(e),
                    }
                }
                Err(e) => return self.reject_or_http2(e),
            }
        }
    }

    /// A head the parser refused: answered with its status, unless it is
    /// HTTP/2's preface opening the connection (prior knowledge).
    #[cold]
    #[inline(never)]
    fn reject_or_http2(&mut self, e: ParseError) -> End {
        #[cfg(feature = "http2")]
        {
            let mut inb = self.inbound.borrow_mut();
            if inb.request_seq == 0 && super::h2::is_preface(inb.buf.unread()) {
                let early = inb.buf.unread().to_vec();
                inb.buf = ReadBuf::new(0, 0);
                return End::Http2(early);
            }
        }
        self.reject(e)
    }

    /// Closing a socket with unread input makes the kernel send a reset,
    /// which can destroy the response still in flight (a 413 for an upload
    /// that was too large, say). So when the client may still be sending:
    /// shut down our side, then read and discard until it closes, for at
    /// most `LINGER_TIME` and `LINGER_BYTES`.
    fn linger_if_unread(&mut self) {
        let unread = {
            let inb = self.inbound.borrow();
            !inb.buf.is_empty() || !inb.body.is_done() || inb.broken.is_some()
        };
        if !unread || self.stream.shutdown(std::net::Shutdown::Write).is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER_TIME;
        let mut discarded = 0;
        let mut inb = self.inbound.borrow_mut();
        while discarded < LINGER_BYTES && !self.ctx.shutting_down.get() {
            if self.stream.readable_until(Some(deadline)).is_err() {
                return;
            }
            inb.buf.clear();
            match inb.try_fill() {
                Ok(0) => return,
                Ok(n) => discarded += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }

    /// Reads at least one byte into the input buffer, parking until then.
    /// A worker shutdown ends the wait (`Ok(0)`) of a connection between
    /// requests; a request whose first bytes have arrived is still owed an
    /// answer, so its head is read on (within `deadline`).
    ///
    /// Inlined: it is the connection loop's hot path (one call per request).
    #[inline(always)]
    fn read_more(&mut self, deadline: Instant) -> io::Result<usize> {
        // Wait first: the socket remembers whether data may have arrived
        // since the last short read, so a drained socket costs no syscall.
        loop {
            if self.ctx.shutting_down.get()
                && let Some(r) = self.read_at_shutdown()
            {
                return r;
            }
            self.stream.readable_until(Some(deadline))?;
            match self.inbound.borrow_mut().try_fill() {
                // Woken with nothing to read: maybe told to make room for a new connection.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.shared.evicted.get() {
                        return Ok(0);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// Waits between requests for the next one: for
    /// `Limits::idle_stackless_after` on this green thread, then, if nothing
    /// came, `Idle::Sleep` (the caller gives the green thread back).
    #[inline(always)]
    fn read_idle(&mut self, deadline: Instant) -> Idle {
        let Some(at) = self.ctx.config.limits.idle_stackless_after.and_then(|a| self.clock.checked_add(a)) else {
            return Idle::Read(self.read_more(deadline));
        };
        if at >= deadline {
            return Idle::Read(self.read_more(deadline));
        }
        match self.read_more(at) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => self.nothing_came(deadline),
            r => Idle::Read(r),
        }
    }

    /// Nothing came while the connection waited on its green thread (or it
    /// was woken from its sleep, see `asleep.rs`, for a reason other than
    /// bytes to read).
    #[cold]
    #[inline(never)]
    fn nothing_came(&mut self, deadline: Instant) -> Idle {
        if self.shared.evicted.get() {
            // Told to make room for a new connection.
            return Idle::Read(Ok(0));
        }
        if self.ctx.shutting_down.get() || crate::inspect::loop_time() >= deadline {
            return Idle::Read(self.read_more(deadline));
        }
        Idle::Sleep
    }

    /// At shutdown: `None` while a head is half received (it is read on).
    /// Between requests, bytes that have already arrived (the start of a
    /// request the client has begun to send) are read and answered; with
    /// none, the connection closes (`Ok(0)`).
    #[cold]
    #[inline(never)]
    fn read_at_shutdown(&mut self) -> Option<io::Result<usize>> {
        let mut inb = self.inbound.borrow_mut();
        if !inb.buf.is_empty() {
            return None;
        }
        Some(match inb.try_fill() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => Ok(0),
            r => r,
        })
    }

    /// At shutdown, whether the connection is kept for one more answer: the
    /// current request's body is all read and the next request has begun
    /// to arrive (pipelined behind it, or its first bytes are in the socket).
    /// The last answer says `Connection: close`.
    #[cold]
    #[inline(never)]
    fn owes_more_at_shutdown(&mut self) -> bool {
        let mut inb = self.inbound.borrow_mut();
        if !inb.body.is_done() || inb.broken.is_some() {
            return false;
        }
        !inb.buf.is_empty() || matches!(inb.try_fill(), Ok(n) if n > 0)
    }

    /// Answers one request. `Ok(false)`: close the connection after flushing.
    ///
    /// Out of line, and split in three: this frame is what stays on the
    /// connection's stack under the handler (and every page of it a parked
    /// handler touches stays resident), so it holds only the request slot
    /// and the outcome; the work before and after runs in frames that are
    /// gone while the handler runs.
    ///
    /// The head is parsed in the connection loop's frame, which is shallow,
    /// not below this one: the deepest the stack ever gets is what stays
    /// resident, and the parser's header array is 1 KiB.
    #[inline(never)]
    fn handle(&mut self, head: RequestHead) -> io::Result<bool> {
        let mut slot = None;
        let request = self.begin(head, &mut slot)?;
        let metrics = &self.ctx.metrics;
        metrics.in_flight.add(1);
        // A client that hung up before the handler started gets a handler
        // whose first wait ends at once; one that hangs up later, at that point.
        self.cancel.reset();
        if self.stream.peer_hung_up() {
            self.cancel.cancel();
        }
        // The request stays in this frame; the app takes it out where it is
        // consumed (see `Handler::call_in_place`). One frame both catches a
        // panic and scopes the cancellation, and the response is made where
        // `respond` takes it from (`run_catching` would return a copy).
        let scope = self.cancel.open();
        let mut outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.app.call_in_place(&mut slot)));
        scope.close(&mut outcome);
        metrics.in_flight.sub(1);
        drop(slot);
        self.respond(outcome, request)
    }

    /// Sets the connection up for the request in `head` and builds it into `slot`.
    #[inline(never)]
    fn begin(&mut self, head: RequestHead, slot: &mut Option<Request>) -> io::Result<Begun> {
        let (framing, keep_alive, expect_continue) = (head.framing, head.keep_alive, head.expect_continue);
        let limits = &self.ctx.config.limits;
        let state = match framing {
            // A request body is never delimited by close (the answer needs the connection).
            BodyFraming::UntilClose => BodyDecoder::done(),
            framing => BodyDecoder::new(framing, limits.max_body_bytes),
        };
        let has_body = !state.is_done();
        {
            let mut inb = self.inbound.borrow_mut();
            inb.body = state;
            inb.expect_continue = expect_continue && has_body;
            inb.broken = None;
            inb.request_seq += 1;
        }
        if expect_continue && has_body {
            // Responses to earlier pipelined requests go before the 100 Continue.
            self.flush()?;
        }
        let begun = Begun {
            version: head.version,
            is_head: head.method == Method::HEAD,
            keep_alive,
            has_body,
            request_id: self.ctx.next_request_id.get(),
            started: self.tick,
        };
        let seq = self.inbound.borrow().request_seq;
        let body = if has_body { Body::from_conn(self.inbound.clone(), seq) } else { Body::empty() };
        let req = slot.insert(Request::from_head(head, body));
        self.ctx.next_request_id.set(begun.request_id + 1);
        self.info.set(ConnInfo { peer: self.peer, worker: self.ctx.id, request_id: begun.request_id });
        let method = req.method().as_str();
        let target = req.target();
        let says = &self.label_text;
        // Compared inline a word at a time: two calls to `memcmp` cost more
        // than the bytes they compare.
        let says_bytes = says.as_bytes();
        let same = says.len() == method.len() + 1 + target.len()
            && same_bytes(&says_bytes[method.len() + 1..], target.as_bytes())
            && same_bytes(&says_bytes[..method.len()], method.as_bytes())
            && says_bytes[method.len()] == b' ';
        if !same {
            self.label_text.clear();
            self.label_text.push_str(method);
            self.label_text.push(' ');
            self.label_text.push_str(target);
            self.label.set_with_request(begun.request_id, |t| t.push_str(&self.label_text));
        } else {
            self.label.set_request(begun.request_id);
        }
        Ok(begun)
    }

    /// Writes the answer to the request `begun` described, once the app returned.
    #[inline(never)]
    fn respond(&mut self, outcome: Result<Response, Box<dyn std::any::Any + Send>>, begun: Begun) -> io::Result<bool> {
        let Begun { version, is_head, keep_alive, has_body, request_id, started } = begun;
        // The latency from two readings of the raw clock. The connection's
        // clock (deadlines, the Date stamp) is the loop's, as when bytes
        // arrive, unless the handler kept the loop long (computing, or
        // blocking it): the loop's clock is as old as that, and the idle
        // timeout must count from the answer, not from the request.
        let now = crate::sys::monotonic_ns();
        let took = now.saturating_sub(started);
        self.tick = now;
        self.clock = if took > LOOP_CLOCK_STALE_NS { Instant::now() } else { crate::inspect::loop_time() };
        let drain_limit = self.ctx.config.limits.drain_limit;
        let mut keep = keep_alive;
        let response = match outcome {
            Ok(r) => r,
            Err(p) if p.is::<crate::cancel::Cancelled>() => {
                // Nobody will read it: nginx's "client closed request".
                log::debug!(
                    "greenloop: request {request_id}: the client went away; its handler's waits were cancelled"
                );
                keep = false;
                error_response(StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST), "client closed request")
            }
            Err(p) => {
                log::error!("greenloop: handler panicked (request {request_id}): {}", panic_text(&*p));
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            }
        };
        self.ctx.metrics.observe(response.status(), took);
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            return self.switch_protocols(response, version);
        }
        let streams_request_body = response.body().as_bytes().is_none();
        if has_body && !streams_request_body {
            // What the handler left of the body is skipped after the answer
            // (never before: a client that sends less than it declared would
            // wait for it); a body too large to skip closes the connection.
            keep &= super::inbound::may_skip_rest(&self.inbound, drain_limit);
        }
        if keep && self.ctx.shutting_down.get() {
            // Requests that had arrived when the shutdown began are answered too.
            keep = self.owes_more_at_shutdown();
        }
        if has_body && streams_request_body {
            // A streamed response body may read the request body (an echo),
            // which would send `100 Continue` in the middle of the response
            // body. The client waiting for it must get it before the final head.
            let mut inb = self.inbound.borrow_mut();
            if inb.expect_continue {
                inb.expect_continue = false;
                self.out.buf().extend_from_slice(CONTINUE_100);
            }
        }
        // User code that runs after the handler's own `catch_unwind` (a
        // streamed body, the response's extensions dropped) runs under
        // another, in `write_response`.
        keep = self.write_response(response, version, is_head, keep)?;
        if has_body && keep {
            // So the next request starts where it should. Should the rest of
            // the body be slow to come, the answer goes out first.
            let out = &mut self.out;
            keep = super::inbound::drain(&self.inbound, drain_limit, &mut || out.flush());
        }
        keep &= self.inbound.borrow().broken.is_none();
        Ok(keep)
    }

    /// Writes a `101` head and hands the connection to the callback
    /// `upgrade::switch` left (on this green thread); the connection closes
    /// when it returns. A `101` without one is answered with a 500.
    #[inline(never)]
    fn switch_protocols(&mut self, response: Response, version: Version) -> io::Result<bool> {
        let Some(then) = crate::http::upgrade::take_pending() else {
            log::error!("greenloop: a handler answered 101 without upgrade::switch; sending 500");
            let res = error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
            return self.write_response(res, version, false, false);
        };
        self.write_response(response, version, false, true)?;
        self.flush()?;
        let early = {
            let mut inb = self.inbound.borrow_mut();
            let early = inb.buf.unread().to_vec();
            // HTTP reads no more here: the buffer's memory goes back now,
            // not when the (long-lived) upgraded connection ends.
            inb.buf = ReadBuf::new(0, 0);
            early
        };
        self.upgrade = Some((then, crate::http::upgrade::Upgraded::new(self.stream.clone(), early)));
        Ok(false)
    }

    /// Serialises `response`; fixed bodies are buffered, streams written now.
    /// Returns whether the connection may be kept.
    ///
    /// A streamed body runs user code (a `ResponseBody::stream` closure, a
    /// reader's `read`) after the handler's own `catch_unwind`, and so may
    /// the `Drop` of a response extension. A panic there used to unwind the
    /// connection's green thread past `connection_closed()`, leaking its
    /// `max_connections` slot for good (and making a graceful shutdown wait
    /// out the whole grace period). Both run under `catch_unwind` here; the
    /// head may be out already, so all a panic can do is close the
    /// connection. A fixed body runs none, and is written without one.
    fn write_response(&mut self, response: Response, version: Version, is_head: bool, keep: bool) -> io::Result<bool> {
        let Written { status, fields, extensions, body } = response.into_written();
        let kind = body.into_kind();
        let outgoing = match &kind {
            Kind::Empty => OutgoingBody::Empty,
            Kind::Bytes(b) => OutgoingBody::Length(b.len() as u64),
            Kind::Reader { length: Some(n), .. } => OutgoingBody::Length(*n),
            Kind::File { len, .. } => OutgoingBody::Length(*len),
            Kind::Reader { length: None, .. } | Kind::Writer(_) => OutgoingBody::Chunked,
        };
        let config = &self.ctx.config;
        let written = {
            let stamp = self.ctx.stamp_at(self.clock);
            let opts = ResponseOptions {
                request_version: version,
                is_head,
                keep_alive: keep,
                date: &stamp.date,
                server: config.server_name.as_bytes(),
            };
            let mut kept = stamp.ok_head.borrow_mut();
            write_response_head_stamped(
                status,
                fields.head(),
                outgoing,
                &opts,
                &stamp.fields,
                Some(&mut kept),
                self.out.buf(),
            )
        };
        fields.recycle();
        if !extensions.is_empty()
            && let Err(p) = crate::catch_unwind(move || drop(extensions))
        {
            return Err(self.user_code_panicked("a response extension's drop", &*p));
        }
        match (written.framing, kind) {
            (BodyFraming::None, Kind::Empty | Kind::Bytes(_) | Kind::File { .. }) | (_, Kind::Empty) => {}
            (BodyFraming::Length(_), Kind::Bytes(b)) if b.len() <= COPY_LIMIT => self.out.buf().extend_from_slice(&b),
            (BodyFraming::Length(_), Kind::Bytes(b)) => self.out.write_now(&b)?,
            (BodyFraming::Length(n), Kind::File { file, start, .. }) => self.out.send_file(&file, start, n)?,
            (framing, kind) => {
                let out = &mut self.out;
                let streamed = crate::catch_unwind(move || -> io::Result<bool> {
                    match (framing, kind) {
                        (BodyFraming::None, _) => {}
                        (BodyFraming::Length(n), Kind::Reader { mut reader, .. }) => out.copy_exact(&mut *reader, n)?,
                        (BodyFraming::Chunked, kind) => {
                            let mut w = out.chunked()?;
                            kind.write_to(&mut w)?;
                            w.finish()?;
                        }
                        (BodyFraming::UntilClose, kind) => {
                            kind.write_to(&mut out.raw()?)?;
                            return Ok(false);
                        }
                        (BodyFraming::Length(_), _) => unreachable!("streams are never given a length"),
                    }
                    Ok(true)
                });
                match streamed {
                    Ok(may_keep) => {
                        if !may_keep? {
                            return Ok(false);
                        }
                    }
                    Err(p) => return Err(self.user_code_panicked("response body", &*p)),
                }
            }
        }
        Ok(written.keep_alive)
    }

    /// Logs a panic of user code that `write_response` ran, and the error
    /// that closes the connection.
    #[cold]
    #[inline(never)]
    fn user_code_panicked(&self, what: &str, p: &(dyn std::any::Any + Send)) -> io::Error {
        let request_id = self.info.get().request_id;
        log::error!("greenloop: {what} panicked (request {request_id}): {}", panic_text(p));
        io::Error::other(format!("{what} panicked"))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Answers a malformed request with its status and reason, then closes.
    fn reject(&mut self, err: ParseError) -> End {
        let response = error_response(err.status, err.reason);
        let result = self.write_response(response, Version::HTTP_11, false, false).and_then(|_| self.flush());
        match result {
            Ok(()) => self.finish(),
            Err(e) => End::Error(e),
        }
    }

    fn finish(&mut self) -> End {
        match self.flush() {
            Ok(()) => End::Closed,
            Err(e) => End::Error(e),
        }
    }
}

fn error_response(status: StatusCode, reason: &str) -> Response {
    (status, format!("{reason}\n")).into_response()
}
