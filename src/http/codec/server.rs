//! The server's side of the wire: parsing request heads ([`parse_request`])
//! and writing response heads ([`write_response_head`]).
//!
//! No I/O happens here: [`parse_request`] looks at a byte slice and either
//! returns a complete head and how many bytes it used, asks for more bytes,
//! or rejects the input with the status code the server should answer with.

use std::mem::MaybeUninit;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use super::common_head::parse_common;
use super::head::{
    BodyFraming, Field, HeaderInfo, OutgoingBody, ParseError, TOO_MANY_HEADERS, check_start_line_len,
    map_httparse_error, trim_ows, uri_too_long, write_content_length, write_field,
};
use super::limits::{CodecLimits, STACK_HEADERS};
use super::ok_head::OkHead;
use super::raw_head::{RawHead, scan_origin_form};

/// A parsed request head.
///
/// The head stays as it arrived ([`RawHead`]): method and version are
/// decoded, the target and the fields are positions in a copy of the bytes,
/// built into `http`'s types only for a request that asks (see
/// `http::Request`). Framing and persistence are decided here, once.
#[derive(Debug)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The head's bytes, with the positions of the target and the fields
    /// (and the target parsed, when it is not in origin form).
    pub raw: RawHead,
    /// How the request body is delimited.
    pub framing: BodyFraming,
    /// Whether the connection may serve another request after this one
    /// (from the version and the `Connection` header).
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue` (HTTP/1.1 only): send
    /// `100 Continue` (see [`CONTINUE_100`])
    /// before reading the body, or answer with a final status and skip or
    /// close.
    pub expect_continue: bool,
}

impl RequestHead {
    /// The target as a `Uri`, whatever its form.
    pub fn uri(&self) -> Uri {
        self.raw.uri()
    }

    /// The header fields as a `HeaderMap`.
    pub fn headers(&self) -> HeaderMap {
        self.raw.header_map()
    }
}

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
pub fn parse_request(buf: &[u8], limits: &CodecLimits) -> Result<Option<(RequestHead, usize)>, ParseError> {
    parse_request_by(buf, limits, true)
}

/// [`parse_request`] without the one-pass reading of common heads: every
/// head goes through httparse. For the fuzzing target, which checks that
/// both give the same answer on every input.
#[doc(hidden)]
pub fn parse_request_general(buf: &[u8], limits: &CodecLimits) -> Result<Option<(RequestHead, usize)>, ParseError> {
    parse_request_by(buf, limits, false)
}

/// The common head is read by [`parse_common`] and finished here, writing
/// the answer straight into the caller's: no step between them returns it
/// to be moved again. Anything else goes to [`parse_general`].
#[inline]
fn parse_request_by(
    buf: &[u8],
    limits: &CodecLimits,
    common: bool,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let slots = &mut slots[..limits.max_headers.min(STACK_HEADERS)];
    // Bound the work: never look past `max_head_bytes`.
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    if common && let Some(c) = parse_common(window, slots) {
        // SAFETY: `parse_common` wrote the first `c.fields` slots, and
        // `MaybeUninit<T>` has the layout of `T`.
        let fields = unsafe { &*(&raw const slots[..c.fields] as *const [httparse::Header<'_>]) };
        let version = if c.version == 0 { Version::HTTP_10 } else { Version::HTTP_11 };
        let line = Line { method: c.method, target: c.target, kept: c.target, query: c.query, uri: None, version };
        return finish(&buf[..c.len], limits, line, fields);
    }
    parse_general(buf, limits, slots)
}

/// httparse's reading of the head, into `slots` first, then, when the
/// head has more fields than that, into `max_headers` slots on the heap.
#[inline(never)]
fn parse_general<'b>(
    buf: &'b [u8],
    limits: &CodecLimits,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    match parse_request_with(buf, limits, slots) {
        Err(e) if e == TOO_MANY_HEADERS && limits.max_headers > STACK_HEADERS => {
            let mut slots = Vec::with_capacity(limits.max_headers);
            slots.resize_with(limits.max_headers, MaybeUninit::uninit);
            parse_request_with(buf, limits, &mut slots)
        }
        r => r,
    }
}

fn parse_request_with<'b>(
    buf: &'b [u8],
    limits: &CodecLimits,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
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
    let target = req.path.unwrap_or("").as_bytes();
    let invalid_target = || ParseError::bad("invalid request target");
    let (kept, query, uri) = match scan_origin_form(target) {
        Some((query, end)) => (&target[..end], query, None),
        // Not origin form: the rare targets are parsed into a `Uri` now.
        None if target.first() == Some(&b'/') => return Err(invalid_target()),
        None => (&target[..0], None, Some(Box::new(Uri::try_from(target).map_err(|_| invalid_target())?))),
    };
    let version = if req.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
    let line = Line { method: req.method.unwrap_or(""), target, kept, query, uri, version };
    finish(&buf[..n], limits, line, req.headers)
}

/// A parsed request line.
struct Line<'b> {
    method: &'b str,
    /// The target as received.
    target: &'b [u8],
    /// What the head keeps of it: origin form without a fragment, or empty.
    kept: &'b [u8],
    /// Position of the `?` in `kept`.
    query: Option<usize>,
    /// The target parsed, when it is not in origin form.
    uri: Option<Box<Uri>>,
    version: Version,
}

/// The checks and decisions on a complete head (`head`, the request line
/// read into `line`, the fields into `fields`), whoever parsed it; the
/// answer [`parse_request`] gives.
///
/// Always inlined: called, it took the request line through memory and
/// gave its answer back the same way, about 50 instructions a request.
#[inline(always)]
fn finish(
    head: &[u8],
    limits: &CodecLimits,
    line: Line<'_>,
    fields: &[httparse::Header<'_>],
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    // httparse only accepts single SP delimiters (default config), so the
    // request line length is exact.
    if line.method.len() + line.target.len() + 10 > limits.max_request_line {
        return Err(uri_too_long(true));
    }
    let method = match line.method {
        "GET" => Method::GET,
        m => Method::from_bytes(m.as_bytes()).map_err(|_| ParseError::bad("invalid method"))?,
    };
    let version = line.version;

    let mut info = HeaderInfo::default();
    for h in fields {
        info.note(Field::of_raw(h.name), h.value, true)?;
    }

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
    let raw = RawHead::new(head, line.kept, line.query, line.uri, fields);
    Ok(Some((RequestHead { method, version, raw, framing, keep_alive, expect_continue }, head.len())))
}

/// A complete `100 Continue` interim response, to send before reading the
/// body of a request with `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Per-response context for [`write_response_head`].
#[derive(Debug, Clone, Copy)]
pub struct ResponseOptions<'a> {
    /// Version of the request being answered (the response itself is always
    /// labelled HTTP/1.1, as RFC 9110 §6.2 recommends).
    pub request_version: Version,
    /// The request method was HEAD: no body is sent.
    pub is_head: bool,
    /// The connection may be kept open after this response
    /// (normally [`RequestHead::keep_alive`]).
    pub keep_alive: bool,
    /// The `Date` value, normally from [`DateCache::get`](super::date::DateCache::get).
    pub date: &'a [u8],
    /// The `Server` value; empty means no `Server` header. Must be a valid
    /// header value (no CR, LF or other control bytes): it is written as is.
    pub server: &'a [u8],
}

/// What the caller must do after [`write_response_head`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenHead {
    /// How to write the body: `None` (write nothing), `Length(n)` (exactly n
    /// bytes), `Chunked` (use [`encode_chunk`](super::chunked::encode_chunk)
    /// and end with [`LAST_CHUNK`](super::chunked::LAST_CHUNK)), or
    /// `UntilClose` (write raw bytes, then close).
    pub framing: BodyFraming,
    /// Whether the connection may be reused after the body. False when the
    /// options said so, the handler set `Connection: close`, or the body is
    /// close-delimited.
    pub keep_alive: bool,
}

/// Appends a response status line and header section (ending with the empty
/// line) to `out`.
///
/// Header fields from `headers` are written as given, except the framing
/// fields, which this function owns: `Content-Length` and
/// `Transfer-Encoding` set by the handler are dropped and replaced by what
/// `body` says (a handler `Content-Length` is kept only for a HEAD response
/// with [`OutgoingBody::Empty`] and for 304, where it describes the
/// representation). `Date` and `Server` are added unless present.
/// `Connection: close` is added when the connection will close, and
/// `Connection: keep-alive` for a persistent HTTP/1.0 connection; a handler
/// `Connection` field is kept (and `close` in it is honoured).
///
/// HEAD, 1xx, 204 and 304 responses carry no body: the result's framing is
/// then `None`. For HEAD, `Content-Length: n` for `Length(n)` is still
/// written. 1xx heads get no `Date`, `Server` or `Connection` additions.
pub fn write_response_head(
    status: StatusCode,
    headers: &HeaderMap,
    body: OutgoingBody,
    opts: &ResponseOptions<'_>,
    out: &mut Vec<u8>,
) -> WrittenHead {
    write_head(status, None, Some(headers), body, opts, None, out)
}

/// The header fields of a response to write: at most a `Content-Type`
/// (a response whose header map nobody made), or a map.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HeadFields<'a> {
    /// Only this `Content-Type`, or no field.
    Typed(Option<&'a HeaderValue>),
    /// Every field is in the map.
    Map(&'a HeaderMap),
}

/// [`write_response_head`] given also `date_server`: the `Date` and
/// `Server` fields `opts` describes, already formatted (`Date: ...\r\n`,
/// then `Server: ...\r\n` when `opts.server` is not empty). They are copied
/// as one piece when the handler set neither: the server formats them once
/// per 100 ms, not once per response. With `kept`, the last head of the
/// common form (see [`OkHead`]) is kept there and copied whole when the
/// next one is the same; `kept` must be cleared when `date_server` changes.
pub(crate) fn write_response_head_stamped(
    status: StatusCode,
    fields: HeadFields<'_>,
    body: OutgoingBody,
    opts: &ResponseOptions<'_>,
    date_server: &[u8],
    kept: Option<&mut OkHead>,
    out: &mut Vec<u8>,
) -> WrittenHead {
    let (content_type, map) = match fields {
        HeadFields::Typed(t) => (t, None),
        HeadFields::Map(map) => (None, Some(map)),
    };
    if let Some(t) = content_type.or_else(|| map.and_then(sole_content_type))
        && let Some(written) = write_common_head(status, t, body, opts, date_server, kept, out)
    {
        return written;
    }
    write_head(status, content_type, map, body, opts, Some(date_server), out)
}

/// The value of `map`'s field when `Content-Type` is its only one (found by
/// iteration: `get` would hash the name, about 100 instructions; comparing
/// a standard name is one integer compare).
#[inline]
fn sole_content_type(map: &HeaderMap) -> Option<&HeaderValue> {
    if map.len() != 1 {
        return None;
    }
    let (name, value) = map.iter().next()?;
    (name == header::CONTENT_TYPE).then_some(value)
}

/// Appends the `Date` and `Server` fields as [`write_response_head`] writes
/// them (no `Server` field for an empty name): the `date_server` argument of
/// [`write_response_head_stamped`].
pub(crate) fn write_date_server(date: &[u8], server: &[u8], out: &mut Vec<u8>) {
    write_field(b"Date", date, out);
    if !server.is_empty() {
        write_field(b"Server", server, out);
    }
}

/// The general head: `content_type` (when given) and then the fields of
/// `headers` (when given), with the framing and connection fields decided.
fn write_head(
    status: StatusCode,
    content_type: Option<&HeaderValue>,
    headers: Option<&HeaderMap>,
    body: OutgoingBody,
    opts: &ResponseOptions<'_>,
    date_server: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> WrittenHead {
    let code = status.as_u16();
    let informational = status.is_informational();
    let bodiless_status = informational || code == 204 || code == 304;
    let is_10 = opts.request_version <= Version::HTTP_10;

    write_status_line(status, out);

    let keep_handler_cl =
        !(informational || code == 204) && (code == 304 || (opts.is_head && body == OutgoingBody::Empty));
    let mut has_date = false;
    let mut has_server = false;
    let mut handler_close = false;
    let mut handler_keep_alive = false;
    if let Some(t) = content_type {
        write_field(b"content-type", t.as_bytes(), out);
    }
    for (name, value) in headers.into_iter().flatten() {
        if name == header::CONTENT_LENGTH {
            if !keep_handler_cl {
                continue;
            }
        } else if name == header::TRANSFER_ENCODING {
            continue;
        } else if name == header::CONNECTION {
            for t in value.as_bytes().split(|&b| b == b',') {
                let t = trim_ows(t);
                if t.eq_ignore_ascii_case(b"close") {
                    handler_close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    handler_keep_alive = true;
                }
            }
        } else if name == header::DATE {
            has_date = true;
        } else if name == header::SERVER {
            has_server = true;
        }
        write_field(name.as_str().as_bytes(), value.as_bytes(), out);
    }

    let framing = if bodiless_status {
        BodyFraming::None
    } else if opts.is_head {
        if let OutgoingBody::Length(n) = body {
            write_content_length(n, out);
        }
        BodyFraming::None
    } else {
        match body {
            OutgoingBody::Empty => {
                out.extend_from_slice(b"Content-Length: 0\r\n");
                BodyFraming::None
            }
            OutgoingBody::Length(n) => {
                write_content_length(n, out);
                BodyFraming::Length(n)
            }
            OutgoingBody::Chunked if is_10 => BodyFraming::UntilClose,
            OutgoingBody::Chunked => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                BodyFraming::Chunked
            }
        }
    };

    let keep_alive = opts.keep_alive && !handler_close && framing != BodyFraming::UntilClose;
    if !informational {
        match date_server {
            Some(fields) if !has_date && !has_server => out.extend_from_slice(fields),
            _ => {
                if !has_date {
                    write_field(b"Date", opts.date, out);
                }
                if !has_server && !opts.server.is_empty() {
                    write_field(b"Server", opts.server, out);
                }
            }
        }
        if !keep_alive {
            if !handler_close {
                out.extend_from_slice(b"Connection: close\r\n");
            }
        } else if is_10 && !handler_keep_alive {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    WrittenHead { framing, keep_alive }
}

/// The start of the most common head, pre-encoded: `200 OK` with a text body.
const OK_TEXT: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\nContent-Length: ";
/// The start of a `200 OK` head with one other `Content-Type`.
const OK_TYPE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: ";

/// The most common head written from pre-encoded pieces: a `200 OK` to an
/// HTTP/1.1 request (not HEAD) whose only field is `Content-Type: value`,
/// with a body of known length, and `Date`/`Server` pre-formatted. The
/// bytes are those [`write_head`]'s general path writes; `None` (nothing
/// written) for any other head.
#[inline]
fn write_common_head(
    status: StatusCode,
    value: &HeaderValue,
    body: OutgoingBody,
    opts: &ResponseOptions<'_>,
    date_server: &[u8],
    kept: Option<&mut OkHead>,
    out: &mut Vec<u8>,
) -> Option<WrittenHead> {
    let OutgoingBody::Length(n) = body else { return None };
    if status != StatusCode::OK || opts.is_head || opts.request_version != Version::HTTP_11 {
        return None;
    }
    let content_type = value.as_bytes();
    let written = WrittenHead { framing: BodyFraming::Length(n), keep_alive: opts.keep_alive };
    // Only keep-alive heads are kept: a closing connection writes one.
    let kept = kept.filter(|_| opts.keep_alive);
    if let Some(k) = &kept
        && k.write(value, n, out)
    {
        return Some(written);
    }
    let start = out.len();
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n).as_bytes();
    // One reservation for the whole head: the pieces below then never grow the buffer.
    out.reserve(OK_TYPE.len() + content_type.len() + 20 + digits.len() + date_server.len() + 23);
    if content_type == b"text/plain; charset=utf-8" {
        out.extend_from_slice(OK_TEXT);
    } else {
        out.extend_from_slice(OK_TYPE);
        out.extend_from_slice(content_type);
        out.extend_from_slice(b"\r\nContent-Length: ");
    }
    out.extend_from_slice(digits);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(date_server);
    out.extend_from_slice(if opts.keep_alive { b"\r\n".as_slice() } else { b"Connection: close\r\n\r\n" });
    if let Some(k) = kept {
        k.keep(&out[start..], value, n);
    }
    Some(written)
}

/// Appends `HTTP/1.1 <code> <reason>\r\n`, from a constant for common codes.
fn write_status_line(status: StatusCode, out: &mut Vec<u8>) {
    let line: &[u8] = match status.as_u16() {
        200 => b"HTTP/1.1 200 OK\r\n",
        201 => b"HTTP/1.1 201 Created\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        206 => b"HTTP/1.1 206 Partial Content\r\n",
        301 => b"HTTP/1.1 301 Moved Permanently\r\n",
        302 => b"HTTP/1.1 302 Found\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        400 => b"HTTP/1.1 400 Bad Request\r\n",
        401 => b"HTTP/1.1 401 Unauthorized\r\n",
        403 => b"HTTP/1.1 403 Forbidden\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\n",
        503 => b"HTTP/1.1 503 Service Unavailable\r\n",
        _ => {
            out.extend_from_slice(b"HTTP/1.1 ");
            out.extend_from_slice(status.as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
            out.extend_from_slice(b"\r\n");
            return;
        }
    };
    out.extend_from_slice(line);
}

#[cfg(test)]
mod tests;
