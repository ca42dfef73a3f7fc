//! Serialising response heads (server side) and request heads (client
//! side), and parsing response heads (client side).

use std::mem::MaybeUninit;

use http::header::{self, HeaderMap};
use http::uri::{Authority, PathAndQuery};
use http::{Method, StatusCode, Version};

use super::request::{
    BodyFraming, HeaderInfo, Limits, ParseError, STACK_HEADERS, build_headers, check_start_line_len, map_httparse_error,
};

/// A complete `100 Continue` interim response, to send before reading the
/// body of a request with `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the sender intends to send after a head it is writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingBody {
    /// No body (a response gets `Content-Length: 0` where a body is allowed).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// A body of unknown length, streamed. Sent chunked to HTTP/1.1 peers;
    /// to an HTTP/1.0 client it is sent raw and ended by closing.
    Chunked,
}

/// Per-response context for [`write_response_head`].
#[derive(Debug, Clone, Copy)]
pub struct ResponseOptions<'a> {
    /// Version of the request being answered (the response itself is always
    /// labelled HTTP/1.1, as RFC 9110 §6.2 recommends).
    pub request_version: Version,
    /// The request method was HEAD: no body is sent.
    pub is_head: bool,
    /// The connection may be kept open after this response
    /// (normally [`RequestHead::keep_alive`](super::request::RequestHead)).
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
    write_head(status, headers, body, opts, None, out)
}

/// [`write_response_head`] given also `date_server`: the `Date` and
/// `Server` fields `opts` describes, already formatted (`Date: ...\r\n`,
/// then `Server: ...\r\n` when `opts.server` is not empty). They are copied
/// as one piece when the handler set neither: the server formats them once
/// per 100 ms, not once per response.
pub(crate) fn write_response_head_stamped(
    status: StatusCode,
    headers: &HeaderMap,
    body: OutgoingBody,
    opts: &ResponseOptions<'_>,
    date_server: &[u8],
    out: &mut Vec<u8>,
) -> WrittenHead {
    write_head(status, headers, body, opts, Some(date_server), out)
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

fn write_head(
    status: StatusCode,
    headers: &HeaderMap,
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
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH {
            if !keep_handler_cl {
                continue;
            }
        } else if name == header::TRANSFER_ENCODING {
            continue;
        } else if name == header::CONNECTION {
            for t in value.as_bytes().split(|&b| b == b',') {
                let t = super::request::trim_ows(t);
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

#[inline]
fn write_field(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[inline]
fn write_content_length(n: u64, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(buf.format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
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

/// Appends an HTTP/1.1 request line and header section to `out` (client
/// side) and returns how the body must be written (`None`, `Length(n)` or
/// `Chunked`).
///
/// `host`, if given, is written as the `Host` field and any `Host` in
/// `headers` is dropped; with `None`, `headers` must contain one. As in
/// [`write_response_head`], `Content-Length` / `Transfer-Encoding` from
/// `headers` are dropped and replaced according to `body`; `Empty` sends
/// `Content-Length: 0` for POST, PUT and PATCH and nothing otherwise.
pub fn write_request_head(
    method: &Method,
    target: &PathAndQuery,
    host: Option<&Authority>,
    headers: &HeaderMap,
    body: OutgoingBody,
    out: &mut Vec<u8>,
) -> BodyFraming {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let t = target.as_str();
    out.extend_from_slice(if t.is_empty() { b"/" } else { t.as_bytes() });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(h) = host {
        write_field(b"Host", h.as_str().as_bytes(), out);
    }
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || (host.is_some() && name == header::HOST)
        {
            continue;
        }
        write_field(name.as_str().as_bytes(), value.as_bytes(), out);
    }
    let framing = match body {
        OutgoingBody::Empty => {
            if *method == Method::POST || *method == Method::PUT || *method == Method::PATCH {
                out.extend_from_slice(b"Content-Length: 0\r\n");
            }
            BodyFraming::None
        }
        OutgoingBody::Length(n) => {
            write_content_length(n, out);
            BodyFraming::Length(n)
        }
        OutgoingBody::Chunked => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            BodyFraming::Chunked
        }
    };
    out.extend_from_slice(b"\r\n");
    framing
}

/// A parsed response head (client side).
#[derive(Debug)]
pub struct ResponseHead {
    /// Status, version and header fields.
    pub parts: http::response::Parts,
    /// How the response body is delimited (RFC 9112 §6.3).
    pub framing: BodyFraming,
    /// Whether the connection may carry another request after this
    /// response's body. False for close-delimited bodies, `101 Switching
    /// Protocols` and a successful CONNECT (the connection is no longer
    /// HTTP).
    pub keep_alive: bool,
}

/// Parses a response head from the start of `buf` (client side), for a
/// request sent with `request_method`.
///
/// Returns like [`parse_request`](super::request::parse_request):
/// `Ok(Some((head, n)))` with the body starting at `buf[n]`, `Ok(None)` to
/// read more, or an error (status 502) after which the connection must be
/// closed. A 1xx head (other than 101) is returned as such with framing
/// `None`: the caller skips it and parses again for the final response.
pub fn parse_response(
    buf: &[u8],
    request_method: &Method,
    limits: &Limits,
) -> Result<Option<(ResponseHead, usize)>, ParseError> {
    if limits.max_headers <= STACK_HEADERS {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
        parse_response_with(buf, request_method, limits, &mut slots[..limits.max_headers])
    } else {
        let mut slots = Vec::with_capacity(limits.max_headers);
        slots.resize_with(limits.max_headers, MaybeUninit::uninit);
        parse_response_with(buf, request_method, limits, &mut slots)
    }
}

fn parse_response_with<'b>(
    buf: &'b [u8],
    request_method: &Method,
    limits: &Limits,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Option<(ResponseHead, usize)>, ParseError> {
    let bad = |reason| ParseError::new(StatusCode::BAD_GATEWAY, reason);
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    let mut res = httparse::Response::new(&mut []);
    let n = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut res, window, slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_start_line_len(buf, limits.max_request_line, false)?;
            if buf.len() > limits.max_head_bytes {
                return Err(bad("response head too large"));
            }
            return Ok(None);
        }
        Err(e) => {
            check_start_line_len(buf, limits.max_request_line, false)?;
            return Err(map_httparse_error(e, buf, false));
        }
    };
    // "HTTP/1.x 123 " + reason
    if 13 + res.reason.map_or(0, str::len) > limits.max_request_line {
        return Err(bad("status line too long"));
    }
    let status = StatusCode::from_u16(res.code.unwrap_or(0)).map_err(|_| bad("invalid status code"))?;
    let version = match res.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let is_10 = version == Version::HTTP_10;

    let mut info = HeaderInfo::default();
    let headers = build_headers(res.headers, &mut info, false, None)?;

    let code = status.as_u16();
    let mut keep_alive = info.keep_alive(is_10);
    let framing = if status.is_informational() || code == 204 || code == 304 || *request_method == Method::HEAD {
        if code == 101 {
            keep_alive = false;
        }
        BodyFraming::None
    } else if *request_method == Method::CONNECT && status.is_success() {
        keep_alive = false;
        BodyFraming::None
    } else {
        match info.framing(is_10, limits.max_body_bytes, false)? {
            BodyFraming::None => {
                keep_alive = false;
                BodyFraming::UntilClose
            }
            f => f,
        }
    };

    let mut r = http::Response::new(());
    *r.status_mut() = status;
    *r.version_mut() = version;
    *r.headers_mut() = headers;
    let (parts, ()) = r.into_parts();
    Ok(Some((ResponseHead { parts, framing, keep_alive }, n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn opts(version: Version, is_head: bool, keep_alive: bool) -> ResponseOptions<'static> {
        ResponseOptions { request_version: version, is_head, keep_alive, date: DATE, server: b"greenloop" }
    }

    fn plain_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        h
    }

    fn write(status: u16, headers: &HeaderMap, body: OutgoingBody, o: ResponseOptions<'_>) -> (String, WrittenHead) {
        let mut out = Vec::new();
        let w = write_response_head(StatusCode::from_u16(status).unwrap(), headers, body, &o, &mut out);
        (String::from_utf8(out).unwrap(), w)
    }

    #[test]
    fn plaintext_200_keep_alive() {
        let (s, w) = write(200, &plain_headers(), OutgoingBody::Length(13), opts(Version::HTTP_11, false, true));
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 13\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: greenloop\r\n\r\n"
        );
        assert_eq!(w, WrittenHead { framing: BodyFraming::Length(13), keep_alive: true });
    }

    #[test]
    fn appends_to_existing_buffer() {
        let mut out = b"previous".to_vec();
        write_response_head(
            StatusCode::OK,
            &HeaderMap::new(),
            OutgoingBody::Empty,
            &opts(Version::HTTP_11, false, true),
            &mut out,
        );
        assert!(out.starts_with(b"previousHTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn empty_body_gets_zero_length() {
        let (s, w) = write(200, &HeaderMap::new(), OutgoingBody::Empty, opts(Version::HTTP_11, false, true));
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: greenloop\r\n\r\n"
        );
        assert_eq!(w.framing, BodyFraming::None);
    }

    #[test]
    fn head_keeps_length() {
        let (s, w) = write(200, &plain_headers(), OutgoingBody::Length(13), opts(Version::HTTP_11, true, true));
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 13\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: greenloop\r\n\r\n"
        );
        assert_eq!(w, WrittenHead { framing: BodyFraming::None, keep_alive: true });
        // Handler-provided length on an Empty HEAD response is passed through.
        let mut h = plain_headers();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("42"));
        let (s, _) = write(200, &h, OutgoingBody::Empty, opts(Version::HTTP_11, true, true));
        assert!(s.contains("content-length: 42\r\n"));
        assert!(!s.contains("Content-Length"));
        // Streamed HEAD: no Transfer-Encoding, no body.
        let (s, w) = write(200, &plain_headers(), OutgoingBody::Chunked, opts(Version::HTTP_11, true, true));
        assert!(!s.to_ascii_lowercase().contains("transfer-encoding"));
        assert_eq!(w.framing, BodyFraming::None);
    }

    #[test]
    fn no_content_204() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        let (s, w) = write(204, &h, OutgoingBody::Length(10), opts(Version::HTTP_11, false, true));
        assert_eq!(s, "HTTP/1.1 204 No Content\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: greenloop\r\n\r\n");
        assert_eq!(w, WrittenHead { framing: BodyFraming::None, keep_alive: true });
    }

    #[test]
    fn not_modified_304() {
        let mut h = HeaderMap::new();
        h.insert(header::ETAG, HeaderValue::from_static("\"x\""));
        let (s, w) = write(304, &h, OutgoingBody::Empty, opts(Version::HTTP_11, false, true));
        assert_eq!(
            s,
            "HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: greenloop\r\n\r\n"
        );
        assert_eq!(w.framing, BodyFraming::None);
        let (s, _) = write(304, &h, OutgoingBody::Chunked, opts(Version::HTTP_11, false, true));
        assert!(!s.to_ascii_lowercase().contains("transfer-encoding"));
    }

    #[test]
    fn http10_close() {
        let (s, w) = write(200, &plain_headers(), OutgoingBody::Length(5), opts(Version::HTTP_10, false, false));
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 5\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: greenloop\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(w, WrittenHead { framing: BodyFraming::Length(5), keep_alive: false });
    }

    #[test]
    fn http10_keep_alive_and_streaming() {
        let (s, w) = write(200, &HeaderMap::new(), OutgoingBody::Length(5), opts(Version::HTTP_10, false, true));
        assert!(s.ends_with("Connection: keep-alive\r\n\r\n"));
        assert!(w.keep_alive);
        let (s, w) = write(200, &HeaderMap::new(), OutgoingBody::Chunked, opts(Version::HTTP_10, false, true));
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: greenloop\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(w, WrittenHead { framing: BodyFraming::UntilClose, keep_alive: false });
    }

    #[test]
    fn chunked_11() {
        let (s, w) = write(200, &plain_headers(), OutgoingBody::Chunked, opts(Version::HTTP_11, false, true));
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: greenloop\r\n\r\n"
        );
        assert_eq!(w, WrittenHead { framing: BodyFraming::Chunked, keep_alive: true });
    }

    #[test]
    fn handler_overrides() {
        let mut h = HeaderMap::new();
        h.insert(header::DATE, HeaderValue::from_static("Mon, 07 Nov 1994 08:49:37 GMT"));
        h.insert(header::SERVER, HeaderValue::from_static("custom"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Close"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        let (s, w) = write(404, &h, OutgoingBody::Length(3), opts(Version::HTTP_11, false, true));
        assert_eq!(
            s,
            "HTTP/1.1 404 Not Found\r\ndate: Mon, 07 Nov 1994 08:49:37 GMT\r\nserver: custom\r\n\
             connection: Close\r\nContent-Length: 3\r\n\r\n"
        );
        assert_eq!(w, WrittenHead { framing: BodyFraming::Length(3), keep_alive: false });
        // No server name configured: no Server header.
        let mut o = opts(Version::HTTP_11, false, true);
        o.server = b"";
        let (s, _) = write(200, &HeaderMap::new(), OutgoingBody::Empty, o);
        assert!(!s.contains("Server"));
    }

    #[test]
    fn preformatted_date_and_server_write_the_same_head() {
        let date_only = HeaderMap::from_iter([(header::DATE, HeaderValue::from_static("x"))]);
        let server_only = HeaderMap::from_iter([(header::SERVER, HeaderValue::from_static("y"))]);
        for server in [&b"greenloop"[..], b""] {
            let mut fields = Vec::new();
            write_date_server(DATE, server, &mut fields);
            for headers in [plain_headers(), date_only.clone(), server_only.clone()] {
                for status in [100, 200, 204, 304, 404] {
                    for (version, is_head) in
                        [(Version::HTTP_11, false), (Version::HTTP_10, false), (Version::HTTP_11, true)]
                    {
                        let o = ResponseOptions { server, ..opts(version, is_head, true) };
                        let status = StatusCode::from_u16(status).unwrap();
                        let (mut plain, mut stamped) = (Vec::new(), Vec::new());
                        let a = write_response_head(status, &headers, OutgoingBody::Length(2), &o, &mut plain);
                        let b = write_response_head_stamped(
                            status,
                            &headers,
                            OutgoingBody::Length(2),
                            &o,
                            &fields,
                            &mut stamped,
                        );
                        assert_eq!((String::from_utf8(stamped).unwrap(), b), (String::from_utf8(plain).unwrap(), a));
                    }
                }
            }
        }
    }

    #[test]
    fn uncommon_status_lines() {
        let (s, _) = write(418, &HeaderMap::new(), OutgoingBody::Empty, opts(Version::HTTP_11, false, true));
        assert!(s.starts_with("HTTP/1.1 418 I'm a teapot\r\n"));
        let (s, _) = write(599, &HeaderMap::new(), OutgoingBody::Empty, opts(Version::HTTP_11, false, true));
        assert!(s.starts_with("HTTP/1.1 599 \r\n"));
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        let (s, w) = write(101, &h, OutgoingBody::Empty, opts(Version::HTTP_11, false, true));
        assert_eq!(s, "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n");
        assert_eq!(w.framing, BodyFraming::None);
    }

    #[test]
    fn common_status_table_matches_reasons() {
        for code in [200, 201, 204, 206, 301, 302, 304, 400, 401, 403, 404, 500, 503] {
            let st = StatusCode::from_u16(code).unwrap();
            let mut out = Vec::new();
            write_status_line(st, &mut out);
            assert_eq!(out, format!("HTTP/1.1 {} {}\r\n", code, st.canonical_reason().unwrap()).into_bytes());
        }
    }

    #[test]
    fn request_head() {
        let mut h = HeaderMap::new();
        h.insert(header::USER_AGENT, HeaderValue::from_static("greenloop"));
        h.insert(header::HOST, HeaderValue::from_static("ignored"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("77"));
        let host: Authority = "example.com:8080".parse().unwrap();
        let mut out = Vec::new();
        let f = write_request_head(
            &Method::GET,
            &"/a?b=c".parse().unwrap(),
            Some(&host),
            &h,
            OutgoingBody::Empty,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\nuser-agent: greenloop\r\n\r\n"
        );
        assert_eq!(f, BodyFraming::None);

        let mut out = Vec::new();
        let f = write_request_head(&Method::POST, &"/".parse().unwrap(), None, &h, OutgoingBody::Empty, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST / HTTP/1.1\r\nuser-agent: greenloop\r\nhost: ignored\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(f, BodyFraming::None);

        let mut out = Vec::new();
        let f = write_request_head(
            &Method::PUT,
            &"/x".parse().unwrap(),
            Some(&host),
            &HeaderMap::new(),
            OutgoingBody::Length(12),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PUT /x HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 12\r\n\r\n"
        );
        assert_eq!(f, BodyFraming::Length(12));

        let mut out = Vec::new();
        let f = write_request_head(
            &Method::POST,
            &"/x".parse().unwrap(),
            Some(&host),
            &HeaderMap::new(),
            OutgoingBody::Chunked,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /x HTTP/1.1\r\nHost: example.com:8080\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        assert_eq!(f, BodyFraming::Chunked);

        let mut out = Vec::new();
        write_request_head(
            &Method::OPTIONS,
            &"*".parse().unwrap(),
            Some(&host),
            &HeaderMap::new(),
            OutgoingBody::Empty,
            &mut out,
        );
        assert!(out.starts_with(b"OPTIONS * HTTP/1.1\r\n"));
    }

    // ---- response parsing (client side) ----

    fn presp(s: &str, m: Method) -> Result<Option<(ResponseHead, usize)>, ParseError> {
        parse_response(s.as_bytes(), &m, &Limits::default())
    }

    fn rok(s: &str, m: Method) -> (ResponseHead, usize) {
        presp(s, m).unwrap().unwrap()
    }

    #[test]
    fn parse_length_response() {
        let s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let (h, n) = rok(s, Method::GET);
        assert_eq!(n, s.len() - 5);
        assert_eq!(h.parts.status, StatusCode::OK);
        assert_eq!(h.parts.version, Version::HTTP_11);
        assert_eq!(h.framing, BodyFraming::Length(5));
        assert!(h.keep_alive);
        for i in 0..n {
            assert!(presp(&s[..i], Method::GET).unwrap().is_none(), "prefix {i}");
        }
    }

    #[test]
    fn parse_chunked_and_close_delimited() {
        let (h, _) = rok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::GET);
        assert_eq!(h.framing, BodyFraming::Chunked);
        assert!(h.keep_alive);
        let (h, _) = rok("HTTP/1.1 200 OK\r\n\r\n", Method::GET);
        assert_eq!(h.framing, BodyFraming::UntilClose);
        assert!(!h.keep_alive);
        let (h, _) = rok("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", Method::GET);
        assert_eq!(h.framing, BodyFraming::Length(3));
        assert!(!h.keep_alive);
        let (h, _) = rok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n", Method::GET);
        assert!(h.keep_alive);
        let (h, _) = rok("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n", Method::GET);
        assert!(!h.keep_alive);
    }

    #[test]
    fn parse_bodiless_responses() {
        let (h, _) = rok("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", Method::HEAD);
        assert_eq!(h.framing, BodyFraming::None);
        assert!(h.keep_alive);
        let (h, _) = rok("HTTP/1.1 204 No Content\r\n\r\n", Method::GET);
        assert_eq!(h.framing, BodyFraming::None);
        assert!(h.keep_alive);
        let (h, _) = rok("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", Method::GET);
        assert_eq!(h.framing, BodyFraming::None);
        let (h, n) = rok("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", Method::POST);
        assert_eq!(h.parts.status, StatusCode::CONTINUE);
        assert_eq!(n, 25);
        assert!(h.keep_alive);
        let (h, _) =
            rok("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", Method::GET);
        assert_eq!(h.framing, BodyFraming::None);
        assert!(!h.keep_alive);
        let (h, _) = rok("HTTP/1.1 200 Connection established\r\n\r\n", Method::CONNECT);
        assert_eq!(h.framing, BodyFraming::None);
        assert!(!h.keep_alive);
        let (h, _) = rok("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n", Method::CONNECT);
        assert_eq!(h.framing, BodyFraming::Length(0));
    }

    #[test]
    fn parse_response_attacks() {
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            "HTTP/2.0 200 OK\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 099 Weird\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 16777217\r\n\r\n",
            "garbage\r\n\r\n",
        ] {
            let e = presp(bad, Method::GET).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_GATEWAY, "{bad:?}");
        }
        let limits = Limits { max_head_bytes: 32, ..Limits::default() };
        let e = parse_response(b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaa", &Method::GET, &limits).unwrap_err();
        assert_eq!(e.reason, "response head too large");
    }
}
