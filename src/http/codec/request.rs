//! Parsing of an HTTP/1.x request head (RFC 9112 §2-§7), plus the types
//! shared by every part of the codec: [`Limits`], [`BodyFraming`] and
//! [`ParseError`].
//!
//! No I/O happens here: [`parse_request`] looks at a byte slice and either
//! returns a complete head and how many bytes it used, asks for more bytes,
//! or rejects the input with the status code the server should answer with.

use std::fmt;
use std::mem::MaybeUninit;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::reuse::HeadCache;
use http::{Method, StatusCode, Uri, Version};

/// Size limits applied while parsing. All limits are inclusive maxima.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest head (request/status line + headers + final CRLF), in bytes,
    /// counted from the start of the buffer, leading empty lines included.
    /// Default 16 KiB.
    pub max_head_bytes: usize,
    /// Largest number of header fields. Default 100. Heads with up to
    /// [`STACK_HEADERS`] fields parse into a stack array; larger ones are
    /// parsed again into a temporary heap array of this size.
    pub max_headers: usize,
    /// Longest request line (or status line), without its CRLF. Default 8 KiB.
    pub max_request_line: usize,
    /// Largest message body, for `Content-Length` and for the sum of the
    /// chunks of a chunked body. Default 16 MiB.
    pub max_body_bytes: u64,
}

const TOO_MANY_HEADERS: ParseError = ParseError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "too many headers");

/// Number of header slots parsed without a heap allocation. Small on
/// purpose: the array lives on a green thread's stack, and every 4 KiB it
/// reserves is a page that stays resident for that connection.
pub const STACK_HEADERS: usize = 32;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_request_line: 8 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// How the body following a head is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all.
    None,
    /// Exactly this many bytes follow (`Content-Length`; may be 0).
    Length(u64),
    /// A chunked body follows; decode it with
    /// [`ChunkedDecoder`](super::chunked::ChunkedDecoder).
    Chunked,
    /// The body runs until the peer closes the connection (responses only,
    /// or an HTTP/1.0 response we send with a streamed body). The
    /// connection cannot be reused afterwards.
    UntilClose,
}

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    /// Method, request target, version and header fields.
    pub parts: http::request::Parts,
    /// How the request body is delimited.
    pub framing: BodyFraming,
    /// Whether the connection may serve another request after this one
    /// (from the version and the `Connection` header).
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue` (HTTP/1.1 only): send
    /// `100 Continue` (see [`CONTINUE_100`](super::response::CONTINUE_100))
    /// before reading the body, or answer with a final status and skip or
    /// close.
    pub expect_continue: bool,
}

/// Why a head or body could not be parsed. After any such error the
/// connection's framing can no longer be trusted: answer with `status`
/// (with `Connection: close`) and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// The status code a server should respond with.
    pub status: StatusCode,
    /// A short, human-readable reason.
    pub reason: &'static str,
}

impl ParseError {
    /// Builds an error from a status and a reason.
    pub const fn new(status: StatusCode, reason: &'static str) -> Self {
        ParseError { status, reason }
    }

    pub(super) const fn bad(reason: &'static str) -> Self {
        ParseError::new(StatusCode::BAD_REQUEST, reason)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Parses a request head from the start of `buf`.
///
/// * `Ok(Some((head, n)))`: a complete head occupies `buf[..n]`; the body (if
///   any) and any pipelined requests start at `buf[n]`.
/// * `Ok(None)`: the head is not complete yet; read more bytes and call again
///   with the whole buffer (nothing is consumed).
/// * `Err(e)`: reject the request with `e.status` and close the connection.
///
/// Leading empty lines (CRLF or LF) before the request line are skipped and
/// counted in `n`.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, ParseError> {
    parse_request_reusing(buf, limits, None)
}

/// [`parse_request`] for the successive heads of one connection: the
/// request target and header fields that repeat the previous head's byte
/// for byte are taken from `cache` instead of being built again.
pub fn parse_request_reusing(
    buf: &[u8],
    limits: &Limits,
    mut cache: Option<&mut HeadCache>,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let on_stack = limits.max_headers.min(STACK_HEADERS);
    match parse_request_with(buf, limits, &mut slots[..on_stack], cache.as_deref_mut()) {
        Err(e) if e == TOO_MANY_HEADERS && limits.max_headers > STACK_HEADERS => {
            let mut slots = Vec::with_capacity(limits.max_headers);
            slots.resize_with(limits.max_headers, MaybeUninit::uninit);
            parse_request_with(buf, limits, &mut slots, cache)
        }
        r => r,
    }
}

fn parse_request_with<'b>(
    buf: &'b [u8],
    limits: &Limits,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
    mut cache: Option<&mut HeadCache>,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    // Bound the work: never look past `max_head_bytes`.
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    let mut req = httparse::Request::new(&mut []);
    let n = match req.parse_with_uninit_headers(window, slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_start_line_len(buf, limits.max_request_line, true)?;
            if buf.len() > limits.max_head_bytes {
                return Err(ParseError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large"));
            }
            return Ok(None);
        }
        Err(e) => {
            check_start_line_len(buf, limits.max_request_line, true)?;
            return Err(map_httparse_error(e, buf, true));
        }
    };

    let method_s = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    // httparse only accepts single SP delimiters (default config), so the
    // request line length is exact.
    if method_s.len() + path.len() + 10 > limits.max_request_line {
        return Err(uri_too_long(true));
    }
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let method = Method::from_bytes(method_s.as_bytes()).map_err(|_| ParseError::bad("invalid method"))?;
    if let Some(c) = cache.as_deref_mut() {
        c.begin_head();
    }
    let uri = match cache.as_deref_mut() {
        _ if path == "/" => Ok(Uri::from_static("/")),
        Some(c) => c.uri(path.as_bytes()),
        None => Uri::try_from(path.as_bytes()),
    };
    let uri = uri.map_err(|_| ParseError::bad("invalid request target"))?;

    let mut info = HeaderInfo::default();
    let headers = build_headers(req.headers, &mut info, true, cache)?;

    let is_10 = version == Version::HTTP_10;
    let framing = info.framing(is_10, limits.max_body_bytes, true)?;

    if !is_10 {
        match info.host_count {
            0 => return Err(ParseError::bad("missing Host header")),
            1 => {}
            _ => return Err(ParseError::bad("duplicate Host header")),
        }
    } else if info.host_count > 1 {
        return Err(ParseError::bad("duplicate Host header"));
    }
    if info.expect_other {
        return Err(ParseError::new(StatusCode::EXPECTATION_FAILED, "unsupported expectation"));
    }

    let keep_alive = info.keep_alive(is_10);
    let expect_continue = info.expect_continue && !is_10;

    let mut r = http::Request::new(());
    *r.method_mut() = method;
    *r.uri_mut() = uri;
    *r.version_mut() = version;
    *r.headers_mut() = headers;
    let (parts, ()) = r.into_parts();

    Ok(Some((RequestHead { parts, framing, keep_alive, expect_continue }, n)))
}

fn uri_too_long(is_request: bool) -> ParseError {
    if is_request {
        ParseError::new(StatusCode::URI_TOO_LONG, "request line too long")
    } else {
        ParseError::new(StatusCode::BAD_GATEWAY, "status line too long")
    }
}

/// Index of the first byte after leading empty lines (CRLF or bare LF).
fn skip_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\r', b'\n', ..]) => i += 2,
            Some([b'\n', ..]) => i += 1,
            _ => return i,
        }
    }
}

/// Rejects a start line longer than `max` (checked on incomplete or
/// malformed input, where httparse gave us no parsed line).
pub(super) fn check_start_line_len(buf: &[u8], max: usize, is_request: bool) -> Result<(), ParseError> {
    let start = skip_empty_lines(buf);
    let rest = &buf[start..];
    // Look at most max+2 bytes ahead (line + CRLF).
    let look = &rest[..rest.len().min(max.saturating_add(2))];
    let line_len = match memchr::memchr(b'\n', look) {
        Some(i) if i > 0 && look[i - 1] == b'\r' => i - 1,
        Some(i) => i,
        // A trailing CR may be the first half of the line's CRLF.
        None => rest.len() - usize::from(rest.last() == Some(&b'\r')),
    };
    if line_len > max {
        return Err(uri_too_long(is_request));
    }
    Ok(())
}

/// Translates an httparse error, using the raw buffer to tell a
/// well-formed but unsupported version (505) from garbage (400).
pub(super) fn map_httparse_error(e: httparse::Error, buf: &[u8], is_request: bool) -> ParseError {
    let reason = match e {
        httparse::Error::TooManyHeaders => {
            return if is_request {
                TOO_MANY_HEADERS
            } else {
                ParseError::new(StatusCode::BAD_GATEWAY, "too many headers")
            };
        }
        httparse::Error::Version => {
            if is_request && request_line_has_other_version(buf) {
                return ParseError::new(StatusCode::HTTP_VERSION_NOT_SUPPORTED, "HTTP version not supported");
            }
            "invalid HTTP version"
        }
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => {
            if is_request {
                "invalid request line"
            } else {
                "invalid token"
            }
        }
    };
    if is_request { ParseError::bad(reason) } else { ParseError::new(StatusCode::BAD_GATEWAY, reason) }
}

/// Does the (possibly incomplete) request line end in `HTTP/<digit>`...?
fn request_line_has_other_version(buf: &[u8]) -> bool {
    let rest = &buf[skip_empty_lines(buf)..];
    let line = match memchr::memchr(b'\n', rest) {
        Some(i) => &rest[..i],
        None => rest,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let tail = match memchr::memrchr(b' ', line) {
        Some(i) => &line[i + 1..],
        None => return false,
    };
    tail.len() >= 6 && tail.starts_with(b"HTTP/") && tail[5].is_ascii_digit()
}

/// Facts gathered from the header fields in one pass.
#[derive(Default)]
pub(super) struct HeaderInfo {
    content_length: Option<u64>,
    has_te: bool,
    te_chunked_seen: bool,
    te_chunked_last: bool,
    te_other: bool,
    host_count: u32,
    conn_close: bool,
    conn_keep_alive: bool,
    expect_continue: bool,
    expect_other: bool,
}

/// Builds the `HeaderMap` and collects framing-related facts. With a
/// cache, fields repeating the previous head's are reused from it and the
/// new ones are remembered.
pub(super) fn build_headers(
    raw: &[httparse::Header<'_>],
    info: &mut HeaderInfo,
    is_request: bool,
    mut cache: Option<&mut HeadCache>,
) -> Result<HeaderMap, ParseError> {
    let err = |reason| {
        if is_request { ParseError::bad(reason) } else { ParseError::new(StatusCode::BAD_GATEWAY, reason) }
    };
    let mut map = HeaderMap::with_capacity(raw.len());
    for (i, h) in raw.iter().enumerate() {
        let (name, value) = match cache.as_deref().and_then(|c| c.field(i, h.name, h.value)) {
            Some(field) => field,
            None => {
                let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| err("invalid header name"))?;
                let value = HeaderValue::from_bytes(h.value).map_err(|_| err("invalid header value"))?;
                if let Some(c) = cache.as_deref_mut() {
                    c.remember_field(i, (h.name, h.value), (&name, &value));
                }
                (name, value)
            }
        };
        if name == header::CONTENT_LENGTH {
            for item in h.value.split(|&b| b == b',') {
                let v = parse_content_length(trim_ows(item)).ok_or(err("invalid Content-Length"))?;
                match info.content_length {
                    Some(prev) if prev != v => return Err(err("conflicting Content-Length")),
                    _ => info.content_length = Some(v),
                }
            }
        } else if name == header::TRANSFER_ENCODING {
            info.has_te = true;
            for item in h.value.split(|&b| b == b',') {
                let coding = trim_ows(item);
                if coding.is_empty() {
                    continue;
                }
                if coding.eq_ignore_ascii_case(b"chunked") {
                    if info.te_chunked_seen {
                        return Err(err("chunked applied more than once"));
                    }
                    info.te_chunked_seen = true;
                    info.te_chunked_last = true;
                } else {
                    info.te_other = true;
                    info.te_chunked_last = false;
                }
            }
        } else if name == header::HOST {
            info.host_count += 1;
        } else if name == header::CONNECTION {
            for item in h.value.split(|&b| b == b',') {
                let t = trim_ows(item);
                if t.eq_ignore_ascii_case(b"close") {
                    info.conn_close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    info.conn_keep_alive = true;
                }
            }
        } else if name == header::EXPECT {
            let t = trim_ows(h.value);
            if t.eq_ignore_ascii_case(b"100-continue") {
                info.expect_continue = true;
            } else {
                info.expect_other = true;
            }
        }
        map.append(name, value);
    }
    Ok(map)
}

impl HeaderInfo {
    /// Determines body framing from Content-Length / Transfer-Encoding
    /// (RFC 9112 §6.3), rejecting ambiguous framing.
    pub(super) fn framing(&self, is_10: bool, max_body: u64, is_request: bool) -> Result<BodyFraming, ParseError> {
        let bad = |reason| {
            if is_request { ParseError::bad(reason) } else { ParseError::new(StatusCode::BAD_GATEWAY, reason) }
        };
        if self.has_te {
            if is_10 {
                return Err(bad("Transfer-Encoding in HTTP/1.0 message"));
            }
            if self.content_length.is_some() {
                return Err(bad("both Content-Length and Transfer-Encoding"));
            }
            if self.te_other {
                let status = if is_request { StatusCode::NOT_IMPLEMENTED } else { StatusCode::BAD_GATEWAY };
                return Err(ParseError::new(status, "unsupported transfer-encoding"));
            }
            if !self.te_chunked_last {
                return Err(bad("empty Transfer-Encoding"));
            }
            return Ok(BodyFraming::Chunked);
        }
        match self.content_length {
            Some(n) if n > max_body => Err(if is_request {
                ParseError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            } else {
                ParseError::new(StatusCode::BAD_GATEWAY, "response body too large")
            }),
            Some(n) => Ok(BodyFraming::Length(n)),
            None => Ok(BodyFraming::None),
        }
    }

    /// Persistence per RFC 9112 §9.3.
    pub(super) fn keep_alive(&self, is_10: bool) -> bool {
        if self.conn_close {
            false
        } else if is_10 {
            self.conn_keep_alive
        } else {
            true
        }
    }
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub(super) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `1*DIGIT` to u64; `None` on empty, non-digit, or overflow.
fn parse_content_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<(RequestHead, usize)>, ParseError> {
        parse_request(s.as_bytes(), &Limits::default())
    }

    fn ok(s: &str) -> (RequestHead, usize) {
        parse(s).expect("parse error").expect("incomplete")
    }

    fn status(s: &str) -> (u16, &'static str) {
        let e = parse(s).expect_err("expected an error");
        (e.status.as_u16(), e.reason)
    }

    #[test]
    fn simple_get() {
        let s = "GET /plaintext?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\n\r\n";
        let (h, n) = ok(s);
        assert_eq!(n, s.len());
        assert_eq!(h.parts.method, Method::GET);
        assert_eq!(h.parts.uri.path(), "/plaintext");
        assert_eq!(h.parts.uri.query(), Some("x=1"));
        assert_eq!(h.parts.version, Version::HTTP_11);
        assert_eq!(h.parts.headers["host"], "localhost:8080");
        assert_eq!(h.parts.headers.len(), 2);
        assert_eq!(h.framing, BodyFraming::None);
        assert!(h.keep_alive);
        assert!(!h.expect_continue);
    }

    #[test]
    fn root_and_other_targets() {
        assert_eq!(ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n").0.parts.uri, "/");
        let (h, _) = ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(h.parts.uri, "*");
        let (h, _) = ok("GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!(h.parts.uri.host(), Some("example.com"));
        let (h, _) = ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        assert_eq!(h.parts.method, Method::CONNECT);
        let (h, _) = ok("PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(h.parts.method.as_str(), "PURGE");
    }

    #[test]
    fn invalid_target() {
        // http::Uri rejects a bare "//" authority-less scheme-ish target like "http://"
        assert_eq!(status("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n"), (400, "invalid request target"));
    }

    #[test]
    fn incomplete_at_every_prefix() {
        let s = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
        for i in 0..s.len() {
            assert!(parse(&s[..i]).unwrap().is_none(), "prefix {i}");
        }
        let (h, n) = ok(s);
        assert_eq!(n, s.len());
        assert_eq!(h.framing, BodyFraming::Length(3));
    }

    #[test]
    fn pipelined() {
        let a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        let b = "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let buf = format!("{a}{b}");
        let (h1, n1) = ok(&buf);
        assert_eq!(n1, a.len());
        assert_eq!(h1.parts.uri, "/a");
        assert!(h1.keep_alive);
        let (h2, n2) = ok(&buf[n1..]);
        assert_eq!(n2, b.len());
        assert_eq!(h2.parts.uri, "/b");
        assert!(!h2.keep_alive);
    }

    #[test]
    fn leading_empty_lines() {
        let s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let (h, n) = ok(s);
        assert_eq!(n, s.len());
        assert_eq!(h.parts.uri, "/");
        assert!(parse("\r\n").unwrap().is_none());
        assert!(parse("\r\n\r\nGET").unwrap().is_none());
    }

    #[test]
    fn keep_alive_rules() {
        assert!(ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n").0.keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").0.keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n").0.keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: Close\r\n\r\n").0.keep_alive);
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").0.keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").0.keep_alive);
        assert!(!ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").0.keep_alive);
        // Substrings are not tokens.
        assert!(ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n").0.keep_alive);
    }

    #[test]
    fn http10_needs_no_host() {
        let (h, _) = ok("GET / HTTP/1.0\r\n\r\n");
        assert_eq!(h.parts.version, Version::HTTP_10);
    }

    #[test]
    fn expect() {
        let h = ok("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n").0;
        assert!(h.expect_continue);
        let h = ok("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").0;
        assert!(!h.expect_continue);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n"), (417, "unsupported expectation"));
    }

    #[test]
    fn versions() {
        assert_eq!(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n").0, 505);
        assert_eq!(status("GET / HTTP/1.2\r\nHost: a\r\n\r\n").0, 505);
        assert_eq!(status("GET / HTTP/3").0, 505);
        assert_eq!(status("GET / FOO/1.1\r\n\r\n").0, 400);
        assert_eq!(status("GET / HTTP/x.1\r\n\r\n").0, 400);
    }

    #[test]
    fn content_length_rules() {
        let p = "POST / HTTP/1.1\r\nHost: a\r\n";
        let h = ok(&format!("{p}Content-Length: 10\r\nContent-Length: 10\r\n\r\n")).0;
        assert_eq!(h.framing, BodyFraming::Length(10));
        let h = ok(&format!("{p}Content-Length: 7, 7 ,7\r\n\r\n")).0;
        assert_eq!(h.framing, BodyFraming::Length(7));
        let h = ok(&format!("{p}Content-Length: 0\r\n\r\n")).0;
        assert_eq!(h.framing, BodyFraming::Length(0));
        for bad in [
            "Content-Length: 10\r\nContent-Length: 11\r\n",
            "Content-Length: 10, 11\r\n",
            "Content-Length: +10\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: 1 0\r\n",
            "Content-Length: 0x10\r\n",
            "Content-Length: \r\n",
            "Content-Length: 5,,5\r\n",
            "Content-Length: 18446744073709551616\r\n",
            "Content-Length: 99999999999999999999999\r\n",
        ] {
            assert_eq!(status(&format!("{p}{bad}\r\n")).0, 400, "{bad:?}");
        }
        assert_eq!(status(&format!("{p}Content-Length: 16777217\r\n\r\n")), (413, "request body too large"));
        let h = ok(&format!("{p}Content-Length: 16777216\r\n\r\n")).0;
        assert_eq!(h.framing, BodyFraming::Length(16 * 1024 * 1024));
    }

    #[test]
    fn transfer_encoding_rules() {
        let p = "POST / HTTP/1.1\r\nHost: a\r\n";
        let h = ok(&format!("{p}Transfer-Encoding: chunked\r\n\r\n")).0;
        assert_eq!(h.framing, BodyFraming::Chunked);
        let h = ok(&format!("{p}Transfer-Encoding: CHUNKED\r\n\r\n")).0;
        assert_eq!(h.framing, BodyFraming::Chunked);
        assert_eq!(
            status(&format!("{p}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n")),
            (400, "both Content-Length and Transfer-Encoding")
        );
        assert_eq!(status(&format!("{p}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")).0, 400);
        assert_eq!(status(&format!("{p}Transfer-Encoding: gzip\r\n\r\n")), (501, "unsupported transfer-encoding"));
        assert_eq!(status(&format!("{p}Transfer-Encoding: chunked, gzip\r\n\r\n")).0, 501);
        assert_eq!(status(&format!("{p}Transfer-Encoding: gzip, chunked\r\n\r\n")).0, 501);
        assert_eq!(
            status(&format!("{p}Transfer-Encoding: chunked, chunked\r\n\r\n")),
            (400, "chunked applied more than once")
        );
        assert_eq!(status(&format!("{p}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n")).0, 400);
        assert_eq!(status(&format!("{p}Transfer-Encoding: \r\n\r\n")).0, 400);
        assert_eq!(
            status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            (400, "Transfer-Encoding in HTTP/1.0 message")
        );
    }

    #[test]
    fn header_syntax_attacks() {
        // Whitespace between field name and colon.
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n").0, 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n").0, 400);
        // obs-fold.
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n").0, 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n").0, 400);
        // Space before the first header.
        assert_eq!(status("GET / HTTP/1.1\r\n Host: a\r\n\r\n").0, 400);
        // NUL / CR in a value.
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n").0, 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n").0, 400);
        // Garbage request line.
        assert_eq!(status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n").0, 400);
        assert_eq!(status("G@T / HTTP/1.1\r\nHost: a\r\n\r\n").0, 400);
    }

    #[test]
    fn host_rules() {
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), (400, "missing Host header"));
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), (400, "duplicate Host header"));
        assert_eq!(status("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n").0, 400);
    }

    #[test]
    fn too_many_headers() {
        let limits = Limits { max_headers: 3, ..Limits::default() };
        let ok3 = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
        assert!(parse_request(ok3.as_bytes(), &limits).unwrap().is_some());
        let bad = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        let e = parse_request(bad.as_bytes(), &limits).unwrap_err();
        assert_eq!((e.status.as_u16(), e.reason), (431, "too many headers"));
        // Default limit: 100 fine, 101 rejected.
        let mut s = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..99 {
            s.push_str(&format!("X-{i}: v\r\n"));
        }
        assert!(parse(&format!("{s}\r\n")).unwrap().is_some());
        s.push_str("X-last: v\r\n");
        assert_eq!(status(&format!("{s}\r\n")), (431, "too many headers"));
        // A limit above the stack array still works (heap path).
        let big = Limits { max_headers: 200, ..Limits::default() };
        s.push_str("\r\n");
        assert!(parse_request(s.as_bytes(), &big).unwrap().is_some());
    }

    #[test]
    fn head_too_large() {
        let limits = Limits { max_head_bytes: 64, ..Limits::default() };
        let mut s = String::from("GET / HTTP/1.1\r\nHost: a\r\nX: ");
        s.push_str(&"a".repeat(30));
        assert!(parse_request(s.as_bytes(), &limits).unwrap().is_none());
        s.push_str(&"a".repeat(40));
        let e = parse_request(s.as_bytes(), &limits).unwrap_err();
        assert_eq!((e.status.as_u16(), e.reason), (431, "request head too large"));
        // A complete head that is larger than the limit is rejected too.
        s.push_str("\r\n\r\n");
        assert_eq!(parse_request(s.as_bytes(), &limits).unwrap_err().status, 431);
        // Endless empty lines are bounded as well.
        let crlfs = "\r\n".repeat(40);
        assert_eq!(parse_request(crlfs.as_bytes(), &limits).unwrap_err().status, 431);
    }

    #[test]
    fn request_line_too_long() {
        let limits = Limits { max_request_line: 32, ..Limits::default() };
        let p = |s: &str| parse_request(s.as_bytes(), &limits);
        // Exactly 32 bytes: fine.
        let line = format!("GET /{} HTTP/1.1", "a".repeat(32 - 14));
        assert_eq!(line.len(), 32);
        assert!(p(&format!("{line}\r\nHost: a\r\n\r\n")).unwrap().is_some());
        assert!(p(&format!("\r\n{line}")).unwrap().is_none());
        assert!(p(&format!("{line}\r")).unwrap().is_none());
        // 33 bytes: rejected, complete or not.
        let line = format!("GET /{} HTTP/1.1", "a".repeat(33 - 14));
        let e = p(&format!("{line}\r\nHost: a\r\n\r\n")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.reason), (414, "request line too long"));
        assert_eq!(p(&line).unwrap_err().status, 414);
        assert_eq!(p(&format!("GET /{}", "a".repeat(40))).unwrap_err().status, 414);
        // Leading CRLFs are not counted.
        assert!(p(&format!("\r\n\r\nGET /{}", "a".repeat(20))).unwrap().is_none());
    }

    #[test]
    fn bare_lf_line_endings_are_accepted() {
        // RFC 9112 §2.2 allows recognising a bare LF as a line terminator.
        let s = "GET / HTTP/1.1\nHost: a\n\n";
        assert_eq!(ok(s).1, s.len());
    }

    #[test]
    fn error_display() {
        let e = ParseError::bad("missing Host header");
        assert_eq!(e.to_string(), "400 missing Host header");
    }

    #[test]
    fn no_panic_on_noise() {
        // Deterministic pseudo-random junk and truncations: must never panic.
        let alphabet = b"GET /HTP1.0\r\n:;, chunkedContent-LengthTransfer-Encoding\t\0\x7f\xff0123456789";
        for v in super::super::noise(12345, alphabet, 80, 20_000) {
            let _ = parse_request(&v, &Limits::default());
            let mut w = b"POST / HTTP/1.1\r\nHost: a\r\n".to_vec();
            w.extend_from_slice(&v);
            w.extend_from_slice(b"\r\n\r\n");
            let _ = parse_request(&w, &Limits::default());
        }
    }
}
