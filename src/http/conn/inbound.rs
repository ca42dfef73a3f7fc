//! A server connection's read side ([`Inbound`]): its buffer, the current
//! request body's framing (`Content-Length` or chunked), `100 Continue`,
//! and the parking reads a request [`Body`](crate::http::Body) is made of.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::stream::Stream;
use crate::http::body_error::BodyError;
use crate::http::codec::{BodyDecoder, CONTINUE_100, ParseError};
use crate::http::read_buf::ReadBuf;

/// Read-side state of one connection, shared by the connection loop and the
/// body of the request being handled (one at a time).
pub(crate) struct Inbound {
    pub(crate) stream: Rc<Stream>,
    pub(crate) buf: ReadBuf,
    /// The current request's body: how much is left, or the chunked
    /// decoder's state (the codec's decoder, shared with the client).
    pub(crate) body: BodyDecoder,
    /// `Expect: 100-continue` not answered yet.
    pub(crate) expect_continue: bool,
    /// The body hit a framing error or the peer vanished: close after the response.
    pub(crate) broken: Option<ParseError>,
    /// Number of the request whose body is being read. A `Body` remembers
    /// its own: one read after its request was answered fails instead of
    /// consuming the next request's bytes.
    pub(crate) request_seq: u64,
    /// Longest wait for the next piece of a body.
    pub(crate) body_timeout: Duration,
}

impl Inbound {
    /// Reads more bytes from the socket into the buffer (compacting or
    /// growing it first), without parking: `WouldBlock` when nothing is
    /// there, `Ok(0)` at end of stream.
    pub(crate) fn try_fill(&mut self) -> io::Result<usize> {
        let n = self.stream.try_read(self.buf.spare())?;
        self.buf.filled(n);
        Ok(n)
    }

    /// Body bytes of request `seq` still to be read, when known: `None`
    /// for a chunked body mid-way, and for a body that cannot be read any
    /// more (another request's, or one whose framing broke).
    pub(crate) fn body_left(&self, seq: u64) -> Option<u64> {
        if seq != self.request_seq || self.broken.is_some() {
            return None;
        }
        self.body.remaining()
    }

    fn send_continue(&mut self) -> io::Result<()> {
        if self.expect_continue {
            self.expect_continue = false;
            (&*self.stream).write_all(CONTINUE_100)?;
        }
        Ok(())
    }

    /// Reads body bytes into `out` without parking; `Ok(0)` when the body is
    /// complete, `WouldBlock` when more must arrive first.
    fn read_body(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.broken {
            // Keep failing: a clean `Ok(0)` here would pass a truncated body off as complete.
            return Err(BodyError::io(e.status, e.reason.into()));
        }
        let result = self.read_body_inner(out);
        if let Err(e) = &result
            && self.broken.is_none()
            && e.kind() != io::ErrorKind::Interrupted
            && e.kind() != io::ErrorKind::WouldBlock
        {
            // A read timed out (`body_timeout`) or failed: where the body ends
            // on the wire is now unknown, so the connection must close after
            // the response. Without this, the drain after the handler retried
            // the read and the response waited out a second `body_timeout`.
            let (status, reason) = if e.kind() == io::ErrorKind::TimedOut {
                (StatusCode::REQUEST_TIMEOUT, "request body not received in time")
            } else {
                (StatusCode::BAD_REQUEST, "request body could not be read")
            };
            self.body = BodyDecoder::done();
            self.broken = Some(ParseError::new(status, reason));
        }
        result
    }

    fn read_body_inner(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.body.is_done() {
                return Ok(0);
            }
            if !self.buf.is_empty() {
                let (consumed, produced) = match self.body.decode(self.buf.unread(), out) {
                    Ok(r) => r,
                    Err(e) => {
                        self.broken = Some(e);
                        self.body = BodyDecoder::done();
                        // Carry the status (413 for a body over the limit, 400 for
                        // bad framing) so `IntoResponse for io::Error` answers with it.
                        return Err(BodyError::io(e.status, e.reason.into()));
                    }
                };
                self.buf.consume(consumed);
                if produced > 0 || self.body.is_done() {
                    return Ok(produced);
                }
                // Only chunk framing was buffered: more must arrive.
            }
            self.send_continue()?;
            // Large reads of a `Content-Length` body skip the buffer and land
            // in `out` directly.
            if out.len() >= 8192 && self.buf.is_empty() {
                let want = self.body.direct_limit(out.len());
                if want > 0 {
                    let n = self.stream.try_read(&mut out[..want])?;
                    if n == 0 {
                        return Err(self.eof());
                    }
                    self.body.advance(n);
                    return Ok(n);
                }
            }
            if self.try_fill()? == 0 {
                return Err(self.eof());
            }
        }
    }

    fn eof(&mut self) -> io::Error {
        self.body = BodyDecoder::done();
        self.broken = Some(ParseError::new(http::StatusCode::BAD_REQUEST, "request body ended early"));
        io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the request body ended")
    }
}

/// Reads body bytes of request `seq` that have already arrived into `out`,
/// without parking: `WouldBlock` when more must arrive first.
pub(crate) fn read_arrived(inbound: &RefCell<Inbound>, seq: u64, out: &mut [u8]) -> io::Result<usize> {
    let mut inb = inbound
        .try_borrow_mut()
        .map_err(|_| io::Error::other("the request body is being read by two green threads at once"))?;
    if inb.request_seq != seq {
        return Err(io::Error::other("this request body belongs to a request that was already answered"));
    }
    inb.read_body(out)
}

/// Reads body bytes of request `seq` into `out`, parking (without holding
/// the connection's buffer) while more must arrive.
pub(crate) fn read_parking(inbound: &RefCell<Inbound>, seq: u64, out: &mut [u8]) -> io::Result<usize> {
    loop {
        let (stream, timeout) = {
            let mut inb = inbound
                .try_borrow_mut()
                .map_err(|_| io::Error::other("the request body is being read by two green threads at once"))?;
            if inb.request_seq != seq {
                return Err(io::Error::other(
                    "this request body belongs to a request that was already answered; \
                     read it before the handler returns (or stream it into the response)",
                ));
            }
            match inb.read_body(out) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => (inb.stream.clone(), inb.body_timeout),
                r => return r,
            }
        };
        // Parked here, nobody holds the buffer: the connection (or another
        // reader) may use it, and the sequence check above catches the rest.
        if let Err(e) = stream.readable_until(Instant::now().checked_add(timeout)) {
            let mut inb = inbound.borrow_mut();
            if inb.request_seq == seq && inb.broken.is_none() {
                // Where the body ends on the wire is now unknown: close after the response.
                inb.body = BodyDecoder::done();
                inb.broken = Some(ParseError::new(StatusCode::REQUEST_TIMEOUT, "request body not received in time"));
            }
            return Err(if e.kind() == io::ErrorKind::TimedOut {
                BodyError::io(StatusCode::REQUEST_TIMEOUT, "request body not received in time".into())
            } else {
                e
            });
        }
    }
}

/// Whether the connection can be kept once the current request is answered,
/// as far as its body can tell before the answer is written (so that the
/// answer says whether the connection stays open), without waiting: what
/// has already arrived of the body is skipped now, and what is still to
/// come must be small enough to skip after the answer (a chunked body is
/// tried: [`drain`] gives up at `limit`).
pub(crate) fn may_skip_rest(inbound: &RefCell<Inbound>, limit: u64) -> bool {
    {
        let inb = inbound.borrow();
        if inb.body.is_done() {
            // The usual case: the handler read it all.
            return inb.broken.is_none();
        }
    }
    if drain(inbound, limit, &mut || Err(io::ErrorKind::WouldBlock.into())) {
        return true;
    }
    let inb = inbound.borrow();
    if inb.broken.is_some() {
        return false;
    }
    if inb.body.is_done() {
        return true;
    }
    if inb.expect_continue {
        // The client is waiting for our word before sending the body; it
        // gets a final response instead, so the body may never come.
        return false;
    }
    // A chunked body's rest is unknown: tried (`drain` gives up at `limit`).
    inb.body.remaining().is_none_or(|left| left <= limit)
}

/// Reads and discards what is left of the current request's body, up to
/// `limit` bytes. Returns whether the body is now complete.
///
/// What has already arrived is skipped at once; `before_waiting` runs before
/// the first wait for more (the connection writes the answer it holds, so a
/// client that sends less than it declared is not kept waiting for it), and
/// if it fails, draining stops there (`false`).
///
/// Kept out of line, with its scratch buffer on the heap: inlined into the
/// connection loop, a stack array would deepen every request's stack by its
/// size, and every page touched stays resident per connection.
#[inline(never)]
#[cold]
pub(crate) fn drain(
    inbound: &RefCell<Inbound>,
    limit: u64,
    before_waiting: &mut dyn FnMut() -> io::Result<()>,
) -> bool {
    let seq = {
        let inb = inbound.borrow();
        if inb.expect_continue {
            // The client is waiting for our word before sending the body; it
            // got a final response instead, so the body may never come.
            return inb.body.is_done();
        }
        if inb.body.is_done() {
            // Nothing left to read (the usual case): no scratch buffer needed.
            return inb.broken.is_none();
        }
        inb.request_seq
    };
    let mut scratch = vec![0u8; 4096];
    let mut drained = 0u64;
    let mut waited = false;
    loop {
        if inbound.borrow().body.is_done() {
            break;
        }
        if drained >= limit {
            return false;
        }
        let read = if waited {
            read_parking(inbound, seq, &mut scratch)
        } else {
            let read = inbound.borrow_mut().read_body(&mut scratch);
            if read.as_ref().is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock) {
                if before_waiting().is_err() {
                    return false;
                }
                waited = true;
                continue;
            }
            read
        };
        match read {
            Ok(0) => break,
            Ok(n) => drained += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    inbound.borrow().broken.is_none()
}
