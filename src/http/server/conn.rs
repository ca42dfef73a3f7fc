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
use crate::http::codec::{
    BodyDecoder, BodyFraming, CONTINUE_100, HeadCache, OutgoingBody, ParseError, RequestHead, ResponseOptions,
    parse_request_reusing, write_response_head_stamped,
};
use crate::http::conn::write::Output;
use crate::http::handler::App;
use crate::http::read_buf::ReadBuf;
use crate::http::request_ext::ConnInfo;
use crate::http::response::{IntoResponse, Kind};
use crate::http::{Body, Request, Response};

/// How long, and how much, a closing connection reads and discards so that
/// its last response is not destroyed by a reset.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Output beyond this is written before more requests are handled.
const FLUSH_AT: usize = 64 * 1024;
/// Fixed bodies larger than this are written from their own buffer, not copied.
const COPY_LIMIT: usize = 16 * 1024;

struct Conn<'a> {
    ctx: &'a WorkerCtx,
    app: &'a App,
    peer: Option<SocketAddr>,
    stream: Rc<Stream>,
    inbound: Rc<RefCell<Inbound>>,
    /// Responses not yet written (pipelined answers go out together).
    out: Output,
    codec_limits: crate::http::codec::CodecLimits,
    /// The previous head's target and fields, reused when the next repeats them.
    head_cache: HeadCache,
    /// What the watchdog calls this connection's green thread: the current
    /// request's method and target, then its id.
    label: crate::watchdog::Label,
    /// The method and target the label says now: a request repeating them
    /// only changes the label's request id.
    label_text: String,
    /// The last clock reading: when bytes last arrived or a response was
    /// made. Pipelined requests start when the previous one ended.
    clock: Instant,
    /// This connection's facts, seen by `RequestExt::conn_info` on its green thread.
    info: Rc<std::cell::Cell<ConnInfo>>,
    /// What it shares with its worker: whether it is idle, since when, and
    /// whether it was told to close to make room for a new connection.
    shared: Rc<ConnShared>,
    /// Cancelled when the client hangs up; each handler runs under it.
    cancel: crate::cancel::Cancel,
}

/// What `Conn::respond` needs to know of a request the app is answering.
struct Begun {
    version: Version,
    is_head: bool,
    keep_alive: bool,
    has_body: bool,
    request_id: u64,
    /// When the request started (its bytes arrived, or the previous answer was made).
    started: Instant,
}

/// How a connection ended; only used to pick what, if anything, to log.
enum End {
    Closed,
    Error(io::Error),
}

/// Serves one connection; `slot` is its place among the worker's
/// `max_connections` (held by `ctx`'s worker).
pub(crate) fn serve(
    ctx: &Rc<WorkerCtx>,
    slot: OpenSlot,
    app: &Arc<App>,
    mut stream: Stream,
    peer: Option<SocketAddr>,
    id: u64,
) {
    let limits = &ctx.config.limits;
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let stream = Rc::new(stream);
    let inbound = Rc::new(RefCell::new(Inbound {
        stream: stream.clone(),
        // Most request heads fit; the buffer grows when one does not.
        buf: ReadBuf::new(1024, 4096),
        body: BodyDecoder::done(),
        expect_continue: false,
        broken: None,
        request_seq: 0,
        body_timeout: limits.body_timeout,
    }));
    let shared = hold(slot, ctx.register_connection(id), &stream);
    let info = Rc::new(std::cell::Cell::new(ConnInfo { peer, worker: ctx.id, request_id: 0 }));
    crate::http::request_ext::set_connection_info(info.clone());
    let label = crate::watchdog::Label::new();
    label.attach();
    // The socket cancels the running request's work when its client goes away.
    let cancel = crate::cancel::Cancel::new();
    stream.cancel_on_hangup(Some(&cancel));
    let mut conn = Conn {
        ctx,
        app,
        peer,
        out: Output::new(stream.clone()),
        stream,
        inbound,
        codec_limits: limits.codec(),
        head_cache: HeadCache::new(),
        label,
        label_text: String::new(),
        clock: Instant::now(),
        info,
        shared,
        cancel,
    };
    match conn.run() {
        End::Error(e) => log::debug!("greenloop: connection {id} from {peer:?}: {e}"),
        End::Closed => conn.linger_if_unread(),
    }
    // The connection closes when `conn` drops its share of the stream, in
    // this same turn (nothing parks in between).
    release();
}

impl Conn<'_> {
    fn run(&mut self) -> End {
        // When the time allowed for the head being received started: when
        // its first bytes arrived, or, for a connection's first request, at
        // accept (a client that connects and says nothing gets the header
        // timeout, not the idle timeout that only a kept-alive one earns).
        let mut head_started: Option<Instant> = Some(self.clock);
        loop {
            let parsed = {
                let inb = self.inbound.borrow();
                if inb.buf.is_empty() {
                    // Every answered request ends here: no parse of nothing.
                    Ok(None)
                } else {
                    parse_request_reusing(inb.buf.unread(), &self.codec_limits, Some(&mut self.head_cache))
                }
            };
            match parsed {
                Ok(Some((head, consumed))) => {
                    self.inbound.borrow_mut().buf.consume(consumed);
                    head_started = None;
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
                        None => self.clock + limits.idle_timeout,
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
                    let read = self.read_more(deadline);
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
                            self.clock = crate::inspect::loop_time();
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
                Err(e) => return self.reject(e),
            }
        }
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
        // panic and scopes the cancellation.
        let outcome = self.cancel.run_catching(|| self.app.call_in_place(&mut slot));
        metrics.in_flight.sub(1);
        drop(slot);
        self.respond(outcome, request)
    }

    /// Sets the connection up for the request in `head` and builds it into `slot`.
    #[inline(never)]
    fn begin(&mut self, head: RequestHead, slot: &mut Option<Request>) -> io::Result<Begun> {
        let RequestHead { parts, framing, keep_alive, expect_continue } = head;
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
            version: parts.version,
            is_head: parts.method == Method::HEAD,
            keep_alive,
            has_body,
            request_id: self.ctx.next_request_id.get(),
            started: self.clock,
        };
        let seq = self.inbound.borrow().request_seq;
        let body = if has_body { Body::from_conn(self.inbound.clone(), seq) } else { Body::empty() };
        let req = slot.insert(Request::from_parts(parts, body));
        self.ctx.next_request_id.set(begun.request_id + 1);
        self.info.set(ConnInfo { peer: self.peer, worker: self.ctx.id, request_id: begun.request_id });
        let method = req.method().as_str();
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let says = &self.label_text;
        let same = says.len() == method.len() + 1 + target.len()
            && says.starts_with(method)
            && says.as_bytes()[method.len()] == b' '
            && says.ends_with(target);
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
        self.clock = Instant::now();
        let took = self.clock - started;
        let limits = &self.ctx.config.limits;
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
            keep &= super::inbound::may_skip_rest(&self.inbound, limits.drain_limit);
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
        // A streamed body runs user code (a `ResponseBody::stream` closure, a
        // reader's `read`) after the handler's own `catch_unwind`. A panic there
        // used to unwind the connection's green thread past
        // `connection_closed()`, leaking its `max_connections` slot for good
        // (and making a graceful shutdown wait out the whole grace period).
        // The head is already out, so all we can do is close the connection.
        keep = match crate::catch_unwind(|| self.write_response(response, version, is_head, keep)) {
            Ok(written) => written?,
            Err(p) => {
                log::error!("greenloop: response body panicked (request {request_id}): {}", panic_text(&*p));
                return Err(io::Error::other("response body panicked"));
            }
        };
        if has_body && keep {
            // So the next request starts where it should. Should the rest of
            // the body be slow to come, the answer goes out first.
            let out = &mut self.out;
            keep = super::inbound::drain(&self.inbound, limits.drain_limit, &mut || out.flush());
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
        then(crate::http::upgrade::Upgraded::new(self.stream.clone(), early));
        Ok(false)
    }

    /// Serialises `response`; fixed bodies are buffered, streams written now.
    /// Returns whether the connection may be kept.
    fn write_response(&mut self, response: Response, version: Version, is_head: bool, keep: bool) -> io::Result<bool> {
        let (parts, body) = response.into_parts();
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
            write_response_head_stamped(parts.status, &parts.headers, outgoing, &opts, &stamp.fields, self.out.buf())
        };
        crate::http::response::recycle_headers(parts.headers);
        match (written.framing, kind) {
            (BodyFraming::None, _) | (_, Kind::Empty) => {}
            (BodyFraming::Length(_), Kind::Bytes(b)) if b.len() <= COPY_LIMIT => self.out.buf().extend_from_slice(&b),
            (BodyFraming::Length(_), Kind::Bytes(b)) => self.out.write_now(&b)?,
            (BodyFraming::Length(n), Kind::Reader { mut reader, .. }) => self.out.copy_exact(&mut *reader, n)?,
            (BodyFraming::Length(n), Kind::File { file, start, .. }) => self.out.send_file(&file, start, n)?,
            (BodyFraming::Chunked, kind) => {
                let mut w = self.out.chunked()?;
                kind.write_to(&mut w)?;
                w.finish()?;
            }
            (BodyFraming::UntilClose, kind) => {
                kind.write_to(&mut self.out.raw()?)?;
                return Ok(false);
            }
            (BodyFraming::Length(_), Kind::Writer(_)) => unreachable!("streams are never given a length"),
        }
        Ok(written.keep_alive)
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
