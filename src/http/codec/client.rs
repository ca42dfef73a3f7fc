//! The client's side of the wire: writing request heads
//! ([`write_request_head`]) and parsing response heads ([`parse_response`]).

use std::mem::MaybeUninit;

use http::header::{self, HeaderMap};
use http::uri::{Authority, PathAndQuery};
use http::{Method, StatusCode, Version};

use super::head::{
    BodyFraming, HeaderInfo, OutgoingBody, ParseError, build_headers, check_start_line_len, map_httparse_error,
    write_content_length, write_field,
};
use super::limits::{CodecLimits, STACK_HEADERS};

/// Appends an HTTP/1.1 request line and header section to `out` (client
/// side) and returns how the body must be written (`None`, `Length(n)` or
/// `Chunked`).
///
/// `host`, if given, is written as the `Host` field and any `Host` in
/// `headers` is dropped; with `None`, `headers` must contain one. As in
/// [`write_response_head`](super::write_response_head), `Content-Length` / `Transfer-Encoding` from
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
/// Returns like [`parse_request`](super::server::parse_request):
/// `Ok(Some((head, n)))` with the body starting at `buf[n]`, `Ok(None)` to
/// read more, or an error (status 502) after which the connection must be
/// closed. A 1xx head (other than 101) is returned as such with framing
/// `None`: the caller skips it and parses again for the final response.
pub fn parse_response(
    buf: &[u8],
    request_method: &Method,
    limits: &CodecLimits,
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
    limits: &CodecLimits,
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
    // Measured on the raw bytes: httparse hands a reason phrase that is not
    // UTF-8 over as "", and a head must be judged the same whether it came
    // whole or in pieces.
    check_start_line_len(&buf[..n], limits.max_request_line, false)?;
    let status = StatusCode::from_u16(res.code.unwrap_or(0)).map_err(|_| bad("invalid status code"))?;
    let version = match res.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let is_10 = version == Version::HTTP_10;

    let mut info = HeaderInfo::default();
    let headers = build_headers(res.headers, &mut info, false)?;

    let code = status.as_u16();
    let mut keep_alive = info.keep_alive(is_10);
    // A successful CONNECT (any 2xx, 204 included) and a 101 end HTTP on
    // this connection: what follows is a tunnel or another protocol.
    let tunnel = *request_method == Method::CONNECT && status.is_success();
    let framing =
        if tunnel || status.is_informational() || code == 204 || code == 304 || *request_method == Method::HEAD {
            if code == 101 || tunnel {
                keep_alive = false;
            }
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
        parse_response(s.as_bytes(), &m, &CodecLimits::default())
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
    fn any_2xx_to_connect_starts_a_tunnel() {
        for code in ["200 OK", "204 No Content", "206 Partial"] {
            let (h, _) = rok(&format!("HTTP/1.1 {code}\r\n\r\n"), Method::CONNECT);
            assert_eq!(h.framing, BodyFraming::None, "{code}");
            assert!(!h.keep_alive, "{code}: the connection is a tunnel now");
        }
        let (h, _) = rok("HTTP/1.1 204 No Content\r\n\r\n", Method::GET);
        assert!(h.keep_alive, "a 204 to anything else keeps the connection");
    }

    #[test]
    fn an_overlong_status_line_is_refused_whole_or_in_pieces() {
        let limits = CodecLimits { max_request_line: 64, ..CodecLimits::default() };
        // A reason phrase that is not UTF-8, which httparse reports as "".
        let mut wire = b"HTTP/1.1 200 ".to_vec();
        wire.extend(std::iter::repeat_n(0xE9u8, 80));
        wire.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        let whole = parse_response(&wire, &Method::GET, &limits).unwrap_err();
        assert_eq!(whole.status, StatusCode::BAD_GATEWAY);
        let piece = parse_response(&wire[..70], &Method::GET, &limits).unwrap_err();
        assert_eq!((whole.status, whole.reason), (piece.status, piece.reason));
        let short = b"HTTP/1.1 200 \xE9\xE9\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_response(short, &Method::GET, &limits).unwrap().is_some());
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
        let limits = CodecLimits { max_head_bytes: 32, ..CodecLimits::default() };
        let e = parse_response(b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaa", &Method::GET, &limits).unwrap_err();
        assert_eq!(e.reason, "response head too large");
    }
}
