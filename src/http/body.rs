//! The request body: a streaming `Read` that parks while data is in flight.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::codec::{CONTINUE_100, ChunkedDecoder, ParseError};
use super::read_buf::ReadBuf;
use super::stream::Stream;

/// Read-side state of one connection, shared by the connection loop and the
/// body of the request being handled (one at a time).
pub(crate) struct Inbound {
    pub(crate) stream: Rc<Stream>,
    pub(crate) buf: ReadBuf,
    pub(crate) body: BodyState,
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

/// Where the current request's body stands.
pub(crate) enum BodyState {
    /// Fully read (or there was none).
    Done,
    /// `Content-Length` bytes still to come.
    Length(u64),
    /// Chunked, mid-way.
    Chunked(Box<ChunkedDecoder>),
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
            self.body = BodyState::Done;
            self.broken = Some(ParseError::new(status, reason));
        }
        result
    }

    fn read_body_inner(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.body {
                BodyState::Done => return Ok(0),
                BodyState::Length(remaining) => {
                    let remaining_now = *remaining;
                    if self.buf.is_empty() {
                        self.send_continue()?;
                        // Large reads skip the buffer and land in `out` directly.
                        if out.len() >= 8192 {
                            let want = (out.len() as u64).min(remaining_now) as usize;
                            let n = self.stream.try_read(&mut out[..want])?;
                            if n == 0 {
                                return Err(self.eof());
                            }
                            self.consume_length(n as u64);
                            return Ok(n);
                        }
                        if self.try_fill()? == 0 {
                            return Err(self.eof());
                        }
                        continue;
                    }
                    let want = (out.len() as u64).min(remaining_now) as usize;
                    let n = self.buf.take(&mut out[..want]);
                    self.consume_length(n as u64);
                    return Ok(n);
                }
                BodyState::Chunked(decoder) => {
                    let result = decoder.decode(self.buf.unread(), out);
                    let (consumed, produced) = match result {
                        Ok(r) => r,
                        Err(e) => {
                            self.broken = Some(e);
                            self.body = BodyState::Done;
                            // Carry the status (413 for a body over the limit, 400 for
                            // bad framing) so `IntoResponse for io::Error` answers with it.
                            return Err(BodyError::io(e.status, e.reason.into()));
                        }
                    };
                    self.buf.consume(consumed);
                    let done = decoder.is_done();
                    if done {
                        self.body = BodyState::Done;
                    }
                    if produced > 0 || done {
                        return Ok(produced);
                    }
                    self.send_continue()?;
                    if self.try_fill()? == 0 {
                        return Err(self.eof());
                    }
                }
            }
        }
    }

    fn consume_length(&mut self, n: u64) {
        if let BodyState::Length(remaining) = &mut self.body {
            *remaining -= n;
            if *remaining == 0 {
                self.body = BodyState::Done;
            }
        }
    }

    fn eof(&mut self) -> io::Error {
        self.body = BodyState::Done;
        self.broken = Some(ParseError::new(http::StatusCode::BAD_REQUEST, "request body ended early"));
        io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the request body ended")
    }
}

/// Reads body bytes of request `seq` into `out`, parking (without holding
/// the connection's buffer) while more must arrive.
fn read_parking(inbound: &RefCell<Inbound>, seq: u64, out: &mut [u8]) -> io::Result<usize> {
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
                inb.body = BodyState::Done;
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

/// Reads and discards what is left of the current request's body, up to
/// `limit` bytes. Returns whether the body is now complete.
///
/// Kept out of line, with its scratch buffer on the heap: inlined into the
/// connection loop, a stack array would deepen every request's stack by its
/// size, and every page touched stays resident per connection.
#[inline(never)]
#[cold]
pub(crate) fn drain(inbound: &RefCell<Inbound>, limit: u64) -> bool {
    let seq = {
        let inb = inbound.borrow();
        if inb.expect_continue {
            // The client is waiting for our word before sending the body; it
            // got a final response instead, so the body may never come.
            return matches!(inb.body, BodyState::Done);
        }
        if matches!(inb.body, BodyState::Done) {
            // Nothing left to read (the usual case): no scratch buffer needed.
            return inb.broken.is_none();
        }
        inb.request_seq
    };
    let mut scratch = vec![0u8; 4096];
    let mut drained = 0u64;
    loop {
        if matches!(inbound.borrow().body, BodyState::Done) {
            break;
        }
        if drained >= limit {
            return false;
        }
        match read_parking(inbound, seq, &mut scratch) {
            Ok(0) => break,
            Ok(n) => drained += n as u64,
            Err(_) => return false,
        }
    }
    inbound.borrow().broken.is_none()
}

/// The body of a request: read it like any `std::io::Read`. Reading parks
/// the green thread while data is in flight, so a slow upload stalls only
/// its own request.
///
/// Whatever the handler leaves unread is drained (small bodies) or the
/// connection is closed (large ones) before the next request: an unread body
/// is never mistaken for the next request.
pub struct Body {
    source: Source,
}

enum Source {
    Empty,
    /// Bytes already taken from `rest` (by middleware that peeked), then `rest`.
    Prefixed {
        prefix: Vec<u8>,
        pos: usize,
        rest: Box<Body>,
    },
    Bytes {
        data: Vec<u8>,
        pos: usize,
    },
    Conn {
        inbound: Rc<RefCell<Inbound>>,
        length: Option<u64>,
        /// The request this body belongs to (see `Inbound::request_seq`).
        seq: u64,
    },
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body { source: Source::Empty }
    }

    pub(crate) fn from_conn(inbound: Rc<RefCell<Inbound>>, length: Option<u64>, seq: u64) -> Body {
        Body { source: Source::Conn { inbound, length, seq } }
    }

    /// Puts `prefix` back in front of this body: for middleware that read
    /// the start of a body (to log it, say) and pass the whole body on.
    pub fn prepend(self, prefix: Vec<u8>) -> Body {
        if prefix.is_empty() {
            return self;
        }
        Body { source: Source::Prefixed { prefix, pos: 0, rest: Box::new(self) } }
    }

    /// The declared length (`Content-Length`), if known; `None` for chunked bodies.
    pub fn content_length(&self) -> Option<u64> {
        match &self.source {
            Source::Empty => Some(0),
            Source::Prefixed { prefix, pos, rest } => rest.content_length().map(|n| n + (prefix.len() - pos) as u64),
            Source::Bytes { data, pos } => Some((data.len() - pos) as u64),
            Source::Conn { length, .. } => *length,
        }
    }

    /// Reads the whole body, failing with `InvalidData` (and a message
    /// naming the limit) if it is longer than `limit` bytes.
    pub fn read_to_vec(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        if let Some(n) = self.content_length()
            && n > limit as u64
        {
            return Err(too_large(limit));
        }
        let mut out = Vec::with_capacity(self.content_length().unwrap_or(0).min(limit as u64) as usize);
        let mut chunk = [0u8; 8192];
        loop {
            let n = self.read(&mut chunk)?;
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > limit {
                return Err(too_large(limit));
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads the whole body as UTF-8 text, with a size limit.
    pub fn read_to_string_limited(&mut self, limit: usize) -> io::Result<String> {
        String::from_utf8(self.read_to_vec(limit)?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "request body is not valid UTF-8"))
    }
}

fn too_large(limit: usize) -> io::Error {
    BodyError::io(StatusCode::PAYLOAD_TOO_LARGE, format!("request body larger than the {limit}-byte limit").into())
}

/// A request-body error that knows the status to answer with, carried inside
/// an `io::Error` (kind `InvalidData`) so `IntoResponse for io::Error` picks
/// the right status instead of guessing from the message.
#[derive(Debug)]
pub(crate) struct BodyError {
    pub(crate) status: StatusCode,
    reason: Cow<'static, str>,
}

impl BodyError {
    fn io(status: StatusCode, reason: Cow<'static, str>) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, BodyError { status, reason })
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for BodyError {}

impl Read for Body {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.source {
            Source::Empty => Ok(0),
            Source::Prefixed { prefix, pos, rest } => {
                if *pos < prefix.len() {
                    let n = (prefix.len() - *pos).min(out.len());
                    out[..n].copy_from_slice(&prefix[*pos..*pos + n]);
                    *pos += n;
                    Ok(n)
                } else {
                    rest.read(out)
                }
            }
            Source::Bytes { data, pos } => {
                let n = (data.len() - *pos).min(out.len());
                out[..n].copy_from_slice(&data[*pos..*pos + n]);
                *pos += n;
                Ok(n)
            }
            Source::Conn { inbound, seq, .. } => read_parking(inbound, *seq, out),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl From<Vec<u8>> for Body {
    fn from(data: Vec<u8>) -> Body {
        Body { source: Source::Bytes { data, pos: 0 } }
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body::from(s.as_bytes().to_vec())
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(s.into_bytes())
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body").field("content_length", &self.content_length()).finish()
    }
}
