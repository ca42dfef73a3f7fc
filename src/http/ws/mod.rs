//! WebSockets on green threads (the `ws` feature): tungstenite's protocol
//! code over an [`Upgraded`] connection, plain or TLS.
//!
//! A [`WebSocket`] is a cheap handle (`Clone`): one green thread may
//! [`recv`](WebSocket::recv) while others [`send`](WebSocket::send).
//! tungstenite's `WebSocket` needs `&mut` for both, so it sits in a
//! `RefCell` borrowed only for CPU work: its I/O never parks (the stream
//! underneath answers `WouldBlock`), and the green thread parks on
//! readability or writability with the borrow released, like the TLS
//! stream does.
//!
//! The receiving side keeps the connection alive: with a
//! [`ping_interval`](WsConfig::ping_interval), a connection silent for that
//! long is pinged, and one that stays silent as long again is closed. No
//! other timeout applies. Oversize frames or messages are closed with 1009,
//! protocol violations (unmasked frames, bad opcodes) with 1002, bad UTF-8
//! with 1007.

use std::cell::{Cell, RefCell, RefMut};
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::{HeaderValue, StatusCode, header};
pub use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use super::conn::stream::Stream;
use super::upgrade::Upgraded;
use super::{IntoResponse, Request, Response};

mod frames;
use frames::Frames;

/// How long a peer stays quiet between messages before the socket's
/// tungstenite state (its read buffer among it) is given back.
/// Half a second: its stack is swept a second after it dozed
/// (`runtime/core/stack_sweep.rs`), and a socket quiet that long pays one
/// more wake-up and a fresh state when it speaks (about a microsecond).
const DOZE_AFTER: Duration = Duration::from_millis(500);

/// Limits and keep-alive of a WebSocket.
#[derive(Clone, Copy, Debug)]
pub struct WsConfig {
    /// Ping a peer silent this long; close if it stays silent as long again
    /// (default 30 s; `None`: never, and no deadline at all).
    pub ping_interval: Option<Duration>,
    /// Largest message, after reassembling fragments (default 1 MiB).
    pub max_message_size: usize,
    /// Largest single frame (default `None`: the message limit). Browsers
    /// send a message as one frame up to their own fragmentation size, so
    /// a frame limit below the message limit refuses messages the message
    /// limit allows.
    pub max_frame_size: Option<usize>,
    /// Longest a `send` waits for a peer that does not read (default 30 s);
    /// also how long a peer may leave our output unread (pong replies, say)
    /// before it is closed. While output is waiting for the peer to read,
    /// `recv` reads nothing more from it, so a peer that sends without
    /// reading cannot make its replies pile up.
    pub write_timeout: Duration,
}

impl WsConfig {
    /// The frame limit in force: `max_frame_size`, or the message limit.
    fn frame_limit(&self) -> usize {
        self.max_frame_size.unwrap_or(self.max_message_size)
    }
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            ping_interval: Some(Duration::from_secs(30)),
            max_message_size: 1 << 20,
            max_frame_size: None,
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Answers a WebSocket handshake: a `101` that hands the connection to
/// `then` as a [`WebSocket`], or a `400`/`426` saying what is wrong with
/// the request.
///
/// ```no_run
/// use greenloop::http::{Request, Response, ws};
/// fn echo(req: Request) -> Response {
///     ws::upgrade(&req, ws::WsConfig::default(), |ws| {
///         while let Ok(Some(msg)) = ws.recv() {
///             if ws.send(msg).is_err() { break; }
///         }
///     })
/// }
/// ```
pub fn upgrade(req: &Request, config: WsConfig, then: impl FnOnce(WebSocket) + 'static) -> Response {
    let key = match check_handshake(req) {
        Ok(key) => key,
        Err(res) => return *res,
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut res = Response::new(Default::default());
    let h = res.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&accept).expect("base64 is a valid field value"));
    super::upgrade::switch(res, move |conn| then(WebSocket::new(conn, config)))
}

/// The client's key, or the response refusing the handshake.
fn check_handshake(req: &Request) -> Result<HeaderValue, Box<Response>> {
    let has_token = |name: header::HeaderName, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))))
    };
    let bad = |why: &str| Box::new((StatusCode::BAD_REQUEST, format!("{why}\n")).into_response());
    if req.method() != http::Method::GET {
        return Err(bad("a WebSocket handshake is a GET"));
    }
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        return Err(bad("expected a WebSocket handshake (Upgrade: websocket, Connection: Upgrade)"));
    }
    if req.headers().get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        let mut res = (StatusCode::UPGRADE_REQUIRED, "only WebSocket version 13 is spoken here\n").into_response();
        res.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(Box::new(res));
    }
    match req.headers().get(header::SEC_WEBSOCKET_KEY) {
        Some(k) if k.len() == 24 => Ok(k.clone()),
        _ => Err(bad("missing or malformed Sec-WebSocket-Key")),
    }
}

/// The connection as tungstenite sees it: never parks (`WouldBlock` instead).
struct NoPark {
    /// The connection (the bytes that came with the handshake were handed
    /// to tungstenite before its first read).
    stream: Rc<Stream>,
    /// Output is waiting for the peer to read: set when a write is refused,
    /// cleared when a write takes all it was given.
    blocked: bool,
    /// Where the bytes handed to tungstenite stand in the frame sequence.
    frames: Frames,
}

impl NoPark {
    fn new(stream: Rc<Stream>) -> NoPark {
        NoPark { stream, blocked: false, frames: Frames::default() }
    }
}

impl Read for NoPark {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.try_read(buf)?;
        self.frames.feed(&buf[..n]);
        Ok(n)
    }
}

impl Write for NoPark {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.stream.try_write(buf);
        match &r {
            Ok(n) => self.blocked = *n < buf.len(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.blocked = true,
            Err(_) => {}
        }
        r
    }
    fn flush(&mut self) -> io::Result<()> {
        let r = self.stream.try_flush();
        if matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.blocked = true;
        }
        r
    }
}

/// One WebSocket connection (server side). Clones share it.
#[derive(Clone)]
pub struct WebSocket {
    inner: Rc<Inner>,
}

struct Inner {
    io: Upgraded,
    /// tungstenite's state, boxed, borrowed for CPU work and non-parking
    /// I/O only (never across a park). `None` while the peer is quiet
    /// between messages (see [`WebSocket::doze`]); built again on use.
    ws: RefCell<Option<Box<tungstenite::WebSocket<NoPark>>>>,
    config: WsConfig,
    /// When the peer was last heard from.
    heard: Cell<Instant>,
    /// When the ping that is still unanswered went out.
    pinged: Cell<Option<Instant>>,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// tungstenite's settings for a socket with `config`'s limits.
fn ws_config(config: &WsConfig) -> WebSocketConfig {
    WebSocketConfig::default()
        // Small buffers: an idle connection should cost a few KiB.
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.frame_limit()))
}

fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl WebSocket {
    fn new(conn: Upgraded, config: WsConfig) -> WebSocket {
        let early = conn.take_early_bytes();
        let mut no_park = NoPark::new(conn.stream().clone());
        no_park.frames.feed(&early);
        let ws = tungstenite::WebSocket::from_partially_read(no_park, early, Role::Server, Some(ws_config(&config)));
        WebSocket {
            inner: Rc::new(Inner {
                io: conn,
                ws: RefCell::new(Some(Box::new(ws))),
                config,
                heard: Cell::new(Instant::now()),
                pinged: Cell::new(None),
            }),
        }
    }

    /// tungstenite's state, built again if it was given back meanwhile.
    fn ws(&self) -> RefMut<'_, tungstenite::WebSocket<NoPark>> {
        let inner = &*self.inner;
        RefMut::map(inner.ws.borrow_mut(), |ws| {
            &mut **ws.get_or_insert_with(|| {
                let no_park = NoPark::new(inner.io.stream().clone());
                Box::new(tungstenite::WebSocket::from_raw_socket(no_park, Role::Server, Some(ws_config(&inner.config))))
            })
        })
    }

    /// Whether output is waiting for the peer to read.
    fn blocked(&self) -> bool {
        self.inner.ws.borrow().as_ref().is_some_and(|ws| ws.get_ref().blocked)
    }

    /// Gives tungstenite's state back, its 1 KiB read buffer among it, while
    /// the peer is quiet: only where a fresh state is the same as the old
    /// one, that is between messages (every byte read belongs to a complete
    /// frame, and no fragmented message is under way, so tungstenite, whose
    /// last read found nothing more, holds no input), with all output
    /// written and the connection open both ways. An idle WebSocket then
    /// keeps about 1.4 KiB less (see docs/PERFORMANCE.md, "Idle connections").
    fn doze(&self) {
        let mut ws = self.inner.ws.borrow_mut();
        let quiet = ws.as_ref().is_some_and(|ws| {
            let io = ws.get_ref();
            ws.can_write() && !io.blocked && io.frames.between_messages()
        });
        if quiet {
            let old = ws.take();
            drop(ws);
            drop(old);
        }
    }

    /// The next text or binary message (fragments reassembled; pings
    /// answered; the peer pinged when silent). `Ok(None)` once the peer
    /// closed (the close handshake is answered) or the connection ended;
    /// `Err` for a protocol error (the peer is sent the close code first),
    /// a peer that stopped answering pings (`TimedOut`), or a broken connection.
    pub fn recv(&self) -> io::Result<Option<Message>> {
        let inner = &*self.inner;
        loop {
            // Every message counts against the cooperative budget: frames
            // parsed from bytes read earlier cost no socket operation, and
            // a peer that never stops sending must not hold the loop.
            crate::consume_budget();
            if self.blocked() {
                // Our output waits for the peer to read: read nothing more
                // until it does (its pings would queue pongs without end).
                self.drain_output()?;
            }
            let r = self.ws().read();
            match r {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    self.heard();
                    return Ok(Some(m));
                }
                Ok(Message::Close(_)) => {
                    // tungstenite queued the reply: send it, then we are done.
                    let _ = self.flush_until(Instant::now() + Duration::from_secs(2));
                    let _ = inner.io.shutdown(std::net::Shutdown::Write);
                    return Ok(None);
                }
                Ok(_) => self.heard(), // ping (answered), pong, raw frame
                Err(e) if is_would_block(&e) => self.wait_readable()?,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return Ok(None),
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset) =>
                {
                    return Ok(None);
                }
                Err(tungstenite::Error::Io(e)) => return Err(e),
                Err(tungstenite::Error::Capacity(e)) => return Err(self.fail(CloseCode::Size, &self.too_large(&e))),
                Err(tungstenite::Error::Utf8(_)) => return Err(self.fail(CloseCode::Invalid, "invalid UTF-8")),
                Err(tungstenite::Error::Protocol(e)) => {
                    if matches!(e, tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) {
                        return Ok(None);
                    }
                    return Err(self.fail(CloseCode::Protocol, &e.to_string()));
                }
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
    }

    /// Waits until the output queued for the peer is written, for at most
    /// the write timeout; a peer that does not read by then is closed.
    fn drain_output(&self) -> io::Result<()> {
        let inner = &*self.inner;
        let deadline = Instant::now() + inner.config.write_timeout;
        loop {
            let r = self.ws().flush();
            match r {
                Ok(()) => {
                    self.ws().get_mut().blocked = false;
                    return Ok(());
                }
                Err(e) if is_would_block(&e) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return Ok(()),
                Err(tungstenite::Error::Io(e)) => return Err(e),
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
            if crate::http::conn::serving::shutting_down() {
                // No close frame can pass output the peer does not read.
                let _ = inner.io.shutdown(std::net::Shutdown::Both);
                return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "server shutting down"));
            }
            match inner.io.writable_until(Some(deadline)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    // Nothing more can reach a peer that does not read: no close frame.
                    let _ = inner.io.shutdown(std::net::Shutdown::Both);
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "WebSocket peer stopped reading our output"));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The close reason for an oversized frame or message, naming the limit it broke.
    fn too_large(&self, e: &tungstenite::error::CapacityError) -> String {
        let config = &self.inner.config;
        match e {
            tungstenite::error::CapacityError::MessageTooLong { size, max_size }
                if *max_size == config.frame_limit() && config.frame_limit() < config.max_message_size =>
            {
                format!("frame of {size} bytes over the {max_size}-byte frame limit")
            }
            tungstenite::error::CapacityError::MessageTooLong { size, max_size } => {
                format!("message of {size} bytes over the {max_size}-byte message limit")
            }
            e => e.to_string(),
        }
    }

    fn heard(&self) {
        self.inner.heard.set(crate::inspect::loop_time());
        self.inner.pinged.set(None);
    }

    /// Parks until the peer may have sent more, pinging it when it has
    /// been silent for the ping interval.
    fn wait_readable(&self) -> io::Result<()> {
        let inner = &*self.inner;
        self.unless_shutting_down()?;
        let deadline = inner.config.ping_interval.map(|every| match inner.pinged.get() {
            Some(at) => at + every,
            None => inner.heard.get() + every,
        });
        let waited = match self.doze_at(deadline) {
            Some(at) => match inner.io.readable_until(Some(at)) {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    // Not kept for the wait (its message is on the heap).
                    drop(e);
                    self.doze();
                    inner.io.readable_until(deadline)
                }
                r => r,
            },
            None => inner.io.readable_until(deadline),
        };
        match waited {
            Ok(()) => self.unless_shutting_down(),
            Err(e) if e.kind() == io::ErrorKind::TimedOut && deadline.is_some() => {
                if inner.pinged.get().is_some() {
                    return Err(self.fail(CloseCode::Away, "ping not answered"));
                }
                inner.pinged.set(Some(Instant::now()));
                self.send(Message::Ping(Default::default()))
            }
            r => r,
        }
    }

    /// When to give tungstenite's state back if the peer stays quiet
    /// (`DOZE_AFTER` from now), unless that is given back already or the
    /// wait ends first.
    fn doze_at(&self, deadline: Option<Instant>) -> Option<Instant> {
        if self.inner.ws.borrow().is_none() {
            return None;
        }
        let at = crate::inspect::loop_time() + DOZE_AFTER;
        deadline.is_none_or(|d| at < d).then_some(at)
    }

    /// A server shutting down wakes its connections' green threads: a
    /// WebSocket then closes with 1001 (going away) instead of holding the
    /// drain until the grace period ends.
    fn unless_shutting_down(&self) -> io::Result<()> {
        if crate::http::conn::serving::shutting_down() {
            return Err(self.fail(CloseCode::Away, "server shutting down"));
        }
        Ok(())
    }

    /// Sends `msg`, parking while the peer does not read (up to the write
    /// timeout). Fails once the connection is closed.
    pub fn send(&self, msg: impl Into<Message>) -> io::Result<()> {
        let inner = &*self.inner;
        let deadline = Instant::now() + inner.config.write_timeout;
        let mut msg = Some(msg.into());
        loop {
            let r = {
                let mut ws = self.ws();
                match msg.take() {
                    Some(m) => ws.send(m),
                    None => ws.flush(),
                }
            };
            match r {
                Ok(()) => return Ok(()),
                Err(e) if is_would_block(&e) => {}
                Err(tungstenite::Error::WriteBufferFull(m)) => msg = Some(*m),
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the WebSocket is closed"));
                }
                Err(tungstenite::Error::Io(e)) => return Err(e),
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
            inner.io.writable_until(Some(deadline))?;
        }
    }

    /// Starts the close handshake with `code` and `reason`; the peer's
    /// answer ends [`recv`](Self::recv) with `Ok(None)`.
    pub fn close(&self, code: u16, reason: &str) -> io::Result<()> {
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.to_owned().into() };
        let r = self.ws().close(Some(frame));
        match r {
            Ok(()) => {}
            Err(e) if is_would_block(&e) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return Ok(()),
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
        self.flush_until(Instant::now() + self.inner.config.write_timeout)
    }

    /// Writes what tungstenite queued, parking on back-pressure, until `deadline`.
    fn flush_until(&self, deadline: Instant) -> io::Result<()> {
        loop {
            let r = self.ws().flush();
            match r {
                Ok(()) => return Ok(()),
                Err(e) if is_would_block(&e) => self.inner.io.writable_until(Some(deadline))?,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return Ok(()),
                Err(tungstenite::Error::Io(e)) => return Err(e),
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
    }

    /// Closes with `code` after a protocol error (for at most a second),
    /// and returns the error for the caller.
    fn fail(&self, code: CloseCode, why: &str) -> io::Error {
        let reason: String = why.chars().take(100).collect();
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = self.ws().close(Some(frame));
        let _ = self.flush_until(Instant::now() + Duration::from_secs(1));
        let _ = self.inner.io.shutdown(std::net::Shutdown::Write);
        io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket closed ({}): {why}", u16::from(code)))
    }
}
