//! Request parsing and response writing, the server's side of the codec.

use super::*;
use http::HeaderValue;

// ---- request parsing ----

fn parse(s: &str) -> Result<Option<(RequestHead, usize)>, ParseError> {
    parse_request(s.as_bytes(), &CodecLimits::default())
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
    assert_eq!(h.method, Method::GET);
    assert_eq!(h.uri().path(), "/plaintext");
    assert_eq!(h.uri().query(), Some("x=1"));
    assert_eq!(h.version, Version::HTTP_11);
    assert_eq!(h.headers()["host"], "localhost:8080");
    assert_eq!(h.headers().len(), 2);
    assert_eq!(h.framing, BodyFraming::None);
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
}

#[test]
fn root_and_other_targets() {
    assert_eq!(ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n").0.uri(), "/");
    let (h, _) = ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.uri(), "*");
    let (h, _) = ok("GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(h.uri().host(), Some("example.com"));
    let (h, _) = ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!(h.method, Method::CONNECT);
    let (h, _) = ok("PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.method.as_str(), "PURGE");
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
    assert_eq!(h1.uri(), "/a");
    assert!(h1.keep_alive);
    let (h2, n2) = ok(&buf[n1..]);
    assert_eq!(n2, b.len());
    assert_eq!(h2.uri(), "/b");
    assert!(!h2.keep_alive);
}

#[test]
fn leading_empty_lines() {
    let s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let (h, n) = ok(s);
    assert_eq!(n, s.len());
    assert_eq!(h.uri(), "/");
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
    assert_eq!(h.version, Version::HTTP_10);
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
    assert_eq!(status("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").0, 505);
}

#[test]
fn a_malformed_request_line_is_400_whatever_version_it_ends_with() {
    for line in [
        "GE T / HTTP/1.1",      // a space inside the method
        "GET  / HTTP/1.1",      // two spaces
        "GET / extra HTTP/1.1", // a space inside the target
        "GET HTTP/1.1",         // no target
        " GET / HTTP/1.1",      // a leading space
        "GET / HTTP/1.1 ",      // a trailing space
        "G@T / HTTP/1.1",       // not a token
        "GET / HTTP/2.0 x",     // more after the version
        "GE T / HTTP/2.0",      // malformed, and an unsupported version
        "GET / HTTP/1.10",      // two minor digits
        "GET / HTTP/2",         // no minor version
    ] {
        let (code, reason) = status(&format!("{line}\r\nHost: a\r\n\r\n"));
        assert_eq!(code, 400, "{line:?} answered {code} {reason:?}");
        assert!(!reason.contains("version not supported"), "{line:?}: {reason}");
    }
    // A well-formed line with another version stays 505, complete or not.
    for line in ["GET / HTTP/2.0\r\n", "GET / HTTP/0.9\r\n", "GET / HTTP/3.", "OPTIONS * HTTP/9.9\r\n"] {
        assert_eq!(status(line).0, 505, "{line:?}");
    }
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
    let limits = CodecLimits { max_headers: 3, ..CodecLimits::default() };
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
    let big = CodecLimits { max_headers: 200, ..CodecLimits::default() };
    s.push_str("\r\n");
    assert!(parse_request(s.as_bytes(), &big).unwrap().is_some());
}

#[test]
fn head_too_large() {
    let limits = CodecLimits { max_head_bytes: 64, ..CodecLimits::default() };
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
    let limits = CodecLimits { max_request_line: 32, ..CodecLimits::default() };
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
        let _ = parse_request(&v, &CodecLimits::default());
        let mut w = b"POST / HTTP/1.1\r\nHost: a\r\n".to_vec();
        w.extend_from_slice(&v);
        w.extend_from_slice(b"\r\n\r\n");
        let _ = parse_request(&w, &CodecLimits::default());
    }
}

// ---- response writing ----

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
                        HeadFields::Map(&headers),
                        OutgoingBody::Length(2),
                        &o,
                        &fields,
                        None,
                        &mut stamped,
                    );
                    assert_eq!((String::from_utf8(stamped).unwrap(), b), (String::from_utf8(plain).unwrap(), a));
                }
            }
        }
    }
}

/// `map`'s fields as a response whose map was never made gives them: no
/// field, or a `Content-Type` alone (`None` for other maps).
fn as_typed(map: &HeaderMap) -> Option<HeadFields<'_>> {
    match map.len() {
        0 => Some(HeadFields::Typed(None)),
        1 => map.get(header::CONTENT_TYPE).map(|t| HeadFields::Typed(Some(t))),
        _ => None,
    }
}

#[test]
fn the_pre_encoded_common_head_is_byte_for_byte_the_general_one() {
    let text = HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))]);
    let json = HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))]);
    let mut two = json.clone();
    two.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let mut fields = Vec::new();
    write_date_server(DATE, b"greenloop", &mut fields);
    for headers in [text.clone(), json.clone(), two, HeaderMap::new()] {
        for body in
            [OutgoingBody::Length(0), OutgoingBody::Length(13), OutgoingBody::Length(1 << 40), OutgoingBody::Chunked]
        {
            for keep_alive in [true, false] {
                for (version, is_head) in
                    [(Version::HTTP_11, false), (Version::HTTP_10, false), (Version::HTTP_11, true)]
                {
                    for status in [StatusCode::OK, StatusCode::CREATED] {
                        let o = opts(version, is_head, keep_alive);
                        // Something already in the buffer (an earlier pipelined answer) stays.
                        let (mut general, mut common) = (b"earlier".to_vec(), b"earlier".to_vec());
                        let a = write_response_head(status, &headers, body, &o, &mut general);
                        let b = write_response_head_stamped(
                            status,
                            HeadFields::Map(&headers),
                            body,
                            &o,
                            &fields,
                            None,
                            &mut common,
                        );
                        // The same fields given as a content type alone (no map) write the same.
                        if let Some(typed) = as_typed(&headers) {
                            let mut alone = b"earlier".to_vec();
                            let t = write_response_head_stamped(status, typed, body, &o, &fields, None, &mut alone);
                            assert_eq!((&alone, t), (&general, a), "{headers:?} as a type alone");
                        }
                        // A kept head, whatever it was, changes nothing either.
                        for kept_first in [&text, &json, &headers] {
                            let mut kept = OkHead::default();
                            let mut scratch = Vec::new();
                            let ok = opts(Version::HTTP_11, false, true);
                            let o13 = OutgoingBody::Length(13);
                            write_response_head_stamped(
                                status,
                                HeadFields::Map(kept_first),
                                o13,
                                &ok,
                                &fields,
                                Some(&mut kept),
                                &mut scratch,
                            );
                            for _ in 0..2 {
                                let mut again = b"earlier".to_vec();
                                let c = write_response_head_stamped(
                                    status,
                                    as_typed(&headers).unwrap_or(HeadFields::Map(&headers)),
                                    body,
                                    &o,
                                    &fields,
                                    Some(&mut kept),
                                    &mut again,
                                );
                                assert_eq!((&again, c), (&general, a), "kept {kept_first:?}");
                            }
                        }
                        assert_eq!(
                            (String::from_utf8(common).unwrap(), b),
                            (String::from_utf8(general).unwrap(), a),
                            "{headers:?} {body:?} keep-alive {keep_alive} {version:?} HEAD {is_head} {status}"
                        );
                    }
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
