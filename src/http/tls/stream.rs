//! [`TlsStream`]: rustls over a green TCP socket, full duplex.
//!
//! rustls' own `StreamOwned` reads by first flushing what it has to send:
//! two peers that both write a lot can then both sit in a write, and a lock
//! held across that wait would starve the other direction. Here the
//! connection state sits in a `RefCell` that is borrowed only for CPU work
//! (decrypting what arrived, encrypting what is to go, moving bytes between
//! rustls' buffers and the socket without waiting) and never across a park.
//! A reader parks on readability, a writer on writability, each with the
//! borrow released, so one green thread may read while another writes.
//!
//! Bytes that the read side makes rustls send (a handshake flight, an alert,
//! a key update's answer) are written at once if the socket takes them; if it
//! does not, a writer is in the middle of flushing (only a writer fills the
//! send buffer) and its flush loop, which runs until rustls has nothing left,
//! sends them. Only while handshaking does a reader wait to write.

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use crate::net::TcpStream;

/// A TLS connection over a green [`TcpStream`]: `Read` and `Write` park the
/// green thread, never the loop; reads and writes may run at once on two
/// green threads (through `&TlsStream`).
pub struct TlsStream {
    sock: TcpStream,
    state: RefCell<Connection>,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
    /// While handshaking: when the handshake must be done (a server counts
    /// it against its header timeout).
    handshake_deadline: Cell<Option<Instant>>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .field("handshaking", &self.is_handshaking())
            .field("alpn", &self.alpn_protocol().map(|p| String::from_utf8_lossy(&p).into_owned()))
            .finish_non_exhaustive()
    }
}

/// What one attempt to take bytes from the socket into rustls did.
enum Pumped {
    /// Records were read and processed.
    Progress,
    /// The peer closed its side of the TCP connection.
    Eof,
}

/// `Read`/`Write` on the socket that never park: `WouldBlock` instead.
struct NoPark<'a>(&'a TcpStream);

impl Read for NoPark<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for NoPark<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn is_would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl TlsStream {
    /// The server side of a connection accepted on `sock`; the handshake
    /// runs as the first reads do, and must be over by `handshake_deadline`
    /// (after which a wait for it fails with `TimedOut`).
    pub fn accept(
        sock: TcpStream,
        config: Arc<ServerConfig>,
        handshake_deadline: Option<Instant>,
    ) -> io::Result<TlsStream> {
        let conn = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsStream::new(sock, Connection::Server(conn), handshake_deadline))
    }

    /// The client side over a connected `sock`, for `server_name` (sent as
    /// SNI, and the name the certificate must carry); returns once the
    /// handshake is done (the certificate verified), or fails by `deadline`.
    pub fn connect(
        sock: TcpStream,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
        deadline: Option<Instant>,
    ) -> io::Result<TlsStream> {
        let conn = ClientConnection::new(config, server_name).map_err(io::Error::other)?;
        let s = TlsStream::new(sock, Connection::Client(conn), deadline);
        s.handshake(deadline)?;
        Ok(s)
    }

    fn new(sock: TcpStream, conn: Connection, handshake_deadline: Option<Instant>) -> TlsStream {
        TlsStream {
            sock,
            state: RefCell::new(conn),
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
            handshake_deadline: Cell::new(handshake_deadline),
        }
    }

    /// Runs the handshake to its end (parking), or fails by `deadline`.
    pub fn handshake(&self, deadline: Option<Instant>) -> io::Result<()> {
        loop {
            self.flush_until(deadline)?;
            if !self.state.borrow().is_handshaking() {
                self.handshake_deadline.set(None);
                return Ok(());
            }
            match self.pump() {
                Ok(Pumped::Progress) => {}
                Ok(Pumped::Eof) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    ));
                }
                Err(e) if is_would_block(&e) => self.sock.readable_until(deadline)?,
                Err(e) => return Err(e),
            }
        }
    }

    /// One step of the handshake, for a caller that must also watch for
    /// something else (a server's shutdown): processes what has arrived,
    /// or parks once, until more may have arrived, the green thread is
    /// unparked, or `deadline` (`TimedOut`). `Ok(true)` once it is over.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn handshake_step(&self, deadline: Option<Instant>) -> io::Result<bool> {
        self.flush_until(deadline)?;
        if !self.state.borrow().is_handshaking() {
            self.handshake_deadline.set(None);
            return Ok(true);
        }
        match self.pump() {
            Ok(Pumped::Progress) => Ok(false),
            Ok(Pumped::Eof) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection during the TLS handshake",
            )),
            Err(e) if is_would_block(&e) => self.sock.readable_until(deadline).map(|()| false),
            Err(e) => Err(e),
        }
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.state.borrow().is_handshaking()
    }

    /// The protocol agreed through ALPN (`b"http/1.1"`), if any.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.state.borrow().alpn_protocol().map(<[u8]>::to_vec)
    }

    /// The SNI name a client asked for (server side).
    pub fn server_name(&self) -> Option<String> {
        match &*self.state.borrow() {
            Connection::Server(s) => s.server_name().map(str::to_owned),
            Connection::Client(_) => None,
        }
    }

    /// The TCP socket underneath.
    pub fn get_ref(&self) -> &TcpStream {
        &self.sock
    }

    /// How long a read may wait (`None`: forever); a read that times out
    /// fails with `TimedOut`.
    pub fn set_read_timeout(&self, t: Option<Duration>) {
        self.read_timeout.set(t);
    }

    /// How long a write may wait (`None`: forever).
    pub fn set_write_timeout(&self, t: Option<Duration>) {
        self.write_timeout.set(t);
    }

    /// Reads ciphertext the socket has now into rustls and processes it.
    /// Never parks; `WouldBlock` when nothing is there.
    fn pump(&self) -> io::Result<Pumped> {
        let mut conn = self.state.borrow_mut();
        let got = loop {
            match conn.read_tls(&mut NoPark(&self.sock)) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        let processed = conn.process_new_packets();
        // Whatever that made rustls send (a handshake flight, an alert):
        // out now if the socket takes it.
        let _ = Self::write_now(&mut conn, &self.sock);
        if let Err(e) = processed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}")));
        }
        Ok(if got == 0 { Pumped::Eof } else { Pumped::Progress })
    }

    /// Writes rustls' pending output while the socket takes it; `Ok(true)`
    /// when nothing is left. Never parks.
    fn write_now(conn: &mut Connection, sock: &TcpStream) -> io::Result<bool> {
        while conn.wants_write() {
            match conn.write_tls(&mut NoPark(sock)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_would_block(&e) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Writes all of rustls' pending output, parking on back-pressure
    /// (never with the state borrowed), or fails by `deadline`.
    pub(crate) fn flush_until(&self, deadline: Option<Instant>) -> io::Result<()> {
        loop {
            let done = Self::write_now(&mut self.state.borrow_mut(), &self.sock)?;
            if done {
                return Ok(());
            }
            self.sock.writable_until(deadline)?;
        }
    }

    /// Reads decrypted bytes available now (never parks): `WouldBlock` when
    /// none are; `Ok(0)` at a clean end (the peer's `close_notify`).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut conn = self.state.borrow_mut();
                match conn.reader().read(buf) {
                    Err(e) if is_would_block(&e) => {}
                    r => return r,
                }
            }
            match self.pump()? {
                Pumped::Progress => {}
                // rustls now knows of the EOF: the next `read` says clean or not.
                Pumped::Eof => {}
            }
        }
    }

    /// Whether decrypted bytes (or the end) can be read without waiting.
    fn has_plaintext(&self) -> bool {
        !matches!(self.state.borrow_mut().reader().fill_buf(), Err(e) if is_would_block(&e))
    }

    /// Calls `hook` once, on the loop, when the socket becomes readable,
    /// without a green thread waiting; `Err(hook)` when decrypted bytes are
    /// buffered, the handshake is not over or output is queued (the caller
    /// goes on reading or writing instead).
    pub(crate) fn call_when_readable(&self, hook: Box<dyn FnOnce()>) -> Result<(), Box<dyn FnOnce()>> {
        let busy = {
            let state = self.state.borrow();
            state.is_handshaking() || state.wants_write()
        };
        if busy || self.has_plaintext() {
            return Err(hook);
        }
        self.sock.call_when_readable(hook)
    }

    /// Takes back a `call_when_readable` hook that has not run.
    pub(crate) fn forget_when_readable(&self) {
        self.sock.forget_when_readable()
    }

    /// Parks until decrypted bytes may be readable, the green thread is
    /// unparked (`Ok`: re-check), or `deadline` (or, while handshaking, the
    /// handshake's deadline) passes (`TimedOut`). Returns at once when
    /// bytes are buffered.
    pub fn readable_until(&self, deadline: Option<Instant>) -> io::Result<()> {
        if self.has_plaintext() {
            return Ok(());
        }
        let mut deadline = deadline;
        if let Some(hs) = self.handshake_deadline.get() {
            if self.state.borrow().is_handshaking() {
                deadline = Some(deadline.map_or(hs, |d| d.min(hs)));
                // The server's flight must go out before the client answers.
                self.flush_until(deadline)?;
            } else {
                self.handshake_deadline.set(None);
            }
        }
        self.sock.readable_until(deadline)
    }

    /// Encrypts what fits of `buf` and sends what the socket takes now
    /// (never parks): `WouldBlock` while earlier output is still queued.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut conn = self.state.borrow_mut();
        if !Self::write_now(&mut conn, &self.sock)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = conn.writer().write(buf)?;
        Self::write_now(&mut conn, &self.sock)?;
        Ok(n)
    }

    /// Sends queued output the socket takes now (never parks): `WouldBlock`
    /// while some is left.
    pub fn try_flush(&self) -> io::Result<()> {
        if Self::write_now(&mut self.state.borrow_mut(), &self.sock)? {
            Ok(())
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    /// Parks until the socket may take more output, or `deadline` passes.
    pub fn writable_until(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.sock.writable_until(deadline)
    }

    /// Sends `close_notify` (if the socket takes it now), then shuts the
    /// socket down as asked.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        if how != std::net::Shutdown::Read {
            let mut conn = self.state.borrow_mut();
            conn.send_close_notify();
            let _ = Self::write_now(&mut conn, &self.sock);
        }
        self.sock.shutdown(how)
    }

    fn deadline(t: Option<Duration>) -> Option<Instant> {
        t.and_then(|t| Instant::now().checked_add(t))
    }
}

impl Read for &TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = TlsStream::deadline(self.read_timeout.get());
        loop {
            match self.try_read(buf) {
                Err(e) if is_would_block(&e) => {}
                r => return r,
            }
            self.readable_until(deadline).map_err(|e| {
                if e.kind() == io::ErrorKind::TimedOut { io::Error::new(e.kind(), "read timed out") } else { e }
            })?;
        }
    }
}

impl Write for &TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = TlsStream::deadline(self.write_timeout.get());
        if self.is_handshaking() {
            // Plaintext written now would wait in rustls until the handshake is done.
            self.handshake(deadline)?;
        }
        loop {
            // Earlier output first: rustls' buffer stays small, and the
            // caller is held back by the socket, not by memory.
            self.flush_until(deadline)?;
            let n = self.state.borrow_mut().writer().write(buf)?;
            if n > 0 {
                self.flush_until(deadline)?;
                return Ok(n);
            }
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let deadline = TlsStream::deadline(self.write_timeout.get());
        if self.is_handshaking() {
            self.handshake(deadline)?;
        }
        self.flush_until(deadline)?;
        let n = self.state.borrow_mut().writer().write_vectored(bufs)?;
        self.flush_until(deadline)?;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_until(TlsStream::deadline(self.write_timeout.get()))
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl Drop for TlsStream {
    /// A `close_notify` if the socket takes it now (never parks), so that
    /// peers reading to the end see a clean end, not a truncation.
    fn drop(&mut self) {
        if crate::park::in_green_thread()
            && let Ok(mut conn) = self.state.try_borrow_mut()
            && !conn.is_handshaking()
        {
            conn.send_close_notify();
            let _ = Self::write_now(&mut conn, &self.sock);
        }
    }
}
