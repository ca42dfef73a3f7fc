//! Connection upgrades: a handler answers `101 Switching Protocols` and
//! takes the connection over (plain or TLS) as an [`Upgraded`] stream.
//!
//! After the `101` head is written the server stops framing HTTP on the
//! connection: no idle or header timeout applies any more, and the callback
//! given to [`switch`] runs on the connection's green thread with the
//! stream (and any bytes the client sent after its request head). The
//! connection closes when the callback returns.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Instant;

use http::StatusCode;

use super::conn::stream::Stream;
use super::response::Response;

/// What runs the connection after a `101`.
pub(crate) type Pending = Box<dyn Then>;

/// A callback given to [`switch`], run once with the connection.
pub(crate) trait Then {
    /// Runs the callback, its box freed first: the protocol it runs may
    /// last as long as the connection (a WebSocket), and its box need not.
    fn run(self: Box<Self>, conn: Upgraded);
}

impl<F: FnOnce(Upgraded)> Then for F {
    fn run(self: Box<Self>, conn: Upgraded) {
        let then = unbox(self);
        then(conn)
    }
}

/// Moves a value out of its box, which is freed when this returns (not
/// when the caller's frame ends: a connection's green thread, and the
/// protocol a `101` hands it to, outlive the frame that took the box).
// Taking the box is the point: it is freed on return.
#[allow(clippy::boxed_local)]
pub(crate) fn unbox<T>(b: Box<T>) -> T {
    *b
}

/// The callback of the `101` the current connection's handler answers.
static PENDING: crate::LocalKey<Pending> = crate::LocalKey::new();

/// Makes `response` a `101 Switching Protocols` and arranges for `then` to
/// run with the connection once that head is written. Call it on the
/// handler's own green thread (the connection's) and return the response.
///
/// `then` runs on a green thread of its own, started fresh when the head is
/// out: a long-lived protocol (a WebSocket waiting for its next message)
/// then keeps only its own frames resident, not the stack the HTTP request
/// used on the way.
///
/// ```no_run
/// use greenloop::http::{Request, Response, upgrade};
/// fn raw(_req: Request) -> Response {
///     let mut res = Response::new(Default::default());
///     res.headers_mut().insert("upgrade", "echo".parse().unwrap());
///     res.headers_mut().insert("connection", "upgrade".parse().unwrap());
///     upgrade::switch(res, |conn| {
///         let _ = std::io::copy(&mut &conn, &mut &conn);
///     })
/// }
/// ```
pub fn switch(mut response: Response, then: impl FnOnce(Upgraded) + 'static) -> Response {
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    PENDING.set(Box::new(then));
    response
}

/// The callback [`switch`] left for this connection, if any.
pub(crate) fn take_pending() -> Option<Pending> {
    PENDING.take()
}

/// A connection taken over after `101 Switching Protocols`.
///
/// `&Upgraded` is `Read + Write` (parking the green thread); reads and
/// writes may run at once on two green threads. The non-parking
/// `try_*`/`*_until` methods are for protocol layers (WebSockets) that keep
/// their own state and must not park while holding it.
pub struct Upgraded {
    stream: Rc<Stream>,
    /// Bytes the client sent after its request head, read before the switch.
    early: RefCell<Vec<u8>>,
}

impl std::fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgraded").field("early_bytes", &self.early.borrow().len()).finish_non_exhaustive()
    }
}

impl Upgraded {
    pub(crate) fn new(stream: Rc<Stream>, early: Vec<u8>) -> Upgraded {
        Upgraded { stream, early: RefCell::new(early) }
    }

    /// The connection underneath (a protocol layer that took the early
    /// bytes reads it directly).
    #[cfg(feature = "ws")]
    pub(crate) fn stream(&self) -> &Rc<Stream> {
        &self.stream
    }

    /// Takes the bytes that arrived with the request head (a protocol layer
    /// parses them first).
    pub fn take_early_bytes(&self) -> Vec<u8> {
        std::mem::take(&mut *self.early.borrow_mut())
    }

    /// Reads what is there now without parking (`WouldBlock` otherwise);
    /// `Ok(0)` at the end.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        {
            let mut early = self.early.borrow_mut();
            if !early.is_empty() {
                let n = buf.len().min(early.len());
                buf[..n].copy_from_slice(&early[..n]);
                early.drain(..n);
                return Ok(n);
            }
        }
        self.stream.try_read(buf)
    }

    /// Writes what the connection takes now without parking (`WouldBlock` otherwise).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.stream.try_write(buf)
    }

    /// Sends output a protocol layer queued (TLS records) without parking:
    /// `WouldBlock` while some is left.
    pub fn try_flush(&self) -> io::Result<()> {
        self.stream.try_flush()
    }

    /// Parks until bytes may be readable, the green thread is unparked, or
    /// `deadline` passes (`TimedOut`).
    pub fn readable_until(&self, deadline: Option<Instant>) -> io::Result<()> {
        if !self.early.borrow().is_empty() {
            return Ok(());
        }
        self.stream.readable_until(deadline)
    }

    /// Parks until the connection may take more output, or `deadline` passes.
    pub fn writable_until(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.stream.writable_until(deadline)
    }

    /// Shuts the connection down (after a TLS `close_notify`).
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.stream.shutdown(how)
    }
}

impl Read for &Upgraded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.try_read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable_until(None)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
}

impl Write for &Upgraded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.stream).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        loop {
            match self.try_flush() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable_until(None)?,
                r => return r,
            }
        }
    }
}
