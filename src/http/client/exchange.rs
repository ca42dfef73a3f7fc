//! Sending one request: resolving and connecting, one request-response
//! exchange on a connection, and the one retry on a fresh connection when a
//! reused one turns out to be dead.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::Method;
use http::header::{self, HeaderMap, HeaderValue};

use super::pool::Conn;
use super::response::BodyParts;
use super::target::Target;
use super::{Client, ClientResponse};
use crate::http::codec::{self, OutgoingBody};
use crate::http::conn::stream::Stream;
use crate::net::TcpStream;

/// The `User-Agent` sent unless the request sets one.
const USER_AGENT: &str = concat!("greenloop/", env!("CARGO_PKG_VERSION"));

/// Request bodies up to this size are written in one piece with the head.
const COALESCE_BODY: usize = 64 * 1024;
/// Sends a request built by [`RequestBuilder`](super::RequestBuilder):
/// writes its head (and a small body) once, then runs the exchange on a
/// pooled or new connection, retrying once as described in the module docs.
pub(super) fn send(
    client: &Client,
    method: Method,
    url: &str,
    mut headers: HeaderMap,
    body: Vec<u8>,
    timeout: Option<Duration>,
) -> io::Result<ClientResponse> {
    let target = Target::parse(url).map_err(|e| io::Error::new(e.kind(), format!("{e} ({method} {url})")))?;
    let what: Rc<str> = format!("{method} {}", target.display).into();
    let config = client.inner.config;
    let timeout = timeout.unwrap_or(config.timeout);
    let deadline = Instant::now().checked_add(timeout).unwrap_or_else(far_future);

    if !headers.contains_key(header::USER_AGENT) {
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    }
    let client_close = connection_close(&headers);
    let outgoing = if body.is_empty() { OutgoingBody::Empty } else { OutgoingBody::Length(body.len() as u64) };
    let mut wire = Vec::with_capacity(256 + if body.len() <= COALESCE_BODY { body.len() } else { 0 });
    codec::write_request_head(&method, &target.path, Some(&target.authority), &headers, outgoing, &mut wire);
    let head_len = wire.len();
    if body.len() <= COALESCE_BODY {
        wire.extend_from_slice(&body);
    }
    let exchange = Exchange {
        client,
        method: &method,
        target: &target,
        wire: &wire,
        body: if wire.len() > head_len { &[] } else { &body },
        deadline,
        timeout,
        what: &what,
    };

    let idempotent =
        matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE);
    let mut conn = client.inner.pool.take(&target.key);
    loop {
        let reused = conn.is_some();
        let c = match conn.take() {
            Some(c) => c,
            None => exchange.connect()?,
        };
        match exchange.run(c, client_close) {
            Ok(res) => return Ok(res),
            Err(Failure::Lost(e)) if reused && idempotent => {
                // The server closed an idle connection as we reused it:
                // no response byte came, so the request was not
                // processed. Try once more on a fresh connection.
                log::debug!("{what}: reused connection lost before the response ({e}); retrying");
                continue;
            }
            Err(Failure::Lost(e)) => return Err(exchange.lost(e, reused)),
            Err(Failure::Fatal(e)) => return Err(e),
        }
    }
}

/// Why an exchange on one connection failed.
enum Failure {
    /// The connection died before any byte of the response arrived (EOF,
    /// reset, broken pipe): the request may be retried if it is idempotent
    /// and the connection was a reused one.
    Lost(io::Error),
    /// Anything else, with its context already added.
    Fatal(io::Error),
}

/// One request's fixed parts, shared by its attempts.
struct Exchange<'a> {
    client: &'a Client,
    method: &'a Method,
    target: &'a Target,
    /// The head, and the body too when it is small.
    wire: &'a [u8],
    /// The body when it is written after `wire`.
    body: &'a [u8],
    deadline: Instant,
    timeout: Duration,
    what: &'a str,
}

impl Exchange<'_> {
    /// Resolves the host (unless it is an IP literal) and connects to the
    /// first address that accepts.
    fn connect(&self) -> io::Result<Conn> {
        let key = &self.target.key;
        let addrs = match self.target.ip {
            Some(ip) => vec![SocketAddr::new(ip, key.port)],
            None => {
                let left = self.deadline.saturating_duration_since(Instant::now());
                crate::net::resolve_timeout(&format!("{}:{}", key.host, key.port), left).map_err(|e| {
                    if e.kind() == io::ErrorKind::TimedOut {
                        self.request_timed_out(&format!("looking up {}", key.host))
                    } else {
                        io::Error::new(e.kind(), format!("{e} ({})", self.what))
                    }
                })?
            }
        };
        let config = &self.client.inner.config;
        let mut last = None;
        for addr in addrs {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.request_timed_out("connecting"));
            }
            let limit = config.connect_timeout.min(left);
            match TcpStream::connect_timeout(&addr, limit) {
                Ok(stream) => {
                    if config.nodelay {
                        let _ = stream.set_nodelay(true);
                    }
                    return Ok(Conn::new(self.secure(stream, addr)?));
                }
                Err(e) => last = Some(self.connect_error(e, addr, limit)),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{} resolved to no addresses ({})", key.host, self.what))
        }))
    }

    /// The stream an exchange runs on: TLS for `https://` (the handshake
    /// done, the certificate verified for the URL's host), the socket itself otherwise.
    fn secure(&self, stream: TcpStream, _addr: SocketAddr) -> io::Result<Stream> {
        #[cfg(feature = "tls")]
        if self.target.key.tls {
            let inner = &self.client.inner;
            let config = match inner.tls.get() {
                Some(c) => c.clone(),
                None => {
                    let c = crate::http::tls::client_config(&inner.extra_roots)
                        .map_err(|e| io::Error::new(e.kind(), format!("{e} ({})", self.what)))?;
                    inner.tls.get_or_init(|| c).clone()
                }
            };
            let host = &self.target.key.host;
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{host:?} is not a valid TLS server name: {e} ({})", self.what),
                )
            })?;
            return match crate::http::tls::TlsStream::connect(stream, config, name, Some(self.deadline)) {
                Ok(s) => Ok(Stream::Tls(Box::new(s))),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(self.request_timed_out("in the TLS handshake")),
                Err(e) => Err(io::Error::new(
                    e.kind(),
                    format!("TLS handshake with {host} ({_addr}) failed: {e} ({})", self.what),
                )),
            };
        }
        Ok(Stream::Tcp(stream))
    }

    fn connect_error(&self, e: io::Error, addr: SocketAddr, limit: Duration) -> io::Error {
        let what = self.what;
        match e.kind() {
            io::ErrorKind::TimedOut if limit < self.client.inner.config.connect_timeout => {
                self.request_timed_out(&format!("connecting to {addr}"))
            }
            io::ErrorKind::TimedOut => {
                io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr} timed out after {limit:?} ({what})"))
            }
            io::ErrorKind::ConnectionRefused => {
                io::Error::new(io::ErrorKind::ConnectionRefused, format!("connection refused by {addr} ({what})"))
            }
            kind => io::Error::new(kind, format!("cannot connect to {addr}: {e} ({what})")),
        }
    }

    fn request_timed_out(&self, during: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("request timed out after {:?} while {during} ({})", self.timeout, self.what),
        )
    }

    /// Writes the request on `conn` and reads the response head.
    fn run(&self, mut conn: Conn, client_close: bool) -> Result<ClientResponse, Failure> {
        conn.requests += 1;
        let write = conn.write_all(self.wire, self.deadline).and_then(|()| conn.write_all(self.body, self.deadline));
        if let Err(e) = write {
            return Err(if is_lost(&e) {
                Failure::Lost(e)
            } else {
                Failure::Fatal(self.io_error(e, "sending the request"))
            });
        }
        let config = &self.client.inner.config;
        let limits = codec::CodecLimits {
            max_head_bytes: config.max_response_head,
            max_headers: config.max_response_headers,
            max_request_line: config.max_response_head.min(8 * 1024),
            max_body_bytes: config.max_response_body,
        };
        let mut received = 0usize;
        let head = loop {
            if !conn.buffered().is_empty() {
                match codec::parse_response(conn.buffered(), self.method, &limits) {
                    Ok(Some((head, n))) => {
                        conn.consume(n);
                        let status = head.parts.status;
                        if status.is_informational() && status != http::StatusCode::SWITCHING_PROTOCOLS {
                            continue; // 100 Continue, 103 Early Hints: the final response follows.
                        }
                        break head;
                    }
                    Ok(None) => {}
                    Err(e) => return Err(Failure::Fatal(self.parse_error(e))),
                }
            }
            match conn.fill(self.deadline) {
                Ok(0) if received == 0 => {
                    return Err(Failure::Lost(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed before any response",
                    )));
                }
                Ok(0) => {
                    return Err(Failure::Fatal(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("malformed response: connection closed in the middle of the head ({})", self.what),
                    )));
                }
                Ok(n) => received += n,
                Err(e) if received == 0 && is_lost(&e) => return Err(Failure::Lost(e)),
                Err(e) => return Err(Failure::Fatal(self.io_error(e, "waiting for the response"))),
            }
        };
        let reusable = head.keep_alive && !client_close;
        Ok(ClientResponse::new(
            head.parts,
            BodyParts {
                conn,
                framing: head.framing,
                max_chunked: config.max_response_body,
                reusable,
                pool: self.client.inner.pool.clone(),
                key: self.target.key.clone(),
                deadline: self.deadline,
                timeout: self.timeout,
                what: self.what.into(),
            },
        ))
    }

    fn parse_error(&self, e: codec::ParseError) -> io::Error {
        let msg = if e.reason == "response body too large" {
            format!(
                "response body too large: Content-Length over max_response_body ({} bytes) ({})",
                self.client.inner.config.max_response_body, self.what
            )
        } else if e.reason.contains("too large") || e.reason.contains("too long") {
            format!(
                "response too large: {} (max_response_head is {} bytes) ({})",
                e.reason, self.client.inner.config.max_response_head, self.what
            )
        } else {
            format!("malformed response: {} ({})", e.reason, self.what)
        };
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }

    fn io_error(&self, e: io::Error, during: &str) -> io::Error {
        if e.kind() == io::ErrorKind::TimedOut {
            self.request_timed_out(during)
        } else {
            io::Error::new(e.kind(), format!("{e} while {during} ({})", self.what))
        }
    }

    /// The error for a connection lost before the response that is not retried.
    fn lost(&self, e: io::Error, reused: bool) -> io::Error {
        let how = match e.kind() {
            io::ErrorKind::UnexpectedEof => "the server closed the connection without responding",
            io::ErrorKind::ConnectionReset => "the server reset the connection without responding",
            _ => "the connection was lost before the response",
        };
        let hint = if reused { ", on a reused keep-alive connection; not retried (not idempotent)" } else { "" };
        io::Error::new(e.kind(), format!("{how} ({e}{hint}) ({})", self.what))
    }
}

/// Errors that mean the peer closed or reset the connection.
fn is_lost(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
    )
}

/// Whether the request's own `Connection` field asks to close.
fn connection_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close")))
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}
